package maint

import (
	"archive/tar"
	"errors"
	"io"
	"io/fs"
	"os"
	"testing"
	"testing/fstest"
)

func readAll(t *testing.T, v *VFS, name string) string {
	t.Helper()
	b, err := v.ReadFile(name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

func TestVFSSymlinksStayInside(t *testing.T) {
	v := NewMemFS(
		MemFile("/etc/passwd", "root\n"),
		MemSymlink("/up", "../../../../etc"),
		MemSymlink("/abs", "/etc/passwd"),
		MemSymlink("/loop", "/loop"),
		MemSymlink("/usr/lib/rel", "../../etc/passwd"),
	)
	for _, name := range []string{"/up/passwd", "/abs", "/../../../etc/passwd", "/usr/lib/rel", "usr/../../etc/passwd"} {
		if got := readAll(t, v, name); got != "root\n" {
			t.Errorf("%s = %q", name, got)
		}
	}
	if _, err := v.Stat("/loop"); !errors.Is(err, ErrLoop) {
		t.Errorf("loop: %v", err)
	}
	if i, err := v.Lstat("/abs"); err != nil || i.Target != "/etc/passwd" || i.Mode&fs.ModeSymlink == 0 {
		t.Errorf("lstat /abs = %+v, %v", i, err)
	}
}

func TestVFSWriteRemoveWhiteout(t *testing.T) {
	v := NewMemFS(MemFile("/etc/a", "lower"), MemDir("/var/lib/x"), MemFile("/var/lib/x/f", "1"))
	if err := v.WriteFile("/etc/a", []byte("upper"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, v, "/etc/a"); got != "upper" {
		t.Errorf("after write: %q", got)
	}
	f, err := v.OpenFile("/etc/a", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, "+more")
	f.Close()
	if got := readAll(t, v, "/etc/a"); got != "upper+more" {
		t.Errorf("after append: %q", got)
	}
	if err := v.Remove("/var/lib/x"); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("remove non-empty dir: %v", err)
	}
	if err := v.Remove("/var/lib/x/f"); err != nil {
		t.Fatal(err)
	}
	if err := v.Remove("/var/lib/x"); err != nil {
		t.Fatal(err)
	}
	if v.Exists("/var/lib/x") || v.Exists("/var/lib/x/f") {
		t.Error("removed entries still visible")
	}
	ents, _ := v.ReadDir("/var/lib")
	if len(ents) != 0 {
		t.Errorf("readdir after remove: %v", ents)
	}
	ch := v.Changes()
	want := map[string]ChangeKind{"/etc/a": ChangeFile, "/var/lib/x": ChangeWhiteout}
	if len(ch) != len(want) {
		t.Fatalf("changes = %+v", ch)
	}
	for _, c := range ch {
		if want[c.Path] != c.Kind {
			t.Errorf("change %s kind %d, want %d", c.Path, c.Kind, want[c.Path])
		}
	}
	if ch[0].Mode != 0o644 { // existing file keeps its mode on O_TRUNC
		t.Errorf("mode %v", ch[0].Mode)
	}
}

func TestVFSRenameLinkChmod(t *testing.T) {
	v := NewMemFS(MemFile("/a/x", "X"), MemFile("/a/y", "Y"), MemDir("/b"))
	if err := v.Rename("/a", "/b"); err != nil { // onto an empty directory
		t.Fatal(err)
	}
	if !v.Exists("/b/x") || v.Exists("/a") {
		t.Fatalf("rename dir: b/x=%v a=%v", v.Exists("/b/x"), v.Exists("/a"))
	}
	if err := v.Link("/b/x", "/b/hard"); err != nil {
		t.Fatal(err)
	}
	f, _ := v.OpenFile("/b/x", os.O_WRONLY|os.O_APPEND, 0)
	io.WriteString(f, "2")
	f.Close()
	if got := readAll(t, v, "/b/hard"); got != "X2" {
		t.Errorf("hardlink sees %q", got)
	}
	if err := v.Chmod("/b/y", 0o4755); err != nil {
		t.Fatal(err)
	}
	if err := v.Chown("/b/y", 26, -1); err != nil {
		t.Fatal(err)
	}
	i, _ := v.Stat("/b/y")
	if i.Mode.Perm() != 0o755 || i.Uid != 26 || i.Gid != 0 {
		t.Errorf("chmod/chown: %+v", i)
	}
	if err := v.Rename("/b/x", "/b"); !errors.Is(err, ErrIsDir) && !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("rename file onto dir: %v", err)
	}
	var kinds = map[string]ChangeKind{}
	for _, c := range v.Changes() {
		kinds[c.Path] = c.Kind
	}
	if kinds["/a"] != ChangeWhiteout || kinds["/b/hard"] != ChangeFile || kinds["/b/x"] != ChangeHardlink {
		t.Errorf("changes: %v", kinds)
	}
}

func TestVFSErrors(t *testing.T) {
	v := NewMemFS(MemFile("/f", "x"), MemDir("/d"))
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"mkdir existing", v.Mkdir("/d", 0o755), fs.ErrExist},
		{"mkdir no parent", v.Mkdir("/no/x", 0o755), fs.ErrNotExist},
		{"mkdir under file", v.Mkdir("/f/x", 0o755), ErrNotDir},
		{"symlink existing", v.Symlink("x", "/f"), fs.ErrExist},
		{"remove missing", v.Remove("/nope"), fs.ErrNotExist},
		{"remove root", v.Remove("/"), fs.ErrPermission},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
	if _, err := v.OpenFile("/d", os.O_WRONLY, 0); !errors.Is(err, ErrIsDir) {
		t.Errorf("open dir for write: %v", err)
	}
	if _, err := v.OpenFile("/f", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); !errors.Is(err, fs.ErrExist) {
		t.Errorf("O_EXCL: %v", err)
	}
}

