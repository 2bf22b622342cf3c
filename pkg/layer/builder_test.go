package layer

import (
	"archive/tar"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/pgassemble/pgassemble/internal/debtest"
)

func TestStagePathsOwnersModes(t *testing.T) {
	base := makeBase(t, baseSpec{mergedUsr: true})
	b := newTestBuilder(t, base, Options{})
	debs := writeDebs(t,
		pkgDeb("foo",
			debtest.File{Path: "/bin/foo", Body: "foo", Mode: 0o4755},
			debtest.File{Path: "/lib/x86_64-linux-gnu/libfoo.so.1", Body: "lib"},
			debtest.File{Path: "/lib/", Type: tar.TypeDir},
			debtest.File{Path: "/var/run/postgresql", Type: tar.TypeDir, Mode: 0o2775, Uname: "postgres", Gname: "postgres", Uid: 999, Gid: 999},
			debtest.File{Path: "/etc/foo/mail.conf", Body: "m", Uname: "mail", Gname: "nosuchgroup", Uid: 500, Gid: 77},
			debtest.File{Path: "/usr/share/foo/data", Body: "d", Uname: "nosuchuser", Uid: 1234, Gid: 0},
		),
	)
	l := addStage(t, b, debs)
	es := readLayer(t, l)
	m := byName(es)
	for _, n := range names(es) {
		if strings.HasPrefix(n, "/") || strings.HasPrefix(n, "./") || strings.Contains(n, "..") {
			t.Errorf("bad name %q", n)
		}
	}
	tests := []struct {
		name     string
		typ      byte
		mode     int64
		uid, gid int
	}{
		{"usr/bin/foo", tar.TypeReg, 0o4755, 0, 0},
		{"usr/lib/x86_64-linux-gnu/", tar.TypeDir, 0o755, 0, 0},
		{"usr/lib/x86_64-linux-gnu/libfoo.so.1", tar.TypeReg, 0o644, 0, 0},
		{"var/run/postgresql/", tar.TypeDir, 0o2775, 26, 101},
		{"etc/foo/mail.conf", tar.TypeReg, 0o644, 8, 77},
		{"usr/share/foo/data", tar.TypeReg, 0o644, 1234, 0},
		{"var/lib/dpkg/info/foo.list", tar.TypeReg, 0o644, 0, 0},
		{"var/lib/dpkg/info/foo.md5sums", tar.TypeReg, 0o644, 0, 0},
	}
	for _, tt := range tests {
		e, ok := m[tt.name]
		if !ok {
			t.Errorf("%s missing; have %v", tt.name, names(es))
			continue
		}
		if e.Type != tt.typ || e.Mode != tt.mode || e.Uid != tt.uid || e.Gid != tt.gid {
			t.Errorf("%s: type %c mode %o uid %d gid %d, want %c %o %d %d", tt.name, e.Type, e.Mode, e.Uid, e.Gid, tt.typ, tt.mode, tt.uid, tt.gid)
		}
		if e.hdr.Uname != "" || e.hdr.Gname != "" || !e.hdr.AccessTime.IsZero() {
			t.Errorf("%s: header noise %+v", tt.name, e.hdr)
		}
	}
	for _, n := range []string{"bin/", "bin/foo", "lib/", "usr/", "usr/bin/", "etc/"} {
		if _, ok := m[n]; ok {
			t.Errorf("%s must not be in the layer (merged-usr link or base dir)", n)
		}
	}
	// parents before children, sorted
	seen := map[string]bool{}
	for i, e := range es {
		n := strings.TrimSuffix(e.Name, "/")
		if i > 0 && !pathLess(strings.TrimSuffix(es[i-1].Name, "/"), n) {
			t.Errorf("not sorted: %s before %s", es[i-1].Name, e.Name)
		}
		seen[n] = true
	}
	if got := m["var/lib/dpkg/info/foo.list"].Body; !strings.HasPrefix(got, "/.\n/bin\n/bin/foo\n") || !strings.Contains(got, "\n/var/run/postgresql\n") {
		t.Errorf("list:\n%s", got)
	}
}

