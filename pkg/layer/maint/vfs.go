package maint

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"

	"github.com/pgassemble/pgassemble/pkg/layer/maint/ldso"
)

// The virtual root scripts run in. Three levels, looked up top-down:
//
//   - upper: what scripts wrote (files, directories, symlinks, hardlinks,
//     metadata changes copied up, and whiteouts for removals);
//   - unpacked: the entries of the packages unpacked so far (Observe), each
//     tagged with a sequence number so a script sees only what dpkg would
//     have unpacked at that moment (SetHorizon);
//   - base: the base image, an fs.FS (+ fs.ReadLinkFS for symlinks).
//
// Every name is an absolute, cleaned path; ".." at "/" stays at "/" and
// symlinks are resolved against this root only, so nothing can address
// the host. Bodies of lower files are available only when retained (the
// runner keeps small non-ELF files, see Runner); reading one that is not
// fails with ErrNotRetained.

// More sentinel errors of the virtual root.
var (
	ErrNotEmpty = errors.New("directory not empty")
	ErrLoop     = errors.New("too many levels of symbolic links")
	// ErrNotRetained: the file exists in the image but its bytes were not
	// kept in memory (large or ELF files), so a script cannot read them.
	ErrNotRetained = errors.New("content not retained by the script runner")
)

const maxSymlinks = 40

type nodeKind uint8

const (
	kindNone nodeKind = iota
	kindFile
	kindDir
	kindSymlink
	kindDev // character device (/dev/null)
	kindWhiteout
)

// inode is the shared part of a regular file: hardlinks point to one.
type inode struct {
	data []byte
	kept bool // data holds the body
	// size when !kept (lower bodies not retained)
	size int64
}

type node struct {
	kind     nodeKind
	perm     fs.FileMode // permission and setuid/setgid/sticky bits
	uid, gid int
	target   string // symlink
	ino      *inode // regular files
	seq      int    // visibility (unpacked entries)
	// lower is set on an upper entry copied up from a lower one whose
	// body is not retained: the content is the lower file's, only the
	// metadata changed.
	lower bool
}

func (n *node) size() int64 {
	switch n.kind {
	case kindFile:
		if n.ino.kept {
			return int64(len(n.ino.data))
		}
		return n.ino.size
	case kindSymlink:
		return int64(len(n.target))
	}
	return 0
}

func (n *node) mode() fs.FileMode {
	m := n.perm
	switch n.kind {
	case kindDir:
		m |= fs.ModeDir
	case kindSymlink:
		m |= fs.ModeSymlink
	case kindDev:
		m |= fs.ModeDevice | fs.ModeCharDevice
	}
	return m
}

func (n *node) info(name string) Info {
	i := Info{Name: path.Base(name), Mode: n.mode(), Uid: n.uid, Gid: n.gid, Size: n.size()}
	if n.kind == kindSymlink {
		i.Target = n.target
	}
	return i
}

// VFS is the virtual root; it implements FS. It is not safe for
// concurrent use (scripts run one at a time).
type VFS struct {
	base     fs.FS
	unpacked map[string][]*node // path -> versions, ascending seq
	upper    map[string]*node
	children map[string]map[string]struct{} // dir -> names added by unpacked or upper
	horizon  int                            // unpacked entries with seq > horizon are invisible
	// write hooks, for Policy edits and triggers
	onWrite func(name string)
	// libInfo answers for unpacked libraries whose bytes are not kept.
	libInfo func(name string) (ldso.LibInfo, bool)
}

// LibInfo returns what ldconfig reads of a library (SONAME, flags),
// following symlinks: for unpacked ELF files the runner recorded it when
// the file was observed; retained and base files are read. ok is false
// when it is unknown (a base library whose bytes the base root did not
// keep: ldconfig then keeps what the base's ld.so.cache says).
func (v *VFS) LibInfo(name string) (info ldso.LibInfo, ok bool) {
	p, n, err := v.resolve(name, true)
	if err != nil || n == nil || n.kind != kindFile {
		return ldso.LibInfo{}, false
	}
	if v.libInfo != nil {
		if i, ok := v.libInfo(p); ok {
			return i, true
		}
	}
	b, err := v.readBody(p, n)
	if err != nil {
		return ldso.LibInfo{}, false
	}
	return ldso.ReadLibInfo(bytes.NewReader(b)), true
}

