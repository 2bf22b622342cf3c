package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pgassemble/pgassemble/internal/debtest"
	"github.com/pgassemble/pgassemble/internal/fixture"
	"github.com/pgassemble/pgassemble/pkg/apt/apttest"
	"github.com/pgassemble/pgassemble/pkg/assemble"
)

// TestOutdatedAndBakeIfOutdated: exit 0 after a build; 1 naming the package
// once PGDG publishes a newer server; bake --if-outdated rebuilds it, and
// then skips it; 0 again; 3 when the check cannot be made; 2 for bad usage.
func TestOutdatedAndBakeIfOutdated(t *testing.T) {
	w := fixture.New(t)
	cache := t.TempDir()
	const tg = "postgresql-17-minimal-trixie"
	image := w.RegHost + "/postgresql-testing:17-minimal-trixie"
	args := func(extra ...string) []string {
		return worldArgs(w, cache, append(extra, "-q", "--allow-unhandled-scripts")...)
	}
	if _, stderr, code := cli(t, args("bake", tg)...); code != 0 {
		t.Fatalf("bake: exit %d\n%s", code, stderr)
	}
	out, stderr, code := cli(t, args("outdated", tg)...)
	if code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("outdated after the build: exit %d\n%s%s", code, out, stderr)
	}

	w.PGDG.Update("trixie-pgdg", func(c *apttest.Config) {
		for _, a := range fixture.Arches {
			c.Packages["17"] = append(c.Packages["17"], debtest.Deb{Control: debtest.Control("Package", "postgresql-17", "Version", "17.13-1.pgdg13+1",
				"Architecture", a, "Depends", "postgresql-common (>= 252), postgresql-client-17", "Description", "server"),
				Files: []debtest.File{{Path: "/usr/lib/postgresql/17/bin/postgres", Mode: 0o755, Body: "server 17.13"}}})
		}
	})
	out, stderr, code = cli(t, args("outdated", image, "--json")...)
	if code != exitDue {
		t.Fatalf("outdated after a newer server: exit %d, want %d\n%s%s", code, exitDue, out, stderr)
	}
	var reps []assemble.OutdatedReport
	if err := json.Unmarshal([]byte(out), &reps); err != nil || len(reps) != 1 {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if len(reps[0].Packages) != 2 || reps[0].Packages[0].Name != "postgresql-17" || reps[0].Packages[0].Available != "17.13-1.pgdg13+1" || reps[0].Target != tg {
		t.Errorf("report %+v", reps[0])
	}

	_, stderr, code = cli(t, worldArgs(w, cache, "bake", "--if-outdated", "--allow-unhandled-scripts", tg)...)
	if code != 0 || !strings.Contains(stderr, "rebuild due") || !strings.Contains(stderr, "published "+tg) {
		t.Fatalf("bake --if-outdated: exit %d\n%s", code, stderr)
	}
	out, stderr, code = cli(t, args("outdated", tg)...)
	if code != 0 {
		t.Fatalf("outdated after the rebuild: exit %d\n%s%s", code, out, stderr)
	}
	_, stderr, code = cli(t, worldArgs(w, cache, "bake", "--if-outdated", "--allow-unhandled-scripts", tg)...)
	if code != 0 || !strings.Contains(stderr, "up to date") || strings.Contains(stderr, "published") {
		t.Errorf("bake --if-outdated on an up-to-date image: exit %d\n%s", code, stderr)
	}

	// A failed check is 3, never "due"; bad usage is 2.
	if _, stderr, code := cli(t, args("outdated", tg, "--registry", "127.0.0.1:1")...); code != exitFailed {
		t.Errorf("unreachable registry: exit %d, want %d\n%s", code, exitFailed, stderr)
	}
	if _, stderr, code := cli(t, args("outdated", w.RegHost+"/postgresql-testing:latest")...); code != 2 || !strings.Contains(stderr, "latest") {
		t.Errorf("a tag naming no target: exit %d, want 2\n%s", code, stderr)
	}
}
