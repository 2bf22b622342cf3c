package layer

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/pgassemble/pgassemble/pkg/layer/maint"
)

// BenchmarkRealScriptsColdWarm converts the real package set with the real
// maintainer scripts (cold), then rebuilds it from the cache (warm) b.N times, and
// reports both: the warm path is what a rebuild of an unchanged target pays.
func BenchmarkRealScriptsColdWarm(b *testing.B) {
	debs := realDebs(b)
	base := makeBase(b, baseSpec{mergedUsr: true, files: map[string]string{
		"etc/shadow":          "root:*:19000:0:99999:7:::\n",
		"etc/gshadow":         "root:*::\n",
		"var/lib/dpkg/status": "Package: adduser\nStatus: install ok installed\nVersion: 3.152\nArchitecture: all\n\n",
	}})
	cache := b.TempDir()
	build := func() (time.Duration, time.Duration) {
		bl, err := NewBuilder(os.DirFS(base), Options{Arch: "amd64", CacheDir: cache,
			Scripts: maint.Options{Policy: &maint.Policy{UIDs: map[string]int{"postgres": 26}}, AllowRefused: true}})
		if err != nil {
			b.Fatal(err)
		}
		defer bl.Close()
		t0 := time.Now()
		if _, err := bl.AddStage(context.Background(), debs); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := bl.Finish(context.Background()); err != nil {
			b.Fatal(err)
		}
		return t1.Sub(t0), time.Since(t1)
	}
	cold, coldFin := build()
	b.ResetTimer()
	var warm time.Duration
	for i := 0; i < b.N; i++ {
		w, _ := build()
		warm += w
	}
	b.ReportMetric(warm.Seconds()/float64(b.N), "warm-stage-s")
	b.ReportMetric(cold.Seconds(), "cold-stage-s")
	b.ReportMetric(coldFin.Seconds(), "finish-s")
}
