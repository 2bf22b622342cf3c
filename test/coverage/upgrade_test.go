package coverage

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/apt/archive"
	"github.com/pgassemble/pgassemble/pkg/layer"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

// upgraded are Essential/required packages of trixie whose maintainer
// scripts an upgrade of the base runs (issue 8).
var upgraded = []string{"base-files", "base-passwd", "bash", "dash", "debianutils", "dpkg", "libc-bin", "libc6",
	"libpam-modules", "libpam-runtime", "login", "passwd", "tzdata", "util-linux"}

// TestUpgradeBasePackages installs the real trixie packages of upgraded
// over the trixie minbase root that already has them: dpkg treats that as
// an upgrade from the installed version, so the old package's prerm and
// postrm run with "upgrade NEW", the new preinst with "upgrade OLD" and the
// postinst with "configure OLD", in the runner as dpkg would order them.
// Every script the packages carry must run with those arguments, nothing
// may be refused, and the packages must end installed in the status file.
func TestUpgradeBasePackages(t *testing.T) {
	if testing.Short() {
		t.Skip("upgrade: needs the real archive; not in -short")
	}
	ctx := context.Background()
	tarball, err := baseTarball("trixie")
	if err != nil {
		t.Skipf("upgrade: %v", err)
	}
	root := t.TempDir()
	if out, err := exec.Command("tar", "-xzf", tarball, "-C", root).CombinedOutput(); err != nil {
		t.Fatalf("extract %s: %v\n%s", tarball, err, out)
	}
	repos := repositories(t, ctx, os.DirFS(root))
	client := archive.New(archive.WithCacheDir(filepath.Join(env("COVERAGE_CACHE", "/var/cache/pgassemble-coverage"), "archive")))
	pkgs, err := client.Indexes(ctx, repos, arch())
	if err != nil {
		t.Fatalf("indexes: %v", err)
	}
	u := apt.NewUniverse(arch(), pkgs)
	installed, err := readStatus(filepath.Join(root, "var/lib/dpkg/status"))
	if err != nil {
		t.Fatal(err)
	}
	old := map[string]string{}
	for _, p := range installed {
		old[p.Name] = p.Version
	}
	var planned []apt.Planned
	for _, name := range upgraded {
		if old[name] == "" {
			t.Fatalf("%s is not installed in %s", name, tarball)
		}
		c := u.Candidate(name)
		if c == nil {
			t.Fatalf("no candidate for %s", name)
		}
		planned = append(planned, apt.Planned{Package: c, Reason: "requested"})
	}
	debs, err := download(ctx, client, planned)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := variants.Default().Target("17", "standard", "trixie")
	if err != nil {
		t.Fatal(err)
	}
	// The upgrade stage alone: the variant's edit of createcluster.conf
	// names a file only its later stages install.
	tg.Replay.Edits = nil
	b, rp, err := newBuilder(ctx, root, t.TempDir(), tg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.AddStage(ctx, debs); err != nil {
		t.Fatalf("upgrade stage: %v", err)
	}
	state, err := b.Finish(ctx)
	if err != nil {
		t.Fatalf("finish: %v", err)
	}
	refused, _ := refusals(rp)
	if len(refused) > 0 {
		t.Errorf("refused:\n%s", strings.Join(refused, "\n"))
	}
	runs := map[string][]string{} // "pkg script" -> args of each run
	for _, ev := range layer.MaintRunner(rp).Trace() {
		if ev.Impl == "run" && len(ev.Args) > 0 {
			runs[ev.Package+" "+ev.Script] = append(runs[ev.Package+" "+ev.Script], strings.Join(ev.Args[1:], " "))
		}
	}
	checked := 0
	for i, name := range upgraded {
		newV := planned[i].Version
		// The scripts dpkg would run, with the arguments it passes.
		want := map[string]string{
			"prerm":    "upgrade " + newV,
			"preinst":  "upgrade " + old[name],
			"postrm":   "upgrade " + newV,
			"postinst": "configure " + old[name],
		}
		for script, args := range want {
			if !hasScript(root, name, script) {
				continue
			}
			checked++
			got := runs[name+" "+script]
			found := false
			for _, g := range got {
				if strings.HasPrefix(g, args) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s %s: ran with %q, want a run with %q", name, script, got, args)
			}
		}
	}
	if checked == 0 {
		t.Fatal("none of the packages has a maintainer script: the test checks nothing")
	}
	status, err := stateStatus(state)
	if err != nil {
		t.Fatal(err)
	}
	after, err := apt.ParseStatus(strings.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*apt.Package{}
	for _, p := range after {
		got[p.Name] = p
	}
	for i, name := range upgraded {
		if p := got[name]; p == nil || p.StatusWord() != "installed" || p.Version != planned[i].Version {
			t.Errorf("status after the upgrade: %s is %v, want %s installed", name, p, planned[i].Version)
		}
	}
	t.Logf("%d maintainer scripts of %d upgraded base packages ran as dpkg runs them", checked, len(upgraded))
}

// hasScript says whether the installed package carries a maintainer script
// (the same version is reinstalled, so old and new scripts are the same).
func hasScript(root, pkg, script string) bool {
	for _, stem := range []string{pkg, pkg + ":" + arch()} {
		if _, err := os.Stat(filepath.Join(root, "var/lib/dpkg/info", stem+"."+script)); err == nil {
			return true
		}
	}
	return false
}
