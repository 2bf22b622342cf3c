package assemble

import (
	"context"
	"fmt"
	"maps"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pgassemble/pgassemble/internal/fixture"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

// heapPeak samples the live heap while fn runs and returns its peak above
// the heap before fn (after a GC), in bytes. Sampling every millisecond
// misses short spikes, so it is a lower bound; the trend over the number
// of targets is what it shows.
func heapPeak(fn func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	var peak uint64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	fn()
	close(stop)
	wg.Wait()
	if peak < before {
		return 0
	}
	return peak - before
}

// BenchmarkBakeMemory builds N two-platform targets with one Builder, as
// bake does (cold caches: every layer converted once, then shared; plans
// first, then the indexes released, then the builds), and
// reports the peak live heap: it must not grow with N. The targets are
// minimal and standard, then copies of them that differ by a label (new
// images, shared layers), so that N is not limited by the fixture.
func BenchmarkBakeMemory(b *testing.B) {
	w := fixture.New(b)
	ctx := context.Background()
	base := []variants.Target{target(&testing.T{}, "17", "minimal"), target(&testing.T{}, "17", "standard")}
	for _, n := range []int{1, 2, 4, 8} {
		targets := make([]variants.Target, n)
		for i := range targets {
			t := base[i%2]
			t.Name = fmt.Sprintf("%s-%d", t.Name, i)
			t.Meta.Labels = maps.Clone(t.Meta.Labels)
			if t.Meta.Labels == nil {
				t.Meta.Labels = map[string]string{}
			}
			t.Meta.Labels["org.example.copy"] = fmt.Sprint(i)
			targets[i] = t
		}
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			var peak, retained uint64
			for b.Loop() {
				bl := builderB(b, w, b.TempDir())
				runtime.GC()
				var m0 runtime.MemStats
				runtime.ReadMemStats(&m0)
				p := heapPeak(func() {
					// As cmd's bake: every plan, the indexes released,
					// then the builds.
					plans := make([]*TargetPlan, len(targets))
					for i, t := range targets {
						var err error
						if plans[i], err = bl.PlanBuild(ctx, t); err != nil {
							b.Fatal(err)
						}
					}
					bl.ReleaseIndexes()
					for i := range plans {
						if _, err := bl.BuildPlan(ctx, plans[i]); err != nil {
							b.Fatal(err)
						}
						plans[i] = nil
						// What a bake keeps between targets (the Builder's
						// bases, parsed indexes, memos): live after a GC.
						runtime.GC()
						var m runtime.MemStats
						runtime.ReadMemStats(&m)
						if m.HeapAlloc > m0.HeapAlloc {
							retained = max(retained, m.HeapAlloc-m0.HeapAlloc)
						}
					}
				})
				peak = max(peak, p)
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(retained)/(1<<20), "retained-MB")
		})
	}
}
