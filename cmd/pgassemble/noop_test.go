package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pgassemble/pgassemble/internal/debtest"
	"github.com/pgassemble/pgassemble/internal/fixture"
	"github.com/pgassemble/pgassemble/internal/sigstoretest"
	"github.com/pgassemble/pgassemble/pkg/apt/apttest"
	"github.com/pgassemble/pgassemble/pkg/assemble"
)

// TestNoopRebuild: a rebuild with unchanged inputs and published tags
// builds and uploads nothing and reports the published index; a new
// InRelease, a moved tag or --rebuild make it build again.
func TestNoopRebuild(t *testing.T) {
	w := fixture.New(t)
	cache := t.TempDir()
	args := worldArgs(w, cache, "--pg", "17", "--type", "minimal", "--base", "trixie", "--json", "--allow-unhandled-scripts", "--platform", "linux/amd64")
	run := func(extra ...string) assemble.TargetReport {
		t.Helper()
		out, stderr, code := cli(t, append(append([]string{"build"}, args...), extra...)...)
		if code != 0 {
			t.Fatalf("build: exit %d\n%s", code, stderr)
		}
		var reps []assemble.TargetReport
		if err := json.Unmarshal([]byte(out), &reps); err != nil || len(reps) != 1 {
			t.Fatalf("build --json: %v\n%s", err, out)
		}
		return reps[0]
	}
	first := run()
	if first.Unchanged || first.Uploaded == 0 {
		t.Fatalf("first build: %+v", first)
	}
	w.Counter.Reset()
	second := run()
	if !second.Unchanged || second.Index != first.Index {
		t.Fatalf("rebuild with nothing changed: unchanged=%v index %s, want true and %s", second.Unchanged, second.Index, first.Index)
	}
	if n, _ := w.Counter.Total(); n != 0 {
		t.Errorf("the no-op rebuild uploaded %d blobs", n)
	}
	if len(second.Refs) != len(first.Refs) {
		t.Errorf("refs %v, want as many as %v", second.Refs, first.Refs)
	}
	for _, r := range second.Refs {
		ref, _ := name.ParseReference(r, name.Insecure)
		d, err := remote.Head(ref)
		if err != nil || d.Digest.String() != first.Index {
			t.Errorf("%s: %v, %v; want %s", r, d, err, first.Index)
		}
	}

	if forced := run("--rebuild"); forced.Unchanged || forced.Index != first.Index {
		t.Errorf("--rebuild: unchanged=%v index %s, want a build of %s", forced.Unchanged, forced.Index, first.Index)
	}

	// A tag moved elsewhere: built again (and the tag put back).
	stable, _ := name.ParseReference(w.RegHost+"/postgresql-testing:17-minimal-trixie", name.Insecure)
	if err := remote.WriteIndex(stable, empty.Index); err != nil {
		t.Fatal(err)
	}
	if again := run(); again.Unchanged || again.Index != first.Index {
		t.Errorf("after the tag moved: unchanged=%v index %s", again.Unchanged, again.Index)
	}

	// The base's tag moved (here: the same images under an annotated
	// index, so another digest): built again, on the new base.
	baseRef, _ := name.ParseReference(w.BaseRef, name.Insecure)
	baseIdx, err := remote.Index(baseRef)
	if err != nil {
		t.Fatal(err)
	}
	moved := mutate.Annotations(baseIdx, map[string]string{"org.example.rebuilt": "1"}).(v1.ImageIndex)
	if err := remote.WriteIndex(baseRef, moved); err != nil {
		t.Fatal(err)
	}
	if rebased := run(); rebased.Unchanged || rebased.Index == first.Index {
		t.Errorf("after the base moved: unchanged=%v index %s (first %s)", rebased.Unchanged, rebased.Index, first.Index)
	}

	// A new InRelease (a security update): built again, a new image.
	w.Debian.Update("trixie-security", func(c *apttest.Config) {
		for _, a := range fixture.Arches {
			c.Packages["main"] = append(c.Packages["main"], debtest.Deb{Control: debtest.Control("Package", "unrelated-tool", "Version", "1", "Architecture", a, "Description", "x")})
		}
	})
	third := run()
	if third.Unchanged {
		t.Errorf("rebuild after trixie-security changed was skipped")
	}
}

