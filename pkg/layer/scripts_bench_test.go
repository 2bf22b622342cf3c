package layer

import (
	"archive/tar"
	"bufio"
	"context"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgassemble/pgassemble/pkg/layer/maint"
)

// timedReplayer measures the CPU time spent in the script runner (the
// thread's, with the goroutine locked to it).
type timedReplayer struct {
	Replayer
	d time.Duration
}

func threadCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(1, &ru) // RUSAGE_THREAD
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (t *timedReplayer) timed(fn func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s := threadCPU()
	fn()
	t.d += threadCPU() - s
}

func (t *timedReplayer) AddPackages(p []maint.Package) (err error) {
	t.timed(func() { err = t.Replayer.AddPackages(p) })
	return err
}

func (t *timedReplayer) Observe(pkg string, h *tar.Header, r io.Reader) (err error) {
	t.timed(func() { err = t.Replayer.Observe(pkg, h, r) })
	return err
}

func (t *timedReplayer) Files() (fs []StateFile, err error) {
	t.timed(func() { fs, err = t.Replayer.Files() })
	return fs, err
}

func (t *timedReplayer) Diverted(abs string) (string, string, bool) {
	return t.Replayer.(Diverter).Diverted(abs)
}

func (t *timedReplayer) DivertedFrom(abs string) (string, string, bool) {
	return t.Replayer.(ReverseDiverter).DivertedFrom(abs)
}

func (t *timedReplayer) setContext(ctx context.Context) {
	t.Replayer.(interface{ setContext(context.Context) }).setContext(ctx)
}

// BenchmarkScripts runs every maintainer script of a real install set
// (the standard set: PGASSEMBLE_SCRIPTS_BENCH_ROOT is an extracted minbase
// root, PGASSEMBLE_SCRIPTS_BENCH_STAGES a file of .deb paths in install
// order, "# stage NAME" lines between stages, as the fidelity suite's plan
// gives them). The layers are converted once; each iteration then builds
// from the layer cache, so what it measures is the runner: the scripts
// and the observation of every entry (replayed from the sidecars), in
// one goroutine. Reported: scripts-cpu-s (the runner's CPU time per build,
// its thread's; the interpreter's pipes add a little on other threads),
// retained-MB (file bodies it kept), heap-MB after the build.
func BenchmarkScripts(b *testing.B) {
	root, stages := os.Getenv("PGASSEMBLE_SCRIPTS_BENCH_ROOT"), os.Getenv("PGASSEMBLE_SCRIPTS_BENCH_STAGES")
	if root == "" || stages == "" {
		b.Skip("PGASSEMBLE_SCRIPTS_BENCH_ROOT and PGASSEMBLE_SCRIPTS_BENCH_STAGES name a real root and install set")
	}
	f, err := os.Open(stages)
	if err != nil {
		b.Fatal(err)
	}
	var plan [][]Deb
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "":
		case strings.HasPrefix(l, "#"):
			plan = append(plan, nil)
		default:
			if len(plan) == 0 {
				plan = append(plan, nil)
			}
			plan[len(plan)-1] = append(plan[len(plan)-1], Deb{Path: l})
		}
	}
	f.Close()
	cache := b.TempDir()
	policy := &maint.Policy{UIDs: map[string]int{"postgres": 26},
		Edits:      []maint.Edit{{Path: "/etc/postgresql-common/createcluster.conf", Pattern: `#(create_main_cluster) .*$`, Replace: "${1} = false"}},
		Deviations: []maint.Deviation{{Match: `^make-ssl-cert generate-default-snakeoil`, Reason: "no shared private key"}}}
	build := func() (time.Duration, int64) {
		rp, err := NewMaintReplayer(context.Background(), os.DirFS(root), maint.Options{Arch: "amd64", Policy: policy,
			Epoch: time.Unix(DefaultEpochUnix, 0)})
		if err != nil {
			b.Fatal(err)
		}
		tr := &timedReplayer{Replayer: rp}
		bl, err := NewBuilder(os.DirFS(root), Options{Arch: "amd64", CacheDir: cache, Replayer: tr})
		if err != nil {
			b.Fatal(err)
		}
		defer bl.Close()
		for _, st := range plan {
			if _, err := bl.AddStage(context.Background(), st); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := bl.Finish(context.Background()); err != nil {
			b.Fatal(err)
		}
		for _, e := range bl.Trace() {
			if e.Impl == maint.ImplRefused || e.Impl == maint.ImplSkipped {
				b.Fatalf("refused: %s %s %q: %s", e.Package, e.Script, e.Command(), e.Reason)
			}
		}
		return tr.d, MaintRunner(rp).RetainedBytes()
	}
	build() // convert the layers and record the sidecars
	b.ResetTimer()
	var total time.Duration
	var retained int64
	for b.Loop() {
		d, r := build()
		total += d
		retained = r
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(total.Seconds()/float64(b.N), "scripts-cpu-s")
	b.ReportMetric(float64(retained)/(1<<20), "retained-MB")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
}
