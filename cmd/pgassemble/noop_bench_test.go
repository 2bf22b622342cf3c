package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/pgassemble/pgassemble/internal/fixture"
)

// benchBuild builds the two-platform standard target once into a fresh
// cache, then measures the command run again per iteration with extra
// flags. Compare BenchmarkNoopRebuild (the fast path) with
// BenchmarkWarmRebuild (--rebuild: everything cached, built and pushed
// again).
func benchBuild(b *testing.B, extra ...string) {
	benchCommand(b, []string{"build", "--pg", "17", "--type", "standard", "--base", "trixie"}, extra...)
}

func benchCommand(b *testing.B, command []string, extra ...string) {
	w := fixture.New(b)
	cache := b.TempDir()
	args := append(append([]string{command[0]}, worldArgs(w, cache, "-q", "--allow-unhandled-scripts")...), command[1:]...)
	run := func(a []string) {
		var out, errb bytes.Buffer
		if code := runWith(context.Background(), a, &out, &errb); code != 0 {
			b.Fatalf("build: exit %d\n%s", code, errb.String())
		}
	}
	run(args)
	a := append(args, extra...)
	b.ResetTimer()
	for b.Loop() {
		run(a)
	}
}

func BenchmarkNoopRebuild(b *testing.B) { benchBuild(b) }
func BenchmarkWarmRebuild(b *testing.B) { benchBuild(b, "--rebuild") }

// BenchmarkNoopBake is the no-op fast path for a bake of the fixture's
// matrix slice (minimal and standard, two platforms each).
func BenchmarkNoopBake(b *testing.B) {
	benchCommand(b, []string{"bake", "postgresql-17-minimal-trixie", "postgresql-17-standard-trixie"})
}
