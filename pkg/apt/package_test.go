package apt

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const samplePackages = `Package: postgresql-17
Version: 17.12-0+deb13u1
Installed-Size: 66000
Maintainer: Debian PostgreSQL Maintainers <team+postgresql@tracker.debian.org>
Architecture: amd64
Provides: postgresql-contrib-17
Pre-Depends: init-system-helpers (>= 1.54~)
Depends: libc6 (>= 2.38), libpq5 (>= 17.12),
 postgresql-client-17, tzdata, sysvinit-utils (>= 3.05-4~) | lsb-base
Recommends: sysstat
Breaks: dbconfig-common (<< 2.0.22~)
Conflicts: postgresql-17-old
Replaces: postgresql-contrib-17
Description: The World's Most Advanced Open Source Relational Database
 PostgreSQL, also known as Postgres, ...
Multi-Arch: foreign
Section: database
Priority: optional
Filename: pool/main/p/postgresql-17/postgresql-17_17.12-0+deb13u1_amd64.deb
Size: 17000000
SHA256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
Source: postgresql-17 (17.12-0+deb13u1)

Package: libfoo1t64
Source: foo
Version: 1.0-1+b1
Architecture: arm64
Essential: yes
Provides: libfoo1 (= 1.0-1), foo-api
Filename: pool/main/f/foo/libfoo1t64_1.0-1+b1_arm64.deb
Size: 10
`

func TestParsePackages(t *testing.T) {
	var got []*Package
	if err := ParsePackages(strings.NewReader(samplePackages), func(p *Package) error { got = append(got, p); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d packages", len(got))
	}
	p := got[0]
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", what, got, want)
		}
	}
	check("Name", p.Name, "postgresql-17")
	check("Version", p.Version, "17.12-0+deb13u1")
	check("Architecture", p.Architecture, "amd64")
	check("MultiArch", p.MultiArch, "foreign")
	check("Essential", p.Essential, false)
	check("Priority", p.Priority, "optional")
	check("Section", p.Section, "database")
	check("Source", p.Source, "postgresql-17")
	check("SourceVersion", p.SourceVersion, "17.12-0+deb13u1")
	check("InstalledSize", p.InstalledSize, int64(66000))
	check("Size", p.Size, int64(17000000))
	check("Filename", p.Filename, "pool/main/p/postgresql-17/postgresql-17_17.12-0+deb13u1_amd64.deb")
	check("SHA256", p.SHA256, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	check("PreDepends", p.PreDepends.String(), "init-system-helpers (>= 1.54~)")
	check("Depends", p.Depends.String(), "libc6 (>= 2.38), libpq5 (>= 17.12), postgresql-client-17, tzdata, sysvinit-utils (>= 3.05-4~) | lsb-base")
	check("Recommends", p.Recommends.String(), "sysstat")
	check("Breaks", p.Breaks.String(), "dbconfig-common (<< 2.0.22~)")
	check("Conflicts", p.Conflicts.String(), "postgresql-17-old")
	check("Replaces", p.Replaces.String(), "postgresql-contrib-17")
	check("Provides", p.Provides.String(), "postgresql-contrib-17")
	check("no Paragraph kept by ParsePackages", len(p.Paragraph), 0)

	q := got[1]
	check("Essential", q.Essential, true)
	check("Source", q.Source, "foo")
	check("SourceVersion", q.SourceVersion, "")
	check("Provides", q.Provides, Relations{{{Name: "libfoo1", Op: OpEQ, Version: "1.0-1"}}, {{Name: "foo-api"}}})
}

func TestParsePackagesErrors(t *testing.T) {
	for _, in := range []string{
		"Version: 1\nArchitecture: all\n", // no Package
		"Package: a\nArchitecture: all\n", // no Version
		"Package: a\nVersion: 1\n",        // no Architecture
		"Package: a\nVersion: 1\nArchitecture: all\nDepends: b (>= \n",
		"Package: a\nVersion: 1\nArchitecture: all\nSize: many\n",
		"Package: a\nVersion: 1\nArchitecture: all\nInstalled-Size: -x\n",
	} {
		err := ParsePackages(strings.NewReader(in), func(*Package) error { return nil })
		if err == nil {
			t.Errorf("ParsePackages(%q): no error", in)
		}
	}
}

