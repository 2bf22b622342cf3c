package main

import (
	"encoding/json"
	"io"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pgassemble/pgassemble/internal/fixture"
	"github.com/pgassemble/pgassemble/pkg/assemble"
)

// TestReproducibleWithLock: two builds from empty caches with the same lock
// and SOURCE_DATE_EPOCH give the same index digest and the same SBOM bytes
// (one SBOM referrer, not two), and provenance statements that differ only
// in their times.
func TestReproducibleWithLock(t *testing.T) {
	w := fixture.New(t)
	t.Setenv("SOURCE_DATE_EPOCH", "1767225600")
	lockFile := filepath.Join(t.TempDir(), "pgassemble.lock")
	common := []string{"--platform", "linux/amd64", "--lock-file", lockFile, "--allow-unhandled-scripts"}
	if _, stderr, code := cli(t, worldArgs(w, t.TempDir(), append([]string{"lock", "postgresql-17-minimal-trixie"}, common...)...)...); code != 0 {
		t.Fatalf("lock: %s", stderr)
	}
	var digests []string
	for i := 0; i < 2; i++ {
		out, stderr, code := cli(t, worldArgs(w, t.TempDir(), append([]string{"--pg", "17", "--type", "minimal", "--base", "trixie", "--locked", "--json", "-q"}, common...)...)...)
		if code != 0 {
			t.Fatalf("build %d: %s", i, stderr)
		}
		var reps []assemble.TargetReport
		json.Unmarshal([]byte(out), &reps)
		digests = append(digests, reps[0].Index)
	}
	if digests[0] != digests[1] {
		t.Fatalf("two locked builds from empty caches: %s and %s", digests[0], digests[1])
	}
	sboms, provs := attestationsOf(t, w, digests[0])
	if sboms != 1 {
		t.Errorf("%d SBOM referrers after two identical builds, want 1 (the same bytes)", sboms)
	}
	if len(provs) != 2 {
		t.Fatalf("%d provenance referrers, want 2 (their times differ)", len(provs))
	}
	for _, st := range provs {
		delete(st["predicate"].(map[string]any)["runDetails"].(map[string]any), "metadata")
	}
	if !reflect.DeepEqual(provs[0], provs[1]) {
		t.Error("the provenance statements differ in more than their times")
	}
}

// attestationsOf reads the referrers of the first platform manifest of the
// index at digest in the fixture registry (through the tag-schema
// fallback): how many SBOMs, and the provenance statements, decoded.
func attestationsOf(t *testing.T, w *fixture.World, digest string) (int, []map[string]any) {
	t.Helper()
	ref, _ := name.ParseReference(w.RegHost+"/postgresql-testing@"+digest, name.Insecure)
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	fb, err := remote.Index(ref.Context().Tag("sha256-" + im.Manifests[0].Digest.Hex))
	if err != nil {
		t.Fatal(err)
	}
	fm, _ := fb.IndexManifest()
	var sboms int
	var provs []map[string]any
	for _, d := range fm.Manifests {
		switch d.ArtifactType {
		case "application/spdx+json":
			sboms++
		case "application/vnd.in-toto+json":
			img, err := remote.Image(ref.Context().Digest(d.Digest.String()))
			if err != nil {
				t.Fatal(err)
			}
			ls, _ := img.Layers()
			rc, _ := ls[0].Compressed()
			body, _ := io.ReadAll(rc)
			var st map[string]any
			if err := json.Unmarshal(body, &st); err != nil {
				t.Fatal(err)
			}
			provs = append(provs, st)
		}
	}
	return sboms, provs
}
