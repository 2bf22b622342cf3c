package layer

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgassemble/pgassemble/internal/debtest"
)

func ctl(name, version string, kv ...string) debtest.Deb {
	c := debtest.Control(append([]string{"Package", name, "Version", version, "Architecture", "amd64", "Maintainer", "m"}, kv...)...)
	c.Set("Description", "d")
	return debtest.Deb{Control: c}
}

func withFiles(d debtest.Deb, scripts map[string]string, files ...debtest.File) debtest.Deb {
	d.Files, d.Scripts = files, scripts
	return d
}

func dpkgInstall(t *testing.T, root string, debs []Deb) {
	t.Helper()
	args := []string{"--root=" + root, "--force-depends", "--force-script-chrootless", "--force-not-root", "-i"}
	for _, d := range debs {
		args = append(args, d.Path)
	}
	cmd := exec.Command("dpkg", args...)
	cmd.Env = append(os.Environ(), "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dpkg: %v\n%s", err, out)
	}
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src+"/.", dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
}

// TestUpgradeAndReplacesAgainstDpkg: dpkg installs version 1 packages; the
// result is the base. Then dpkg upgrades/installs on one copy while the
// builder converts the same .debs on top of the other; both trees must
// match, including whiteouts (removed files), rewritten .list files of
// replaced packages, and removed packages' stanzas.
func TestUpgradeAndReplacesAgainstDpkg(t *testing.T) {
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skipf("dpkg not installed on this host (%v); it is the oracle of this test", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: dpkg --root chowns files")
	}
	v1 := writeDebs(t,
		withFiles(ctl("app", "1.0"), map[string]string{"postrm": "#!/bin/sh\nexit 0\n", "preinst": "#!/bin/sh\nexit 0\n",
			"conffiles": "/etc/app/old.conf\n/etc/app/kept.conf\n"},
			debtest.File{Path: "/etc/app/old.conf", Body: "old"},
			debtest.File{Path: "/etc/app/kept.conf", Body: "kept1"},
			debtest.File{Path: "/usr/bin/app", Body: "v1"},
			debtest.File{Path: "/usr/share/app/old-only", Body: "gone in v2"},
			debtest.File{Path: "/usr/share/app/kept", Body: "k1"}),
		withFiles(ctl("tools", "1.0"), nil,
			debtest.File{Path: "/usr/share/tooldoc/readme", Body: "r"},
			debtest.File{Path: "/usr/bin/tool-a", Body: "a"},
			debtest.File{Path: "/usr/bin/tool-b", Body: "b"}),
		withFiles(ctl("legacy", "1.0"), nil,
			debtest.File{Path: "/usr/bin/legacy", Body: "l"},
			debtest.File{Path: "/usr/share/legacy/data", Body: "d"}),
	)
	v2 := writeDebs(t,
		withFiles(ctl("app", "2.0"), map[string]string{"postrm": "#!/bin/sh\nexit 0\n", "conffiles": "/etc/app/kept.conf\n"},
			debtest.File{Path: "/etc/app/kept.conf", Body: "kept2"},
			debtest.File{Path: "/usr/bin/app", Body: "v2"},
			debtest.File{Path: "/usr/share/app/kept", Body: "k2"},
			debtest.File{Path: "/usr/share/app/new", Body: "n"}),
		// takes over one file of tools: tools keeps the other
		withFiles(ctl("newtool", "1.0", "Replaces", "tools (<< 2)"), nil,
			debtest.File{Path: "/usr/share/tooldoc/other", Body: "o"},
			debtest.File{Path: "/usr/bin/tool-a", Body: "a2"}),
		// replaces and conflicts with legacy: legacy goes
		withFiles(ctl("modern", "1.0", "Replaces", "legacy", "Conflicts", "legacy", "Provides", "legacy"), nil,
			debtest.File{Path: "/usr/bin/legacy", Body: "modern"}),
	)
	base := makeBase(t, baseSpec{})
	os.WriteFile(filepath.Join(base, "var/lib/dpkg/available"), nil, 0o644)
	os.MkdirAll(filepath.Join(base, "var/lib/dpkg/updates"), 0o755)
	dpkgInstall(t, base, v1)
	// As an image's slimming does: files gone, still listed by their package.
	if err := os.RemoveAll(filepath.Join(base, "usr/share/tooldoc")); err != nil {
		t.Fatal(err)
	}
	ours := t.TempDir()
	copyTree(t, base, ours)
	b := newTestBuilder(t, ours, Options{})
	l := addStage(t, b, v2)
	fin, err := b.Finish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	es := byName(readLayer(t, l))
	if _, ok := es["usr/share/app/.wh.old-only"]; !ok {
		t.Errorf("no whiteout for the file dropped by the upgrade; layer: %v", sortedKeys(es))
	}
	dpkgInstall(t, base, v2)
	if err := ApplyToDir(context.Background(), l, ours); err != nil {
		t.Fatal(err)
	}
	if err := ApplyToDir(context.Background(), fin, ours); err != nil {
		t.Fatal(err)
	}
	ignore := func(p string) bool {
		return strings.HasPrefix(p, "var/lib/dpkg/") && !strings.HasPrefix(p, "var/lib/dpkg/info/") && p != "var/lib/dpkg/status" ||
			strings.HasSuffix(p, "-old")
	}
	got, want := snapshot(t, ours, ignore), snapshot(t, base, ignore)
	for _, k := range sortedKeys(want) {
		if got[k] != want[k] {
			t.Errorf("%s:\n dpkg: %s\n ours: %s", k, want[k], got[k])
		}
	}
	for _, k := range sortedKeys(got) {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: only in ours: %s", k, got[k])
		}
	}
}
