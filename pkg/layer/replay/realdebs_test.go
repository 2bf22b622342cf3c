package replay

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/pgassemble/pgassemble/pkg/apt"
)

// The real-package tests read a research directory made by
// testdata/make-research-roots.sh: a debootstrap'ed trixie minbase root
// (trixie-base), the same root after the CloudNativePG install steps
// (trixie-minimal, trixie-root for "standard") and the .debs apt used.
func researchDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PGASSEMBLE_RESEARCH_DIR")
	if dir == "" {
		dir = "/var/cache/pgassemble-research"
	}
	if _, err := os.Stat(filepath.Join(dir, "trixie", "debs")); err != nil {
		t.Skipf("real Debian packages not available: %s/trixie/debs is missing (create it with pkg/layer/replay/testdata/make-research-roots.sh, which needs root and the Debian archive)", dir)
	}
	return dir
}

// readDeb opens a .deb and returns its control members and a function that
// walks its data.tar.
type debFile struct {
	path    string
	control apt.Paragraph
	scripts map[string][]byte
}

func arMembers(r io.Reader, fn func(name string, size int64, r io.Reader) error) error {
	br := bufio.NewReader(r)
	magic := make([]byte, 8)
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != "!<arch>\n" {
		return errors.New("not an ar archive")
	}
	for {
		hdr := make([]byte, 60)
		if _, err := io.ReadFull(br, hdr); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		name := strings.TrimRight(strings.TrimSpace(string(hdr[:16])), "/")
		size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
		if err != nil {
			return err
		}
		lr := io.LimitReader(br, size)
		if err := fn(name, size, lr); err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, lr); err != nil {
			return err
		}
		if size%2 == 1 {
			if _, err := br.ReadByte(); err != nil && err != io.EOF {
				return err
			}
		}
	}
}

func decompress(name string, r io.Reader) (io.Reader, func(), error) {
	switch {
	case strings.HasSuffix(name, ".xz"):
		x, err := xz.NewReader(bufio.NewReaderSize(r, 1<<20))
		return x, func() {}, err
	case strings.HasSuffix(name, ".zst"):
		z, err := zstd.NewReader(r)
		if err != nil {
			return nil, nil, err
		}
		return z, z.Close, nil
	case strings.HasSuffix(name, ".gz"):
		g, err := gzip.NewReader(r)
		return g, func() {}, err
	}
	return r, func() {}, nil
}

func walkDeb(file string, control func(*tar.Header, io.Reader) error, data func(*tar.Header, io.Reader) error) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	return arMembers(f, func(name string, _ int64, r io.Reader) error {
		var fn func(*tar.Header, io.Reader) error
		switch {
		case strings.HasPrefix(name, "control.tar"):
			fn = control
		case strings.HasPrefix(name, "data.tar"):
			fn = data
		default:
			return nil
		}
		if fn == nil {
			return nil
		}
		dr, closeFn, err := decompress(name, r)
		if err != nil {
			return err
		}
		defer closeFn()
		tr := tar.NewReader(dr)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s %s: %w", file, name, err)
			}
			if err := fn(h, tr); err != nil {
				return err
			}
		}
	})
}

func readDebControl(file string) (*debFile, error) {
	d := &debFile{path: file, scripts: map[string][]byte{}}
	err := walkDeb(file, func(h *tar.Header, r io.Reader) error {
		name := path.Base(h.Name)
		if h.Typeflag != tar.TypeReg || name == "md5sums" {
			return nil
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if name == "control" {
			return apt.ParseParagraphs(bytes.NewReader(b), func(p apt.Paragraph) error {
				d.control = p
				return nil
			})
		}
		d.scripts[name] = b
		return nil
	}, nil)
	return d, err
}

// loadDebs reads the control members of the named packages from dir.
func loadDebs(t testing.TB, dir string, names []string) []*debFile {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.deb"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []*debFile
	for _, f := range files {
		pkg := strings.SplitN(filepath.Base(f), "_", 2)[0]
		if names != nil && !want[pkg] {
			continue
		}
		d, err := readDebControl(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].control.Get("Package") < out[j].control.Get("Package") })
	return out
}

func toPackages(debs []*debFile) []Package {
	var pk []Package
	for _, d := range debs {
		pk = append(pk, Package{Name: d.control.Get("Package"), Version: d.control.Get("Version"),
			Arch: d.control.Get("Architecture"), Control: d.control, Scripts: d.scripts})
	}
	return pk
}

