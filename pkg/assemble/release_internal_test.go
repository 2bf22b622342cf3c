package assemble

import (
	"context"
	"runtime"
	"testing"
	"weak"

	"github.com/pgassemble/pgassemble/internal/fixture"
	"github.com/pgassemble/pgassemble/pkg/apt"
)

// ReleaseIndexes leaves nothing holding a parsed index (the Builder's memo,
// the archive client's, the plans), and a plan made after it is the same.
func TestReleaseIndexes(t *testing.T) {
	f := fixture.New(t)
	ctx := context.Background()
	b := builder(f, t, t.TempDir())
	tg := target(t, "17", "standard")
	before, err := b.PlanBuild(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	var held []weak.Pointer[apt.Universe]
	b.universes.mu.Lock()
	for _, e := range b.universes.m {
		held = append(held, weak.Make(e.v))
	}
	b.universes.mu.Unlock()
	if len(held) == 0 {
		t.Fatal("the plan parsed no index")
	}
	b.ReleaseIndexes()
	runtime.GC()
	for i, w := range held {
		if w.Value() != nil {
			t.Errorf("universe %d is still reachable after ReleaseIndexes", i)
		}
	}
	after, err := b.PlanBuild(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range before.Platforms {
		if got, want := planText(after.Platforms[i]), planText(before.Platforms[i]); got != want {
			t.Errorf("%s: plan after ReleaseIndexes:\n%s\nwant:\n%s", before.Platforms[i].Platform.String(), got, want)
		}
	}
	runtime.KeepAlive(before)
}

func planText(pp *PlatformPlan) string {
	var s string
	for _, st := range pp.Stages {
		s += st.Name + ":"
		for _, p := range st.Packages {
			s += " " + p.ID() + "/" + p.SHA256
		}
		s += "\n"
	}
	return s
}
