package rootfs

import (
	"archive/tar"
	"bytes"
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"
)

type ent struct {
	name, body, link string
	typ              byte
	mode             int64
}

func layerTar(t testing.TB, ents ...ent) *bytes.Reader {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
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
		if typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return bytes.NewReader(b.Bytes())
}

func keepAll(string, int64) bool { return true }

func base(t *testing.T) *Tree {
	tr := New(keepAll)
	err := tr.Apply(layerTar(t,
		ent{name: "./usr/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "./usr/bin/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "./usr/bin/sh", body: "#!"},
		ent{name: "./bin", typ: tar.TypeSymlink, link: "usr/bin"},
		ent{name: "./etc/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "./etc/passwd", body: "root:x:0:0::/root:/bin/bash\n"},
		ent{name: "./etc/os-release", typ: tar.TypeSymlink, link: "../usr/lib/os-release"},
		ent{name: "./usr/lib/", typ: tar.TypeDir},
		ent{name: "./usr/lib/os-release", body: "ID=debian\n"},
		ent{name: "./etc/alt", typ: tar.TypeSymlink, link: "/usr/lib/os-release"},
		ent{name: "./etc/dpkg/dpkg.cfg.d/", typ: tar.TypeDir},
		ent{name: "./etc/dpkg/dpkg.cfg.d/docker", body: "path-exclude /usr/share/doc/*\n"},
		ent{name: "./etc/dpkg/dpkg.cfg.d/old", body: "x"},
		ent{name: "./etc/hard", typ: tar.TypeLink, link: "./etc/passwd"},
	))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestApplyAndRead(t *testing.T) {
	tr := base(t)
	for name, want := range map[string]string{
		"etc/passwd":     "root:x:0:0::/root:/bin/bash\n",
		"etc/os-release": "ID=debian\n", // relative link
		"etc/alt":        "ID=debian\n", // absolute link stays in the root
		"bin/sh":         "#!",          // through the merged-/usr link
		"etc/hard":       "root:x:0:0::/root:/bin/bash\n",
	} {
		got, err := fs.ReadFile(tr, name)
		if err != nil || string(got) != want {
			t.Errorf("ReadFile(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
	fi, err := tr.Lstat("bin")
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("Lstat(bin) = %v, %v; want a symlink", fi, err)
	}
	if l, _ := tr.ReadLink("bin"); l != "usr/bin" {
		t.Errorf("ReadLink(bin) = %q", l)
	}
	if fi, err := tr.Stat("bin"); err != nil || !fi.IsDir() {
		t.Errorf("Stat(bin) = %v, %v; want the directory it points at", fi, err)
	}
}

func TestWhiteouts(t *testing.T) {
	tr := base(t)
	err := tr.Apply(layerTar(t,
		ent{name: "etc/.wh.passwd", body: ""},
		ent{name: "etc/dpkg/dpkg.cfg.d/new", body: "y"},
		ent{name: "etc/dpkg/dpkg.cfg.d/.wh..wh..opq", body: ""},
		ent{name: "usr/.wh.lib", body: ""},
	))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Lstat("etc/passwd"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("whiteout did not remove etc/passwd: %v", err)
	}
	if _, err := tr.Lstat("usr/lib/os-release"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("whiteout of a directory left its children: %v", err)
	}
	ents, err := fs.ReadDir(tr, "etc/dpkg/dpkg.cfg.d")
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "new" {
		t.Errorf("opaque dir: entries %v, want only the one from the same layer", ents)
	}
}

func TestRefusesEscape(t *testing.T) {
	tr := New(nil)
	if err := tr.Apply(layerTar(t, ent{name: "../evil", body: "x"})); err == nil {
		t.Fatal("a layer entry with .. was accepted")
	}
	tr = base(t)
	tr.Apply(layerTar(t, ent{name: "etc/up", typ: tar.TypeSymlink, link: "../../../../etc/passwd"}))
	// Like a chroot, .. at the root stays at the root.
	if got, err := fs.ReadFile(tr, "etc/up"); err != nil || string(got) != "root:x:0:0::/root:/bin/bash\n" {
		t.Errorf("ReadFile through ../.. = %q, %v", got, err)
	}
}

func TestSymlinkLoop(t *testing.T) {
	tr := New(nil)
	tr.Apply(layerTar(t, ent{name: "a", typ: tar.TypeSymlink, link: "b"}, ent{name: "b", typ: tar.TypeSymlink, link: "a"}))
	if _, err := tr.Open("a"); err == nil {
		t.Fatal("a symlink loop resolved")
	}
}

func TestDefaultKeepDropsContent(t *testing.T) {
	tr := New(nil)
	tr.Apply(layerTar(t, ent{name: "usr/lib/libbig.so", body: "ELF"}, ent{name: "etc/hostname", body: "h"}))
	if _, err := fs.ReadFile(tr, "usr/lib/libbig.so"); err == nil {
		t.Error("content outside DefaultKeep was retained")
	}
	if _, err := tr.Lstat("usr/lib/libbig.so"); err != nil {
		t.Errorf("metadata lost: %v", err)
	}
	if b, err := fs.ReadFile(tr, "etc/hostname"); err != nil || string(b) != "h" {
		t.Errorf("etc/hostname = %q, %v", b, err)
	}
}

func TestFSConformance(t *testing.T) {
	tr := New(keepAll)
	tr.Apply(layerTar(t,
		ent{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "etc/a", body: "a"},
		ent{name: "etc/sub/", typ: tar.TypeDir, mode: 0o755},
		ent{name: "etc/sub/b", body: "bb"},
	))
	if err := fstest.TestFS(tr, "etc/a", "etc/sub/b"); err != nil {
		t.Fatal(err)
	}
}

func FuzzApply(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		tr := New(keepAll)
		_ = tr.Apply(bytes.NewReader(b))
		_ = tr.Walk(func(name string, h *tar.Header) error {
			if _, ok := Clean(name); !ok {
				t.Fatalf("unsafe name %q in tree", name)
			}
			return nil
		})
	})
}

func TestNewFilteredDrops(t *testing.T) {
	tr := NewFiltered(keepAll, func(name string, data []byte) bool { return bytes.HasPrefix(data, []byte("\x7fELF")) })
	if err := tr.Apply(layerTar(t, ent{name: "usr/bin/helper", body: "#!/bin/sh\n"}, ent{name: "usr/bin/tool", body: "\x7fELF..."})); err != nil {
		t.Fatal(err)
	}
	if b, err := tr.ReadFile("usr/bin/helper"); err != nil || string(b) != "#!/bin/sh\n" {
		t.Errorf("kept body: %q %v", b, err)
	}
	if _, err := tr.ReadFile("usr/bin/tool"); err == nil {
		t.Error("dropped body still readable")
	}
	if fi, err := tr.Stat("usr/bin/tool"); err != nil || fi.Size() != 7 {
		t.Errorf("dropped body's metadata: %v %v", fi, err)
	}
}
