package replay

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

// ldconfigRoot makes a small root with the host's zlib and expat (a file,
// its soname link and a dev link each) and returns it.
func ldconfigRoot(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("ldconfig"); err != nil {
		if _, err := os.Stat("/sbin/ldconfig"); err != nil {
			t.Skip("ldconfig not installed")
		}
	}
	src := "/usr/lib/x86_64-linux-gnu"
	libs, _ := filepath.Glob(filepath.Join(src, "libz.so*"))
	more, _ := filepath.Glob(filepath.Join(src, "libexpat.so*"))
	libs = append(libs, more...)
	if len(libs) < 3 {
		t.Skipf("no libz/libexpat in %s to build a test root from", src)
	}
	root := t.TempDir()
	dir := filepath.Join(root, "usr/lib/x86_64-linux-gnu")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"etc/ld.so.conf.d", "usr/local/lib"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("usr/lib", filepath.Join(root, "lib")); err != nil {
		t.Fatal(err)
	}
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(root, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n\n")
	write("etc/ld.so.conf.d/libc.conf", "# libc default configuration\n/usr/local/lib\n")
	write("etc/ld.so.conf.d/x86_64-linux-gnu.conf", "# Multiarch support\n/usr/local/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n")
	for _, l := range libs {
		dst := filepath.Join(dir, filepath.Base(l))
		if target, err := os.Readlink(l); err == nil {
			if err := os.Symlink(target, dst); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func runLdconfig(t *testing.T, root string) []byte {
	t.Helper()
	out, err := exec.Command("ldconfig", "-X", "-r", root).CombinedOutput()
	if err != nil {
		t.Fatalf("ldconfig: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(root, "etc/ld.so.cache"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLdCacheMatchesLdconfig: a cache written from what ldconfig found
// is byte-identical to ldconfig's, and scanning the observed libraries
// finds the same entries.
func TestLdCacheMatchesLdconfig(t *testing.T) {
	root := ldconfigRoot(t)
	real := runLdconfig(t, root)
	c, err := ParseLdCache(real)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Entries) < 2 || c.Generator == "" {
		t.Fatalf("ldconfig wrote %d entries, generator %q", len(c.Entries), c.Generator)
	}
	if got := WriteLdCache(c.Entries, c.Generator, false); !bytes.Equal(got, real) {
		t.Errorf("rewritten cache differs from ldconfig's (%d vs %d bytes)", len(got), len(real))
	}

	// Now as the replay sees it: a base without the libraries, and the
	// libraries observed as a package's entries.
	if err := os.Remove(filepath.Join(root, "etc/ld.so.cache")); err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	for _, d := range []string{"etc", "usr/lib/x86_64-linux-gnu", "usr/local/lib"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("usr/lib", filepath.Join(base, "lib")); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("cp", "-a", filepath.Join(root, "etc/ld.so.conf"), filepath.Join(root, "etc/ld.so.conf.d"), filepath.Join(base, "etc")).Run(); err != nil {
		t.Fatal(err)
	}
	p, err := New(os.DirFS(base), Options{Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AddPackages([]Package{pkg("libs", "", map[string]string{"triggers": "activate-noawait ldconfig\n"})}); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(root, "usr/lib/x86_64-linux-gnu"))
	for _, e := range ents {
		name := "usr/lib/x86_64-linux-gnu/" + e.Name()
		full := filepath.Join(root, name)
		if target, err := os.Readlink(full); err == nil {
			observeLink(t, p, "libs", name, target)
			continue
		}
		f, err := os.Open(full)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		err = p.Observe("libs", &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: fi.Size()}, f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	files := fileMap(t, p)
	ours, err := ParseLdCache(files["etc/ld.so.cache"].Data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ours.Entries, c.Entries) {
		t.Errorf("entries:\n ours %+v\n ldconfig %+v", ours.Entries, c.Entries)
	}
	if got := WriteLdCache(ours.Entries, c.Generator, false); !bytes.Equal(got, real) {
		t.Error("with ldconfig's generator string, our cache is not byte-identical")
	}
}

func TestReadLibInfoStreamsLargeFiles(t *testing.T) {
	// A non-ELF "library" larger than the spool limit is read through a
	// temporary file and rejected.
	st := &ldState{sonames: map[string]libInfo{}}
	r := io.LimitReader(zeroReader{}, spoolLimit+10)
	if err := st.observeFile("usr/lib/libbig.so.1", spoolLimit+10, r); err != nil {
		t.Fatal(err)
	}
	if st.sonames["usr/lib/libbig.so.1"].OK {
		t.Error("non-ELF file taken for a library")
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// readerAtOnly counts the bytes read through ReadAt.
type readerAtOnly struct {
	r    *bytes.Reader
	read int64
}

func (c *readerAtOnly) Read([]byte) (int, error) { panic("Read called; ReadAt expected") }
func (c *readerAtOnly) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.read += int64(n)
	return n, err
}

func TestObserveUsesReaderAt(t *testing.T) {
	libs, _ := filepath.Glob("/usr/lib/x86_64-linux-gnu/libz.so.1.*")
	if len(libs) == 0 {
		t.Skip("no host libz to read")
	}
	b, err := os.ReadFile(libs[0])
	if err != nil {
		t.Fatal(err)
	}
	st := &ldState{sonames: map[string]libInfo{}}
	r := &readerAtOnly{r: bytes.NewReader(b)}
	if err := st.observeFile("usr/lib/x86_64-linux-gnu/libz.so.1.3", int64(len(b)), r); err != nil {
		t.Fatal(err)
	}
	if info := st.sonames["usr/lib/x86_64-linux-gnu/libz.so.1.3"]; info.Soname != "libz.so.1" || info.Flags != 0x0303 {
		t.Errorf("info %+v", info)
	}
	if r.read >= int64(len(b)) {
		t.Errorf("read %d of %d bytes: the whole file", r.read, len(b))
	}
}
