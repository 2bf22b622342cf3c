package replay

import (
	"archive/tar"
	"io"
	"io/fs"
)

// Plan accumulates the effects of the packages added to one base root.
// It is not safe for concurrent use.
type Plan struct {
	base fs.FS
	opts Options
}

// New reads the base root's state (accounts, ld.so.cache, alternatives,
// ca-certificates.conf...). base should also implement fs.ReadLinkFS
// (os.DirFS does); paths are relative ("etc/passwd").
func New(base fs.FS, opts Options) (*Plan, error) {
	return &Plan{base: base, opts: opts}, nil
}

// AddPackages classifies every maintainer script command of pkgs (in
// install order) and allocates their accounts. It returns an
// *UnhandledError naming each unknown command unless Options.AllowUnhandled.
func (p *Plan) AddPackages(pkgs []Package) error { return nil }

// LookupUser returns the uid of a user of the base or created by the plan.
func (p *Plan) LookupUser(name string) (int, bool) { return 0, false }

// LookupGroup returns the gid of a group of the base or created by the plan.
func (p *Plan) LookupGroup(name string) (int, bool) { return 0, false }

// Observe is called for every entry the layer writes for pkg (relative,
// normalized path, after dpkg path filters). r reads a regular file's body;
// Observe may read it partially or not at all.
func (p *Plan) Observe(pkg string, hdr *tar.Header, r io.Reader) error { return nil }

// Files returns what the final state layer must contain, sorted by path.
func (p *Plan) Files() ([]File, error) { return nil, nil }

// Explain returns the classification of every script command, per package
// in install order.
func (p *Plan) Explain() []Classification { return nil }
