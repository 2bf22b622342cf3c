package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pgassemble/pgassemble/internal/debtest"
)

type tEntry struct {
	name, body, link string
	typ              byte
	mode             int64
}

func tarOf(t *testing.T, es ...tEntry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Name: e.name, Typeflag: typ, Mode: mode, Linkname: e.link, Size: int64(len(e.body))}
		if typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return buf.Bytes()
}

func TestApplyTar(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	ctx := context.Background()
	lower := tarOf(t,
		tEntry{name: "a/", typ: tar.TypeDir, mode: 0o755},
		tEntry{name: "a/keep", body: "k"},
		tEntry{name: "a/gone", body: "g"},
		tEntry{name: "o/", typ: tar.TypeDir},
		tEntry{name: "o/x", body: "x"},
		tEntry{name: "esc", typ: tar.TypeSymlink, link: outside},
		tEntry{name: "rel", typ: tar.TypeSymlink, link: "../../../../.."},
		tEntry{name: "s/", typ: tar.TypeDir, mode: 0o2775},
		tEntry{name: "s/suid", body: "s", mode: 0o4755},
	)
	if err := applyTar(ctx, bytes.NewReader(lower), dir); err != nil {
		t.Fatal(err)
	}
	upper := tarOf(t,
		tEntry{name: "a/.wh.gone"},
		tEntry{name: "o/.wh..wh..opq"},
		tEntry{name: "o/new", body: "n"},
		tEntry{name: "a/keep", body: "k2"},
	)
	if err := applyTar(ctx, bytes.NewReader(upper), dir); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"a/keep": "k2", "o/new": "n"} {
		if b, err := os.ReadFile(filepath.Join(dir, p)); err != nil || string(b) != want {
			t.Errorf("%s = %q %v, want %q", p, b, err, want)
		}
	}
	for _, p := range []string{"a/gone", "o/x"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); !os.IsNotExist(err) {
			t.Errorf("%s still there (%v)", p, err)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, "s/suid")); fi == nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("setuid lost: %v", fi)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "s")); fi == nil || fi.Mode()&os.ModeSetgid == 0 {
		t.Errorf("setgid dir lost: %v", fi)
	}
	// Writing through symlinks that leave the root must fail, not escape.
	for _, name := range []string{"esc/pwned", "rel/pwned"} {
		err := applyTar(ctx, bytes.NewReader(tarOf(t, tEntry{name: name, body: "x"})), dir)
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	for _, name := range []string{"../x", "/abs"} {
		if err := applyTar(ctx, bytes.NewReader(tarOf(t, tEntry{name: name, body: "x"})), dir); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("wrote outside the root: %v", ents)
	}
}

func TestPruneInFinish(t *testing.T) {
	base := makeBase(t, baseSpec{files: map[string]string{"var/cache/apt/pkgcache.bin": "x", "var/log/dpkg.log": "l"}})
	fr := &fakeReplay{users: map[string]int{}, groups: map[string]int{},
		files: []StateFile{{Path: "var/log/postgresql", Type: tar.TypeDir, Mode: 0o1775}, {Path: "etc/kept", Type: tar.TypeReg, Mode: 0o644, Data: []byte("k")}}}
	b := newTestBuilder(t, base, Options{Replayer: fr, Prune: []string{"var/cache/*", "/var/log/*", "var/nonexistent/*"}})
	l := addStage(t, b, writeDebs(t, pkgDeb("p", debtest.File{Path: "/var/log/p/x.log", Body: "l"}, debtest.File{Path: "/usr/bin/p", Body: "p"})))
	fin, err := b.Finish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, x := range []v1.Layer{l, fin} {
		if err := ApplyToDir(ctx, x, base); err != nil {
			t.Fatal(err)
		}
	}
	// Pruned like upstream's rm -rf, except what a package lists: dpkg -V
	// would report that missing.
	for d, want := range map[string]string{"var/cache": "", "var/log": "p"} {
		ents, err := os.ReadDir(filepath.Join(base, d))
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if err != nil || strings.Join(names, " ") != want {
			t.Errorf("%s holds %v (%v), want [%s]", d, names, err, want)
		}
	}
	for _, f := range []string{"usr/bin/p", "etc/kept", "var/lib/dpkg/info/p.list", "var/log/p/x.log"} {
		if _, err := os.Stat(filepath.Join(base, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
