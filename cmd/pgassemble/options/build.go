package options

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/pgassemble/pgassemble/pkg/layer"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

// BuildOptions say how a target is built: its base image, where PostgreSQL
// comes from, how layers are compressed and how maintainer scripts are
// treated.
type BuildOptions struct {
	BaseImage      string
	PGSource       string
	Compression    string
	XZ             string
	AllowUnhandled bool
	Revision       string
	// Upgrade runs apt-get upgrade's upgrades of the base's packages before
	// the type's stages (on by default: upgrading a base package runs its
	// old and new maintainer scripts, as dpkg does).
	Upgrade bool
	// Rebuild builds even when the inputs and the published image are
	// as a previous run left them (the no-op fast path is skipped).
	Rebuild bool
}

// AddFlags registers the build flags.
func (o *BuildOptions) AddFlags(fl *pflag.FlagSet) {
	fl.StringVar(&o.BaseImage, "base-image", "", "base image `REF` instead of the catalog's debian:<codename>-slim")
	fl.StringVar(&o.PGSource, "pg-source", "pgdg", "where PostgreSQL comes from: pgdg, or debian (the base's own archive)")
	fl.StringVar(&o.Compression, "compression", "gzip", "layer compression: gzip or zstd")
	fl.StringVar(&o.XZ, "xz", "auto", "xz decoder for data.tar.xz and Packages.xz: auto (the system's xz when installed), go (built in), or a `PATH`; the output is the same")
	fl.BoolVar(&o.Rebuild, "rebuild", false, "build and publish even when the base digest, the repositories' InRelease files, the target and the options are unchanged and the registry still has the image this cache recorded")
	fl.BoolVar(&o.AllowUnhandled, "allow-unhandled-scripts", false, "build even if a maintainer script runs a command pgassemble has no faithful implementation of (skipped, and reported by explain)")
	fl.BoolVar(&o.Upgrade, "upgrade", true, "upgrade the base's packages that have newer versions first, as apt-get upgrade (--upgrade=false keeps the base as is)")
	fl.StringVar(&o.Revision, "revision", envOr("PGASSEMBLE_REVISION", os.Getenv("revision")), "revision label value (the build recipe's commit; default $PGASSEMBLE_REVISION, else $revision as bake reads it)")
}

// Source is --pg-source.
func (o *BuildOptions) Source() (variants.PGSource, error) {
	src, err := variants.ParsePGSource(o.PGSource)
	if err != nil {
		return "", Usagef("--pg-source: %w", err)
	}
	return src, nil
}

// LayerCompression is --compression.
func (o *BuildOptions) LayerCompression() (layer.Compression, error) {
	c, err := layer.ParseCompression(o.Compression)
	if err != nil {
		return "", Usagef("--compression: %w", err)
	}
	return c, nil
}

// XZCommand turns --xz into an xz binary path, or "" for the pure-Go
// decoder. It looks in $PATH, so only commands that build call it.
func (o *BuildOptions) XZCommand() (string, error) {
	switch o.XZ {
	case "go":
		return "", nil
	case "auto", "":
		p, err := exec.LookPath("xz")
		if err != nil {
			return "", nil
		}
		return p, nil
	}
	p, err := exec.LookPath(o.XZ)
	if err != nil {
		return "", Usagef("--xz %q: %w", o.XZ, err)
	}
	return p, nil
}

// SourceDateEpoch reads SOURCE_DATE_EPOCH: it clamps file times and is the
// image's creation time. Unset, it is the zero time and pkg/assemble
// derives both from the inputs (base image and packages).
func SourceDateEpoch() (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, UsageError{fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970", v)}
	}
	return time.Unix(n, 0).UTC(), nil
}
