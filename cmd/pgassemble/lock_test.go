package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pgassemble/pgassemble/internal/digest"
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
		return minimalBuild(t, w, slices.Concat(common, extra)...)
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
	// and of the InRelease of that package's repository only: the snapshot
	// is Debian's archive as it was when locked, which --snapshot checks,
	// and, like real snapshot services, it has no PGDG repository.
	var movedRepo []lock.Repository
	for _, r := range p.Repositories {
		if r.URI+" "+r.Suite == moved.Repository {
			movedRepo = append(movedRepo, r)
		}
	}
	snapshotReleases(t, w, movedRepo, snapDir)
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
	// A snapshot taken after the move: the old .deb, but the new InRelease.
	lateDir := t.TempDir()
	os.MkdirAll(filepath.Join(lateDir, filepath.Dir(moved.Filename)), 0o755)
	os.WriteFile(filepath.Join(lateDir, moved.Filename), data, 0o644)
	snapshotReleases(t, w, movedRepo, lateDir)
	late := httptest.NewServer(http.StripPrefix("/archive/20261101T000000Z", http.FileServer(http.Dir(lateDir))))
	defer late.Close()
	_, stderr, code = build("--locked", "--snapshot", late.URL+"/archive/20261101T000000Z/{path}")
	if code == 0 || !strings.Contains(stderr, "the snapshot mirror does not serve the locked release file") ||
		!strings.Contains(stderr, moved.Repository+" ("+late.URL) {
		t.Errorf("--locked --snapshot of a later date: exit %d, want the error naming %s:\n%s", code, moved.Repository, stderr)
	}

	again, stderr, code := build("--locked", "--snapshot", snap.URL+"/archive/20261101T000000Z/{path}", "--attest", "provenance")
	if code != 0 {
		t.Fatalf("build --locked --snapshot: exit %d\n%s", code, stderr)
	}
	if again != locked {
		t.Errorf("rebuild from the snapshot gave %s, the locked build %s", again, locked)
	}
	// Its provenance names the .deb fetched from the snapshot and the
	// snapshot's InRelease that vouched for it, beside the live archive's.
	_, provs := attestationsOf(t, w, again)
	if len(provs) != 1 {
		t.Fatalf("%d provenance statements, want 1", len(provs))
	}
	deps, _ := json.Marshal(provs[0]["predicate"].(map[string]any)["buildDefinition"].(map[string]any)["resolvedDependencies"])
	for _, want := range []string{snap.URL + "/archive/20261101T000000Z/" + moved.Filename, snap.URL + "/archive/20261101T000000Z/dists/trixie/InRelease"} {
		if !strings.Contains(string(deps), want) {
			t.Errorf("the provenance's resolvedDependencies lack %s:\n%s", want, deps)
		}
	}
	t.Logf("locked %s, moved %s %s -> %s, rebuilt %s, snapshot asked %d times", locked, moved.Name, moved.Version, newVersion, again, snapHits)
	if snapHits == 0 {
		t.Error("the snapshot mirror was not asked")
	}
}

