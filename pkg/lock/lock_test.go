package lock

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/assemble"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

func TestReadWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, FileName)
	f, err := Read(p, true)
	if err != nil || len(f.Targets) != 0 {
		t.Fatalf("missing file allowed: %v %+v", err, f)
	}
	if _, err := Read(p, false); err == nil {
		t.Fatal("a missing lock file read without error")
	}
	f.Put(Target{Name: "b"})
	f.Put(Target{Name: "a", Version: "1"})
	f.Put(Target{Name: "a", Version: "2"})
	if err := f.Write(p); err != nil {
		t.Fatal(err)
	}
	g, err := Read(p, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Targets) != 2 || g.Targets[0].Name != "a" || g.Targets[0].Version != "2" {
		t.Errorf("targets %+v: want a (replaced) then b", g.Targets)
	}
	if _, err := g.Target("c"); !errors.Is(err, ErrNotLocked) {
		t.Errorf("unknown target: %v", err)
	}
	for name, body := range map[string]string{
		"not JSON":      "hello",
		"other version": `{"lockVersion": 9, "targets": []}`,
		"unknown field": `{"lockVersion": 1, "targets": [], "extra": 1}`,
	} {
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := Read(p, false); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", name, err)
		}
	}
}

func TestSnapshot(t *testing.T) {
	if _, err := ParseSnapshot("http://snap/pool"); err == nil {
		t.Error("a template without {path} was accepted")
	}
	if _, err := ParseSnapshot("file:///x/{path}"); err == nil {
		t.Error("a file: template was accepted")
	}
	s, err := ParseSnapshot("http://snap.invalid/archive/{suite}/20261101T000000Z/{path}")
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Package(Package{Name: "libpq5", Version: "17.5-1", Arch: "amd64", SHA256: "ab", Size: 3, Filename: "pool/main/p/libpq5.deb", Repository: "http://deb.invalid/debian trixie-security"})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Repository.URI + "/" + p.Filename; got != "http://snap.invalid/archive/trixie-security/20261101T000000Z/pool/main/p/libpq5.deb" {
		t.Errorf("URL %s", got)
	}
	if _, err := s.Package(Package{Name: "x"}); err == nil || !strings.Contains(err.Error(), "no pool path") {
		t.Errorf("a package without pool path: %v", err)
	}
}

func TestDriftError(t *testing.T) {
	e := &DriftError{Target: "t", Drift: []Drift{{Platform: "linux/amd64", What: "libpq5", Arch: "amd64", Locked: "1", Now: "2"}, {Platform: "linux/amd64", What: "gone", Arch: "all", Locked: "3"}}}
	msg := e.Error()
	for _, want := range []string{"2 locked packages moved or vanished", "libpq5:amd64 locked 1, now 2", "gone:all locked 3, now vanished"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if !errors.Is(e, ErrDrift) {
		t.Error("not ErrDrift")
	}
}

// TestCheckComparesContent: a package at its locked version but with
// other bytes (a repository serving another build of that version) is
// drift: --locked builds exactly the locked .debs, by SHA256.
func TestCheckComparesContent(t *testing.T) {
	base := &assemble.Base{Ref: "b", Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("1", 64)}}
	plan := func(sum string) *assemble.TargetPlan {
		pkg := &apt.Package{Name: "libpq5", Version: "17.5-1", Architecture: "amd64", SHA256: sum, Size: 3,
			Filename: "pool/libpq5.deb", Repository: &apt.Repository{URI: "http://m", Suite: "s"}}
		return &assemble.TargetPlan{Target: variants.Target{Name: "t"}, Version: "17.5-1", Platforms: []*assemble.PlatformPlan{{
			Platform: v1.Platform{OS: "linux", Architecture: "amd64"}, Base: base,
			Stages: []assemble.StagePlan{{Name: "minimal", Packages: []apt.Planned{{Package: pkg}}}},
		}}}
	}
	locked := FromPlan(plan(strings.Repeat("a", 64)))
	if err := locked.Check(plan(strings.Repeat("a", 64))); err != nil {
		t.Fatalf("the locked plan itself: %v", err)
	}
	err := locked.Check(plan(strings.Repeat("b", 64)))
	if !errors.Is(err, ErrDrift) || !strings.Contains(err.Error(), "libpq5") || !strings.Contains(err.Error(), strings.Repeat("b", 64)) {
		t.Fatalf("same version, other SHA256: %v; want drift naming libpq5 and the new digest", err)
	}
}
