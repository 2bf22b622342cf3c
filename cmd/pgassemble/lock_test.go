package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgassemble/pgassemble/internal/fixture"
	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/apt/apttest"
	"github.com/pgassemble/pgassemble/pkg/assemble"
	"github.com/pgassemble/pgassemble/pkg/lock"
)

// TestLockedBuild: lock, then build --locked (same digest as unlocked);
// the archive replaces a locked package with a newer version (the old one
// vanishes) → --locked fails naming it; with a snapshot mirror serving the
// old .deb, --locked rebuilds the old digest.
func TestLockedBuild(t *testing.T) {
	w := fixture.New(t)
	dir := t.TempDir()
	lockFile := filepath.Join(dir, "pgassemble.lock")
	target := "postgresql-17-minimal-trixie"
	common := []string{"--platform", "linux/amd64", "--lock-file", lockFile, "--allow-unhandled-scripts"}

	_, stderr, code := cli(t, worldArgs(w, t.TempDir(), append([]string{"lock", target}, common...)...)...)
	if code != 0 {
		t.Fatalf("lock: exit %d\n%s", code, stderr)
	}
	lf, err := lock.Read(lockFile, false)
	if err != nil {
		t.Fatal(err)
	}
	lt, err := lf.Target(target)
	if err != nil {
		t.Fatal(err)
	}
	p := lt.Platforms[0]
	if p.Platform != "linux/amd64" || !strings.HasPrefix(p.Base.Digest, "sha256:") || len(p.Repositories) == 0 || p.Repositories[0].InReleaseSHA256 == "" {
		t.Fatalf("locked platform %+v", p)
	}
	// The package to move: one from the Debian repository, built for amd64.
	var moved lock.Package
	for _, st := range p.Stages {
		for _, pk := range st.Packages {
			if moved.Name == "" && pk.Arch == "amd64" && strings.HasPrefix(pk.Repository, w.Debian.URL+" trixie") && pk.SHA256 != "" {
				moved = pk
			}
		}
	}
	if moved.Name == "" {
		t.Fatalf("no amd64 package from Debian's trixie in the lock:\n%+v", p.Stages)
	}
	// Stable: locking again gives the same bytes.
	first, _ := os.ReadFile(lockFile)
	if _, stderr, code := cli(t, worldArgs(w, t.TempDir(), append([]string{"lock", target}, common...)...)...); code != 0 {
		t.Fatalf("lock again: %s", stderr)
	}
	if again, _ := os.ReadFile(lockFile); string(again) != string(first) {
		t.Error("locking the same archive twice gave different files")
	}

	build := func(extra ...string) (string, string, int) {
		args := append([]string{"--pg", "17", "--type", "minimal", "--base", "trixie", "--json", "--attest", "none"}, common...)
		out, stderr, code := cli(t, worldArgs(w, t.TempDir(), append(args, extra...)...)...)
		if code != 0 {
			return "", stderr, code
		}
		var reps []assemble.TargetReport
		if err := json.Unmarshal([]byte(out), &reps); err != nil {
			t.Fatal(err)
		}
		return reps[0].Index, stderr, 0
	}
	locked, stderr, code := build("--locked")
	if code != 0 {
		t.Fatalf("build --locked: exit %d\n%s", code, stderr)
	}

	// A snapshot of the old .deb, then the archive replaces it.
	snapDir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(w.Debian.Dir, moved.Filename))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(snapDir, filepath.Dir(moved.Filename)), 0o755)
	os.WriteFile(filepath.Join(snapDir, moved.Filename), data, 0o644)
	var snapHits int
	snap := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		snapHits++
		http.StripPrefix("/archive/20261101T000000Z", http.FileServer(http.Dir(snapDir))).ServeHTTP(rw, r)
	}))
	defer snap.Close()
	newVersion := moved.Version + "+deb13u1"
	w.Debian.Update("trixie", func(c *apttest.Config) {
		for i, d := range c.Packages["main"] {
			if d.Name() == moved.Name && d.Control.Get("Architecture") == moved.Arch {
				ctl := append(apt.Paragraph(nil), d.Control...)
				ctl.Set("Version", newVersion)
				c.Packages["main"][i].Control = ctl
			}
		}
	})

	_, stderr, code = build("--locked")
	if code == 0 {
		t.Fatal("build --locked succeeded after the archive moved")
	}
	t.Logf("--locked after the move: %s", stderr)
	if !strings.Contains(stderr, moved.Name+":amd64 locked "+moved.Version+", now "+newVersion) {
		t.Errorf("the error does not name %s and both versions:\n%s", moved.Name, stderr)
	}
	// Without --locked the build takes the new version.
	if _, stderr, code := build(); code != 0 {
		t.Fatalf("unlocked build: %s", stderr)
	}
	again, stderr, code := build("--locked", "--snapshot", snap.URL+"/archive/20261101T000000Z/{path}")
	if code != 0 {
		t.Fatalf("build --locked --snapshot: exit %d\n%s", code, stderr)
	}
	if again != locked {
		t.Errorf("rebuild from the snapshot gave %s, the locked build %s", again, locked)
	}
	t.Logf("locked %s, moved %s %s -> %s, rebuilt %s, snapshot asked %d times", locked, moved.Name, moved.Version, newVersion, again, snapHits)
	if snapHits == 0 {
		t.Error("the snapshot mirror was not asked")
	}
}

func TestLockUsage(t *testing.T) {
	w := fixture.New(t)
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--snapshot", "http://x/{path}"}, 2, "--snapshot needs --locked"},
		{[]string{"--locked", "--snapshot", "http://x/pool"}, 2, "must end with {path}"},
		{[]string{"--locked", "--lock-file", filepath.Join(t.TempDir(), "none.lock")}, 1, "no such file"},
	} {
		args := append(worldArgs(w, t.TempDir(), "--pg", "17", "--type", "minimal", "--base", "trixie", "-q"), tc.args...)
		_, stderr, code := cli(t, args...)
		if code != tc.code || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%v: exit %d\n%s\nwant %d and %q", tc.args, code, stderr, tc.code, tc.msg)
		}
	}
}