// snapshotReleases copies the current InRelease of each repository (a
// fixture repository, by URI) under dir/dists/SUITE/, as a snapshot mirror
// taken now would serve it.
func snapshotReleases(t *testing.T, w *fixture.World, repos []lock.Repository, dir string) {
	t.Helper()
	roots := map[string]string{w.Debian.URL: w.Debian.Dir, w.PGDG.URL: w.PGDG.Dir}
	for _, r := range repos {
		root, ok := roots[r.URI]
		if !ok {
			t.Fatalf("locked repository %s is not a fixture repository", r.URI)
		}
		data, err := os.ReadFile(filepath.Join(root, "dists", r.Suite, "InRelease"))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(dir, "dists", r.Suite), 0o755)
		if err := os.WriteFile(filepath.Join(dir, "dists", r.Suite, "InRelease"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLockedReleaseDrift: the archive republishes its index (a new
// InRelease, the same packages). A --locked build from the live archive
// reports the repository whose InRelease moved, with both digests, and
// builds the locked digest; with a snapshot mirror it builds the same
// digest without asking the snapshot anything (TestLockedBuild shows a
// snapshot of the wrong date refused once a package has to come from it).
func TestLockedReleaseDrift(t *testing.T) {
	w := fixture.New(t)
	dir := t.TempDir()
	lockFile := filepath.Join(dir, "pgassemble.lock")
	target := "postgresql-17-minimal-trixie"
	common := []string{"--platform", "linux/amd64", "--lock-file", lockFile, "--allow-unhandled-scripts"}
	if _, stderr, code := cli(t, worldArgs(w, t.TempDir(), append([]string{"lock", target}, common...)...)...); code != 0 {
		t.Fatalf("lock: exit %d\n%s", code, stderr)
	}
	lf, err := lock.Read(lockFile, false)
	if err != nil {
		t.Fatal(err)
	}
	lt, _ := lf.Target(target)
	var locked string
	for _, r := range lt.Platforms[0].Repositories {
		if r.URI == w.Debian.URL && r.Suite == "trixie" {
			locked = r.InReleaseSHA256
		}
	}
	if locked == "" {
		t.Fatalf("Debian's trixie is not in the lock: %+v", lt.Platforms[0].Repositories)
	}
	build := func(extra ...string) (string, string, int) {
		return minimalBuild(t, w, slices.Concat(common, extra)...)
	}
	before, stderr, code := build("--locked")
	if code != 0 {
		t.Fatalf("build --locked: exit %d\n%s", code, stderr)
	}
	if strings.Contains(stderr, "release file moved") {
		t.Errorf("drift reported on the archive as locked:\n%s", stderr)
	}

	w.Debian.Update("trixie", func(*apttest.Config) {}) // republished: a later Date, the same packages
	now, err := digest.FileSHA256(filepath.Join(w.Debian.Dir, "dists/trixie/InRelease"))
	if err != nil {
		t.Fatal(err)
	}
	if now == locked {
		t.Fatal("republishing did not change the InRelease")
	}
	after, stderr, code := build("--locked")
	if code != 0 {
		t.Fatalf("build --locked after the republish: exit %d\n%s", code, stderr)
	}
	line := "note: " + target + ": release file moved since the lock: " + w.Debian.URL + " trixie (" + w.Debian.URL + "/dists/trixie/InRelease): locked sha256:" + locked + ", now sha256:" + now
	if strings.Count(stderr, "release file moved") != 1 || !strings.Contains(stderr, line) {
		t.Errorf("want one report line\n%s\nin:\n%s", line, stderr)
	}
	if after != before {
		t.Errorf("the same packages under a new InRelease built %s, the locked build %s", after, before)
	}

	// Nothing drifted but the InRelease: a --snapshot build takes every
	// package from the live archive and asks the snapshot nothing, so a
	// snapshot that does not even serve these repositories is no error.
	var snapHits int
	snap := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		snapHits++
		http.NotFound(rw, r)
	}))
	defer snap.Close()
	again, stderr, code := build("--locked", "--snapshot", snap.URL+"/archive/20261101T000000Z/{path}")
	if code != 0 {
		t.Fatalf("build --locked --snapshot with no package moved: exit %d\n%s", code, stderr)
	}
	if again != before || snapHits != 0 {
		t.Errorf("no package moved: built %s (locked %s), the snapshot asked %d times, want 0", again, before, snapHits)
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

// minimalBuild builds 17-minimal-trixie from the fixture world with a
// fresh cache and no attestations, and returns the index digest, the
// output and the exit code.
func minimalBuild(t *testing.T, w *fixture.World, extra ...string) (string, string, int) {
	t.Helper()
	args := append([]string{"--pg", "17", "--type", "minimal", "--base", "trixie", "--json", "--attest", "none"}, extra...)
	out, stderr, code := cli(t, worldArgs(w, t.TempDir(), args...)...)
	if code != 0 {
		return "", stderr, code
	}
	var reps []assemble.TargetReport
	if err := json.Unmarshal([]byte(out), &reps); err != nil {
		t.Fatal(err)
	}
	return reps[0].Index, stderr, 0
}
