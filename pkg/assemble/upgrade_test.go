package assemble

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/pgassemble/pgassemble/internal/debtest"
	"github.com/pgassemble/pgassemble/internal/fixture"
	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/apt/apttest"
)

// upgrading turns Options.Upgrade on.
func upgrading(o *Options) { o.Upgrade = true }

// publishSecurity puts a libc6 security update and a base-files the
// upgrade must keep back (it needs a package the base does not have) in
// trixie-security.
func publishSecurity(f *fixture.World) {
	f.Debian.Update("trixie-security", func(c *apttest.Config) {
		for _, a := range fixture.Arches {
			c.Packages["main"] = append(c.Packages["main"],
				debtest.Deb{Control: debtest.Control("Package", "libc6", "Version", "2.41-12+deb13u1", "Architecture", a, "Multi-Arch", "same", "Priority", "optional", "Section", "libs", "Description", "libc"),
					Files: []debtest.File{{Path: "/usr/lib/" + a + "-linux-gnu/libc.so.6", Body: "fixed libc " + a}}},
				debtest.Deb{Control: debtest.Control("Package", "base-files", "Version", "13.8+deb13u1", "Architecture", a, "Essential", "yes", "Depends", "base-files-data", "Description", "base")})
		}
	})
}

// TestUpgradeStage: the base's packages with newer candidates are upgraded
// first, in a stage every type shares; what apt-get upgrade keeps back is
// reported with the reason; upgrades keep the base's auto marks;
// without Options.Upgrade the base stays as it is and plan says so.
func TestUpgradeStage(t *testing.T) {
	f := fixture.New(t)
	ctx := context.Background()
	publishSecurity(f)
	cache := t.TempDir()
	b := builder(f, t, cache, upgrading)
	min, err := b.Build(ctx, target(t, "17", "minimal"))
	if err != nil {
		t.Fatal(err)
	}
	std, err := b.Build(ctx, target(t, "17", "standard"))
	if err != nil {
		t.Fatal(err)
	}
	for _, pp := range min.Plan.Platforms {
		if len(pp.Stages) == 0 || pp.Stages[0].Name != UpgradeStage {
			t.Fatalf("%s: first stage %v, want %s", pp.Platform, pp.Stages, UpgradeStage)
		}
		var up []string
		for _, p := range pp.Stages[0].Packages {
			up = append(up, p.Name+" "+p.Upgrade.Version+" -> "+p.Version)
		}
		if !slices.Equal(up, []string{"libc6 2.41-12 -> 2.41-12+deb13u1"}) {
			t.Errorf("%s: upgrade stage %v", pp.Platform, up)
		}
		if len(pp.Upgrade.Kept) != 1 || pp.Upgrade.Kept[0].Installed.Name != "base-files" || !strings.Contains(pp.Upgrade.Kept[0].Reason, "base-files-data is not installed") {
			t.Errorf("%s: kept back %+v", pp.Platform, pp.Upgrade.Kept)
		}
	}
	for _, arch := range fixture.Arches {
		ml, sl := layerDigests(t, min.Index, arch), layerDigests(t, std.Index, arch)
		if !slices.Equal(ml[:len(ml)-1], sl[:len(ml)-1]) {
			t.Errorf("%s: standard does not share minimal's base, upgrade and minimal layers", arch)
		}
	}
	im, _ := min.Index.IndexManifest()
	img, _ := min.Index.Image(im.Manifests[0].Digest)
	files := flatten(t, img)
	st, err := apt.ParseStatus(strings.NewReader(files["var/lib/dpkg/status"]))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st {
		if p.Name == "libc6" && p.Version != "2.41-12+deb13u1" {
			t.Errorf("image status has libc6 %s", p.Version)
		}
	}
	if strings.Contains(files["var/lib/apt/extended_states"], "Package: libc6\n") {
		t.Errorf("the upgraded libc6 got an auto mark the base did not give it:\n%s", files["var/lib/apt/extended_states"])
	}
	if !strings.Contains(files["usr/lib/x86_64-linux-gnu/libc.so.6"]+files["usr/lib/amd64-linux-gnu/libc.so.6"], "fixed libc") {
		t.Errorf("the upgraded libc6's file is not in the image")
	}

	keep := builder(f, t, cache)
	tp, err := keep.Plan(ctx, target(t, "17", "minimal"))
	if err != nil {
		t.Fatal(err)
	}
	if tp.Platforms[0].Stages[0].Name == UpgradeStage {
		t.Errorf("upgrades without Options.Upgrade")
	}
	lines := strings.Join(tp.PackageLines(), "\n")
	if !strings.Contains(lines, "not upgraded (--upgrade off)") || !strings.Contains(lines, "libc6 2.41-12 -> 2.41-12+deb13u1 [security]") || !strings.Contains(lines, "kept back: base-files") {
		t.Errorf("plan lines:\n%s", lines)
	}
}

// TestOutdatedSecurity: a security update of a base package makes a
// published image outdated, marked as such; the rebuild upgrades it.
func TestOutdatedSecurity(t *testing.T) {
	f := fixture.New(t)
	ctx := context.Background()
	cache := t.TempDir()
	tg := target(t, "17", "minimal")
	ref := f.RegHost + "/postgresql-testing:17-minimal-trixie"
	publishBuild := func() {
		t.Helper()
		res, err := builder(f, t, cache, upgrading).Build(ctx, tg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := publisher(f, t).Publish(ctx, res.Index, res.Tags); err != nil {
			t.Fatal(err)
		}
	}
	publishBuild()
	publishSecurity(f)
	rep, err := builder(f, t, cache, upgrading).Outdated(ctx, tg, ref)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Due() || len(rep.Packages) != 2 {
		t.Fatalf("report %+v, want libc6 on both platforms", rep)
	}
	for _, p := range rep.Packages {
		if p.Name != "libc6" || !p.Security || p.Suite != "trixie-security" || p.Available != "2.41-12+deb13u1" {
			t.Errorf("outdated %+v", p)
		}
	}
	publishBuild()
	if rep, err = builder(f, t, cache, upgrading).Outdated(ctx, tg, ref); err != nil || rep.Due() {
		t.Fatalf("after the rebuild: %+v %v", rep, err)
	}
}
