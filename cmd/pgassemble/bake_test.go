package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pgassemble/pgassemble/internal/fixture"
)

// TestBakeHabits: what upstream's BUILD.md teaches works unchanged:
// registry=HOST:PORT, --push, --set '*.platform=...', and --print's JSON.
func TestBakeHabits(t *testing.T) {
	w := fixture.New(t)
	cache := t.TempDir()
	t.Setenv("registry", w.RegHost)
	const tg = "postgresql-17-minimal-trixie"
	_, stderr, code := cli(t, "bake", "--base-image", w.BaseRef, "--cache-dir", cache, "-q", "--allow-unhandled-scripts",
		"--push", "--set", "*.platform=linux/amd64", "--set", "*.cache-from=type=gha", tg)
	if code != 0 {
		t.Fatalf("bake --push: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "cache-from") {
		t.Errorf("an ignored --set key is not reported:\n%s", stderr)
	}
	ref, err := name.ParseReference(w.RegHost+"/postgresql-testing:17-minimal-trixie", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatalf("nothing published where $registry points: %v", err)
	}
	im, _ := idx.IndexManifest()
	if len(im.Manifests) != 1 || im.Manifests[0].Platform.Architecture != "amd64" {
		t.Errorf("published %d manifests (%v), want linux/amd64 alone", len(im.Manifests), im.Manifests)
	}

	out, stderr, code := cli(t, "bake", "--base-image", w.BaseRef, "--cache-dir", cache, "-q", "--print",
		"--set", tg+".platform=linux/arm64", "--set", "*.labels.org.example.team=db", tg, "postgresql-17-standard-trixie")
	if code != 0 {
		t.Fatalf("bake --print: exit %d\n%s", code, stderr)
	}
	var printed struct {
		Group  map[string]struct{ Targets []string }
		Target map[string]struct {
			Target    string
			Tags      []string
			Platforms []string
			Args      map[string]string
			Labels    map[string]string
			Output    []string
		}
	}
	if err := json.Unmarshal([]byte(out), &printed); err != nil {
		t.Fatalf("--print is not JSON: %v\n%s", err, out)
	}
	if got := printed.Group["default"].Targets; len(got) != 2 || got[0] != tg {
		t.Errorf("group default %v", got)
	}
	m := printed.Target[tg]
	if strings.Join(m.Platforms, ",") != "linux/arm64" || m.Target != "minimal" || m.Args["PG_VERSION"] != "17.12" || m.Args["PG_MAJOR"] != "17" {
		t.Errorf("target %+v", m)
	}
	if len(m.Tags) != 3 || m.Tags[0] != w.RegHost+"/postgresql-testing:17-minimal-trixie" || m.Tags[1] != w.RegHost+"/postgresql-testing:17.12-minimal-trixie" {
		t.Errorf("tags %v", m.Tags)
	}
	if m.Labels["org.example.team"] != "db" || m.Labels["org.opencontainers.image.version"] == "" {
		t.Errorf("labels %v", m.Labels)
	}
	out, stderr, code = cli(t, "bake", "--base-image", w.BaseRef, "--cache-dir", cache, "-q", "--print",
		"--set", tg+".tags="+w.RegHost+"/postgresql-testing:mine,also-mine", tg)
	if code != 0 {
		t.Fatalf("bake --print --set tags: exit %d\n%s", code, stderr)
	}
	if err := json.Unmarshal([]byte(out), &printed); err != nil {
		t.Fatal(err)
	}
	if got := printed.Target[tg].Tags; len(got) != 2 || got[0] != w.RegHost+"/postgresql-testing:mine" || got[1] != w.RegHost+"/postgresql-testing:also-mine" {
		t.Errorf("--set tags: printed tags %v", got)
	}
	if len(printed.Target["postgresql-17-standard-trixie"].Platforms) != 2 {
		t.Errorf("a TARGET.platform --set leaked to another target")
	}
}

func TestBakeSetErrors(t *testing.T) {
	for _, tc := range []struct {
		set, msg string
	}{
		{"*.dockerfile=Dockerfile", `unknown key "dockerfile"`},
		{"*.tags=elsewhere.example/postgresql:17", "images go to"},
		{"*.tags=localhost:5000/postgresql-testing", "names no tag"},
		{"*.tags=bad tag!", "not a valid tag"},
		{"*.args.PG_MAJOR=18", "unknown build argument PG_MAJOR"},
		{"postgresql-99-*.platform=linux/amd64", "no target matches"},
		{"platform=linux/amd64", "want TARGET.KEY=VALUE"},
		{"*.platform=amd64", "os/arch"},
	} {
		t.Run(tc.set, func(t *testing.T) {
			_, stderr, code := cli(t, "bake", "--print", "--set", tc.set, "postgresql-17-minimal-trixie")
			if code != 2 || !strings.Contains(stderr, tc.msg) {
				t.Errorf("exit %d, stderr %s; want 2 and %q", code, stderr, tc.msg)
			}
		})
	}
	_, stderr, code := cli(t, "bake", "--push", "--output", "oci:/tmp/x", "postgresql-17-minimal-trixie")
	if code != 2 || !strings.Contains(stderr, "--push") {
		t.Errorf("--push with --output oci: exit %d %s", code, stderr)
	}
}
