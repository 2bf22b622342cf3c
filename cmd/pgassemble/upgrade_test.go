package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pgassemble/pgassemble/internal/debtest"
	"github.com/pgassemble/pgassemble/internal/fixture"
	"github.com/pgassemble/pgassemble/pkg/apt/apttest"
)

// TestUpgradeFlag: with a security update of a base package, --upgrade (the
// default) puts it in the first stage of plan; with --upgrade=false plan
// lists it as not upgraded and build says so.
func TestUpgradeFlag(t *testing.T) {
	w := fixture.New(t)
	w.Debian.Update("trixie-security", func(c *apttest.Config) {
		for _, a := range fixture.Arches {
			c.Packages["main"] = append(c.Packages["main"], debtest.Deb{Control: debtest.Control("Package", "libc6", "Version", "2.41-12+deb13u1",
				"Architecture", a, "Multi-Arch", "same", "Description", "libc")})
			c.Packages["main"] = append(c.Packages["main"], debtest.Deb{Control: debtest.Control("Package", "base-files", "Version", "13.8+deb13u1",
				"Architecture", a, "Essential", "yes", "Conflicts", "libc6 (<< 2.41-13)", "Description", "base")})
		}
	})
	cache := t.TempDir()
	type planOut struct {
		Platforms []struct {
			Stages []struct {
				Name     string
				Packages []struct{ Name, Version, UpgradeFrom string }
			}
			NotUpgraded []struct{ Name, Version string }
		}
	}
	plan := func(extra ...string) planOut {
		t.Helper()
		out, stderr, code := cli(t, worldArgs(w, cache, append([]string{"plan", "--pg", "17", "--type", "minimal", "--base", "trixie", "--json", "-q"}, extra...)...)...)
		if code != 0 {
			t.Fatalf("plan %v: exit %d\n%s", extra, code, stderr)
		}
		var p planOut
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	on := plan()
	if st := on.Platforms[0].Stages[0]; st.Name != "upgrade" || len(st.Packages) != 1 || st.Packages[0].Name != "libc6" || st.Packages[0].UpgradeFrom != "2.41-12" {
		t.Errorf("--upgrade: first stage %+v", st)
	}
	off := plan("--upgrade=false")
	if off.Platforms[0].Stages[0].Name == "upgrade" || len(off.Platforms[0].NotUpgraded) != 1 {
		t.Errorf("--upgrade=false: %+v", off.Platforms[0])
	}
	_, stderr, code := cli(t, worldArgs(w, cache, "--pg", "17", "--type", "minimal", "--base", "trixie", "--upgrade=false", "--allow-unhandled-scripts")...)
	if code != 0 || !strings.Contains(stderr, "1 base packages (1 from -security) have newer versions and are not upgraded") {
		t.Errorf("build without --upgrade: exit %d\n%s", code, stderr)
	}
	// What apt-get upgrade refuses is named with the reason.
	if !strings.Contains(stderr, "base-files 13.8 kept back (13.8+deb13u1 available): base-files 13.8+deb13u1 Conflicts: libc6 (<< 2.41-13)") {
		t.Errorf("the kept-back base-files is not reported:\n%s", stderr)
	}
}
