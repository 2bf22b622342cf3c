package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestWriteFileReplacesWholeWithTheOneMode(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "f")
	if err := WriteFile(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("two")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "two" {
		t.Fatalf("%q %v", b, err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != FileMode {
		t.Errorf("mode %v, want %v", fi.Mode().Perm(), FileMode)
	}
	di, _ := os.Stat(filepath.Dir(p))
	if di.Mode().Perm() != DirMode {
		t.Errorf("dir mode %v, want %v", di.Mode().Perm(), DirMode)
	}
	if l := listDir(t, filepath.Dir(p)); len(l) != 1 {
		t.Errorf("left behind: %v", l)
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(f.Name()), TempPrefix) {
		t.Errorf("temporary %s lacks the prefix %s", f.Name(), TempPrefix)
	}
	f.Write([]byte("half"))
	f.Abort()
	f.Abort()
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Errorf("aborted write changed the file: %q", b)
	}
	if l := listDir(t, dir); len(l) != 1 {
		t.Errorf("left behind: %v", l)
	}
	if err := f.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
}

func TestCommitAsInAnotherDir(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	f, err := Create("", InDir(run))
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("blob"))
	dst := filepath.Join(dir, "cache", "sha256-x")
	if err := f.CommitAs(dst); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "blob" {
		t.Errorf("%q", b)
	}
	if l := listDir(t, run); len(l) != 0 {
		t.Errorf("run dir keeps %v", l)
	}
	f.Abort() // after a commit: nothing
	if _, err := os.Stat(dst); err != nil {
		t.Error("Abort after Commit removed the file")
	}
	if _, err := Create(""); err == nil {
		t.Error("Create without a name or a directory succeeded")
	}
}

func TestFailedRenameLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	f, err := Create(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("x"))
	// A directory is in the way of the final name.
	if err := os.MkdirAll(filepath.Join(dir, "d", "busy"), 0o755); err != nil {
		t.Fatal(err)
	}
	err = f.CommitAs(filepath.Join(dir, "d"))
	if err == nil {
		t.Fatal("rename over a non-empty directory succeeded")
	}
	var pe *os.LinkError
	if !errors.As(err, &pe) {
		t.Errorf("error %v", err)
	}
	if l := listDir(t, dir); len(l) != 1 || l[0] != "d" {
		t.Errorf("left behind: %v", l)
	}
}
