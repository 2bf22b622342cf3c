package apt

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// universe builds packages from a compact description: stanzas separated by
// blank lines; Architecture defaults to amd64.
func mkPackages(t testing.TB, text string) []*Package {
	t.Helper()
	var out []*Package
	err := ParseParagraphs(strings.NewReader(text), func(p Paragraph) error {
		if !p.Has("Architecture") {
			p.Set("Architecture", "amd64")
		}
		pkg, err := PackageFromParagraph(p)
		if err != nil {
			return err
		}
		out = append(out, pkg)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mkInstalled(t testing.TB, text string) []*Package {
	pkgs := mkPackages(t, text)
	for _, p := range pkgs {
		if p.Status == "" {
			p.Status = "install ok installed"
		}
	}
	return pkgs
}

// render gives "name version [upgrade-from] <- reason" lines.
func render(set *InstallSet) []string {
	var out []string
	for _, p := range set.Packages {
		s := p.Name + " " + p.Version
		if p.Upgrade != nil {
			s += " (from " + p.Upgrade.Version + ")"
		}
		out = append(out, s+" <- "+p.Reason)
	}
	return out
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name      string
		available string
		installed string
		requests  []string
		want      []string
		wantErr   error
		errText   string // substring of the error
	}{
		{
			name: "chain in dependency order",
			available: `Package: app
Version: 1.0
Depends: libb (>= 2), liba

Package: liba
Version: 1.0

Package: libb
Version: 2.1
Pre-Depends: liba`,
			requests: []string{"app"},
			want: []string{
				"liba 1.0 <- libb Pre-Depends: liba",
				"libb 2.1 <- app Depends: libb (>= 2)",
				"app 1.0 <- requested",
			},
		},
		{
			name: "installed dependency is kept, not listed",
			available: `Package: app
Version: 1.0
Depends: liba (>= 1)

Package: liba
Version: 3.0`,
			installed: `Package: liba
Version: 1.5`,
			requests: []string{"app"},
			want:     []string{"app 1.0 <- requested"},
		},
		{
			name: "versioned dependency upgrades an installed package",
			available: `Package: app
Version: 1.0
Depends: liba (>= 2)

Package: liba
Version: 3.0`,
			installed: `Package: liba
Version: 1.5`,
			requests: []string{"app"},
			want: []string{
				"liba 3.0 (from 1.5) <- app Depends: liba (>= 2)",
				"app 1.0 <- requested",
			},
		},
		{
			name: "explicit request upgrades an installed package",
			available: `Package: liba
Version: 3.0`,
			installed: `Package: liba
Version: 1.5`,
			requests: []string{"liba"},
			want:     []string{"liba 3.0 (from 1.5) <- requested"},
		},
		{
			name: "request of the installed newest version does nothing",
			available: `Package: liba
Version: 1.5`,
			installed: `Package: liba
Version: 1.5`,
			requests: []string{"liba"},
			want:     nil,
		},
		{
			name: "installed newer than the archive is not downgraded",
			available: `Package: app
Version: 1
Depends: liba

Package: liba
Version: 1.0`,
			installed: `Package: liba
Version: 2.0`,
			requests: []string{"app", "liba"},
			want:     []string{"app 1 <- requested"},
		},
		{
			name: "first installable alternative",
			available: `Package: app
Version: 1
Depends: missing | b | c

Package: b
Version: 1

Package: c
Version: 1`,
			requests: []string{"app"},
			want:     []string{"b 1 <- app Depends: missing | b | c", "app 1 <- requested"},
		},
		{
			name: "installed alternative wins",
			available: `Package: app
Version: 1
Depends: b | c

Package: b
Version: 1

Package: c
Version: 1`,
			installed: `Package: c
Version: 1`,
			requests: []string{"app"},
			want:     []string{"app 1 <- requested"},
		},
		{
			name: "alternative needing an upgrade of an installed package beats a new one",
			available: `Package: app
Version: 1
Depends: b | c (>= 2)

Package: b
Version: 1

Package: c
Version: 2`,
			installed: `Package: c
Version: 1`,
			requests: []string{"app"},
			want:     []string{"c 2 (from 1) <- app Depends: b | c (>= 2)", "app 1 <- requested"},
		},
		{
			name: "a later request satisfies an earlier alternative",
			available: `Package: app
Version: 1
Depends: locales | locales-all

Package: locales
Version: 1

Package: locales-all
Version: 1`,
			requests: []string{"app", "locales-all"},
			want:     []string{"locales-all 1 <- requested", "app 1 <- requested"},
		},
		{
			name: "alternative whose dependencies cannot be met is skipped",
			available: `Package: app
Version: 1
Depends: b | c

Package: b
Version: 1
Depends: nothere

Package: c
Version: 1`,
			requests: []string{"app"},
			want:     []string{"c 1 <- app Depends: b | c", "app 1 <- requested"},
		},
		{
			name: "deeper failure rolls back and tries the next alternative",
			available: `Package: app
Version: 1
Depends: b | c

Package: b
Version: 1
Depends: d

Package: d
Version: 1
Depends: nothere

Package: c
Version: 1`,
			requests: []string{"app"},
			want:     []string{"c 1 <- app Depends: b | c", "app 1 <- requested"},
		},
		{
			name: "virtual package with one provider",
			available: `Package: app
Version: 1
Depends: mail-transport-agent

Package: postfix
Version: 3
Provides: mail-transport-agent`,
			requests: []string{"app"},
			want:     []string{"postfix 3 <- app Depends: mail-transport-agent", "app 1 <- requested"},
		},
		{
			name: "virtual package with several providers: Priority, then the one apt's cache numbers last",
			available: `Package: app
Version: 1
Depends: awk

Package: busybox-awk
Version: 1
Priority: required
Provides: awk

Package: gawk
Version: 1
Priority: optional
Provides: awk

Package: mawk
Version: 1
Priority: required
Provides: awk`,
			requests: []string{"app"},
			want:     []string{"mawk 1 <- app Depends: awk", "app 1 <- requested"},
		},
		{
			name: "cache order counts names as relations first mention them",
			available: `Package: app
Version: 1
Depends: sopv
Recommends: zsop, asop

Package: asop
Version: 1
Provides: sopv

Package: zsop
Version: 1
Provides: sopv`,
			requests: []string{"app"},
			want:     []string{"asop 1 <- app Depends: sopv", "app 1 <- requested"},
		},
		{
			name: "installed provider satisfies a virtual dependency",
			available: `Package: app
Version: 1
Depends: awk

Package: gawk
Version: 1
Provides: awk`,
			installed: `Package: mawk
Version: 1
Provides: awk`,
			requests: []string{"app"},
			want:     []string{"app 1 <- requested"},
		},
		{
			name: "real package preferred over providers",
			available: `Package: app
Version: 1
Depends: foo

Package: foo
Version: 1

Package: afoo
Version: 1
Priority: required
Provides: foo`,
			requests: []string{"app"},
			want:     []string{"foo 1 <- app Depends: foo", "app 1 <- requested"},
		},
		{
			name: "versioned provides satisfy a versioned dependency",
			available: `Package: app
Version: 1
Depends: libfoo1 (>= 1.0)

Package: libfoo1t64
Version: 1.0-1+b1
Provides: libfoo1 (= 1.0-1)`,
			requests: []string{"app"},
			want:     []string{"libfoo1t64 1.0-1+b1 <- app Depends: libfoo1 (>= 1.0)", "app 1 <- requested"},
		},
		{
			name: "unversioned provides do not satisfy a versioned dependency",
			available: `Package: app
Version: 1
Depends: libfoo1 (>= 1.0)

Package: libfoo1t64
Version: 1.0-1
Provides: libfoo1`,
			requests: []string{"app"},
			wantErr:  ErrUnsatisfiable,
			errText:  "app 1 Depends: libfoo1 (>= 1.0) but libfoo1 is a virtual package and no provider satisfies the relation",
		},
		{
			name: "requesting a virtual package with one provider",
			available: `Package: postfix
Version: 3
Provides: mail-transport-agent`,
			requests: []string{"mail-transport-agent"},
			want:     []string{"postfix 3 <- requested"},
		},
		{
			name: "requesting a virtual package with several providers",
			available: `Package: postfix
Version: 3
Provides: mail-transport-agent

Package: exim4
Version: 4
Provides: mail-transport-agent`,
			requests: []string{"mail-transport-agent"},
			wantErr:  ErrUnsatisfiable,
			errText:  "mail-transport-agent is a virtual package provided by exim4, postfix; select one to install",
		},
		{
			name: "requesting a virtual package with an installed provider among several",
			available: `Package: gawk
Version: 1
Provides: awk`,
			installed: `Package: mawk
Version: 1
Provides: awk`,
			requests: []string{"awk"},
			wantErr:  ErrUnsatisfiable,
			errText:  "awk is a virtual package provided by gawk, mawk; select one to install",
		},
		{
			name: "requesting a virtual package whose only provider is installed",
			available: `Package: other
Version: 1`,
			installed: `Package: mawk
Version: 1
Provides: awk`,
			requests: []string{"awk"},
			want:     nil,
		},
		{
			name: "exact version pin",
			available: `Package: pg
Version: 17.12-1

Package: pg
Version: 17.5-1

Package: pg
Version: 16.9-1`,
			requests: []string{"pg=17.5-1"},
			want:     []string{"pg 17.5-1 <- requested"},
		},
		{
			name: "glob pin takes the highest match",
			available: `Package: pg
Version: 17.12-1

Package: pg
Version: 17.5-2

Package: pg
Version: 17.5-1

Package: pg
Version: 16.9-1`,
			requests: []string{"pg=17.5*"},
			want:     []string{"pg 17.5-2 <- requested"},
		},
		{
			name: "glob pin takes the highest version whatever the priority",
			available: `Package: pg
Version: 17.12-0+deb13u1

Package: pg
Version: 17.12-1.pgdg13+1
X-Priority: 100

Package: pg
Version: 17.13-1
X-Priority: 100`,
			requests: []string{"pg=17.12*"},
			want:     []string{"pg 17.12-1.pgdg13+1 <- requested"},
		},
		{
			name: "glob pin with no match",
			available: `Package: pg
Version: 17.12-1`,
			requests: []string{"pg=18*"},
			wantErr:  ErrUnsatisfiable,
			errText:  `version "18*" of pg is not available (available: 17.12-1)`,
		},
		{
			name: "pinned request constrains dependencies",
			available: `Package: app
Version: 1
Depends: pg (>= 17.12)

Package: pg
Version: 17.12-1

Package: pg
Version: 17.5-1`,
			requests: []string{"pg=17.5-1", "app"},
			wantErr:  ErrUnsatisfiable,
			errText:  "app 1 Depends: pg (>= 17.12) but only 17.5-1 is available",
		},
		{
			name: "arch qualified request",
			available: `Package: a
Version: 1`,
			requests: []string{"a:amd64"},
			want:     []string{"a 1 <- requested"},
		},
		{
			name:      "unknown package",
			available: "Package: a\nVersion: 1",
			requests:  []string{"b"},
			wantErr:   ErrUnsatisfiable,
			errText:   "package b is not available",
		},
		{
			name: "unsatisfiable version explains the chain",
			available: `Package: postgresql-17
Version: 17.12-1
Depends: postgresql-common (>= 252)

Package: postgresql-common
Version: 278
Depends: libpq5 (>= 17.12)

Package: libpq5
Version: 17.5-1`,
			requests: []string{"postgresql-17"},
			wantErr:  ErrUnsatisfiable,
			errText:  "unsatisfiable: requested postgresql-17 17.12-1 -> postgresql-17 17.12-1 Depends: postgresql-common (>= 252) -> postgresql-common 278 Depends: libpq5 (>= 17.12) but only 17.5-1 is available",
		},
		{
			name: "missing package",
			available: `Package: app
Version: 1
Depends: nothere`,
			requests: []string{"app"},
			wantErr:  ErrUnsatisfiable,
			errText:  "app 1 Depends: nothere but it is not available",
		},
		{
			name: "conflict between two new packages",
			available: `Package: foo
Version: 1.0
Conflicts: bar (<< 2)

Package: bar
Version: 1.5`,
			requests: []string{"bar", "foo"},
			wantErr:  ErrConflict,
			errText:  "foo 1.0 Conflicts: bar (<< 2) and bar 1.5 is to be installed",
		},
		{
			name: "a marked alternative that a later package conflicts with is taken back",
			available: `Package: app
Version: 1
Depends: liba | libb, tool

Package: tool
Version: 1
Depends: libb

Package: liba
Version: 1

Package: libb
Version: 1
Conflicts: liba`,
			requests: []string{"app"},
			want: []string{
				"libb 1 <- tool Depends: libb",
				"tool 1 <- app Depends: tool",
				"app 1 <- requested",
			},
		},
		{
			name: "a taken-back package needed again is a conflict",
			available: `Package: app
Version: 1
Depends: tool, libb

Package: tool
Version: 1
Depends: liba

Package: liba
Version: 1

Package: libb
Version: 1
Conflicts: liba`,
			requests: []string{"app"},
			wantErr:  ErrConflict,
			errText:  "libb 1 Conflicts: liba and liba 1 is to be installed",
		},
		{
			name: "conflict with an installed package that cannot be upgraded",
			available: `Package: foo
Version: 1.0
Breaks: bar (<< 2)

Package: bar
Version: 1.5`,
			installed: `Package: bar
Version: 1.5`,
			requests: []string{"foo"},
			wantErr:  ErrConflict,
			errText:  "foo 1.0 Breaks: bar (<< 2) and bar 1.5 is installed",
		},
		{
			name: "breaks on an installed package upgrades it",
			available: `Package: foo
Version: 1.0
Breaks: bar (<< 2)

Package: bar
Version: 2.1`,
			installed: `Package: bar
Version: 1.5`,
			requests: []string{"foo"},
			want: []string{
				"bar 2.1 (from 1.5) <- upgrade: foo Breaks: bar (<< 2)",
				"foo 1.0 <- requested",
			},
		},
		{
			name: "installed package breaking a new one is upgraded",
			available: `Package: foo
Version: 1.0

Package: bar
Version: 2.1`,
			installed: `Package: bar
Version: 1.5
Breaks: foo (<< 2)`,
			requests: []string{"foo"},
			want: []string{
				"bar 2.1 (from 1.5) <- upgrade: bar Breaks: foo (<< 2)",
				"foo 1.0 <- requested",
			},
		},
		{
			name: "installed package breaking a new one with no way out",
			available: `Package: foo
Version: 1.0`,
			installed: `Package: bar
Version: 1.5
Breaks: foo (<< 2)`,
			requests: []string{"foo"},
			wantErr:  ErrConflict,
			errText:  "bar 1.5 (installed) Breaks: foo (<< 2) and foo 1.0 is to be installed",
		},
		{
			name: "versioned conflicts outside the range are fine",
			available: `Package: foo
Version: 1.0
Conflicts: bar (<< 1)

Package: bar
Version: 1.5`,
			requests: []string{"foo", "bar"},
			want:     []string{"bar 1.5 <- requested", "foo 1.0 <- requested"},
		},
		{
			name: "a package does not conflict with what it provides",
			available: `Package: mawk
Version: 1
Provides: awk
Conflicts: awk
Replaces: awk`,
			requests: []string{"mawk"},
			want:     []string{"mawk 1 <- requested"},
		},
		{
			name: "conflict through provides",
			available: `Package: mawk
Version: 1
Provides: awk
Conflicts: awk

Package: gawk
Version: 1
Provides: awk`,
			requests: []string{"gawk", "mawk"},
			wantErr:  ErrConflict,
			errText:  "mawk 1 Conflicts: awk and gawk 1 is to be installed",
		},
		{
			name: "upgrade breaking an installed exact dependency upgrades the dependent",
			available: `Package: libx
Version: 2

Package: libx-dev
Version: 2
Depends: libx (= 2)`,
			installed: `Package: libx
Version: 1

Package: libx-dev
Version: 1
Depends: libx (= 1)`,
			requests: []string{"libx"},
			want: []string{
				"libx 2 (from 1) <- requested",
				"libx-dev 2 (from 1) <- upgrade: libx-dev Depends: libx (= 1)",
			},
		},
		{
			name: "installed binaries of the same source follow along",
			available: `Package: openssl
Version: 3.5.9-1
Depends: libssl3t64 (>= 3.0)

Package: libssl3t64
Source: openssl
Version: 3.5.9-1

Package: openssl-provider-legacy
Source: openssl
Version: 3.5.9-1

Package: libcrypt1
Source: libxcrypt
Version: 2`,
			installed: `Package: libssl3t64
Source: openssl
Version: 3.5.1-1

Package: openssl-provider-legacy
Source: openssl
Version: 3.5.1-1

Package: libcrypt1
Source: libxcrypt
Version: 1`,
			requests: []string{"openssl"},
			want: []string{
				"libssl3t64 3.5.9-1 (from 3.5.1-1) <- upgrade: built from source openssl 3.5.9-1 like openssl",
				"openssl 3.5.9-1 <- requested",
				"openssl-provider-legacy 3.5.9-1 (from 3.5.1-1) <- upgrade: built from source openssl 3.5.9-1 like libssl3t64",
			},
		},
		{
			name: "dependency cycle ordered by name, pre-depends honoured",
			available: `Package: app
Version: 1
Depends: zz

Package: zz
Version: 1
Depends: aa

Package: aa
Version: 1
Depends: mm

Package: mm
Version: 1
Pre-Depends: zz`,
			requests: []string{"app"},
			want: []string{
				"aa 1 <- zz Depends: aa",
				"zz 1 <- app Depends: zz",
				"mm 1 <- aa Depends: mm",
				"app 1 <- requested",
			},
		},
		{
			name: "foreign architecture ignored, arch restrictions and qualifiers honoured",
			available: `Package: app
Version: 1
Depends: libarm [arm64], perl:any, libnative:amd64

Package: libarm
Version: 1
Architecture: arm64

Package: perl
Version: 5
Multi-Arch: allowed

Package: libnative
Version: 1
Architecture: all`,
			requests: []string{"app"},
			want: []string{
				"libnative 1 <- app Depends: libnative:amd64",
				"perl 5 <- app Depends: perl:any",
				"app 1 <- requested",
			},
		},
		{
			name: "foreign-architecture package is not available",
			available: `Package: libarm
Version: 1
Architecture: arm64`,
			requests: []string{"libarm"},
			wantErr:  ErrUnsatisfiable,
		},
		{
			name: "highest repository priority wins over highest version",
			available: `Package: pg
Version: 18.1-1
X-Priority: 100

Package: pg
Version: 17.12-1`,
			requests: []string{"pg"},
			want:     []string{"pg 17.12-1 <- requested"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			avail := mkPackages(t, tt.available)
			for _, p := range avail {
				if pr := p.Paragraph.Get("X-Priority"); pr != "" {
					var n int
					fmt.Sscan(pr, &n)
					p.Repository = &Repository{Priority: n}
				}
			}
			u := NewUniverse("amd64", avail)
			set, err := Resolve(u, mkInstalled(t, tt.installed), tt.requests, ResolveOptions{})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("error %q does not contain %q", err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkInstallSet(t, "amd64", mkInstalled(t, tt.installed), set)
			if got := render(set); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
			// Deterministic: the same inputs give the same answer.
			for range 3 {
				again, err := Resolve(NewUniverse("amd64", avail), mkInstalled(t, tt.installed), tt.requests, ResolveOptions{})
				if err != nil || !reflect.DeepEqual(render(again), render(set)) {
					t.Fatalf("second run differs: %v %v", render(again), err)
				}
			}
		})
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		p, s string
		want bool
	}{
		{"17.12*", "17.12-1.pgdg13+1", true},
		{"17.12*", "17.1-1", false},
		{"17.1*", "17.12-1", true}, // apt's glob is textual, like apt
		{"*", "", true},
		{"1.?-1", "1.2-1", true},
		{"1.?-1", "1.22-1", false},
		{"*deb13*", "17.12-0+deb13u1", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false},
		{"1.0", "1.0", true},
	}
	for _, tt := range tests {
		if got := globMatch(tt.p, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.p, tt.s, got, tt.want)
		}
	}
}

// BenchmarkResolve resolves a synthetic universe: 2000 packages in layers,
// each depending on a few in the layer below, with alternatives and
// virtual packages.
func BenchmarkResolve(b *testing.B) {
	var sb strings.Builder
	const layers, width = 20, 100
	for l := 0; l < layers; l++ {
		for i := 0; i < width; i++ {
			fmt.Fprintf(&sb, "Package: p%d-%d\nVersion: 1.%d\nArchitecture: amd64\nProvides: v%d-%d (= 1)\n", l, i, i, l, i%10)
			if l+1 < layers {
				fmt.Fprintf(&sb, "Depends: p%d-%d (>= 1), nothere%d | p%d-%d, v%d-%d (>= 1)\n", l+1, i, i, l+1, (i+1)%width, l+1, (i+3)%10)
			}
			sb.WriteString("\n")
		}
	}
	pkgs := mkPackages(b, sb.String())
	u := NewUniverse("amd64", pkgs)
	b.ReportAllocs()
	for b.Loop() {
		set, err := Resolve(u, nil, []string{"p0-0", "p0-50"}, ResolveOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if len(set.Packages) < layers {
			b.Fatalf("only %d packages", len(set.Packages))
		}
	}
}