func TestRefusedPaths(t *testing.T) {
	tests := []struct {
		name string
		base baseSpec
		debs []debtest.Deb
	}{
		{"dotdot", baseSpec{}, []debtest.Deb{pkgDeb("a", debtest.File{Path: "RAW:./usr/../../etc/x", Body: "x"})}},
		{"absolute", baseSpec{}, []debtest.Deb{pkgDeb("a", debtest.File{Path: "RAW:/etc/x", Body: "x"})}},
		{"base symlink out", baseSpec{links: map[string]string{"usr/share/evil": "../../../../tmp"}},
			[]debtest.Deb{pkgDeb("a", debtest.File{Path: "/usr/share/evil/x", Body: "x"})}},
		{"stage symlink out", baseSpec{}, []debtest.Deb{
			pkgDeb("a", debtest.File{Path: "/usr/share/a/link", Type: tar.TypeSymlink, Linkname: "../../../../.."}),
			pkgDeb("b", debtest.File{Path: "/usr/share/a/link/etc/passwd", Body: "x"}),
		}},
		{"replace merged usr", baseSpec{mergedUsr: true}, []debtest.Deb{pkgDeb("a", debtest.File{Path: "RAW:./bin", Body: "x"})}},
		{"retarget merged usr", baseSpec{mergedUsr: true}, []debtest.Deb{pkgDeb("a", debtest.File{Path: "RAW:./bin", Type: tar.TypeSymlink, Linkname: "usr/sbin"})}},
		{"hardlink dotdot", baseSpec{}, []debtest.Deb{pkgDeb("a", debtest.File{Path: "/usr/x", Type: tar.TypeLink, Linkname: "RAW:../../etc/passwd"})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := makeBase(t, tt.base)
			b := newTestBuilder(t, base, Options{})
			_, err := b.AddStage(context.Background(), writeDebs(t, tt.debs...))
			if !errors.Is(err, ErrUnsafePath) {
				t.Fatalf("err = %v, want ErrUnsafePath", err)
			}
			last := tt.debs[len(tt.debs)-1].Name()
			if !strings.Contains(err.Error(), last) {
				t.Errorf("error %q does not name package %s", err, last)
			}
		})
	}
}

// TestSameMergedUsrLink: trixie's base-files ships the merged-/usr links
// itself; upgrading it over a merged base writes the same links, which
// dpkg leaves as they are (a different target is refused: TestRefusedPaths).
func TestSameMergedUsrLink(t *testing.T) {
	base := makeBase(t, baseSpec{mergedUsr: true})
	b := newTestBuilder(t, base, Options{})
	l := addStage(t, b, writeDebs(t, pkgDeb("base-files",
		debtest.File{Path: "RAW:./bin", Type: tar.TypeSymlink, Linkname: "usr/bin"},
		debtest.File{Path: "RAW:./lib", Type: tar.TypeSymlink, Linkname: "/usr/lib/"},
		debtest.File{Path: "/usr/bin/x", Body: "x"})))
	m := byName(readLayer(t, l))
	for _, n := range []string{"bin", "lib"} {
		if _, ok := m[n]; ok {
			t.Errorf("%s is in the layer: the base's link must stay as it is", n)
		}
	}
	if got := m["var/lib/dpkg/info/base-files.list"].Body; !strings.Contains(got, "\n/bin\n") || !strings.Contains(got, "\n/lib\n") {
		t.Errorf("base-files.list must list the links it ships:\n%s", got)
	}
}

func TestInStageSymlinkFollowed(t *testing.T) {
	base := makeBase(t, baseSpec{links: map[string]string{"var/run": "/run"}, dirs: []string{"run"}})
	b := newTestBuilder(t, base, Options{})
	l := addStage(t, b, writeDebs(t,
		pkgDeb("a", debtest.File{Path: "/usr/share/a/current", Type: tar.TypeSymlink, Linkname: "v1"},
			debtest.File{Path: "/usr/share/a/v1/", Type: tar.TypeDir}),
		pkgDeb("b", debtest.File{Path: "/usr/share/a/current/file", Body: "x"},
			debtest.File{Path: "/var/run/b/", Type: tar.TypeDir}),
	))
	m := byName(readLayer(t, l))
	for _, n := range []string{"usr/share/a/v1/file", "run/b/", "usr/share/a/current"} {
		if _, ok := m[n]; !ok {
			t.Errorf("%s missing", n)
		}
	}
	if got := m["var/lib/dpkg/info/b.list"].Body; got != "/.\n/usr\n/usr/share\n/usr/share/a\n/usr/share/a/current\n/usr/share/a/current/file\n/var\n/var/run\n/var/run/b\n" {
		t.Errorf("b.list = %q", got)
	}
}