// NewVFS returns a virtual root over base (nil: an empty root). base
// names are relative ("etc/passwd"); symlinks are read through
// fs.ReadLinkFS when base implements it.
func NewVFS(base fs.FS) *VFS {
	return &VFS{base: base, unpacked: map[string][]*node{}, upper: map[string]*node{},
		children: map[string]map[string]struct{}{}, horizon: int(^uint(0) >> 1)}
}

// SetHorizon hides unpacked entries observed with a sequence number above
// seq (a script sees what dpkg had unpacked when it ran).
func (v *VFS) SetHorizon(seq int) { v.horizon = seq }

// Horizon returns the current visibility limit.
func (v *VFS) Horizon() int { return v.horizon }

// UnpackEntry records one entry of an unpacked package (a tar header of a
// data.tar, name relative or absolute), visible from sequence seq on.
// body is the file's content when retained (nil otherwise, for a regular
// file of hdr.Size bytes).
func (v *VFS) UnpackEntry(seq int, hdr *tar.Header, body []byte, retained bool) {
	name := cleanAbs("/" + hdr.Name)
	if name == "/" {
		return
	}
	v.implyParents(seq, path.Dir(name))
	n := &node{perm: fs.FileMode(hdr.Mode) & fs.ModePerm, uid: hdr.Uid, gid: hdr.Gid, seq: seq}
	n.perm |= specialBits(hdr.Mode)
	switch hdr.Typeflag {
	case tar.TypeDir:
		n.kind = kindDir
	case tar.TypeSymlink:
		n.kind, n.target = kindSymlink, hdr.Linkname
	case tar.TypeLink:
		// A hardlink to an earlier entry of the same package: share it.
		if src := v.lookupUnpacked(cleanAbs("/" + hdr.Linkname)); src != nil && src.kind == kindFile {
			c := *src
			c.seq = seq
			n = &c
		} else {
			n.kind, n.ino = kindFile, &inode{size: hdr.Size}
		}
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		n.kind = kindDev
	default:
		n.kind = kindFile
		n.ino = &inode{size: hdr.Size}
		if retained {
			n.ino.data, n.ino.kept = body, true
		}
	}
	vs := v.unpacked[name]
	i := sort.Search(len(vs), func(i int) bool { return vs[i].seq > seq })
	vs = append(vs, nil)
	copy(vs[i+1:], vs[i:])
	vs[i] = n
	v.unpacked[name] = vs
	v.addChild(name)
}

// implyParents adds the directories an entry's archive left implicit, as
// runtimes do when they extract a layer.
func (v *VFS) implyParents(seq int, dir string) {
	if dir == "/" || len(v.unpacked[dir]) > 0 || v.baseNode(dir) != nil {
		return
	}
	v.implyParents(seq, path.Dir(dir))
	v.unpacked[dir] = []*node{{kind: kindDir, perm: 0o755, seq: seq}}
	v.addChild(dir)
}

func specialBits(mode int64) fs.FileMode {
	var m fs.FileMode
	if mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

func (v *VFS) addChild(name string) {
	dir, base := path.Split(name)
	dir = cleanAbs(dir)
	set := v.children[dir]
	if set == nil {
		set = map[string]struct{}{}
		v.children[dir] = set
	}
	set[base] = struct{}{}
}

func (v *VFS) lookupUnpacked(name string) *node {
	vs := v.unpacked[name]
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].seq <= v.horizon {
			return vs[i]
		}
	}
	return nil
}

// raw looks name (absolute, clean, no symlink resolution) up in the three
// levels. It returns nil when absent.
func (v *VFS) raw(name string) *node {
	if n, ok := v.upper[name]; ok {
		if n.kind == kindWhiteout {
			return nil
		}
		return n
	}
	if name == "/dev/null" {
		return devNull
	}
	if n := v.lookupUnpacked(name); n != nil {
		return n
	}
	return v.baseNode(name)
}

var devNull = &node{kind: kindDev, perm: 0o666}

var rootNode = &node{kind: kindDir, perm: 0o755}

