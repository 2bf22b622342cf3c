package rootfs

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// Keep decides whether a regular file's content is retained in memory.
type Keep func(name string, size int64) bool

// DefaultKeep retains what pkg/apt and pkg/layer read from a base image:
// everything under etc/ and the dpkg/ucf state, keyrings and CA sources.
func DefaultKeep(name string, size int64) bool {
	for _, p := range []string{"etc/", "var/lib/dpkg/", "var/lib/ucf/", "usr/share/keyrings/", "usr/share/ca-certificates/", "usr/local/share/ca-certificates/"} {
		if strings.HasPrefix(name, p) {
			return size <= 64<<20
		}
	}
	return false
}

type node struct {
	hdr  tar.Header // Name is the clean relative path
	data []byte
	kept bool
}

// Tree is an image filesystem. The zero value is not usable; call New.
type Tree struct {
	nodes map[string]*node
	keep  Keep
	drop  Drop
}

// Drop decides, once a kept body is read, to forget it after all (a
// content test Keep cannot make from the name and size alone).
type Drop func(name string, data []byte) bool

// NewFiltered is New with a Drop applied to every body keep retained.
func NewFiltered(keep Keep, drop Drop) *Tree {
	t := New(keep)
	t.drop = drop
	return t
}

// New returns an empty tree holding only the root directory.
func New(keep Keep) *Tree {
	if keep == nil {
		keep = DefaultKeep
	}
	t := &Tree{nodes: map[string]*node{}, keep: keep}
	t.nodes["."] = &node{hdr: tar.Header{Name: ".", Typeflag: tar.TypeDir, Mode: 0o755}}
	return t
}

// Clean turns a tar entry name into the tree's key: relative, no "./", no
// trailing slash, "." for the root. It reports false for names that escape
// the root.
func Clean(name string) (string, bool) {
	p := path.Clean("/" + name)
	if p == "/" {
		return ".", true
	}
	if strings.Contains(name, "..") {
		for _, el := range strings.Split(name, "/") {
			if el == ".." {
				return "", false
			}
		}
	}
	return p[1:], true
}

// Apply applies one uncompressed layer tarball on top of the tree.
func (t *Tree) Apply(r io.Reader) error {
	tr := tar.NewReader(r)
	added := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read layer: %w", err)
		}
		name, ok := Clean(h.Name)
		if !ok {
			return fmt.Errorf("layer entry %q escapes the root", h.Name)
		}
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		if dir == "" {
			dir = "."
		}
		if base == ".wh..wh..opq" {
			for k := range t.nodes {
				if isUnder(k, dir) && !added[k] {
					delete(t.nodes, k)
				}
			}
			continue
		}
		if strings.HasPrefix(base, ".wh.") {
			t.remove(path.Join(dir, strings.TrimPrefix(base, ".wh.")))
			continue
		}
		t.implyParents(dir, added)
		n := &node{hdr: *h}
		n.hdr.Name = name
		switch h.Typeflag {
		case tar.TypeReg: // tar.Reader reports the old NUL type as TypeReg too
			n.hdr.Typeflag = tar.TypeReg
			if t.keep(name, h.Size) {
				b, err := io.ReadAll(tr)
				if err != nil {
					return fmt.Errorf("read %s: %w", name, err)
				}
				n.data, n.kept = b, true
				if t.drop != nil && t.drop(name, b) {
					n.data, n.kept = nil, false
				}
			}
		case tar.TypeLink:
			target, ok := Clean(h.Linkname)
			if !ok {
				return fmt.Errorf("hardlink %s -> %q escapes the root", name, h.Linkname)
			}
			src, found := t.nodes[target]
			if !found {
				return fmt.Errorf("hardlink %s -> %s: target not found", name, target)
			}
			n.hdr = src.hdr
			n.hdr.Name = name
			n.data, n.kept = src.data, src.kept
		}
		// A non-directory replacing a directory drops the directory's children.
		if old, ok := t.nodes[name]; ok && old.hdr.Typeflag == tar.TypeDir && n.hdr.Typeflag != tar.TypeDir {
			t.remove(name)
		}
		t.nodes[name] = n
		added[name] = true
	}
}

// implyParents creates directories a layer leaves implicit, as runtimes do
// when they extract it.
func (t *Tree) implyParents(dir string, added map[string]bool) {
	for d := dir; d != "."; d = path.Dir(d) {
		if _, ok := t.nodes[d]; ok {
			return
		}
		t.nodes[d] = &node{hdr: tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755}}
		added[d] = true
	}
}

func isUnder(p, dir string) bool {
	if dir == "." {
		return p != "."
	}
	return strings.HasPrefix(p, dir+"/")
}

func (t *Tree) remove(p string) {
	delete(t.nodes, p)
	for k := range t.nodes {
		if isUnder(k, p) {
			delete(t.nodes, k)
		}
	}
}

// Len returns the number of paths in the tree, the root included.
func (t *Tree) Len() int { return len(t.nodes) }

// Walk calls fn for every path in lexical order.
func (t *Tree) Walk(fn func(name string, h *tar.Header) error) error {
	keys := make([]string, 0, len(t.nodes))
	for k := range t.nodes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := fn(k, &t.nodes[k].hdr); err != nil {
			return err
		}
	}
	return nil
}

const maxLinks = 40