func TestHardlinks(t *testing.T) {
	base := makeBase(t, baseSpec{mergedUsr: true})
	b := newTestBuilder(t, base, Options{})
	// The target sorts after the link once bin/ moves to usr/bin.
	l := addStage(t, b, writeDebs(t, pkgDeb("h",
		debtest.File{Path: "/usr/sbin/zz", Body: "body"},
		debtest.File{Path: "/bin/aa", Type: tar.TypeLink, Linkname: "/usr/sbin/zz"},
	)))
	es := readLayer(t, l)
	m := byName(es)
	if e := m["usr/bin/aa"]; e.Type != tar.TypeReg || e.Body != "body" {
		t.Errorf("usr/bin/aa = %+v, want the file", e)
	}
	if e := m["usr/sbin/zz"]; e.Type != tar.TypeLink || e.Link != "usr/bin/aa" {
		t.Errorf("usr/sbin/zz = %c -> %s, want link to usr/bin/aa", e.Type, e.Link)
	}
	dir := t.TempDir()
	if err := ApplyToDir(context.Background(), l, dir); err != nil {
		t.Fatal(err)
	}
}

func TestFilters(t *testing.T) {
	cfg := "# slim\npath-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\npath-exclude=/usr/share/man/*\n"
	base := makeBase(t, baseSpec{files: map[string]string{
		"etc/dpkg/dpkg.cfg.d/docker": cfg,
		"etc/dpkg/dpkg.cfg.d/x.conf": "path-exclude /usr/bin/*\n", // ignored: '.' in name
	}})
	b := newTestBuilder(t, base, Options{})
	l := addStage(t, b, writeDebs(t, pkgDeb("f",
		debtest.File{Path: "/usr/bin/f", Body: "f"},
		debtest.File{Path: "/usr/share/doc/f/README", Body: "r"},
		debtest.File{Path: "/usr/share/doc/f/copyright", Body: "c"},
		debtest.File{Path: "/usr/share/man/man1/f.1.gz", Body: "m"},
	)))
	m := byName(readLayer(t, l))
	for n, want := range map[string]bool{
		"usr/bin/f": true, "usr/share/doc/": true, "usr/share/doc/f/": true, "usr/share/doc/f/copyright": true,
		"usr/share/doc/f/README": false, "usr/share/man/": true, "usr/share/man/man1/f.1.gz": false, "usr/share/man/man1/": false,
	} {
		if _, ok := m[n]; ok != want {
			t.Errorf("%s present=%v, want %v", n, ok, want)
		}
	}
	// dpkg lists filtered paths too.
	if list := m["var/lib/dpkg/info/f.list"].Body; !strings.Contains(list, "/usr/share/doc/f/README\n") || !strings.Contains(list, "/usr/share/man/man1/f.1.gz\n") {
		t.Errorf("list = %q", list)
	}
}

func TestFnmatch(t *testing.T) {
	tests := []struct {
		pat, name string
		want      bool
	}{
		{"/usr/share/doc/*", "/usr/share/doc/a/b/c", true},
		{"/usr/share/doc/*", "/usr/share/doc", false},
		{"/usr/share/doc/*/copyright", "/usr/share/doc/x/copyright", true},
		{"/usr/share/doc/*/copyright", "/usr/share/doc/x/y/copyright", true},
		{"/usr/share/locale/*", "/usr/share/locale/de/LC_MESSAGES/x.mo", true},
		{"/usr/share/locale/[a-c]*", "/usr/share/locale/de", false},
		{"/usr/share/locale/[!a-c]*", "/usr/share/locale/de", true},
		{"/a?c", "/abc", true},
		{"/a\\*c", "/a*c", true},
		{"/a\\*c", "/abc", false},
		{"*", "", true},
		{"/x[", "/x[", true},
	}
	for _, tt := range tests {
		if got := fnmatch(tt.pat, tt.name); got != tt.want {
			t.Errorf("fnmatch(%q, %q) = %v", tt.pat, tt.name, got)
		}
	}
}

func TestFiltersSkipDirs(t *testing.T) {
	f := ParseFilters([]byte("path-exclude=/usr/share/doc/*\npath-include=/usr/share/doc/*/copyright\npath-exclude /usr/share/locale/*\n"))
	tests := []struct {
		p    string
		dir  bool
		skip bool
	}{
		{"/usr/share/doc/x", true, false},
		{"/usr/share/doc/x/README", false, true},
		{"/usr/share/doc/x/copyright", false, false},
		{"/usr/share/locale/de", true, true},
		{"/usr/bin/x", false, false},
	}
	for _, tt := range tests {
		if got := f.Skip(tt.p, tt.dir); got != tt.skip {
			t.Errorf("Skip(%s, %v) = %v", tt.p, tt.dir, got)
		}
	}
	if !reflect.DeepEqual(f[1], PathFilter{Include: true, Pattern: "/usr/share/doc/*/copyright"}) {
		t.Errorf("parsed %v", f)
	}
}