// addedPackages lists the packages installed in root but not in base.
func addedPackages(t testing.TB, base, root string) []string {
	t.Helper()
	list := func(r string) map[string]bool {
		f, err := os.Open(filepath.Join(r, "var/lib/dpkg/status"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m := map[string]bool{}
		_ = apt.ParseParagraphs(f, func(p apt.Paragraph) error {
			m[p.Get("Package")] = true
			return nil
		})
		return m
	}
	b, r := list(base), list(root)
	var out []string
	for n := range r {
		if !b[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// observeDeb feeds a package's data.tar to the plan the way the layer does:
// relative paths, merged-/usr canonical.
func observeDeb(t testing.TB, p *Plan, d *debFile, base fs.FS) {
	t.Helper()
	pkg := d.control.Get("Package")
	err := walkDeb(d.path, nil, func(h *tar.Header, r io.Reader) error {
		name := strings.TrimSuffix(strings.TrimPrefix(path.Clean(h.Name), "./"), "/")
		if name == "." || name == "" {
			return nil
		}
		first, rest, _ := strings.Cut(name, "/")
		if tgt, err := fs.ReadLink(base, first); err == nil {
			if rest == "" {
				return nil // never replace the merged-/usr links
			}
			name = path.Join(strings.TrimPrefix(tgt, "/"), rest)
		}
		hh := *h
		hh.Name = name
		if h.Typeflag == tar.TypeLink {
			hh.Linkname = strings.TrimPrefix(path.Clean(h.Linkname), "./")
		}
		return p.Observe(pkg, &hh, r)
	})
	if err != nil {
		t.Fatalf("observe %s: %v", pkg, err)
	}
}

func TestRealTrixieNoUnhandled(t *testing.T) {
	dir := researchDir(t)
	for _, set := range []struct{ name, root string }{{"minimal", "trixie-minimal"}, {"standard", "trixie-root"}} {
		t.Run(set.name, func(t *testing.T) {
			names := addedPackages(t, filepath.Join(dir, "trixie-base"), filepath.Join(dir, set.root))
			debs := loadDebs(t, filepath.Join(dir, "trixie", "debs"), names)
			if len(debs) != len(names) {
				t.Fatalf("found %d of %d .debs", len(debs), len(names))
			}
			p, err := New(os.DirFS(filepath.Join(dir, "trixie-base")), Options{Arch: "amd64",
				Edits: []Edit{cnpgCreateClusterEdit}})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.AddPackages(toPackages(debs)); err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, c := range p.Explain() {
				if c.Verdict == Handled {
					n++
				}
			}
			if n < 20 {
				t.Errorf("only %d handled commands", n)
			}
		})
	}
}

var cnpgCreateClusterEdit = Edit{Path: "etc/postgresql-common/createcluster.conf",
	Pattern: `^#(create_main_cluster) .*$`, Replace: "$1 = false"}

// TestRealFidelity replays the standard set on the minbase root and
// compares every generated file with what apt-get and the maintainer
// scripts left in the real root.
func TestRealFidelity(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: decompresses every package of two real package sets (about a minute)")
	}
	dir := researchDir(t)
	for _, suite := range []string{"trixie", "bookworm"} {
		t.Run(suite, func(t *testing.T) {
			t.Parallel()
			baseDir, rootDir := filepath.Join(dir, suite+"-base"), filepath.Join(dir, suite+"-root")
			if _, err := os.Stat(filepath.Join(dir, suite, "debs")); err != nil {
				t.Skipf("%s: no %s/debs (see testdata/make-research-roots.sh)", suite, suite)
			}
			names := addedPackages(t, baseDir, rootDir)
			debs := loadDebs(t, filepath.Join(dir, suite, "debs"), names)
			base := os.DirFS(baseDir)
			p, err := New(base, Options{Arch: "amd64", Edits: []Edit{cnpgCreateClusterEdit}, Epoch: shadowDate(t, rootDir, "postgres")})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.AddPackages(toPackages(debs)); err != nil {
				t.Fatal(err)
			}
			for _, d := range debs {
				observeDeb(t, p, d, base)
			}
			files, err := p.Files()
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range p.Explain() {
				if c.Script == "triggered" {
					t.Logf("file trigger: %s %s: %s", c.Package, c.Command, c.Verdict)
				}
			}
			diffs := compareWithRoot(t, files, rootDir)
			for _, d := range diffs {
				t.Log(d)
			}
			t.Logf("%d files generated, %d differences", len(files), len(diffs))
			// Known: dpkg writes diversions in its hash-table order.
			for _, d := range diffs {
				if !strings.HasPrefix(d, "var/lib/dpkg/diversions:") {
					t.Errorf("unexpected difference: %s", d)
				}
			}
			// And the other way: what the real install made outside the
			// packages' files must be generated, or deliberately left out.
			missing := notReplayed(t, files, baseDir, rootDir)
			for _, m := range missing {
				t.Errorf("made by the real install, not by the replay: %s", m)
			}
		})
	}
}

// deliberatelyNotReplayed are paths the real install leaves that the
// replay does not produce, with the reason (see replay-notes).
var deliberatelyNotReplayed = []struct{ pattern, why string }{
	{"etc/ssl/private/ssl-cert-snakeoil.key", "snakeoil private key: never in an image"},
	{"etc/ssl/certs/ssl-cert-snakeoil.pem", "snakeoil certificate"},
	{"run/adduser", "adduser's lock file"},
	{"etc/passwd-", "backup"}, {"etc/group-", "backup"}, {"etc/shadow-", "backup"}, {"etc/gshadow-", "backup"},
	{"var/cache/debconf/*", "debconf database: no debconf run"},
	{"var/cache/debconf/tmp.ci", "debconf scratch directory"},
	{"var/cache/ldconfig/aux-cache", "ldconfig's inode-keyed cache"},
	{"var/cache/ldconfig", "ldconfig's cache directory"},
	{"var/lib/dpkg/*-old", "dpkg backups"},
	{"var/lib/dpkg/status", "dpkg database, written by pkg/layer"},
	{"var/lib/dpkg/triggers/Unincorp", "dpkg's pending-trigger queue (empty at rest)"},
	{"var/log/*", "logs"}, {"var/log/apt/*", "logs"},
	{"var/lib/apt/extended_states", "apt's auto-installed marks"},
	{"usr/sbin/policy-rc.d", "the test chroot's own policy file"},
	{"etc/apt/sources.list", "the test chroot's apt sources"},
}

// notReplayed lists paths of the real root that are new or changed compared
// with the base, belong to no package and were not generated.
func notReplayed(t *testing.T, files []File, baseDir, rootDir string) []string {
	t.Helper()
	gen := map[string]bool{}
	for _, f := range files {
		gen[f.Path] = true
	}
	owned := map[string]bool{}
	lists, _ := filepath.Glob(filepath.Join(rootDir, "var/lib/dpkg/info/*.list"))
	for _, l := range lists {
		b, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range strings.Split(string(b), "\n") {
			owned[strings.TrimPrefix(p, "/")] = true
		}
	}
	var out []string
	err := filepath.WalkDir(rootDir, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(rootDir, full)
		switch rel {
		case ".", "proc", "dev", "sys", "var/cache/apt", "var/lib/apt/lists":
			if rel != "." && d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(rel, "var/lib/dpkg/info/") || gen[rel] {
			return nil
		}
		if owned[rel] || owned[strings.Replace(rel, "usr/", "", 1)] {
			return nil
		}
		if sameAsBase(filepath.Join(baseDir, rel), full) {
			return nil
		}
		if l, err := os.Readlink(full); err == nil && l == "ssl-cert-snakeoil.pem" {
			return nil // hash link of the snakeoil certificate
		}
		for _, a := range deliberatelyNotReplayed {
			if ok, _ := path.Match(a.pattern, rel); ok {
				return nil
			}
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameAsBase(base, root string) bool {
	bi, err := os.Lstat(base)
	if err != nil {
		return false
	}
	ri, err := os.Lstat(root)
	if err != nil || bi.Mode() != ri.Mode() {
		return false
	}
	bs, rs := bi.Sys().(*syscall.Stat_t), ri.Sys().(*syscall.Stat_t)
	if bs.Uid != rs.Uid || bs.Gid != rs.Gid {
		return false
	}
	switch {
	case ri.IsDir():
		return true
	case ri.Mode()&fs.ModeSymlink != 0:
		a, _ := os.Readlink(base)
		b, _ := os.Readlink(root)
		return a == b
	}
	if bi.Size() != ri.Size() {
		return false
	}
	a, _ := os.ReadFile(base)
	b, _ := os.ReadFile(root)
	return bytes.Equal(a, b)
}

// shadowDate returns the "last change" date of a user in a root's shadow
// file, so the replay can be given the same day.
func shadowDate(t testing.TB, root, user string) time.Time {
	b, err := os.ReadFile(filepath.Join(root, "etc/shadow"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ":")
		if len(f) > 2 && f[0] == user {
			d, err := strconv.Atoi(f[2])
			if err != nil {
				t.Fatal(err)
			}
			return time.Unix(int64(d)*86400, 0)
		}
	}
	t.Fatalf("no %s in %s/etc/shadow", user, root)
	return time.Time{}
}

// compareWithRoot reports each generated file that differs from the real
// root (type, mode, owner, content, link target).
func compareWithRoot(t testing.TB, files []File, root string) []string {
	var diffs []string
	for _, f := range files {
		full := filepath.Join(root, f.Path)
		fi, err := os.Lstat(full)
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("%s: only in replay", f.Path))
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		mode := int64(fi.Mode().Perm())
		if fi.Mode()&fs.ModeSetgid != 0 {
			mode |= 0o2000
		}
		if fi.Mode()&fs.ModeSticky != 0 {
			mode |= 0o1000
		}
		if fi.Mode()&fs.ModeSetuid != 0 {
			mode |= 0o4000
		}
		var what []string
		switch f.Type {
		case tar.TypeReg:
			if !fi.Mode().IsRegular() {
				what = append(what, "type")
				break
			}
			b, _ := os.ReadFile(full)
			if !bytes.Equal(b, f.Data) {
				what = append(what, fmt.Sprintf("content (%d vs real %d bytes)", len(f.Data), len(b)))
			}
		case tar.TypeSymlink:
			if fi.Mode()&fs.ModeSymlink == 0 {
				what = append(what, "type")
				break
			}
			l, _ := os.Readlink(full)
			if l != f.Linkname {
				what = append(what, fmt.Sprintf("link %q vs real %q", f.Linkname, l))
			}
			mode = f.Mode
		case tar.TypeDir:
			if !fi.IsDir() {
				what = append(what, "type")
			}
		}
		if mode != f.Mode {
			what = append(what, fmt.Sprintf("mode %o vs real %o", f.Mode, mode))
		}
		if int(st.Uid) != f.Uid || int(st.Gid) != f.Gid {
			what = append(what, fmt.Sprintf("owner %d:%d vs real %d:%d", f.Uid, f.Gid, st.Uid, st.Gid))
		}
		if len(what) > 0 {
			diffs = append(diffs, f.Path+": "+strings.Join(what, ", "))
		}
	}
	return diffs
}

// TestRealArm64NoUnhandled classifies the arm64 .debs of the trixie
// standard set (downloaded into trixie-arm64/debs) and checks that the
// libreadline diversions follow the aarch64 triplet.
func TestRealArm64NoUnhandled(t *testing.T) {
	dir := researchDir(t)
	debDir := filepath.Join(dir, "trixie-arm64", "debs")
	if _, err := os.Stat(debDir); err != nil {
		t.Skipf("no arm64 packages in %s (see testdata/make-research-roots.sh)", debDir)
	}
	names := addedPackages(t, filepath.Join(dir, "trixie-base"), filepath.Join(dir, "trixie-root"))
	debs := loadDebs(t, debDir, names)
	if len(debs) != len(names) {
		t.Fatalf("found %d of %d arm64 .debs", len(debs), len(names))
	}
	p, err := New(os.DirFS(filepath.Join(dir, "trixie-base")), Options{Arch: "arm64", Edits: []Edit{cnpgCreateClusterEdit}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AddPackages(toPackages(debs)); err != nil {
		t.Fatal(err)
	}
	for _, d := range debs {
		if d.control.Get("Package") == "libreadline8t64" {
			ds := loopDiversions(d.scripts["preinst"])
			if len(ds) != 4 || !strings.HasPrefix(ds[0].From, "/lib/aarch64-linux-gnu/") {
				t.Errorf("arm64 diversions %+v", ds)
			}
		}
	}
}

// TestRealFixedUID compares a replay with FixedIDs{"postgres": 26} with the
// real root after CloudNativePG's `usermod -u 26 postgres`. usermod only
// re-owns the home directory's files; the replay creates the postgres
// directories owned by uid 26 directly, so those two differ by design.
func TestRealFixedUID(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: decompresses a real package set")
	}
	dir := researchDir(t)
	baseDir, rootDir := filepath.Join(dir, "trixie-base"), filepath.Join(dir, "trixie-usermod")
	if _, err := os.Stat(rootDir); err != nil {
		t.Skipf("no %s (see testdata/make-research-roots.sh)", rootDir)
	}
	names := addedPackages(t, baseDir, rootDir)
	debs := loadDebs(t, filepath.Join(dir, "trixie", "debs"), names)
	base := os.DirFS(baseDir)
	p, err := New(base, Options{Arch: "amd64", Edits: []Edit{cnpgCreateClusterEdit},
		FixedIDs: map[string]int{"postgres": 26}, Epoch: shadowDate(t, rootDir, "postgres")})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AddPackages(toPackages(debs)); err != nil {
		t.Fatal(err)
	}
	for _, d := range debs {
		if n := d.control.Get("Package"); n == "locales-all" || n == "libllvm19" {
			continue // nothing the replay generates comes from them
		}
		observeDeb(t, p, d, base)
	}
	files, err := p.Files()
	if err != nil {
		t.Fatal(err)
	}
	expected := map[string]bool{
		"etc/postgresql: owner 26:102 vs real 100:102": true,
		"run/postgresql: owner 26:102 vs real 100:102": true,
	}
	for _, d := range compareWithRoot(t, files, rootDir) {
		switch {
		case expected[d]:
			delete(expected, d)
		case strings.HasPrefix(d, "var/lib/dpkg/diversions:"), strings.HasPrefix(d, "etc/ld.so.cache:"):
		default:
			t.Errorf("unexpected difference: %s", d)
		}
	}
	for d := range expected {
		t.Errorf("expected difference not seen: %s", d)
	}
}
