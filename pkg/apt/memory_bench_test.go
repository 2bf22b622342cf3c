package apt

import (
	"bytes"
	"runtime"
	"testing"
)

// BenchmarkIndexMemory parses the trixie main amd64 index into a Universe
// and reports what stays live (after a GC) while a build holds it: one
// per architecture and repository set per process, shared by every
// target of a bake (assemble.Builder's memo). ParsePackages keeps no
// stanza and shares repeated strings and relation groups (190 MB before,
// 152 MB without the stanzas alone).
func BenchmarkIndexMemory(b *testing.B) {
	_, raw := benchData(b)
	var retained uint64
	n := 0
	for b.Loop() {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		var pkgs []*Package
		if err := ParsePackages(bytes.NewReader(raw), func(p *Package) error {
			pkgs = append(pkgs, p)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		u := NewUniverse("amd64", pkgs)
		pkgs = nil
		runtime.GC()
		runtime.ReadMemStats(&m1)
		if m1.HeapAlloc > m0.HeapAlloc {
			retained = m1.HeapAlloc - m0.HeapAlloc
		}
		n = len(u.Versions("postgresql-17"))
		runtime.KeepAlive(u)
	}
	b.ReportMetric(float64(retained)/(1<<20), "retained-MB")
	b.ReportMetric(float64(len(raw))/(1<<20), "index-MB")
	_ = n
}
