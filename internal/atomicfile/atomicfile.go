// Package atomicfile writes files whole or not at all: the bytes go to a
// temporary file on the same file system, which is synced, given its mode
// and renamed over the final name, and the directory is synced so that
// the rename survives a crash. Readers see the old file (or none) or the
// whole new one, never a part; a failed or abandoned write leaves no file
// under the final name.
//
// Mode policy, the one for every file pgassemble writes: files are 0644
// and directories 0755, less the umask. What pgassemble writes is public
// content (verified indexes and .debs, layers, OCI layouts, downloaded
// .debs, lock files of inputs) and a cache may be shared read-only with
// other users; nothing secret is ever written through this package.
//
// Every cache, the layer store, the OCI layout writer and the resolve
// command's --download use it; it is the only write-then-rename in the
// module.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Modes of what this package makes (see the package documentation).
const (
	FileMode os.FileMode = 0o644
	DirMode  os.FileMode = 0o755
)

// TempPrefix starts the name of every temporary file, so that a sweep of
// the files of dead writers can find them.
const TempPrefix = ".tmp-"

// File is a file being written; Commit puts it in place, Abort drops it.
type File struct {
	*os.File
	final string
	done  bool
}

// Option changes where the temporary file is made.
type Option func(*config)

type config struct{ dir string }

// InDir makes the temporary file in dir instead of beside the final file.
// dir must be on the same file system (the rename must not copy): the
// layer cache keeps its temporaries in a locked run directory that a later
// run sweeps when its writer died.
func InDir(dir string) Option { return func(c *config) { c.dir = dir } }

// Create starts writing path; its directory is created if needed. path
// may be "" when only CommitAs will know the name (content-addressed
// files); then InDir is required.
func Create(path string, opts ...Option) (*File, error) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.dir == "" {
		if path == "" {
			return nil, errors.New("atomicfile: no final name and no directory for the temporary file")
		}
		c.dir = filepath.Dir(path)
	}
	if path != "" {
		if err := os.MkdirAll(filepath.Dir(path), DirMode); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(c.dir, DirMode); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(c.dir, TempPrefix+filepath.Base(path)+"*")
	if err != nil {
		return nil, err
	}
	return &File{File: f, final: path}, nil
}

// Commit syncs the file and renames it to the path given to Create.
func (f *File) Commit() error {
	if f.final == "" {
		f.Abort()
		return errors.New("atomicfile: Commit without a final name; use CommitAs")
	}
	return f.CommitAs(f.final)
}

// CommitAs syncs the file and renames it to path (whose directory is
// created if needed), replacing what is there.
func (f *File) CommitAs(path string) (err error) {
	if f.done {
		return errors.New("atomicfile: already committed or aborted")
	}
	defer func() {
		if err != nil {
			f.Abort()
		}
	}()
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Chmod(FileMode); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	f.done = true
	syncDir(dir)
	return nil
}

// Abort drops the temporary file; after Commit it does nothing, so it can
// be deferred.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}

// syncDir makes a rename in dir durable. File systems that cannot sync a
// directory have nothing to make durable that way: the error is ignored.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// WriteFile replaces path with data.
func WriteFile(path string, data []byte, opts ...Option) error {
	f, err := Create(path, opts...)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Commit()
}
