package maint

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"testing"
)

// testFS is a small in-memory FS for the Debian commands' tests, standing in
// for the runner's virtual root: enough of the contract (symlinks followed
// inside the root, errors as *fs.PathError) for the state files these
// commands read and write.
type testFS struct {
	nodes map[string]*testNode
}

type testNode struct {
	mode     fs.FileMode
	data     []byte
	target   string
	uid, gid int
}

func newTestFS() *testFS {
	return &testFS{nodes: map[string]*testNode{"/": {mode: fs.ModeDir | 0o755}}}
}

// add creates files (content "...") and directories (name ending in "/")
// and symlinks ("-> target") with their parents.
func (t *testFS) add(entries map[string]string) *testFS {
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v := entries[n]
		t.mkdirAll(path.Dir(strings.TrimSuffix(n, "/")))
		switch {
		case strings.HasSuffix(n, "/"):
			t.mkdirAll(strings.TrimSuffix(n, "/"))
		case strings.HasPrefix(v, "-> "):
			t.nodes[n] = &testNode{mode: fs.ModeSymlink | 0o777, target: v[3:]}
		default:
			t.nodes[n] = &testNode{mode: 0o644, data: []byte(v)}
		}
	}
	return t
}

func (t *testFS) mkdirAll(p string) {
	if p == "/" || p == "." {
		return
	}
	t.mkdirAll(path.Dir(p))
	if _, ok := t.nodes[p]; !ok {
		t.nodes[p] = &testNode{mode: fs.ModeDir | 0o755}
	}
}

func (t *testFS) read(tb testing.TB, name string) string {
	tb.Helper()
	n, err := t.resolve(name, true)
	if err != nil {
		tb.Fatalf("read %s: %v", name, err)
	}
	return string(t.nodes[n].data)
}

// resolve follows symlinks of the parents (and of the last element if
// follow) inside the root.
func (t *testFS) resolve(name string, follow bool) (string, error) {
	return t.resolveN(cleanAbs(name), follow, 0)
}

func (t *testFS) resolveN(name string, follow bool, depth int) (string, error) {
	if depth > 40 {
		return "", &fs.PathError{Op: "resolve", Path: name, Err: fs.ErrInvalid}
	}
	if name == "/" {
		return "/", nil
	}
	parent, err := t.resolveN(path.Dir(name), true, depth+1)
	if err != nil {
		return "", err
	}
	if p := t.nodes[parent]; p == nil {
		return "", &fs.PathError{Op: "resolve", Path: name, Err: fs.ErrNotExist}
	} else if !p.mode.IsDir() {
		return "", &fs.PathError{Op: "resolve", Path: name, Err: ErrNotDir}
	}
	full := path.Join(parent, path.Base(name))
	n := t.nodes[full]
	if n == nil || !follow || n.mode&fs.ModeSymlink == 0 {
		return full, nil
	}
	tgt := n.target
	if !strings.HasPrefix(tgt, "/") {
		tgt = path.Join(parent, tgt)
	}
	return t.resolveN(cleanAbs(tgt), true, depth+1)
}

func (t *testFS) info(full string) (Info, error) {
	n := t.nodes[full]
	if n == nil {
		return Info{}, &fs.PathError{Op: "stat", Path: full, Err: fs.ErrNotExist}
	}
	return Info{Name: path.Base(full), Mode: n.mode, Uid: n.uid, Gid: n.gid, Size: int64(len(n.data)), Target: n.target}, nil
}

func (t *testFS) Lstat(name string) (Info, error) {
	full, err := t.resolve(name, false)
	if err != nil {
		return Info{}, err
	}
	return t.info(full)
}

func (t *testFS) Stat(name string) (Info, error) {
	full, err := t.resolve(name, true)
	if err != nil {
		return Info{}, err
	}
	return t.info(full)
}