func (v *VFS) baseNode(name string) *node {
	if name == "/" {
		if v.base != nil {
			if fi, err := fs.Stat(v.base, "."); err == nil {
				return nodeFromInfo(fi, "")
			}
		}
		return rootNode
	}
	if v.base == nil {
		return nil
	}
	rel := name[1:]
	var fi fs.FileInfo
	var err error
	if rl, ok := v.base.(fs.ReadLinkFS); ok {
		fi, err = rl.Lstat(rel)
	} else {
		fi, err = fs.Stat(v.base, rel)
	}
	if err != nil {
		return nil
	}
	target := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		if rl, ok := v.base.(fs.ReadLinkFS); ok {
			target, _ = rl.ReadLink(rel)
		}
	}
	return nodeFromInfo(fi, target)
}

func nodeFromInfo(fi fs.FileInfo, target string) *node {
	m := fi.Mode()
	n := &node{perm: m & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)}
	switch s := fi.Sys().(type) {
	case *tar.Header:
		n.uid, n.gid = s.Uid, s.Gid
	case *syscall.Stat_t: // os.DirFS
		n.uid, n.gid = int(s.Uid), int(s.Gid)
	}
	switch {
	case m.IsDir():
		n.kind = kindDir
	case m&fs.ModeSymlink != 0:
		n.kind, n.target = kindSymlink, target
	case m.IsRegular():
		n.kind, n.ino = kindFile, &inode{size: fi.Size()}
	default:
		n.kind = kindDev
	}
	return n
}

// readBody returns a regular file's bytes.
func (v *VFS) readBody(name string, n *node) ([]byte, error) {
	if n.kind == kindDev {
		return nil, nil
	}
	if n.ino.kept {
		return n.ino.data, nil
	}
	// Base files are read from the base FS on demand.
	if v.base != nil && !n.lower {
		if _, inUpper := v.upper[name]; !inUpper && v.lookupUnpacked(name) == nil {
			if b, err := fs.ReadFile(v.base, name[1:]); err == nil {
				return b, nil
			}
		}
	}
	if n.lower && v.base != nil {
		if b, err := fs.ReadFile(v.base, name[1:]); err == nil && int64(len(b)) == n.ino.size {
			return b, nil
		}
	}
	return nil, ErrNotRetained
}

// resolve follows symlinks in every element of name, and in the last one
// when follow is set. It returns the resolved absolute path and its node
// (nil if the last element does not exist, with the parent resolved).
func (v *VFS) resolve(name string, follow bool) (string, *node, error) {
	name = cleanAbs("/" + name)
	switch name {
	case "/":
		return "/", v.raw("/"), nil
	case "/dev/null": // always there, whatever the image's /dev holds
		return name, devNull, nil
	}
	parts := strings.Split(name[1:], "/")
	cur := "/"
	links := 0
	for i := 0; i < len(parts); i++ {
		next := joinAbs(cur, parts[i])
		n := v.raw(next)
		last := i == len(parts)-1
		if n == nil {
			if last {
				return next, nil, nil
			}
			return "", nil, fs.ErrNotExist
		}
		if n.kind == kindSymlink && (!last || follow) {
			links++
			if links > maxSymlinks {
				return "", nil, ErrLoop
			}
			var t string
			if strings.HasPrefix(n.target, "/") {
				t = cleanAbs(n.target)
			} else {
				t = cleanAbs(cur + "/" + n.target)
			}
			rest := parts[i+1:]
			if t == "/" {
				parts = append([]string{}, rest...)
			} else {
				parts = append(strings.Split(t[1:], "/"), rest...)
			}
			cur, i = "/", -1
			if len(parts) == 0 {
				return "/", v.raw("/"), nil
			}
			continue
		}
		if !last && n.kind != kindDir {
			return "", nil, ErrNotDir
		}
		cur = next
		if last {
			return cur, n, nil
		}
	}
	return cur, v.raw(cur), nil
}

