package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/pgassemble/pgassemble/internal/debtest"
	"github.com/pgassemble/pgassemble/pkg/apt"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

const baseStatus = `Package: base-files
Essential: yes
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 100
Maintainer: Base <base@example.org>
Architecture: amd64
Version: 13.8
Conffiles:
 /etc/debian_version 0123456789abcdef0123456789abcdef
Description: Debian base system miscellaneous files
 long

Package: zlib1g
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 160
Maintainer: Z <z@example.org>
Architecture: amd64
Multi-Arch: same
Source: zlib
Version: 1:1.3.dfsg-3
Provides: libz1
Depends: libc6 (>= 2.14)
Description: compression library - runtime
 long

`

// dbDebs are packages exercising the dpkg database: conffiles, scripts,
// triggers, Multi-Arch: same, relation fields to normalize.
func dbDebs() []debtest.Deb {
	return []debtest.Deb{
		{
			Control: debtest.Control("Package", "pgtest-common", "Version", "2.0-1", "Architecture", "all",
				"Maintainer", "T <t@example.org>", "Installed-Size", "12", "Depends", "perl:any,   adduser |  passwd (>=1)",
				"Section", "database", "Priority", "optional", "Homepage", "https://example.org", "Description", "common\n stuff",
				"Filename", "pool/x.deb", "SHA256", "abc"),
			Files: []debtest.File{
				{Path: "/etc/pgtest/common.conf", Body: "a = 1\n"},
				{Path: "/usr/bin/pgtest", Body: "#!/bin/sh\n", Mode: 0o755},
				{Path: "/usr/share/doc/pgtest-common/copyright", Body: "c"},
			},
			Scripts: map[string]string{
				"conffiles": "/etc/pgtest/common.conf\n",
				"postinst":  "#!/bin/sh\nset -e\nexit 0\n",
				"prerm":     "#!/bin/sh\nexit 0\n",
				"triggers":  "interest-noawait /usr/lib/pgtest\n",
			},
		},
		{
			Control: debtest.Control("Package", "libpgtest5", "Version", "17.1-1", "Architecture", "amd64",
				"Maintainer", "T <t@example.org>", "Installed-Size", "300", "Multi-Arch", "same", "Source", "pgtest (17.1-1)",
				"Pre-Depends", "libc6 (>= 2.36)", "Section", "libs", "Priority", "optional", "Description", "lib"),
			Files: []debtest.File{
				{Path: "/usr/lib/x86_64-linux-gnu/libpgtest.so.5.17", Body: "\x7fELF"},
				{Path: "/usr/lib/x86_64-linux-gnu/libpgtest.so.5", Type: tar.TypeSymlink, Linkname: "libpgtest.so.5.17"},
			},
			Scripts: map[string]string{"shlibs": "libpgtest 5 libpgtest5 (>= 17)\n", "triggers": "activate-noawait ldconfig\n"},
		},
	}
}

func TestDpkgDatabaseGolden(t *testing.T) {
	base := makeBase(t, baseSpec{mergedUsr: true, files: map[string]string{"var/lib/dpkg/status": baseStatus}})
	b := newTestBuilder(t, base, Options{})
	l := addStage(t, b, writeDebs(t, dbDebs()...))
	es := readLayer(t, l)
	m := byName(es)
	var infos []string
	for _, e := range es {
		if strings.HasPrefix(e.Name, "var/lib/dpkg/info/") {
			infos = append(infos, e.Name)
			// ':' is not allowed in module file names.
			golden(t, "info/"+strings.ReplaceAll(strings.TrimPrefix(e.Name, "var/lib/dpkg/info/"), ":", "_"), []byte(e.Body))
		}
	}
	want := []string{
		"var/lib/dpkg/info/libpgtest5:amd64.list", "var/lib/dpkg/info/libpgtest5:amd64.md5sums",
		"var/lib/dpkg/info/libpgtest5:amd64.shlibs", "var/lib/dpkg/info/libpgtest5:amd64.triggers",
		"var/lib/dpkg/info/pgtest-common.conffiles", "var/lib/dpkg/info/pgtest-common.list",
		"var/lib/dpkg/info/pgtest-common.md5sums", "var/lib/dpkg/info/pgtest-common.postinst",
		"var/lib/dpkg/info/pgtest-common.prerm", "var/lib/dpkg/info/pgtest-common.triggers",
	}
	if strings.Join(infos, "\n") != strings.Join(want, "\n") {
		t.Errorf("info files:\n%s\nwant\n%s", strings.Join(infos, "\n"), strings.Join(want, "\n"))
	}
	if e := m["var/lib/dpkg/info/pgtest-common.postinst"]; e.Mode != 0o755 {
		t.Errorf("postinst mode %o", e.Mode)
	}
	if _, ok := m["var/lib/dpkg/status"]; ok {
		t.Error("status must only be in the Finish layer")
	}
	fin, err := b.Finish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fm := byName(readLayer(t, fin))
	golden(t, "status", []byte(fm["var/lib/dpkg/status"].Body))
}

