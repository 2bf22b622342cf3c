package layer

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pgassemble/pgassemble/internal/debtest"
	"github.com/pgassemble/pgassemble/pkg/layer/maint"
)

// baseSpec describes a synthetic base root.
type baseSpec struct {
	mergedUsr bool
	files     map[string]string // path -> content ("" allowed)
	dirs      []string
	links     map[string]string // path -> target
}

const testPasswd = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nmail:x:8:8:mail:/var/mail:/usr/sbin/nologin\n"
const testGroup = "root:x:0:\ndaemon:x:1:\nmail:x:8:\nshadow:x:42:\n"

func makeBase(t testing.TB, spec baseSpec) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"etc/passwd":          testPasswd,
		"etc/group":           testGroup,
		"var/lib/dpkg/status": "",
	}
	for k, v := range spec.files {
		files[k] = v
	}
	dirs := append([]string{"usr/bin", "usr/sbin", "usr/lib", "var/lib/dpkg/info", "etc/dpkg/dpkg.cfg.d", "usr/share"}, spec.dirs...)
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for p, c := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{}
	if spec.mergedUsr {
		for _, l := range []string{"bin", "sbin", "lib", "lib64"} {
			links[l] = "usr/" + l
		}
		os.MkdirAll(filepath.Join(dir, "usr/lib64"), 0o755)
	}
	for k, v := range spec.links {
		links[k] = v
	}
	for p, target := range links {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
		if err := os.Symlink(target, filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// writeDebs writes synthetic .debs into a temp dir and returns them.
func writeDebs(t testing.TB, debs ...debtest.Deb) []Deb {
	t.Helper()
	dir := t.TempDir()
	var out []Deb
	for i, d := range debs {
		b, err := d.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, strings.Repeat("x", i+1)+"_"+d.Name()+".deb")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		out = append(out, Deb{Path: p, SHA256: hex.EncodeToString(sum[:])})
	}
	return out
}

func pkgDeb(name string, files ...debtest.File) debtest.Deb {
	return debtest.Deb{
		Control: debtest.Control("Package", name, "Version", "1.0-1", "Architecture", "amd64",
			"Maintainer", "Test <t@example.org>", "Installed-Size", "1", "Description", "test package\n long"),
		Files: files,
	}
}

// entry is a decoded layer entry, for assertions.
type entry struct {
	Name     string
	Type     byte
	Mode     int64
	Uid, Gid int
	Link     string
	Body     string
	Size     int64
	hdr      *tar.Header
}

func readLayer(t testing.TB, l v1.Layer) []entry {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var out []entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out = append(out, entry{Name: h.Name, Type: h.Typeflag, Mode: h.Mode, Uid: h.Uid, Gid: h.Gid, Link: h.Linkname, Body: string(b), Size: h.Size, hdr: h})
	}
	return out
}

func byName(es []entry) map[string]entry {
	m := map[string]entry{}
	for _, e := range es {
		m[e.Name] = e
	}
	return m
}

func names(es []entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Name)
	}
	return out
}

// fakeReplay is a Replayer that knows a few extra accounts and records
// what it observes.
type fakeReplay struct {
	users, groups map[string]int
	lazy          bool // read only ELF-header-sized prefixes of *.so* files, nothing else
	observed      []string
	added         []string
	files         []StateFile
}

func (f *fakeReplay) AddPackages(p []maint.Package) error {
	for _, x := range p {
		f.added = append(f.added, x.Name)
	}
	return nil
}
func (f *fakeReplay) LookupUser(n string) (int, bool)  { id, ok := f.users[n]; return id, ok }
func (f *fakeReplay) LookupGroup(n string) (int, bool) { id, ok := f.groups[n]; return id, ok }
func (f *fakeReplay) Observe(pkg string, h *tar.Header, r io.Reader) error {
	line := fmt.Sprintf("%s %s %c %o %d:%d %d %s", pkg, h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Size, h.Linkname)
	if f.lazy {
		if r != nil && strings.Contains(h.Name, ".so") {
			io.CopyN(io.Discard, r, 4096)
		}
		f.observed = append(f.observed, line)
		return nil
	}
	if r != nil {
		// Read some bodies through ReaderAt (a few bytes at the end, as an
		// ELF reader would), others in full.
		if strings.HasSuffix(h.Name, "5") && h.Size > 8 {
			b := make([]byte, 8)
			if ra, ok := r.(io.ReaderAt); ok {
				n, err := ra.ReadAt(b, h.Size-8)
				line += fmt.Sprintf(" tail=%q %v", b[:n], err)
			} else {
				all, err := io.ReadAll(r)
				line += fmt.Sprintf(" tail=%q %v", all[len(all)-8:], err)
			}
		} else {
			hsh := sha256.New()
			n, err := io.Copy(hsh, r)
			line += fmt.Sprintf(" body=%x/%d %v", hsh.Sum(nil), n, err)
		}
	}
	f.observed = append(f.observed, line)
	return nil
}
func (f *fakeReplay) Files() ([]StateFile, error) { return f.files, nil }
func (f *fakeReplay) Trace() []maint.Event        { return nil }

func newTestBuilder(t testing.TB, base string, opts Options) *Builder {
	t.Helper()
	if opts.Replayer == nil && !opts.NoScripts {
		opts.Replayer = &fakeReplay{users: map[string]int{"postgres": 26}, groups: map[string]int{"postgres": 101}}
	}
	if opts.Arch == "" {
		opts.Arch = "amd64"
	}
	b, err := NewBuilder(os.DirFS(base), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func addStage(t testing.TB, b *Builder, debs []Deb) v1.Layer {
	t.Helper()
	l, err := b.AddStage(context.Background(), debs)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