func joinAbs(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

func pathErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// Lstat implements FS.
func (v *VFS) Lstat(name string) (Info, error) {
	p, n, err := v.resolve(name, false)
	if err == nil && n == nil {
		err = fs.ErrNotExist
	}
	if err != nil {
		return Info{}, pathErr("lstat", name, err)
	}
	return n.info(p), nil
}

// Stat implements FS.
func (v *VFS) Stat(name string) (Info, error) {
	p, n, err := v.resolve(name, true)
	if err == nil && n == nil {
		err = fs.ErrNotExist
	}
	if err != nil {
		return Info{}, pathErr("stat", name, err)
	}
	return n.info(p), nil
}

// Readlink implements FS.
func (v *VFS) Readlink(name string) (string, error) {
	_, n, err := v.resolve(name, false)
	if err == nil && n == nil {
		err = fs.ErrNotExist
	}
	if err == nil && n.kind != kindSymlink {
		err = fs.ErrInvalid
	}
	if err != nil {
		return "", pathErr("readlink", name, err)
	}
	return n.target, nil
}

// ReadDir implements FS.
func (v *VFS) ReadDir(name string) ([]Info, error) {
	p, n, err := v.resolve(name, true)
	if err == nil && n == nil {
		err = fs.ErrNotExist
	}
	if err == nil && n.kind != kindDir {
		err = ErrNotDir
	}
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	names := v.childNames(p)
	out := make([]Info, 0, len(names))
	for _, c := range names {
		if cn := v.raw(joinAbs(p, c)); cn != nil {
			out = append(out, cn.info(c))
		}
	}
	return out, nil
}

// childNames lists the names that may exist in dir (resolved), sorted;
// callers check each with raw.
func (v *VFS) childNames(dir string) []string {
	set := map[string]struct{}{}
	if v.base != nil {
		rel := "."
		if dir != "/" {
			rel = dir[1:]
		}
		if ents, err := fs.ReadDir(v.base, rel); err == nil {
			for _, e := range ents {
				set[e.Name()] = struct{}{}
			}
		}
	}
	for c := range v.children[dir] {
		set[c] = struct{}{}
	}
	if dir == "/dev" {
		set["null"] = struct{}{}
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

func (v *VFS) isEmptyDir(dir string) bool {
	for _, c := range v.childNames(dir) {
		if v.raw(joinAbs(dir, c)) != nil {
			return false
		}
	}
	return true
}

// put writes n at name in the upper level.
func (v *VFS) put(name string, n *node) {
	v.upper[name] = n
	v.addChild(name)
	if v.onWrite != nil && n.kind != kindWhiteout {
		v.onWrite(name)
	}
}

// del removes name from the view: a whiteout when a lower level has it.
func (v *VFS) del(name string) {
	delete(v.upper, name)
	if v.lookupUnpacked(name) != nil || v.baseNode(name) != nil {
		v.upper[name] = &node{kind: kindWhiteout}
	}
}

// copyUp returns the upper node for name, copying the lower one up (its
// body when retained, otherwise marked lower).
func (v *VFS) copyUp(name string, n *node) *node {
	if u, ok := v.upper[name]; ok && u == n {
		return u
	}
	c := *n
	if n.kind == kindFile {
		ino := &inode{size: n.size()}
		if b, err := v.readBody(name, n); err == nil {
			ino.data, ino.kept = append([]byte(nil), b...), true
		} else {
			c.lower = true
		}
		c.ino = ino
	}
	c.seq = 0
	v.upper[name] = &c
	v.addChild(name)
	return &c
}

// parentDir checks that the parent of the resolved name is a directory.
func (v *VFS) parentDir(p string) error {
	d := v.raw(path.Dir(p))
	if d == nil {
		return fs.ErrNotExist
	}
	if d.kind != kindDir {
		return ErrNotDir
	}
	return nil
}

// Mkdir implements FS.
func (v *VFS) Mkdir(name string, perm fs.FileMode) error {
	p, n, err := v.resolve(name, false)
	if err == nil && n != nil {
		err = fs.ErrExist
	}
	if err == nil {
		err = v.parentDir(p)
	}
	if err != nil {
		return pathErr("mkdir", name, err)
	}
	v.put(p, &node{kind: kindDir, perm: perm & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)})
	return nil
}

// Symlink implements FS.
func (v *VFS) Symlink(target, name string) error {
	p, n, err := v.resolve(name, false)
	if err == nil && n != nil {
		err = fs.ErrExist
	}
	if err == nil {
		err = v.parentDir(p)
	}
	if err == nil && target == "" {
		err = fs.ErrNotExist
	}
	if err != nil {
		return pathErr("symlink", name, err)
	}
	v.put(p, &node{kind: kindSymlink, perm: 0o777, target: target})
	return nil
}

// Link implements FS: newname shares oldname's inode (not following a
// final symlink, as link(2) on Linux).
func (v *VFS) Link(oldname, newname string) error {
	op, on, err := v.resolve(oldname, false)
	if err == nil && on == nil {
		err = fs.ErrNotExist
	}
	if err == nil && on.kind == kindDir {
		err = fs.ErrPermission
	}
	if err != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: err}
	}
	np, nn, err := v.resolve(newname, false)
	if err == nil && nn != nil {
		err = fs.ErrExist
	}
	if err == nil {
		err = v.parentDir(np)
	}
	if err != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: err}
	}
	u := v.copyUp(op, on)
	c := *u
	v.put(np, &c) // c.ino is shared with u
	return nil
}