// TestRebuildRecords: --rebuild builds, and records what it published, so
// the next run without it is a no-op (a bake that starts with --rebuild,
// as a scheduled job may, was rebuilt every time after).
func TestRebuildRecords(t *testing.T) {
	w := fixture.New(t)
	cache := t.TempDir()
	args := worldArgs(w, cache, "bake", "postgresql-17-minimal-trixie", "--json", "--allow-unhandled-scripts", "--platform", "linux/amd64")
	run := func(extra ...string) assemble.TargetReport {
		t.Helper()
		out, stderr, code := cli(t, append(slices.Clone(args), extra...)...)
		if code != 0 {
			t.Fatalf("bake: exit %d\n%s", code, stderr)
		}
		var reps []assemble.TargetReport
		if err := json.Unmarshal([]byte(out), &reps); err != nil || len(reps) != 1 {
			t.Fatalf("bake --json: %v\n%s", err, out)
		}
		return reps[0]
	}
	forced := run("--rebuild")
	if forced.Unchanged {
		t.Fatalf("--rebuild skipped the build: %+v", forced)
	}
	if next := run(); !next.Unchanged || next.Index != forced.Index {
		t.Errorf("after --rebuild: unchanged=%v index %s, want a no-op on %s", next.Unchanged, next.Index, forced.Index)
	}
}

// TestNoopKeylessNewToken: keyless signing's identity token is a
// credential, not an input of the image: a rebuild with a new token in
// --oidc-token (a CI job gets one per run) and nothing else changed is a
// no-op, as with the token in $SIGSTORE_ID_TOKEN.
func TestNoopKeylessNewToken(t *testing.T) {
	w := fixture.New(t)
	ss, err := sigstoretest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	cache := t.TempDir()
	run := func(issued time.Time, extra ...string) (assemble.TargetReport, string, int) {
		t.Helper()
		tok, err := ss.Token(sigstoretest.Claims{Email: "ci@example.test", IssuedAt: issued})
		if err != nil {
			t.Fatal(err)
		}
		tokFile := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(tokFile, []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
		out, stderr, code := cli(t, append(append([]string{"build"}, worldArgs(w, cache, "--pg", "17", "--type", "minimal", "--base", "trixie", "--json",
			"--allow-unhandled-scripts", "--platform", "linux/amd64", "--attest", "none",
			"--sign", "keyless", "--oidc-token", tokFile, "--fulcio-url", ss.FulcioURL, "--rekor-url", ss.RekorURL)...), extra...)...)
		if code != 0 {
			return assemble.TargetReport{}, stderr, code
		}
		var reps []assemble.TargetReport
		if err := json.Unmarshal([]byte(out), &reps); err != nil || len(reps) != 1 {
			t.Fatalf("build --json: %v\n%s", err, out)
		}
		return reps[0], stderr, code
	}
	now := time.Now()
	first, stderr, code := run(now.Add(-2 * time.Minute))
	if code != 0 || first.Unchanged {
		t.Fatalf("first build: exit %d, %+v\n%s", code, first, stderr)
	}
	// Fulcio down: a run with nothing to build does not ask it (the
	// signer is made only once a target is to be built) ...
	ss.SetFaults(sigstoretest.Faults{FulcioStatus: 503})
	second, stderr, code := run(now.Add(-time.Minute))
	if code != 0 || !second.Unchanged || second.Index != first.Index {
		t.Errorf("rebuild with only a new token, Fulcio down: exit %d, unchanged=%v index %s, want a no-op on %s\n%s", code, second.Unchanged, second.Index, first.Index, stderr)
	}
	// ... and one that has something to build fails before building it.
	_, stderr, code = run(now.Add(-time.Minute), "--rebuild")
	if code == 0 || !strings.Contains(stderr, ss.FulcioURL) || strings.Contains(stderr, "building ") {
		t.Errorf("--rebuild with Fulcio down: exit %d, want a failure naming %s before any build:\n%s", code, ss.FulcioURL, stderr)
	}
}
