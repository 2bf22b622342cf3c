package options

import (
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/pflag"

	"github.com/pgassemble/pgassemble/pkg/assemble"
)

// ResolveOptions are the resolve command's inputs: the repositories (given,
// or a root's apt configuration), the architecture, the installed state,
// and what to do with the result.
type ResolveOptions struct {
	Sources  []string
	Keyrings []string
	Arch     string
	Status   string
	Root     string
	Why      bool
	Download string
	Parallel int
}

// AddFlags registers the resolve flags.
func (o *ResolveOptions) AddFlags(fl *pflag.FlagSet) {
	fl.StringArrayVar(&o.Sources, "source", nil, `repository "URI SUITE COMPONENT..." (repeatable); default: the apt sources of --root`)
	fl.StringArrayVar(&o.Keyrings, "keyring", nil, "keyring file (.gpg or .asc) trusted for every --source (repeatable)")
	fl.StringVar(&o.Arch, "arch", hostArch(), "Debian architecture to resolve for (amd64, arm64, ...)")
	fl.StringVar(&o.Status, "status", "", "dpkg status file of the system to install onto (default: nothing installed)")
	fl.StringVar(&o.Root, "root", "/", "filesystem root whose apt sources and keyrings are used")
	fl.BoolVar(&o.Why, "why", false, `append "  # reason" to each line: the relation that pulled the package in`)
	fl.StringVar(&o.Download, "download", "", "also download the verified .debs into `DIR` (hard links into the cache when possible)")
	fl.IntVar(&o.Parallel, "parallel", 6, "concurrent downloads")
}

// Validate checks what can be checked without I/O.
func (o *ResolveOptions) Validate() error {
	if o.Arch == "" || strings.ContainsAny(o.Arch, " /") {
		return Usagef("--arch %q is not a Debian architecture", o.Arch)
	}
	if len(o.Sources) == 0 && len(o.Keyrings) > 0 {
		return Usagef("--keyring applies to --source repositories; without --source the sources' own Signed-By keyrings are used")
	}
	return nil
}

// hostArch is dpkg's name for the architecture pgassemble runs on.
func hostArch() string {
	p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if runtime.GOARCH == "arm" {
		p.Variant = "v7"
	}
	if a, err := assemble.DebianArch(p); err == nil {
		return a
	}
	return runtime.GOARCH
}

// AddValidUntilFlag registers --ignore-valid-until and the other trust and
// network flags of the archive client alone (resolve takes its
// repositories from --source, not from mirror flags).
func (o *ArchiveOptions) AddValidUntilFlag(fl *pflag.FlagSet) { o.addValidUntil(fl) }