func (t *testFS) ReadDir(name string) ([]Info, error) {
	full, err := t.resolve(name, true)
	if err != nil {
		return nil, err
	}
	if n := t.nodes[full]; n == nil || !n.mode.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	var out []Info
	for p := range t.nodes {
		if p != "/" && path.Dir(p) == full {
			i, _ := t.info(p)
			out = append(out, i)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (t *testFS) Readlink(name string) (string, error) {
	full, err := t.resolve(name, false)
	if err != nil {
		return "", err
	}
	n := t.nodes[full]
	if n == nil || n.mode&fs.ModeSymlink == 0 {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return n.target, nil
}

type testFile struct {
	n *testNode
	r *bytes.Reader
}

func (f *testFile) Read(p []byte) (int, error) {
	if f.r == nil {
		return 0, io.EOF
	}
	return f.r.Read(p)
}
func (f *testFile) Write(p []byte) (int, error) {
	f.n.data = append(f.n.data, p...)
	return len(p), nil
}
func (f *testFile) Close() error { return nil }

func (t *testFS) OpenFile(name string, flag int, perm fs.FileMode) (io.ReadWriteCloser, error) {
	full, err := t.resolve(name, true)
	if err != nil {
		return nil, err
	}
	n := t.nodes[full]
	if n == nil {
		if flag&os.O_CREATE == 0 {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		n = &testNode{mode: perm}
		t.nodes[full] = n
	} else if flag&os.O_EXCL != 0 {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	}
	if n.mode.IsDir() {
		return nil, &fs.PathError{Op: "open", Path: name, Err: ErrIsDir}
	}
	if flag&os.O_TRUNC != 0 {
		n.data = nil
	}
	return &testFile{n: n, r: bytes.NewReader(append([]byte(nil), n.data...))}, nil
}

func (t *testFS) Mkdir(name string, perm fs.FileMode) error {
	full, err := t.resolve(name, false)
	if err != nil {
		return err
	}
	if t.nodes[full] != nil {
		return &fs.PathError{Op: "mkdir", Path: name, Err: fs.ErrExist}
	}
	t.nodes[full] = &testNode{mode: fs.ModeDir | perm}
	return nil
}

func (t *testFS) Remove(name string) error {
	full, err := t.resolve(name, false)
	if err != nil {
		return err
	}
	n := t.nodes[full]
	if n == nil {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	if n.mode.IsDir() {
		for p := range t.nodes {
			if path.Dir(p) == full && p != full {
				return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrExist}
			}
		}
	}
	delete(t.nodes, full)
	return nil
}

func (t *testFS) Rename(oldname, newname string) error {
	o, err := t.resolve(oldname, false)
	if err != nil {
		return err
	}
	nn, err := t.resolve(newname, false)
	if err != nil {
		return err
	}
	n := t.nodes[o]
	if n == nil {
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrNotExist}
	}
	for p, c := range t.nodes {
		if strings.HasPrefix(p, o+"/") {
			delete(t.nodes, p)
			t.nodes[nn+p[len(o):]] = c
		}
	}
	delete(t.nodes, o)
	t.nodes[nn] = n
	return nil
}

func (t *testFS) Symlink(target, name string) error {
	full, err := t.resolve(name, false)
	if err != nil {
		return err
	}
	if t.nodes[full] != nil {
		return &fs.PathError{Op: "symlink", Path: name, Err: fs.ErrExist}
	}
	t.nodes[full] = &testNode{mode: fs.ModeSymlink | 0o777, target: target}
	return nil
}

func (t *testFS) Link(oldname, newname string) error {
	o, err := t.resolve(oldname, true)
	if err != nil {
		return err
	}
	nn, err := t.resolve(newname, false)
	if err != nil {
		return err
	}
	if t.nodes[o] == nil {
		return &fs.PathError{Op: "link", Path: oldname, Err: fs.ErrNotExist}
	}
	t.nodes[nn] = t.nodes[o]
	return nil
}

func (t *testFS) Chmod(name string, mode fs.FileMode) error {
	full, err := t.resolve(name, true)
	if err != nil {
		return err
	}
	n := t.nodes[full]
	if n == nil {
		return &fs.PathError{Op: "chmod", Path: name, Err: fs.ErrNotExist}
	}
	n.mode = n.mode.Type() | mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
	return nil
}

func (t *testFS) chown(name string, uid, gid int, follow bool) error {
	full, err := t.resolve(name, follow)
	if err != nil {
		return err
	}
	n := t.nodes[full]
	if n == nil {
		return &fs.PathError{Op: "chown", Path: name, Err: fs.ErrNotExist}
	}
	if uid >= 0 {
		n.uid = uid
	}
	if gid >= 0 {
		n.gid = gid
	}
	return nil
}

func (t *testFS) Chown(name string, uid, gid int) error  { return t.chown(name, uid, gid, true) }
func (t *testFS) Lchown(name string, uid, gid int) error { return t.chown(name, uid, gid, false) }

// testHost is the runner's side of a command call in these tests.
type testHost struct {
	arch     string
	pkgs     map[string]map[string]string
	triggers []string
	policy   Policy
	debconf  *Debconf
}

func (h *testHost) Arch() string {
	if h.arch == "" {
		return "amd64"
	}
	return h.arch
}

func (h *testHost) Package(name string) (map[string]string, bool) {
	name, _, _ = strings.Cut(name, ":")
	p, ok := h.pkgs[name]
	return p, ok
}

func (h *testHost) Packages() []string {
	out := make([]string, 0, len(h.pkgs))
	for n := range h.pkgs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (h *testHost) ActivateTrigger(name string, noAwait bool) {
	if noAwait {
		name += " noawait"
	}
	h.triggers = append(h.triggers, name)
}

func (h *testHost) Policy() *Policy { return &h.policy }

func (h *testHost) Debconf() *Debconf {
	if h.debconf == nil {
		h.debconf = &Debconf{}
	}
	return h.debconf
}

// result is what one command run printed.
type result struct {
	stdout, stderr string
	err            error
	effects        []string
}

// runCmd runs a command the way the runner calls it.
func runCmd(fsys FS, host Host, stdin string, run Command, name string, args ...string) result {
	var out, errb bytes.Buffer
	var effects []string
	env := map[string]string{"SOURCE_DATE_EPOCH": "1700000000", "DPKG_MAINTSCRIPT_PACKAGE": "testpkg"}
	c := &Call{
		Ctx: context.Background(), Name: name, Args: args,
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Env: func(n string) string { return env[n] }, Dir: "/", FS: fsys, Host: host,
		Package: "testpkg", Script: "postinst", Line: 1,
		Effect: func(f string, a ...any) { effects = append(effects, fmt.Sprintf(f, a...)) },
	}
	err := run(c)
	return result{out.String(), errb.String(), err, effects}
}
