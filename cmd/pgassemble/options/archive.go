package options

import (
	"github.com/spf13/pflag"
)

// ArchiveOptions say where packages come from and what is trusted: mirrors
// replacing the base image's apt sources, extra keyrings, expired Release
// files.
type ArchiveOptions struct {
	DebianMirror      string
	SecurityMirror    string
	PGDGMirror        string
	PGDGMirrorInImage string
	Keyrings          []string
	IgnoreValidUntil  bool
}

// AddFlags registers the archive flags of the commands that build.
func (o *ArchiveOptions) AddFlags(fl *pflag.FlagSet) {
	fl.StringVar(&o.DebianMirror, "debian-mirror", "", "Debian mirror `URL` replacing the base image's apt sources")
	fl.StringVar(&o.SecurityMirror, "debian-security-mirror", "", "Debian security mirror `URL` for the -security suites")
	fl.StringVar(&o.PGDGMirror, "pgdg-mirror", "", "PGDG mirror `URL` (default: the one postgresql-common names)")
	fl.StringVar(&o.PGDGMirrorInImage, "pgdg-mirror-in-image", "", "`URL` of the PGDG apt source written in the image (default: the mirror it was built from)")
	fl.StringArrayVar(&o.Keyrings, "keyring", nil, "extra OpenPGP keyring `FILE` (.gpg or .asc); with --pg-source pgdg it is the PGDG key (repeatable)")
	o.addValidUntil(fl)
}

func (o *ArchiveOptions) addValidUntil(fl *pflag.FlagSet) {
	fl.BoolVar(&o.IgnoreValidUntil, "ignore-valid-until", false, "accept Release files past their Valid-Until (snapshot mirrors)")
}
