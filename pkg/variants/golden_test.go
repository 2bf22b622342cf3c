package variants

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// goldenBuilt and goldenVersion fix what the tags depend on.
var goldenBuilt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))

func goldenVersion(v Version) string {
	if v.Pin != "" {
		return v.Pin + "-1.pgdg130+1"
	}
	return fmt.Sprintf("%d.99-1.pgdg130+1", v.Major)
}

// render writes a target in a stable, reviewable form. base.name is left
// out of the labels: its value names a registry host the repository must
// not contain; TestBaseName covers it.
func render(b *strings.Builder, t Target, withLabels bool) {
	fmt.Fprintf(b, "%s\n", t.Name)
	fmt.Fprintf(b, "  version: %s preview=%v\n", t.Version, t.Version.Preview())
	fmt.Fprintf(b, "  base: %s\n", t.Base.Reference())
	fmt.Fprintf(b, "  platforms: %s\n", strings.Join(t.Platforms, " "))
	for _, p := range t.Pins {
		fmt.Fprintf(b, "  pin: %s\n", p.Glob())
	}
	for _, s := range t.Stages {
		fmt.Fprintf(b, "  stage %s: %s\n", s.Name, strings.Join(s.Packages, " "))
	}
	fmt.Fprintf(b, "  pgdg: %s %s\n", t.PGDGSuite(), strings.Join(t.PGDGComponents(), " "))
	for _, r := range t.Repositories {
		fmt.Fprintf(b, "  repository %s: %s %s %s keyring=%s\n", r.Name, r.URI, r.Suite, strings.Join(r.Components, " "), r.Keyring)
	}
	fmt.Fprintf(b, "  user: %s\n", t.User)
	fmt.Fprintf(b, "  env: %s\n", strings.Join(t.EnvFrom([]string{"PATH=" + DefaultPath}), " "))
	for _, ref := range t.References(DefaultRegistry, Testing, goldenVersion(t.Version), goldenBuilt) {
		fmt.Fprintf(b, "  tag: %s\n", ref)
	}
	if !withLabels {
		return
	}
	labels := t.Labels(Facts{Created: goldenBuilt, Version: goldenVersion(t.Version), Revision: "0123abc", BaseDigest: "sha256:" + strings.Repeat("ab", 32)})
	keys := make([]string, 0, len(labels))
	for k := range labels {
		if k != specs.AnnotationBaseImageName {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(b, "  label %s=%s\n", k, labels[k])
	}
}

func checkGolden(t *testing.T, file, got string) {
	t.Helper()
	path := filepath.Join("testdata", file)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs at line %d:\n got: %s\nwant: %s\n(run go test -update if the change is intended)", path, i+1, g, w)
			}
		}
	}
}

func TestGoldenDefaultMatrix(t *testing.T) {
	targets, err := Default().Targets(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 6*3*2 {
		t.Fatalf("default matrix has %d targets, want 36 (6 versions x 3 types x 2 bases)", len(targets))
	}
	var names, full strings.Builder
	for _, tg := range targets {
		names.WriteString(tg.Name + "\n")
		render(&full, tg, false)
	}
	checkGolden(t, "targets.golden", names.String())
	checkGolden(t, "matrix.golden", full.String())
}

const goldenConfig = `
versions: ["13", "17.12", "20~beta1"]
bases:
  - {codename: bullseye, image: debian:bullseye-slim}
  - {codename: trixie, digest: "sha256:1111111111111111111111111111111111111111111111111111111111111111"}
types:
  - {name: postgis, parent: standard, packages: ["postgresql-{{MM}}-postgis-3"]}
  - name: standard
    addPackages: ["postgresql-{{MM}}-cron", {name: "postgresql-{{MM}}-repack", minMajor: 15, extension: true}]
packages: [less]
repositories:
  - {name: internal, uri: "http://mirror.example/internal", suite: "{{codename}}-internal", components: [main], keyring: /etc/keys/internal.gpg}
labels:
  org.opencontainers.image.vendor: Example
  com.example.team: dba
platforms: [linux/amd64]
`

func TestGoldenConfigMatrix(t *testing.T) {
	cfg, err := LoadConfig(strings.NewReader(goldenConfig))
	if err != nil {
		t.Fatal(err)
	}
	c := Default()
	if err := c.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	targets, err := c.Targets(Filter{Versions: []string{"13", "17", "18", "19~beta3", "20"}, Types: []string{"standard", "system", "postgis"}, Bases: []string{"trixie", "bullseye"}})
	if err != nil {
		t.Fatal(err)
	}
	var full strings.Builder
	for _, tg := range targets {
		render(&full, tg, true)
	}
	checkGolden(t, "config.golden", full.String())
}
