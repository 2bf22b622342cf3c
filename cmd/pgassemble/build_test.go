package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pgassemble/pgassemble/internal/fixture"
	"github.com/pgassemble/pgassemble/pkg/assemble"
)

func cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runCLI(t, args...)
}

func worldArgs(w *fixture.World, cache string, extra ...string) []string {
	return append([]string{"--base-image", w.BaseRef, "--registry", w.RegHost, "--cache-dir", cache}, extra...)
}

func TestBuildCommandPublishesAndReportsJSON(t *testing.T) {
	w := fixture.New(t)
	cache := t.TempDir()
	out, stderr, code := cli(t, worldArgs(w, cache, "--pg", "17", "--type", "minimal", "--base", "trixie", "--json", "--allow-unhandled-scripts")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	checkJSONKeys(t, "build", out, "labels", "annotations")
	var reports []assemble.TargetReport
	if err := json.Unmarshal([]byte(out), &reports); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	if len(reports) != 1 {
		t.Fatalf("%d reports, want 1", len(reports))
	}
	r := reports[0]
	if r.Target != "postgresql-17-minimal-trixie" || !strings.HasPrefix(r.Index, "sha256:") || len(r.Platforms) != 2 {
		t.Errorf("report %+v", r)
	}
	wantRef := w.RegHost + "/postgresql-testing:17-minimal-trixie"
	if !slices.Contains(r.Refs, wantRef) {
		t.Errorf("refs %v lack %s", r.Refs, wantRef)
	}
	for _, p := range r.Platforms {
		if !strings.HasPrefix(p.Manifest, "sha256:") || len(p.Layers) < 2 {
			t.Errorf("%s: manifest %q, %d layers", p.Platform, p.Manifest, len(p.Layers))
		}
		found := false
		for _, pk := range p.Packages {
			found = found || pk.Name == "postgresql-17"
		}
		if !found {
			t.Errorf("%s: package list lacks postgresql-17", p.Platform)
		}
	}
	// The tag really points at the reported index.
	ref, _ := name.ParseReference(wantRef, name.Insecure)
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest.String() != r.Index {
		t.Errorf("tag -> %s, report says %s", desc.Digest, r.Index)
	}
	// Plain output (not --json) names what was published.
	_, stderr, code = cli(t, worldArgs(w, cache, "build", "--pg", "17", "--type", "minimal", "--base", "trixie", "--allow-unhandled-scripts", "--rebuild")...)
	if code != 0 || !strings.Contains(stderr, "published postgresql-17-minimal-trixie") || !strings.Contains(stderr, "0 blobs uploaded") {
		t.Errorf("second build: exit %d, want a line saying nothing was uploaded:\n%s", code, stderr)
	}
}

func TestBuildToOCILayoutProduction(t *testing.T) {
	w := fixture.New(t)
	dir := filepath.Join(t.TempDir(), "layout")
	_, stderr, code := cli(t, worldArgs(w, t.TempDir(), "--pg", "17", "--type", "minimal", "--base", "trixie", "--platform", "linux/arm64", "--environment", "production", "--output", "oci:"+dir, "--allow-unhandled-scripts")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	// One entry per tag, plus the SBOM and provenance referrers of the
	// one platform manifest (--attest's default).
	var tagged []v1.Descriptor
	artifacts := map[string]v1.Descriptor{}
	for _, m := range im.Manifests {
		if m.ArtifactType != "" {
			artifacts[m.ArtifactType] = m
		} else {
			tagged = append(tagged, m)
		}
	}
	if len(tagged) != 3 || len(artifacts) != 2 {
		t.Fatalf("index.json has %d tagged entries (want 3, one per tag) and referrers %v (want SBOM and provenance)", len(tagged), artifacts)
	}
	child, err := idx.ImageIndex(tagged[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cm, _ := child.IndexManifest()
	if len(cm.Manifests) != 1 || cm.Manifests[0].Platform.Architecture != "arm64" {
		t.Fatalf("--platform linux/arm64 gave %+v", cm.Manifests)
	}
	for _, at := range []string{"application/spdx+json", "application/vnd.in-toto+json"} {
		ref, err := idx.Image(artifacts[at].Digest)
		if err != nil {
			t.Fatalf("%s referrer: %v", at, err)
		}
		m, _ := ref.Manifest()
		if m.Subject == nil || m.Subject.Digest != cm.Manifests[0].Digest {
			t.Errorf("%s referrer's subject %+v is not the platform manifest", at, m.Subject)
		}
	}
}

func TestExitCodes(t *testing.T) {
	w := fixture.New(t)
	cache := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unknown type", []string{"--pg", "17", "--type", "tiny", "--base", "trixie"}, 2, `unknown image type "tiny"`},
		{"unknown base", []string{"--pg", "17", "--type", "minimal", "--base", "buster"}, 2, "buster"},
		{"unknown version", []string{"--pg", "9", "--type", "minimal", "--base", "trixie"}, 2, `"9"`},
		{"missing flags", []string{"--pg", "17"}, 2, "missing --type, --base"},
		{"bad platform", []string{"--pg", "17", "--type", "minimal", "--base", "trixie", "--platform", "amd64"}, 2, "--platform"},
		{"bad output", []string{"--pg", "17", "--type", "minimal", "--base", "trixie", "--output", "tarball"}, 2, "--output"},
		{"unknown flag", []string{"--frobnicate"}, 2, "unknown flag"},
		{"stray argument", []string{"17"}, 2, "unknown command"},
		{"bake unknown target", []string{"bake", "postgresql-17-huge-trixie"}, 2, "huge"},
		{"bad compression", []string{"--pg", "17", "--type", "minimal", "--base", "trixie", "--compression", "lz4"}, 2, "--compression"},
		{"version not in repositories", []string{"--pg", "17.99", "--type", "minimal", "--base", "trixie"}, 1, "PostgreSQL 17.99 is not in the repositories"},
		{"base lacks platform", []string{"--pg", "17", "--type", "minimal", "--base", "trixie", "--platform", "linux/s390x"}, 1, "has no linux/s390x"},
		{"unreachable registry", []string{"--pg", "17", "--type", "minimal", "--base", "trixie", "--registry", "127.0.0.1:1", "--allow-unhandled-scripts"}, 1, "127.0.0.1:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Later flags win, so a case may override the world's registry.
			args := append([]string{"--base-image", w.BaseRef, "--registry", w.RegHost, "--cache-dir", cache, "-q"}, tc.args...)
			_, stderr, code := cli(t, args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr, tc.code, tc.msg)
			}
		})
	}
}

func TestTargetsAndBakeShareEverything(t *testing.T) {
	out, _, code := cli(t, "targets", "--json")
	var rows []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 36 {
		t.Fatalf("targets --json: exit %d, %d rows", code, len(rows))
	}
	w := fixture.New(t)
	cache := t.TempDir()
	_, stderr, code := cli(t, worldArgs(w, cache, "bake", "postgresql-17-minimal-trixie", "postgresql-17-standard-trixie", "--allow-unhandled-scripts", "-q")...)
	if code != 0 {
		t.Fatalf("bake: exit %d\n%s", code, stderr)
	}
	hits := map[string]int{}
	for _, r := range append(w.Debian.Requests(), w.PGDG.Requests()...) {
		if strings.HasSuffix(r, ".deb") {
			hits[r]++
		}
	}
	if len(hits) == 0 {
		t.Fatal("bake fetched no .deb")
	}
	for r, n := range hits {
		if n != 1 {
			t.Errorf("%s fetched %d times in one bake, want 1", r, n)
		}
	}
	if n, maxPer := w.Counter.Total(); n == 0 || maxPer != 1 {
		t.Errorf("bake uploaded %d blobs, one of them %d times; want each distinct blob once", n, maxPer)
	}
}

func TestPlanAndExplain(t *testing.T) {
	w := fixture.New(t)
	cache := t.TempDir()
	out, stderr, code := cli(t, worldArgs(w, cache, "plan", "--pg", "17", "--type", "standard", "--base", "trixie", "--json", "-q")...)
	if code != 0 {
		t.Fatalf("plan: exit %d\n%s", code, stderr)
	}
	var plan struct {
		Target, Version string
		Platforms       []struct {
			Platform, BaseDigest string
			Stages               []struct {
				Name     string
				Packages []struct{ Name, Version string }
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("plan --json: %v\n%s", err, out)
	}
	checkJSONKeys(t, "plan", out)
	if plan.Version != "17.12-1.pgdg13+1" || len(plan.Platforms) != 2 || len(plan.Platforms[0].Stages) != 2 {
		t.Fatalf("plan: %+v", plan)
	}
	if st := plan.Platforms[0].Stages[1]; st.Name != "standard" || len(st.Packages) != 4 {
		t.Errorf("standard stage adds %+v, want the 4 standard packages", st)
	}
	// plan fetches indexes, and only the .debs that may carry the PGDG key.
	for _, r := range append(w.Debian.Requests(), w.PGDG.Requests()...) {
		if strings.HasSuffix(r, ".deb") && !strings.Contains(r, "/postgresql-common_") && !strings.Contains(r, "/postgresql-client-common_") {
			t.Errorf("plan downloaded %s", r)
		}
	}

	out, stderr, code = cli(t, worldArgs(w, cache, "explain", "--pg", "17", "--type", "minimal", "--base", "trixie", "-q", "ca-certificates")...)
	if code != 0 {
		t.Fatalf("explain: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(out, "ca-certificates") || !strings.Contains(out, "update-ca-certificates") || !strings.Contains(out, "postinst") {
		t.Errorf("explain ca-certificates:\n%s", out)
	}
	if strings.Contains(out, "postgresql-common") {
		t.Errorf("explain with a PACKAGE argument shows other packages:\n%s", out)
	}
}