func TestStatusStanzaOrder(t *testing.T) {
	p := debtest.Control("Description", "d\n long", "Homepage", "h", "Version", "1", "Package", "p",
		"Architecture", "all", "Depends", "a,b(>=1)|c", "Essential", "no", "Built-Using", "x (= 1)", "Maintainer", "m")
	got := StatusStanza(p, []Conffile{{Path: "/etc/p", MD5: "d41d8cd98f00b204e9800998ecf8427e"}})
	var b bytes.Buffer
	got.WriteTo(&b)
	want := "Package: p\nStatus: install ok installed\nMaintainer: m\nArchitecture: all\nVersion: 1\nDepends: a, b (>= 1) | c\n" +
		"Conffiles:\n /etc/p d41d8cd98f00b204e9800998ecf8427e\nDescription: d\n long\nHomepage: h\nBuilt-Using: x (= 1)\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestAgainstDpkg installs the same synthetic packages with the host's
// dpkg into a scratch root and compares the database and the files.
func TestAgainstDpkg(t *testing.T) {
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		t.Skipf("dpkg not installed on this host (%v); it is the oracle of this test", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: dpkg --root chowns files")
	}
	filters := []string{"--path-exclude=/usr/share/doc/*", "--path-include=/usr/share/doc/*/copyright",
		"--path-exclude=/usr/share/locale/*", "--path-include=/usr/share/locale/locale.alias"}
	debs := dbDebs()
	debs = append(debs, debtest.Deb{
		Control: debtest.Control("Package", "docs", "Version", "1", "Architecture", "amd64", "Maintainer", "m",
			"Description", "trailing space kept \n  second line  \n .", "X-Custom", "value with trailing blanks  "),
		Files: []debtest.File{
			{Path: "/etc/zz/b", Body: "b"}, {Path: "/etc/aa", Body: "a"}, // unsorted on purpose
			{Path: "/usr/share/locale/locale.alias", Body: "a"}, {Path: "/usr/share/locale/de/LC_MESSAGES/x.mo", Body: "m"},
			{Path: "/usr/share/locale/lo/x", Body: "m"}, {Path: "/usr/share/doc/docs/sub/f", Body: "s"},
			{Path: "/usr/share/doc/lnk", Type: tar.TypeSymlink, Linkname: "../../share"},
			{Path: "/usr/share/existing", Type: tar.TypeSymlink, Linkname: "y"}, // dpkg keeps the directory
			{Path: "/usr/share/midlink", Type: tar.TypeSymlink, Linkname: "y"},
			{Path: "/usr/share/doc/docs/README", Body: "r"}, {Path: "/usr/share/doc/docs/copyright", Body: "c"},
			{Path: "/usr/sbin/sx", Body: "s", Mode: 0o4750}, {Path: "/usr/sbin/hl", Type: tar.TypeLink, Linkname: "/usr/sbin/sx", Mode: 0o4750},
		},
		Scripts: map[string]string{"postrm": "#!/bin/sh\nexit 0\n", "conffiles": "remove-on-upgrade /etc/gone.conf\n/etc/aa\n"},
	})
	files := writeDebs(t, debs...)
	// A package without an md5sums member: dpkg generates one.
	nosums := debtest.Deb{
		Control: debtest.Control("Package", "nosums", "Version", "1", "Architecture", "all", "Maintainer", "m", "Description", "d",
			"Essential", "yes", "Protected", "yes", "Built-Using", "gcc (= 1)", "Multi-Arch", "foreign", "Priority", "important"),
		Files: []debtest.File{
			{Path: "/usr/bin/zz", Body: "b"}, {Path: "/usr/bin/aa", Body: "a"},
			{Path: "/usr/bin/hl", Type: tar.TypeLink, Linkname: "/usr/bin/aa"},
			{Path: "/usr/share/doc/nosums/README", Body: "r"}, {Path: "/usr/share/doc/nosums/copyright", Body: "c"},
		},
		ControlCompression: "none",
	}
	raw := withoutMember(t, nosums.MustBytes(), "md5sums")
	np := filepath.Join(t.TempDir(), "nosums.deb")
	if err := os.WriteFile(np, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	files = append(files, Deb{Path: np})

	// dpkg's root
	const divs = "/usr/bin/pgtest\n/usr/bin/pgtest.distrib\nother-pkg\n"
	const overrides = "root mail 0640 /etc/aa\n"
	droot := makeBase(t, baseSpec{dirs: []string{"usr/share/existing"}, files: map[string]string{"var/lib/dpkg/status": baseStatus, "var/lib/dpkg/diversions": divs, "var/lib/dpkg/statoverride": overrides}})
	os.WriteFile(filepath.Join(droot, "var/lib/dpkg/available"), nil, 0o644)
	os.MkdirAll(filepath.Join(droot, "var/lib/dpkg/updates"), 0o755)
	args := append([]string{"--root=" + droot, "--force-depends", "--force-script-chrootless", "--force-not-root"}, filters...)
	args = append(args, "-i")
	for _, d := range files {
		args = append(args, d.Path)
	}
	cmd := exec.Command(dpkg, args...)
	cmd.Env = append(os.Environ(), "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dpkg: %v\n%s", err, out)
	}

	// ours
	ours := makeBase(t, baseSpec{dirs: []string{"usr/share/existing"}, files: map[string]string{"var/lib/dpkg/status": baseStatus, "var/lib/dpkg/diversions": divs, "var/lib/dpkg/statoverride": overrides,
		"etc/dpkg/dpkg.cfg.d/excludes": strings.ReplaceAll(strings.Join(filters, "\n"), "--", "")}})
	b := newTestBuilder(t, ours, Options{})
	l := addStage(t, b, files)
	fin, err := b.Finish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(ours, "etc/dpkg/dpkg.cfg.d/excludes"))
	ctx := context.Background()
	if err := ApplyToDir(ctx, l, ours); err != nil {
		t.Fatal(err)
	}
	if err := ApplyToDir(ctx, fin, ours); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(ours, "usr/bin/pgtest.distrib")); err != nil {
		t.Errorf("diverted file: %v", err)
	}
	// dpkg leaves bookkeeping we do not produce.
	ignore := func(p string) bool {
		return strings.HasPrefix(p, "var/lib/dpkg/") && !strings.HasPrefix(p, "var/lib/dpkg/info/") && p != "var/lib/dpkg/status" ||
			p == "etc/dpkg/dpkg.cfg.d/excludes" || p == "var/lib/dpkg/info/format" || strings.HasSuffix(p, "-old")
	}
	got, want := snapshot(t, ours, ignore), snapshot(t, droot, ignore)
	for _, k := range sortedKeys(want) {
		if got[k] != want[k] {
			t.Errorf("%s:\n dpkg: %s\n ours: %s", k, want[k], got[k])
		}
	}
	for _, k := range sortedKeys(got) {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: only in ours: %s", k, got[k])
		}
	}
}

