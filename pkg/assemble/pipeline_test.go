package assemble

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pgassemble/pgassemble/internal/fixture"
	"github.com/pgassemble/pgassemble/pkg/layer"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

// TestPipelineOnADirectory runs the pipeline as the fidelity suite does:
// on a directory holding an unpacked base (not a pulled image), with the
// root's own apt sources, then applies the layers onto it.
func TestPipelineOnADirectory(t *testing.T) {
	f := fixture.New(t)
	ctx := context.Background()
	cache := t.TempDir()
	b := builder(f, t, cache, func(o *Options) { o.PGSource = variants.PGSourceDebian; o.AllowUnhandled = true; o.Epoch = built })
	platform, err := PlatformOf("arm64")
	if err != nil {
		t.Fatal(err)
	}
	bases, err := b.opts.Bases.Pull(ctx, f.BaseRef, []v1.Platform{platform})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ls, err := bases[0].Image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if err := layer.ApplyToDir(ctx, l, dir); err != nil {
			t.Fatal(err)
		}
	}
	tg := target(t, "17", "minimal")
	pp, err := b.PlanRoot(ctx, tg, Root{FS: os.DirFS(dir), Platform: platform, Name: dir})
	if err != nil {
		t.Fatal(err)
	}
	if pp.Arch != "arm64" || pp.Base != nil || len(pp.Stages) != 1 {
		t.Fatalf("plan: arch %s, base %v, %d stages", pp.Arch, pp.Base, len(pp.Stages))
	}
	if v := pp.version("postgresql-17"); v != "17.5-1" {
		t.Errorf("postgresql-17 %q, want Debian's 17.5-1 (--pg-source debian)", v)
	}
	rb, err := b.BuildRoot(ctx, tg, pp)
	if err != nil {
		t.Fatal(err)
	}
	if len(rb.Debs) != len(pp.Planned()) || len(rb.Layers) != 2 || rb.Layers[1].Stage != "state" {
		t.Fatalf("%d debs for %d packages, layers %+v", len(rb.Debs), len(pp.Planned()), rb.Layers)
	}
	if len(rb.Scripts) == 0 {
		t.Error("no maintainer-script report")
	}
	if err := rb.ApplyTo(ctx, dir); err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile(filepath.Join(dir, "var/lib/dpkg/status"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "Package: postgresql-17\nStatus: install ok installed") {
		t.Errorf("the applied root's dpkg status lacks postgresql-17")
	}
	// Build's path (a pulled base) gives the same layers: one pipeline. The
	// epoch is fixed because a directory has no image creation time to
	// derive the clamps from.
	one, err := tg.WithPlatforms([]string{"linux/arm64"})
	if err != nil {
		t.Fatal(err)
	}
	tp, err := b.Plan(ctx, one)
	if err != nil {
		t.Fatal(err)
	}
	rb2, err := b.BuildRoot(ctx, tg, tp.Platforms[0])
	if err != nil {
		t.Fatal(err)
	}
	for i := range rb.Layers {
		d1, _ := rb.Layers[i].Layer.Digest()
		d2, _ := rb2.Layers[i].Layer.Digest()
		if d1 != d2 {
			t.Errorf("layer %s: %s on the directory, %s on the pulled base", rb.Layers[i].Stage, d1, d2)
		}
	}
}

func TestQuery(t *testing.T) {
	f := fixture.New(t)
	ctx := context.Background()
	b := builder(f, t, t.TempDir())
	q := Query{Root: os.DirFS("/nonexistent"), Sources: []string{f.Debian.SourceLine()}, Keyrings: []string{f.Debian.KeyringFile}, Arch: "amd64", Packages: []string{"postgresql-17"}}
	set, err := b.Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if set.Packages[len(set.Packages)-1].Name != "postgresql-17" {
		t.Errorf("install order ends with %s", set.Packages[len(set.Packages)-1].Name)
	}
	paths, err := b.Fetch(ctx, set.Packages)
	if err != nil || len(paths) != len(set.Packages) {
		t.Fatalf("fetch: %d paths, %v", len(paths), err)
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
	q.Sources = []string{"mirror.example/debian trixie main"}
	if _, err := b.Query(ctx, q); !errors.Is(err, ErrBadSource) {
		t.Errorf("bad source: %v, want ErrBadSource", err)
	}
	q.Sources = nil
	q.Keyrings = nil
	q.Root = os.DirFS(t.TempDir())
	if _, err := b.Query(ctx, q); !errors.Is(err, ErrNoSources) {
		t.Errorf("root without sources: %v, want ErrNoSources", err)
	}
}

func TestArchMapping(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64", "armhf", "armel", "i386", "ppc64el", "riscv64", "s390x"} {
		p, err := PlatformOf(arch)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DebianArch(p)
		if err != nil || back != arch {
			t.Errorf("%s -> %s -> %s, %v", arch, p.String(), back, err)
		}
	}
	if a, err := DebianArch(v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}); err != nil || a != "arm64" {
		t.Errorf("linux/arm64/v8: %s %v", a, err)
	}
	if _, err := PlatformOf("hurd-i386"); err == nil {
		t.Error("hurd-i386 has an OCI platform?")
	}
	for _, s := range []string{"amd64", "linux", "linux/amd64/v2/x", ""} {
		if _, err := ParsePlatform(s); err == nil {
			t.Errorf("ParsePlatform(%q) accepted", s)
		}
	}
	if p, err := ParsePlatform("linux/arm/v7"); err != nil || p.Variant != "v7" {
		t.Errorf("linux/arm/v7: %+v %v", p, err)
	}
}

func TestRootExcluded(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc/dpkg/dpkg.cfg.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := "path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\n"
	if err := os.WriteFile(filepath.Join(dir, "etc/dpkg/dpkg.cfg.d/docker"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	excluded, err := Root{FS: os.DirFS(dir), Name: dir}.Excluded()
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{
		"/usr/share/doc/libpq5/changelog.gz": true,
		"/usr/share/doc/libpq5/copyright":    false,
		"/usr/lib/postgresql/17/bin/psql":    false,
	} {
		if got := excluded(p); got != want {
			t.Errorf("%s: excluded %v, want %v", p, got, want)
		}
	}
}
