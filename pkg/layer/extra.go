package layer

import (
	"archive/tar"
	"errors"
	"fmt"
)

// File is a regular file the state layer carries for the caller: what a
// setup step upstream runs after installing the packages leaves behind (an
// apt source written by a package's script, say). It is owned by root and
// dated at the epoch.
type File struct {
	Path string // relative to the image root: "etc/apt/sources.list.d/x.sources"
	Mode int64  // permission bits; 0 means 0644
	Data []byte
}

// AddFile adds f to the state layer written by Finish; a later file with the
// same path replaces an earlier one and any the replay produces.
func (b *Builder) AddFile(f File) error {
	if b.finished {
		return errors.New("AddFile after Finish")
	}
	p, err := cleanName(f.Path)
	if err != nil || p == "" {
		return fmt.Errorf("file %q: %w", f.Path, ErrUnsafePath)
	}
	f.Path = p
	if f.Mode == 0 {
		f.Mode = 0o644
	}
	b.extra = append(b.extra, f)
	return nil
}

// extraEntries adds the AddFile files to the state layer's entries.
func (b *Builder) extraEntries(t *tree, entries map[string]*outEntry) error {
	for _, f := range b.extra {
		p, err := t.resolveParent(f.Path)
		if err != nil {
			return fmt.Errorf("file %q: %v: %w", f.Path, err, ErrUnsafePath)
		}
		entries[p] = &outEntry{data: f.Data, hdr: tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: f.Mode & 0o7777,
			Size: int64(len(f.Data)), ModTime: b.epoch}}
	}
	return nil
}