func TestVFSHorizonAndBase(t *testing.T) {
	base := fstest.MapFS{
		"etc/os-release": {Data: []byte("ID=debian\n"), Mode: 0o644},
		"usr/bin/big":    {Data: []byte("\x7fELF...."), Mode: 0o755},
	}
	v := NewVFS(base)
	v.UnpackEntry(1, &tar.Header{Name: "./usr/share/a/", Typeflag: tar.TypeDir, Mode: 0o755}, nil, false)
	v.UnpackEntry(1, &tar.Header{Name: "./usr/share/a/one", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3}, []byte("one"), true)
	v.UnpackEntry(2, &tar.Header{Name: "./usr/share/a/two", Typeflag: tar.TypeReg, Mode: 0o644, Size: 9}, nil, false)
	v.UnpackEntry(2, &tar.Header{Name: "./usr/share/a/one", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3}, []byte("new"), true)
	v.SetHorizon(1)
	if v.Exists("/usr/share/a/two") || readAll(t, v, "/usr/share/a/one") != "one" {
		t.Error("horizon 1 sees package 2")
	}
	v.SetHorizon(2)
	if !v.Exists("/usr/share/a/two") || readAll(t, v, "/usr/share/a/one") != "new" {
		t.Error("horizon 2 misses package 2")
	}
	if _, err := v.ReadFile("/usr/share/a/two"); !errors.Is(err, ErrNotRetained) {
		t.Errorf("unretained body: %v", err)
	}
	if readAll(t, v, "/etc/os-release") != "ID=debian\n" {
		t.Error("base file")
	}
	ents, err := v.ReadDir("/usr")
	if err != nil || len(ents) != 2 || ents[0].Name != "bin" || ents[1].Name != "share" {
		t.Errorf("merged readdir: %+v %v", ents, err)
	}
	if err := v.Chmod("/usr/share/a/two", 0o600); err != nil {
		t.Fatal(err)
	}
	ch := v.Changes()
	if len(ch) != 1 || !ch[0].Lower || ch[0].Mode != 0o600 {
		t.Errorf("metadata-only change: %+v", ch)
	}
}
