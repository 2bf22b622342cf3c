package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgassemble/pgassemble/internal/debtest"
)

// FuzzNormalize feeds arbitrary data.tar bytes through a stage: it must
// not panic, and whatever it accepts must only name safe, clean, relative
// paths that do not go through the base's escaping symlink.
func FuzzNormalize(f *testing.F) {
	seed := func(files ...debtest.File) []byte {
		d := pkgDeb("s", files...)
		d.DataCompression = "none"
		return splitAr(f, d.MustBytes())["data.tar"]
	}
	f.Add(seed(debtest.File{Path: "/usr/bin/a", Body: "a"}, debtest.File{Path: "/bin/b", Type: tar.TypeLink, Linkname: "/usr/bin/a"}))
	f.Add(seed(debtest.File{Path: "/lib/x", Type: tar.TypeSymlink, Linkname: "../../.."}, debtest.File{Path: "/lib/x/y", Body: "y"}))
	f.Add(seed(debtest.File{Path: "RAW:../x", Body: "x"}))
	f.Add(seed(debtest.File{Path: "/out/z", Body: "z"}))
	f.Add(seed(debtest.File{Path: "/usr/share/doc/s/copyright", Body: "c"}, debtest.File{Path: "/usr/share/doc/s/NEWS", Body: "n"}))
	cd := pkgDeb("s")
	cd.ControlCompression = "none"
	ctrl := splitAr(f, cd.MustBytes())["control.tar"]
	base := makeBase(f, baseSpec{mergedUsr: true, links: map[string]string{"out": "../.."},
		files: map[string]string{"etc/dpkg/dpkg.cfg.d/x": "path-exclude=/usr/share/doc/*\npath-include=/usr/share/doc/*/copyright\n"}})
	f.Fuzz(func(t *testing.T, data []byte) {
		raw := append([]byte(arMagic), arMember("debian-binary", []byte("2.0\n"))...)
		raw = append(raw, arMember("control.tar", ctrl)...)
		raw = append(raw, arMember("data.tar", data)...)
		p := filepath.Join(t.TempDir(), "f.deb")
		if err := os.WriteFile(p, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		b, err := NewBuilder(os.DirFS(base), Options{Arch: "amd64", NoScripts: true, Compression: Zstd})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		l, err := b.AddStage(context.Background(), []Deb{{Path: p}})
		if err != nil {
			return
		}
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		var buf bytes.Buffer
		buf.ReadFrom(rc)
		tr := tar.NewReader(&buf)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			n := strings.TrimSuffix(h.Name, "/")
			if n == "" || strings.HasPrefix(n, "/") || path.Clean(n) != n || strings.HasPrefix(n, "out/") || n == "out" && h.Typeflag != tar.TypeSymlink {
				t.Fatalf("unsafe entry %q", h.Name)
			}
			for _, top := range []string{"bin", "sbin", "lib", "lib64"} {
				if n == top || strings.HasPrefix(n, top+"/") {
					t.Fatalf("entry %q replaces or goes through the merged-/usr link", h.Name)
				}
			}
			if h.Typeflag == tar.TypeLink && (strings.HasPrefix(h.Linkname, "/") || path.Clean(h.Linkname) != h.Linkname || strings.HasPrefix(h.Linkname, "..")) {
				t.Fatalf("unsafe hardlink %q -> %q", h.Name, h.Linkname)
			}
		}
		if err := applyTar(context.Background(), bytes.NewReader(buf.Bytes()), t.TempDir()); err != nil {
			// applying may fail (e.g. a file where a directory was), but never
			// outside the root: os.Root guarantees it.
			return
		}
	})
}