// Remove implements FS.
func (v *VFS) Remove(name string) error {
	p, n, err := v.resolve(name, false)
	if err == nil && n == nil {
		err = fs.ErrNotExist
	}
	if err == nil && p == "/" {
		err = fs.ErrPermission
	}
	if err == nil && n.kind == kindDir && !v.isEmptyDir(p) {
		err = ErrNotEmpty
	}
	if err != nil {
		return pathErr("remove", name, err)
	}
	v.del(p)
	return nil
}

// Rename implements FS with rename(2)'s rules.
func (v *VFS) Rename(oldname, newname string) error {
	op, on, err := v.resolve(oldname, false)
	if err == nil && on == nil {
		err = fs.ErrNotExist
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	np, nn, err := v.resolve(newname, false)
	if err == nil {
		err = v.parentDir(np)
	}
	if err == nil && (op == "/" || np == "/" || strings.HasPrefix(np, op+"/")) {
		err = fs.ErrInvalid
	}
	if err == nil && nn != nil {
		switch {
		case on.kind == kindDir && nn.kind != kindDir:
			err = ErrNotDir
		case on.kind != kindDir && nn.kind == kindDir:
			err = ErrIsDir
		case nn.kind == kindDir && !v.isEmptyDir(np):
			err = ErrNotEmpty
		}
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	if op == np {
		return nil
	}
	v.move(op, on, np)
	return nil
}

// move places the subtree at op (node on) at np and removes op.
func (v *VFS) move(op string, on *node, np string) {
	if on.kind == kindDir {
		for _, c := range v.childNames(op) {
			if cn := v.raw(joinAbs(op, c)); cn != nil {
				defer v.move(joinAbs(op, c), cn, joinAbs(np, c)) // after the directory exists
			}
		}
	}
	u := v.copyUp(op, on)
	c := *u
	v.put(np, &c)
	v.del(op)
}

func (v *VFS) setMeta(op, name string, follow bool, fn func(n *node)) error {
	p, n, err := v.resolve(name, follow)
	if err == nil && n == nil {
		err = fs.ErrNotExist
	}
	if err == nil && n.kind == kindDev {
		return nil
	}
	if err != nil {
		return pathErr(op, name, err)
	}
	u := v.copyUp(p, n)
	fn(u)
	if v.onWrite != nil {
		v.onWrite(p)
	}
	return nil
}

// Chmod implements FS.
func (v *VFS) Chmod(name string, mode fs.FileMode) error {
	return v.setMeta("chmod", name, true, func(n *node) {
		n.perm = mode & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	})
}

// Chown implements FS (following a final symlink); -1 keeps a value.
func (v *VFS) Chown(name string, uid, gid int) error {
	return v.setMeta("chown", name, true, func(n *node) { setOwner(n, uid, gid) })
}

// Lchown implements FS.
func (v *VFS) Lchown(name string, uid, gid int) error {
	return v.setMeta("lchown", name, false, func(n *node) { setOwner(n, uid, gid) })
}

func setOwner(n *node, uid, gid int) {
	if uid >= 0 {
		n.uid = uid
	}
	if gid >= 0 {
		n.gid = gid
	}
}

// OpenFile implements FS.
func (v *VFS) OpenFile(name string, flag int, perm fs.FileMode) (io.ReadWriteCloser, error) {
	p, n, err := v.resolve(name, true)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	write := flag&(os.O_WRONLY|os.O_RDWR) != 0
	if n == nil {
		if flag&os.O_CREATE == 0 {
			return nil, pathErr("open", name, fs.ErrNotExist)
		}
		if err := v.parentDir(p); err != nil {
			return nil, pathErr("open", name, err)
		}
		n = &node{kind: kindFile, perm: perm & fs.ModePerm, ino: &inode{kept: true}}
		v.put(p, n)
	} else if flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL {
		return nil, pathErr("open", name, fs.ErrExist)
	}
	switch n.kind {
	case kindDev:
		return nullFile{}, nil
	case kindDir:
		if write {
			return nil, pathErr("open", name, ErrIsDir)
		}
		return nil, pathErr("read", name, ErrIsDir)
	}
	if !write {
		b, err := v.readBody(p, n)
		if err != nil {
			return nil, pathErr("open", name, err)
		}
		return &readFile{r: bytes.NewReader(b)}, nil
	}
	if flag&os.O_TRUNC != 0 {
		u := v.upper[p]
		if u != n {
			c := *n
			c.ino, c.lower = &inode{kept: true}, false
			c.seq = 0
			v.put(p, &c)
			u = &c
		} else {
			if v.onWrite != nil {
				v.onWrite(p)
			}
		}
		u.ino.data, u.ino.kept, u.lower = u.ino.data[:0], true, false
		n = u
	} else {
		u := v.copyUp(p, n)
		if u.lower {
			return nil, pathErr("open", name, ErrNotRetained)
		}
		if v.onWrite != nil {
			v.onWrite(p)
		}
		n = u
	}
	f := &writeFile{v: v, name: p, n: n, append: flag&os.O_APPEND != 0, read: flag&os.O_RDWR != 0}
	return f, nil
}

type nullFile struct{}

func (nullFile) Read([]byte) (int, error)    { return 0, io.EOF }
func (nullFile) Write(p []byte) (int, error) { return len(p), nil }
func (nullFile) Close() error                { return nil }

type readFile struct{ r *bytes.Reader }

func (f *readFile) Read(p []byte) (int, error) { return f.r.Read(p) }
func (f *readFile) Write([]byte) (int, error)  { return 0, fs.ErrPermission }
func (f *readFile) Close() error               { return nil }

// writeFile writes through to the inode, so a later reader sees the
// bytes even before Close.
type writeFile struct {
	v      *VFS
	name   string
	n      *node
	off    int
	append bool
	read   bool
}

func (f *writeFile) Write(p []byte) (int, error) {
	ino := f.n.ino
	if f.append {
		f.off = len(ino.data)
	}
	end := f.off + len(p)
	if end > len(ino.data) {
		if end > cap(ino.data) {
			nb := make([]byte, end, 2*end)
			copy(nb, ino.data)
			ino.data = nb
		} else {
			ino.data = ino.data[:end]
		}
	}
	copy(ino.data[f.off:], p)
	f.off = end
	return len(p), nil
}

func (f *writeFile) Read(p []byte) (int, error) {
	if !f.read {
		return 0, fs.ErrPermission
	}
	if f.off >= len(f.n.ino.data) {
		return 0, io.EOF
	}
	n := copy(p, f.n.ino.data[f.off:])
	f.off += n
	return n, nil
}

func (f *writeFile) Close() error { return nil }

// ReadFile reads a whole file (following symlinks).
func (v *VFS) ReadFile(name string) ([]byte, error) {
	p, n, err := v.resolve(name, true)
	if err == nil && n == nil {
		err = fs.ErrNotExist
	}
	if err == nil && n.kind == kindDir {
		err = ErrIsDir
	}
	if err != nil {
		return nil, pathErr("read", name, err)
	}
	b, err := v.readBody(p, n)
	if err != nil {
		return nil, pathErr("read", name, err)
	}
	return bytes.Clone(b), nil
}

// WriteFile replaces (or creates) a file with data and perm, as the
// runner's own edits do.
func (v *VFS) WriteFile(name string, data []byte, perm fs.FileMode) error {
	f, err := v.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Close())
}

// ChangeKind says what a Change is.
type ChangeKind uint8

const (
	ChangeFile ChangeKind = iota + 1
	ChangeDir
	ChangeSymlink
	// ChangeHardlink: Linkname names an earlier Change sharing the inode.
	ChangeHardlink
	// ChangeWhiteout: the path (from a lower level) was removed.
	ChangeWhiteout
)

// Change is one entry of what scripts wrote (the state layer).
type Change struct {
	Path     string // absolute
	Kind     ChangeKind
	Mode     fs.FileMode // permission and special bits
	Uid, Gid int
	Data     []byte
	Linkname string
	// Lower: the content is the lower file's (not retained in memory);
	// only the metadata changed. The layer writer must take the body
	// from the layers below.
	Lower bool
}

// Changes lists the upper level sorted by path. Hardlinks after the first
// path of an inode are ChangeHardlink to it.
func (v *VFS) Changes() []Change {
	names := make([]string, 0, len(v.upper))
	for k := range v.upper {
		names = append(names, k)
	}
	sort.Strings(names)
	first := map[*inode]string{}
	var out []Change
	for _, p := range names {
		n := v.upper[p]
		c := Change{Path: p, Mode: n.perm, Uid: n.uid, Gid: n.gid}
		switch n.kind {
		case kindWhiteout:
			// A whiteout under a removed directory is implied by the parent's.
			if v.hiddenByParent(p) {
				continue
			}
			c = Change{Path: p, Kind: ChangeWhiteout}
		case kindDir:
			c.Kind = ChangeDir
		case kindSymlink:
			c.Kind, c.Linkname = ChangeSymlink, n.target
		case kindDev:
			continue
		case kindFile:
			if f, ok := first[n.ino]; ok {
				c.Kind, c.Linkname = ChangeHardlink, f
				break
			}
			first[n.ino] = p
			c.Kind = ChangeFile
			if n.lower {
				c.Lower = true
			} else {
				c.Data = n.ino.data
			}
		}
		out = append(out, c)
	}
	return out
}

func (v *VFS) hiddenByParent(p string) bool {
	for d := path.Dir(p); d != "/"; d = path.Dir(d) {
		if u, ok := v.upper[d]; ok && u.kind == kindWhiteout {
			return true
		}
	}
	return false
}

// Exists reports whether name exists (following symlinks).
func (v *VFS) Exists(name string) bool {
	_, n, err := v.resolve(name, true)
	return err == nil && n != nil
}

// MemEntry is one entry of a NewMemFS root.
type MemEntry struct {
	Path     string      // absolute
	Mode     fs.FileMode // type bits (fs.ModeDir, fs.ModeSymlink) and permissions; 0 means 0644 file / 0755 dir
	Uid, Gid int
	Data     string
	Target   string // symlink target
}

// MemFile, MemDir and MemSymlink are shorthands for NewMemFS.
func MemFile(p, data string) MemEntry { return MemEntry{Path: p, Mode: 0o644, Data: data} }

// MemDir is a 0755 directory.
func MemDir(p string) MemEntry { return MemEntry{Path: p, Mode: fs.ModeDir | 0o755} }

// MemSymlink is a symlink.
func MemSymlink(p, target string) MemEntry {
	return MemEntry{Path: p, Mode: fs.ModeSymlink | 0o777, Target: target}
}

// NewMemFS returns a virtual root whose lower level holds entries (parent
// directories are implied), for tests of commands and scripts: what a test
// writes goes to the upper level, visible in Changes.
func NewMemFS(entries ...MemEntry) *VFS {
	v := NewVFS(nil)
	for _, e := range entries {
		p := cleanAbs(e.Path)
		h := &tar.Header{Name: p, Mode: int64(e.Mode & fs.ModePerm), Uid: e.Uid, Gid: e.Gid}
		if e.Mode&fs.ModeSetuid != 0 {
			h.Mode |= 0o4000
		}
		if e.Mode&fs.ModeSetgid != 0 {
			h.Mode |= 0o2000
		}
		if e.Mode&fs.ModeSticky != 0 {
			h.Mode |= 0o1000
		}
		switch {
		case e.Mode&fs.ModeDir != 0:
			h.Typeflag = tar.TypeDir
		case e.Mode&fs.ModeSymlink != 0:
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.Target
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.Data))
			if h.Mode == 0 {
				h.Mode = 0o644
			}
		}
		v.UnpackEntry(0, h, []byte(e.Data), true)
	}
	return v
}