func TestPackageFieldCase(t *testing.T) {
	p, err := PackageFromParagraph(Paragraph{{"package", "a"}, {"VERSION", "1"}, {"pre-depends", "b"}, {"sha256", "ff"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "a" || p.Version != "1" || p.PreDepends.String() != "b" || p.SHA256 != "ff" {
		t.Fatalf("case-insensitive fields not read: %+v", p)
	}
}

func TestParseStatus(t *testing.T) {
	status := `Package: base-files
Status: install ok installed
Priority: required
Essential: yes
Version: 13.8
Architecture: amd64
Conffiles:
 /etc/debian_version 1234

Package: removed
Status: deinstall ok config-files
Version: 1.0
Architecture: amd64

Package: gone
Status: purge ok not-installed
Architecture: amd64

Package: half
Status: install ok half-configured
Version: 2.0
Architecture: all

Package: unpacked
Status: install ok unpacked
Version: 3.0
Architecture: amd64
`
	pkgs, err := ParseStatus(strings.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pkgs {
		names = append(names, p.Name+"/"+p.StatusWord())
	}
	want := []string{"base-files/installed", "half/half-configured", "unpacked/unpacked"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("got %v, want %v", names, want)
	}
	if !pkgs[0].Essential || pkgs[0].Paragraph.Get("Conffiles") != "\n /etc/debian_version 1234" {
		t.Fatalf("base-files not read fully: %+v", pkgs[0])
	}
	if _, err := ParseStatus(strings.NewReader("Package: x\nDepends: (\n")); err == nil {
		t.Fatal("bad status: no error")
	}
}

func TestSameFields(t *testing.T) {
	parse := func(s string) *Package {
		var out *Package
		if err := ParsePackages(strings.NewReader(s), func(p *Package) error { out = p; return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	base := "Package: a\nVersion: 1\nArchitecture: all\nDepends: b (>= 1) | c\nSuggests: d\nSHA256: " + strings.Repeat("0", 64) + "\n"
	a := parse(base)
	for _, tc := range []struct {
		name, text string
		same       bool
	}{
		{"identical", base, true},
		{"another description", base + "Description: other\n", true},
		{"another version constraint", strings.Replace(base, ">= 1", ">= 2", 1), false},
		{"another alternative", strings.Replace(base, "| c", "| e", 1), false},
		{"another Suggests", strings.Replace(base, "Suggests: d", "Suggests: e", 1), false},
		{"Multi-Arch", base + "Multi-Arch: foreign\n", false},
		{"another SHA256", strings.Replace(base, strings.Repeat("0", 64), strings.Repeat("1", 64), 1), false},
	} {
		if got := a.SameFields(parse(tc.text)); got != tc.same {
			t.Errorf("%s: SameFields = %v, want %v", tc.name, got, tc.same)
		}
	}
}

// ParsePackages (compact: no stanza kept, strings copied and shared) reads
// every field as PackageFromParagraph does, and fails alike.
func FuzzParsePackages(f *testing.F) {
	f.Add(samplePackages)
	for _, s := range []string{
		"Package: a\nVersion: 1\nArchitecture: all\nDepends: b (>= 1) | c, d:any [amd64]\nSource: s (2)\n\nPackage: b\nVersion: 2\nArchitecture: amd64\nDepends: b (>= 1) | c\n",
		"Package: a\nVersion: 1\nArchitecture: all\nDepends: b (>= \n",
		"Package: a\r\nVersion: 1\r\nArchitecture: all\r\nProvides: x,\r\n y (= 1)\r\n",
		"Package: a\nVersion: 1\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var got []*Package
		err := ParsePackages(strings.NewReader(s), func(p *Package) error { got = append(got, p); return nil })
		var want []*Package
		rerr := ParseParagraphs(strings.NewReader(s), func(para Paragraph) error {
			p, err := PackageFromParagraph(para)
			if err != nil {
				return err
			}
			if p.Version == "" || p.Architecture == "" {
				return fmt.Errorf("package %s: missing Version or Architecture", Excerpt(p.Name))
			}
			want = append(want, p)
			return nil
		})
		if (err == nil) != (rerr == nil) || err != nil && err.Error() != rerr.Error() {
			t.Fatalf("errors differ on %q: %v, want %v", s, err, rerr)
		}
		if err != nil {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("%d packages, want %d", len(got), len(want))
		}
		for i := range got {
			if !got[i].SameFields(want[i]) || got[i].Paragraph != nil {
				t.Fatalf("package %d of %q: %+v, want %+v", i, s, got[i], want[i])
			}
		}
	})
}

// ParsePackages reads stanzas as views of its read buffer, which is
// refilled as the index goes on: every string a package keeps must be a
// copy. An index many times the buffer's size, all of whose strings
// differ, parses to what the copying parse gives.
func TestParsePackagesKeepsNoViewOfItsBuffer(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 4<<20; i++ {
		fmt.Fprintf(&b, "Package: p%[1]d\nVersion: 1.%[1]d-%[1]d\nArchitecture: all\nMulti-Arch: foreign\nPriority: prio%[1]d\nSection: sec%[1]d\n"+
			"Source: src%[1]d (0.%[1]d)\nInstalled-Size: %[1]d\nPre-Depends: pre%[1]d\nDepends: d%[1]d (>= 2.%[1]d) | e%[1]d:any, f%[1]d [amd64]\nRecommends: r%[1]d\n"+
			"Provides: v%[1]d (= 3.%[1]d)\nConflicts: c%[1]d (<< 4.%[1]d)\nBreaks: b%[1]d\nReplaces: x%[1]d\nSuggests: s%[1]d\nEnhances: n%[1]d\n"+
			"Filename: pool/p%[1]d.deb\nSize: %[1]d\nSHA256: %064[1]x\nDescription: package %[1]d\n long text %[1]d\n\n",
			i)
	}
	text := b.String()
	var got []*Package
	if err := ParsePackages(strings.NewReader(text), func(p *Package) error { got = append(got, p); return nil }); err != nil {
		t.Fatal(err)
	}
	var want []*Package
	if err := ParseParagraphs(strings.NewReader(text), func(para Paragraph) error {
		p, err := PackageFromParagraph(para)
		want = append(want, p)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d packages, want %d", len(got), len(want))
	}
	for i := range got {
		if !got[i].SameFields(want[i]) {
			t.Fatalf("package %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