// resolve follows symlinks in every element of name (and in the last one
// when follow is set), staying inside the root as a chroot would.
func (t *Tree) resolve(name string, follow bool) (string, *node, error) {
	if !fs.ValidPath(name) {
		return "", nil, fs.ErrInvalid
	}
	if name == "." {
		return ".", t.nodes["."], nil
	}
	links := 0
	parts := strings.Split(name, "/")
	cur := "."
	for i := 0; i < len(parts); i++ {
		next := path.Join(cur, parts[i])
		n, ok := t.nodes[next]
		if !ok {
			return "", nil, fs.ErrNotExist
		}
		last := i == len(parts)-1
		if n.hdr.Typeflag == tar.TypeSymlink && (!last || follow) {
			links++
			if links > maxLinks {
				return "", nil, fmt.Errorf("%s: too many levels of symbolic links", name)
			}
			target := n.hdr.Linkname
			var base string
			if strings.HasPrefix(target, "/") {
				base = "/" + target
			} else {
				base = "/" + path.Join(cur, target)
			}
			rest := append(strings.Split(strings.TrimPrefix(path.Clean(base), "/"), "/"), parts[i+1:]...)
			if path.Clean(base) == "/" {
				rest = parts[i+1:]
			}
			parts, i, cur = rest, -1, "."
			if len(parts) == 0 {
				return ".", t.nodes["."], nil
			}
			continue
		}
		if !last && n.hdr.Typeflag != tar.TypeDir {
			return "", nil, fs.ErrNotExist
		}
		cur = next
		if last {
			return cur, n, nil
		}
	}
	return cur, t.nodes[cur], nil
}

// Open implements fs.FS, following symlinks within the root.
func (t *Tree) Open(name string) (fs.File, error) {
	p, n, err := t.resolve(name, true)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	switch n.hdr.Typeflag {
	case tar.TypeDir:
		ents, _ := t.readDir(p)
		return &dirFile{info: info{n}, ents: ents}, nil
	case tar.TypeReg:
		if !n.kept {
			return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("content not retained by rootfs (only metadata)")}
		}
		return &regFile{info: info{n}, r: bytes.NewReader(n.data)}, nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("not a regular file or directory (type %q)", n.hdr.Typeflag)}
}

// ReadFile implements fs.ReadFileFS.
func (t *Tree) ReadFile(name string) ([]byte, error) {
	f, err := t.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if rf, ok := f.(*regFile); ok {
		return bytes.Clone(rf.info.n.data), nil
	}
	return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
}

// Stat implements fs.StatFS (following symlinks).
func (t *Tree) Stat(name string) (fs.FileInfo, error) {
	_, n, err := t.resolve(name, true)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return info{n}, nil
}

// Lstat implements fs.ReadLinkFS.
func (t *Tree) Lstat(name string) (fs.FileInfo, error) {
	_, n, err := t.resolve(name, false)
	if err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: err}
	}
	return info{n}, nil
}

// ReadLink implements fs.ReadLinkFS.
func (t *Tree) ReadLink(name string) (string, error) {
	_, n, err := t.resolve(name, false)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	if n.hdr.Typeflag != tar.TypeSymlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return n.hdr.Linkname, nil
}

// Header returns the tar header of name without following a final symlink.
func (t *Tree) Header(name string) (*tar.Header, bool) {
	_, n, err := t.resolve(name, false)
	if err != nil {
		return nil, false
	}
	h := n.hdr
	return &h, true
}

// ReadDir implements fs.ReadDirFS.
func (t *Tree) ReadDir(name string) ([]fs.DirEntry, error) {
	p, n, err := t.resolve(name, true)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	if n.hdr.Typeflag != tar.TypeDir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return t.readDir(p)
}

func (t *Tree) readDir(dir string) ([]fs.DirEntry, error) {
	var ents []fs.DirEntry
	for k, n := range t.nodes {
		if k == "." {
			continue
		}
		parent := path.Dir(k)
		if parent == dir {
			ents = append(ents, fs.FileInfoToDirEntry(info{n}))
		}
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	return ents, nil
}

type info struct{ n *node }

func (i info) Name() string {
	if i.n.hdr.Name == "." {
		return "."
	}
	return path.Base(i.n.hdr.Name)
}
func (i info) Size() int64 { return i.n.hdr.Size }
func (i info) Mode() fs.FileMode {
	m := fs.FileMode(i.n.hdr.Mode) & fs.ModePerm
	if i.n.hdr.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if i.n.hdr.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if i.n.hdr.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch i.n.hdr.Typeflag {
	case tar.TypeDir:
		m |= fs.ModeDir
	case tar.TypeSymlink:
		m |= fs.ModeSymlink
	case tar.TypeChar:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case tar.TypeBlock:
		m |= fs.ModeDevice
	case tar.TypeFifo:
		m |= fs.ModeNamedPipe
	}
	return m
}
func (i info) ModTime() time.Time { return i.n.hdr.ModTime }
func (i info) IsDir() bool        { return i.n.hdr.Typeflag == tar.TypeDir }

// Sys returns the entry's *tar.Header (uid, gid, link target).
func (i info) Sys() any { h := i.n.hdr; return &h }

type regFile struct {
	info
	r *bytes.Reader
}

func (f *regFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *regFile) Read(b []byte) (int, error) { return f.r.Read(b) }
func (f *regFile) Close() error               { return nil }

type dirFile struct {
	info
	ents []fs.DirEntry
	off  int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.Name(), Err: errors.New("is a directory")}
}
func (d *dirFile) Close() error { return nil }
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.ents[d.off:]
	if n <= 0 {
		d.off = len(d.ents)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if n > len(rest) {
		n = len(rest)
	}
	d.off += n
	return rest[:n], nil
}

var (
	_ fs.ReadDirFS  = (*Tree)(nil)
	_ fs.ReadFileFS = (*Tree)(nil)
	_ fs.StatFS     = (*Tree)(nil)
	_ fs.ReadLinkFS = (*Tree)(nil)
)
