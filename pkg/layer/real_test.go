package layer

import (
	"archive/tar"
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRealPackages converts the real trixie package set of the benchmarks
// (when it was downloaded: it is ~110 MB, so this test never downloads it)
// and checks invariants on the result: every file body matches the
// package's md5sums, nothing goes through or replaces the merged-/usr
// links, entries are sorted with parents first, filtered paths are absent
// but listed.
func TestRealPackages(t *testing.T) {
	dir := os.Getenv("PGASSEMBLE_BENCH_DIR")
	if dir == "" {
		c, _ := os.UserCacheDir()
		dir = filepath.Join(c, "pgassemble", "bench-trixie-amd64")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.deb"))
	if len(files) < 50 {
		t.Skipf("the real package set is not in %s (go test -bench ConvertReal downloads it once)", dir)
	}
	var debs []Deb
	for _, f := range files {
		debs = append(debs, Deb{Path: f})
	}
	base := makeBase(t, baseSpec{mergedUsr: true, files: map[string]string{
		"etc/dpkg/dpkg.cfg.d/docker": "path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\n"}})
	// The host's xz when there is one: faster, and it exercises that path
	// on real data (the pure-Go decoder is exercised by the benchmarks).
	xzPath, _ := exec.LookPath("xz")
	b, err := NewBuilder(os.DirFS(base), Options{Arch: "amd64", NoScripts: true, XZCommand: xzPath})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	l, err := b.AddStage(context.Background(), debs)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	sums := map[string]string{}  // resolved path -> md5
	links := map[string]string{} // hardlink -> target
	infos := map[string]string{} // info file -> content (lists, md5sums)
	prev := ""
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n := strings.TrimSuffix(h.Name, "/")
		if prev != "" && !pathLess(prev, n) {
			t.Errorf("not sorted: %s then %s", prev, n)
		}
		prev = n
		top, _, _ := strings.Cut(n, "/")
		if top == "bin" || top == "sbin" || top == "lib" || top == "lib64" {
			t.Errorf("%s replaces or goes through a merged-/usr link", n)
		}
		if strings.HasPrefix(n, "usr/share/man/") || strings.HasPrefix(n, "usr/share/locale/") && strings.Count(n, "/") > 3 {
			t.Errorf("%s should have been filtered", n)
		}
		switch h.Typeflag {
		case tar.TypeReg:
			hsh := md5.New()
			body := io.TeeReader(tr, hsh)
			var sb strings.Builder
			if strings.HasPrefix(n, infoDir+"/") {
				io.Copy(&sb, body)
				infos[strings.TrimPrefix(n, infoDir+"/")] = sb.String()
			} else {
				io.Copy(io.Discard, body)
			}
			sums[n] = hex.EncodeToString(hsh.Sum(nil))
		case tar.TypeLink:
			links[n] = h.Linkname
		}
	}
	canon := func(p string) string {
		top, rest, _ := strings.Cut(p, "/")
		switch top {
		case "bin", "sbin", "lib", "lib64":
			return "usr/" + top + "/" + rest
		}
		return p
	}
	checked, missing := 0, 0
	for name, content := range infos {
		if !strings.HasSuffix(name, ".md5sums") {
			continue
		}
		list, ok := infos[strings.TrimSuffix(name, ".md5sums")+".list"]
		if !ok {
			t.Errorf("%s without .list", name)
		}
		for _, line := range strings.Split(content, "\n") {
			f := strings.Fields(line)
			if len(f) != 2 {
				continue
			}
			if !strings.Contains(list, "\n/"+f[1]+"\n") {
				t.Errorf("%s: %s not in the .list", name, f[1])
			}
			p := canon(f[1])
			if t2, ok := links[p]; ok {
				p = t2
			}
			got, ok := sums[p]
			if !ok {
				missing++ // filtered (docs, man pages, locales)
				continue
			}
			if got != f[0] {
				t.Errorf("%s: %s md5 %s, package says %s", name, p, got, f[0])
			}
			checked++
		}
	}
	t.Logf("%d files verified against md5sums, %d filtered", checked, missing)
	if checked < 1000 {
		t.Errorf("only %d files checked", checked)
	}
}
