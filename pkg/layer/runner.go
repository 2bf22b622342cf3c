package layer

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/pgassemble/pgassemble/pkg/layer/maint"
)

// StateFile is one entry of the state layer the maintainer scripts wrote.
// Path is relative ("etc/passwd").
type StateFile struct {
	Path     string
	Type     byte // tar.TypeReg, TypeDir, TypeSymlink, TypeLink (Linkname: an earlier StateFile) or TypeWhiteout
	Mode     int64
	Uid, Gid int
	Data     []byte
	Linkname string
}

// TypeWhiteout marks a StateFile that removes a path of the layers below
// (a script's rm): the state layer gets its ".wh." entry.
const TypeWhiteout = 'W'

// maintReplayer runs the packages' maintainer scripts with pkg/layer/maint
// (executed in a virtual root) behind the Replayer interface.
type maintReplayer struct {
	ctx context.Context
	r   *maint.Runner
}

// NewMaintReplayer returns a Replayer that executes the maintainer scripts.
func NewMaintReplayer(ctx context.Context, base fs.FS, opts maint.Options) (Replayer, error) {
	r, err := maint.New(base, opts)
	if err != nil {
		return nil, err
	}
	return &maintReplayer{ctx: ctx, r: r}, nil
}

// MaintRunner returns the runner behind a Replayer made by
// NewMaintReplayer (for its trace), or nil.
func MaintRunner(rp Replayer) *maint.Runner {
	if m, ok := rp.(*maintReplayer); ok {
		return m.r
	}
	return nil
}

func (m *maintReplayer) setContext(ctx context.Context) { m.ctx = ctx }

func (m *maintReplayer) AddPackages(pkgs []maint.Package) error {
	return m.r.AddPackages(m.ctx, pkgs)
}

func (m *maintReplayer) LookupUser(name string) (int, bool)  { return m.r.LookupUser(name) }
func (m *maintReplayer) LookupGroup(name string) (int, bool) { return m.r.LookupGroup(name) }
func (m *maintReplayer) Diverted(abs string) (string, string, bool) {
	return m.r.Diverted(abs)
}
func (m *maintReplayer) DivertedFrom(abs string) (string, string, bool) {
	return m.r.DivertedFrom(abs)
}

func (m *maintReplayer) Observe(pkg string, hdr *tar.Header, r io.Reader) error {
	return m.r.Observe(pkg, hdr, r)
}

func (m *maintReplayer) Files() ([]StateFile, error) {
	changes, err := m.r.Finish(m.ctx)
	if err != nil {
		return nil, err
	}
	out := make([]StateFile, 0, len(changes))
	for _, c := range changes {
		f := StateFile{Path: strings.TrimPrefix(c.Path, "/"), Mode: fileMode(c.Mode), Uid: c.Uid, Gid: c.Gid}
		switch c.Kind {
		case maint.ChangeFile:
			if c.Lower {
				return nil, fmt.Errorf("%s: a script changed the metadata of a file whose content the runner did not keep (%w)", c.Path, maint.ErrNotRetained)
			}
			f.Type, f.Data = tar.TypeReg, c.Data
		case maint.ChangeDir:
			f.Type = tar.TypeDir
		case maint.ChangeSymlink:
			f.Type, f.Linkname = tar.TypeSymlink, c.Linkname
		case maint.ChangeHardlink:
			f.Type, f.Linkname = tar.TypeLink, strings.TrimPrefix(c.Linkname, "/")
		case maint.ChangeWhiteout:
			f.Type = TypeWhiteout
		}
		out = append(out, f)
	}
	return out, nil
}

func fileMode(m fs.FileMode) int64 {
	out := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		out |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		out |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		out |= 0o1000
	}
	return out
}

// Trace is the runner's trace.
func (m *maintReplayer) Trace() []maint.Event { return m.r.Trace() }