// snapshot describes every path under root: type, mode, owner, content.
func snapshot(t *testing.T, root string, ignore func(string) bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." || ignore(filepath.ToSlash(rel)) {
			return nil
		}
		d := fi.Mode().String()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			d += fmt.Sprintf(" %d:%d", st.Uid, st.Gid)
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			d += " -> " + l
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			if filepath.Base(rel) == "status" {
				d += " " + normalizeStatus(b)
			} else {
				d += " " + string(b)
			}
		}
		out[filepath.ToSlash(rel)] = d
		return nil
	})
	return out
}

// normalizeStatus sorts stanzas (dpkg writes them sorted too; this only
// makes a failure easier to read).
func normalizeStatus(b []byte) string {
	var ps []string
	apt.ParseParagraphs(bytes.NewReader(b), func(p apt.Paragraph) error {
		var buf bytes.Buffer
		p.WriteTo(&buf)
		ps = append(ps, buf.String())
		return nil
	})
	sort.Strings(ps)
	return strings.Join(ps, "\n")
}

func TestExtendedStates(t *testing.T) {
	base := makeBase(t, baseSpec{files: map[string]string{
		"var/lib/dpkg/status":         baseStatus,
		"var/lib/apt/extended_states": "Package: zlib1g\nArchitecture: amd64\nAuto-Installed: 1\n\n",
	}})
	b := newTestBuilder(t, base, Options{})
	debs := writeDebs(t, append(dbDebs(), pkgDeb("requested"))...)
	debs[0].Auto, debs[1].Auto = true, true
	addStage(t, b, debs)
	fin, err := b.Finish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := byName(readLayer(t, fin))["var/lib/apt/extended_states"].Body
	want := "Package: zlib1g\nArchitecture: amd64\nAuto-Installed: 1\n\n" +
		"Package: pgtest-common\nArchitecture: amd64\nAuto-Installed: 1\n\n" +
		"Package: libpgtest5\nArchitecture: amd64\nAuto-Installed: 1\n\n"
	if got != want {
		t.Errorf("extended_states:\n%s\nwant\n%s", got, want)
	}
}

// withoutMember rebuilds a .deb (plain control.tar) without one control member.
func withoutMember(t *testing.T, deb []byte, member string) []byte {
	t.Helper()
	m := splitAr(t, deb)
	var ctl bytes.Buffer
	tw := tar.NewWriter(&ctl)
	tr := tar.NewReader(bytes.NewReader(m["control.tar"]))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		body, _ := io.ReadAll(tr)
		if strings.TrimPrefix(h.Name, "./") == member {
			continue
		}
		tw.WriteHeader(h)
		tw.Write(body)
	}
	tw.Close()
	out := append([]byte(arMagic), arMember("debian-binary", []byte("2.0\n"))...)
	out = append(out, arMember("control.tar", ctl.Bytes())...)
	return append(out, arMember("data.tar.xz", m["data.tar.xz"])...)
}
