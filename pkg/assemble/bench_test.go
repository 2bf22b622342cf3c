package assemble

import (
	"context"
	"testing"

	"github.com/pgassemble/pgassemble/internal/fixture"
)

// BenchmarkBuildWarm measures a rebuild of one two-platform target whose
// indexes, .debs and layers are all cached (a new Builder each time, as a
// new process would be). The real-archive figures are in the README
// (test/bench/real-build.sh).
func BenchmarkBuildWarm(b *testing.B) {
	w := fixture.New(b)
	cache := b.TempDir()
	ctx := context.Background()
	tg := target(&testing.T{}, "17", "standard")
	if _, err := builderB(b, w, cache).Build(ctx, tg); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := builderB(b, w, cache).Build(ctx, tg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildCold measures the same build from empty caches: fetch,
// verify, convert, compress.
func BenchmarkBuildCold(b *testing.B) {
	w := fixture.New(b)
	ctx := context.Background()
	tg := target(&testing.T{}, "17", "standard")
	for b.Loop() {
		if _, err := builderB(b, w, b.TempDir()).Build(ctx, tg); err != nil {
			b.Fatal(err)
		}
	}
}
