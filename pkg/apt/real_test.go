package apt

import (
	"bytes"
	"reflect"
	"slices"
	"testing"
)

// TestRealIndex parses the real trixie main amd64 index (downloaded once
// from the host's apt mirror; skipped when that is unreachable) and checks
// the parsers against every stanza, then resolves the standard image's
// packages on a minbase system and checks the result's consistency.
func TestRealIndex(t *testing.T) {
	_, raw := benchData(t)
	var pkgs []*Package
	if err := ParsePackages(bytes.NewReader(raw), func(p *Package) error { pkgs = append(pkgs, p); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 50000 {
		t.Fatalf("only %d packages in the trixie index", len(pkgs))
	}
	for _, p := range pkgs {
		if p.Filename == "" || len(p.SHA256) != 64 || p.Size <= 0 {
			t.Fatalf("%s: incomplete index entry %q %q %d", p.Name, p.Filename, p.SHA256, p.Size)
		}
		if _, err := ParseVersion(p.Version); err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		for _, rs := range []Relations{p.PreDepends, p.Depends, p.Recommends, p.Provides, p.Conflicts, p.Breaks, p.Replaces} {
			again, err := ParseRelations(rs.String())
			if err != nil || !reflect.DeepEqual(again, rs) {
				t.Fatalf("%s: relations %q do not round-trip: %v", p.Name, rs, err)
			}
		}
	}

	u := NewUniverse("amd64", pkgs)
	installed := minbaseStatus(t)
	set, err := Resolve(u, installed, standardRequests, ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, p := range set.Packages {
		names[p.Name] = true
	}
	for _, want := range append(slices.Clone(standardRequests), "libpq5", "postgresql-client-17", "libllvm19") {
		if !names[want] {
			t.Errorf("%s is not in the install set", want)
		}
	}
	for _, p := range installed {
		if names[p.Name] {
			t.Errorf("installed %s %s is listed although minbase is current", p.Name, p.Version)
		}
	}
	checkInstallSet(t, "amd64", installed, set)
}

// checkInstallSet verifies what any answer of Resolve must satisfy: every
// Pre-Depends and Depends of a planned package is met by the final system,
// no Conflicts or Breaks of a planned package hits it, and nothing is
// planned before what it pre-depends on, unless they pre-depend on each
// other (which no order can satisfy).
func checkInstallSet(t *testing.T, arch string, installed []*Package, set *InstallSet) {
	t.Helper()
	final := map[string]*Package{}
	for _, p := range installed {
		final[p.Name] = p
	}
	pos := map[string]int{}
	for i, p := range set.Packages {
		final[p.Name] = p.Package
		pos[p.Name] = i
		if p.Reason == "" {
			t.Errorf("%s has no reason", p.Name)
		}
	}
	meets := func(rel Relation) []*Package {
		var out []*Package
		for _, q := range final {
			if q.Name == rel.Name && Satisfies(q.Version, rel.Op, rel.Version) {
				out = append(out, q)
				continue
			}
			for _, g := range q.Provides {
				for _, pr := range g {
					if pr.Name == rel.Name && (rel.Op == OpNone || pr.Op == OpEQ && Satisfies(pr.Version, rel.Op, rel.Version)) {
						out = append(out, q)
					}
				}
			}
		}
		return out
	}
	// Pre-Depends edges between planned packages, to excuse cycles.
	pre := map[string][]string{}
	for _, p := range set.Packages {
		for _, g := range p.PreDepends {
			for _, a := range g {
				for _, q := range meets(a) {
					if _, ok := pos[q.Name]; ok && q.Name != p.Name {
						pre[p.Name] = append(pre[p.Name], q.Name)
					}
				}
			}
		}
	}
	reaches := func(from, to string) bool {
		seen := map[string]bool{}
		stack := []string{from}
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if n == to {
				return true
			}
			if !seen[n] {
				seen[n] = true
				stack = append(stack, pre[n]...)
			}
		}
		return false
	}
	for _, p := range set.Packages {
		for fi, rs := range []Relations{p.PreDepends, p.Depends} {
			for _, g := range rs {
				ok, applies := false, false
				for _, a := range g {
					if !a.AppliesTo(arch) {
						continue
					}
					applies = true
					for _, q := range meets(a) {
						ok = true
						if i, planned := pos[q.Name]; fi == 0 && planned && i > pos[p.Name] && !reaches(q.Name, p.Name) {
							t.Errorf("%s is planned after %s, which pre-depends on it", q.Name, p.Name)
						}
					}
				}
				if applies && !ok {
					t.Errorf("%s %s: %s is not met", p.Name, p.Version, g)
				}
			}
		}
		for _, rs := range []Relations{p.Conflicts, p.Breaks} {
			for _, g := range rs {
				for _, a := range g {
					for _, q := range meets(a) {
						if q.Name != p.Name && a.AppliesTo(arch) {
							t.Errorf("%s %s conflicts with or breaks %s %s (%s)", p.Name, p.Version, q.Name, q.Version, a)
						}
					}
				}
			}
		}
	}
}
