package options

import (
	"github.com/spf13/pflag"

	"github.com/pgassemble/pgassemble/pkg/apt/archive"
)

// ArchiveOptions say where packages come from and what is trusted: mirrors
// replacing the base image's apt sources, extra keyrings, expired Release
// files.
type ArchiveOptions struct {
	DebianMirror      string
	SecurityMirror    string
	PGDGMirror        string
	PGDGMirrorInImage string
	PGDGKeyInImage    string
	Keyrings          []string
	IgnoreValidUntil  bool
	// NoCheckDate turns off the Release Date checks (not valid yet,
	// rollback), like apt's Acquire::Check-Date=false.
	NoCheckDate bool
	// HTTP bounds every request to a mirror; Retries is how often a
	// transient failure is retried.
	HTTP    archive.Timeouts
	Retries int
}

// ClientOptions are the archive client options these flags set.
func (o *ArchiveOptions) ClientOptions() []archive.Option {
	return []archive.Option{
		archive.WithIgnoreValidUntil(o.IgnoreValidUntil),
		archive.WithCheckDate(!o.NoCheckDate),
		archive.WithTimeouts(o.HTTP),
		archive.WithRetries(o.Retries, 0),
	}
}

// AddFlags registers the archive flags of the commands that build.
func (o *ArchiveOptions) AddFlags(fl *pflag.FlagSet) {
	fl.StringVar(&o.DebianMirror, "debian-mirror", "", "Debian mirror `URL` replacing the base image's apt sources")
	fl.StringVar(&o.SecurityMirror, "debian-security-mirror", "", "Debian security mirror `URL` for the -security suites")
	fl.StringVar(&o.PGDGMirror, "pgdg-mirror", "", "PGDG mirror `URL` (default: the one postgresql-common names)")
	fl.StringVar(&o.PGDGMirrorInImage, "pgdg-mirror-in-image", "", "`URL` of the PGDG apt source written in the image (default: the mirror it was built from)")
	fl.StringVar(&o.PGDGKeyInImage, "pgdg-key-in-image", "", "keyring `FILE` the image's PGDG apt source names, copied to /etc/apt/keyrings (default: the --keyring files when they re-sign the mirror the source names, else the key postgresql-common ships)")
	fl.StringArrayVar(&o.Keyrings, "keyring", nil, "extra OpenPGP keyring `FILE` (.gpg or .asc); with --pg-source pgdg it is the PGDG key (repeatable)")
	o.addValidUntil(fl)
}

func (o *ArchiveOptions) addValidUntil(fl *pflag.FlagSet) {
	fl.BoolVar(&o.IgnoreValidUntil, "ignore-valid-until", false, "accept Release files past their Valid-Until (snapshot mirrors)")
	fl.BoolVar(&o.NoCheckDate, "no-check-date", false, "accept Release files dated in the future or older than one already seen (a machine whose clock is wrong)")
	d := archive.DefaultTimeouts
	fl.DurationVar(&o.HTTP.Connect, "http-connect-timeout", d.Connect, "bound on connecting to a mirror")
	fl.DurationVar(&o.HTTP.Idle, "http-timeout", d.Idle, "bound on a mirror sending nothing (headers or body)")
	fl.DurationVar(&o.HTTP.Request, "http-request-timeout", d.Request, "bound on one whole download")
	fl.IntVar(&o.Retries, "http-retries", 3, "retries of a download failing transiently (5xx, 429, timeout, reset), with backoff")
}
