package layer

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/pgzip"
	"github.com/ulikunitz/xz"

	"github.com/pgassemble/pgassemble/internal/digest"
	"github.com/pgassemble/pgassemble/pkg/apt"
)

// The real-package benchmarks convert the .debs of PostgreSQL 17 and the
// standard image's extras from Debian trixie (amd64), downloaded once from
// the mirror of the host's apt sources into $PGASSEMBLE_BENCH_DIR (default
// the user cache dir). Packages of priority required (the base has them)
// are left out. Skipped, saying why, when the mirror is unreachable.
var benchRoots = []string{"postgresql-17", "postgresql-common", "ca-certificates", "gnupg", "libsasl2-modules",
	"libldap-common", "locales-all", "postgresql-17-pgvector", "postgresql-17-pgaudit"}

var (
	benchOnce sync.Once
	benchDebs []Deb
	benchErr  error
)

func hostMirror() (string, error) {
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(data), "\n") {
			if u, ok := strings.CutPrefix(l, "URIs:"); ok {
				for _, uri := range strings.Fields(u) {
					if !strings.Contains(uri, "security") {
						return strings.TrimSuffix(uri, "/"), nil
					}
				}
			}
		}
	}
	if data, err := os.ReadFile("/etc/apt/sources.list"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			f := strings.Fields(l)
			if len(f) >= 3 && f[0] == "deb" && !strings.Contains(f[1], "security") {
				return strings.TrimSuffix(f[1], "/"), nil
			}
		}
	}
	return "", fmt.Errorf("no Debian mirror in the host's apt sources")
}

func fetch(url, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	c := http.Client{Timeout: 10 * time.Minute}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.CreateTemp(filepath.Dir(dst), ".dl-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), dst)
}

func loadBenchDebs() ([]Deb, error) {
	mirror, err := hostMirror()
	if err != nil {
		return nil, err
	}
	dir := os.Getenv("PGASSEMBLE_BENCH_DIR")
	if dir == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return nil, err
		}
		dir = filepath.Join(c, "pgassemble", "bench-trixie-amd64")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	idx := filepath.Join(dir, "Packages.xz")
	if err := fetch(mirror+"/dists/trixie/main/binary-amd64/Packages.xz", idx); err != nil {
		return nil, fmt.Errorf("mirror unreachable: %w", err)
	}
	f, err := os.Open(idx)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := xz.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, err
	}
	pkgs := map[string]apt.Paragraph{}
	provides := map[string]string{}
	err = apt.ParseParagraphs(zr, func(p apt.Paragraph) error {
		n := p.Get("Package")
		pkgs[n] = p
		if rs, err := apt.ParseRelations(p.Get("Provides")); err == nil {
			for _, a := range rs {
				for _, r := range a {
					if _, ok := provides[r.Name]; !ok {
						provides[r.Name] = n
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		p, ok := pkgs[n]
		if !ok {
			if alt, ok := provides[n]; ok {
				visit(alt)
			}
			return
		}
		if want[n] || p.Get("Priority") == "required" || p.Get("Essential") == "yes" {
			return
		}
		want[n] = true
		for _, field := range []string{"Pre-Depends", "Depends"} {
			rs, _ := apt.ParseRelations(p.Get(field))
			for _, alts := range rs {
				for _, r := range alts {
					if _, ok := pkgs[r.Name]; ok || provides[r.Name] != "" {
						visit(r.Name)
						break
					}
				}
			}
		}
	}
	for _, r := range benchRoots {
		visit(r)
	}
	var debs []Deb
	for _, n := range sortedKeys(want) {
		p := pkgs[n]
		dst := filepath.Join(dir, filepath.Base(p.Get("Filename")))
		if err := fetch(mirror+"/"+p.Get("Filename"), dst); err != nil {
			return nil, err
		}
		sum, err := digest.FileSHA256(dst)
		if err != nil {
			return nil, err
		}
		if sum != p.Get("SHA256") {
			os.Remove(dst)
			return nil, fmt.Errorf("%s: sha256 %s, index says %s", dst, sum, p.Get("SHA256"))
		}
		debs = append(debs, Deb{Path: dst, SHA256: sum})
	}
	return debs, nil
}

func realDebs(b *testing.B) []Deb {
	benchOnce.Do(func() { benchDebs, benchErr = loadBenchDebs() })
	if benchErr != nil {
		b.Skipf("real trixie packages unavailable (%v); BenchmarkConvertSynthetic still runs", benchErr)
	}
	return benchDebs
}

func debsSize(debs []Deb) int64 {
	var n int64
	for _, d := range debs {
		if fi, err := os.Stat(d.Path); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// peakSys samples the memory the Go runtime holds from the OS (mapped
// minus released) while fn runs; runtime/metrics does not stop the world.
func peakSys(fn func()) uint64 {
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64()-s[1].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(done)
	wg.Wait()
	return peak
}

func benchConvert(b *testing.B, debs []Deb, comp Compression, xzCommand string) {
	base := makeBase(b, baseSpec{mergedUsr: true, files: map[string]string{
		"etc/dpkg/dpkg.cfg.d/docker": "path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\n"}})
	b.Logf("%d .debs, %.1f MB", len(debs), float64(debsSize(debs))/1e6)
	var raw int64
	var peak uint64
	cpu0 := cpuSeconds()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bl, err := NewBuilder(os.DirFS(base), Options{Arch: "amd64", NoScripts: true, Compression: comp, CacheDir: b.TempDir(), XZCommand: xzCommand})
		if err != nil {
			b.Fatal(err)
		}
		p := peakSys(func() {
			l, err := bl.AddStage(context.Background(), debs)
			if err != nil {
				b.Fatal(err)
			}
			raw = l.(*fileLayer).rawSize
		})
		pt := bl.lastTimes
		b.ReportMetric(pt.Decode.Seconds(), "decode-s")
		b.ReportMetric(pt.Merge.Seconds(), "merge-s")
		b.ReportMetric(pt.Write.Seconds(), "write-s")
		peak = max(peak, p)
		bl.Close()
	}
	b.SetBytes(raw)
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(raw)/1e6, "MB-uncompressed")
	b.ReportMetric(float64(peak)/1e6, "peak-go-MB")
}

// BenchmarkConvertReal: the whole conversion (parallel decode + spool,
// merge, sorted tar, parallel gzip) of the real package set.
func BenchmarkConvertReal(b *testing.B) { benchConvert(b, realDebs(b), Gzip, "") }

// BenchmarkConvertRealZstd: the same with zstd layers.
func BenchmarkConvertRealZstd(b *testing.B) { benchConvert(b, realDebs(b), Zstd, "") }

// BenchmarkConvertRealExternalXZ: gzip layers, data.tar.xz decompressed by
// the host's xz binary (Options.XZCommand).
func BenchmarkConvertRealExternalXZ(b *testing.B) {
	xzPath, err := exec.LookPath("xz")
	if err != nil {
		b.Skipf("no xz binary on this host (%v)", err)
	}
	benchConvert(b, realDebs(b), Gzip, xzPath)
}

// BenchmarkConvertSynthetic runs everywhere (no network).
func BenchmarkConvertSynthetic(b *testing.B) { benchConvert(b, bulkDebs(b), Gzip, "") }

// BenchmarkPhaseDecompress: only the data.tar decompression (xz for
// nearly all Debian packages), one core, then on all cores as convert does.
func BenchmarkPhaseDecompress(b *testing.B) {
	debs := realDebs(b)
	for _, par := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("workers=%d", par), func(b *testing.B) {
			var total int64
			cpu0 := cpuSeconds()
			defer func() { b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op") }()
			for i := 0; i < b.N; i++ {
				total = 0
				var mu sync.Mutex
				sem := make(chan struct{}, par)
				var wg sync.WaitGroup
				for _, d := range debs {
					wg.Add(1)
					sem <- struct{}{}
					go func() {
						defer wg.Done()
						defer func() { <-sem }()
						n, err := decompressData(d.Path)
						if err != nil {
							b.Error(err)
						}
						mu.Lock()
						total += n
						mu.Unlock()
					}()
				}
				wg.Wait()
			}
			b.SetBytes(total)
		})
	}
}

// cpuSeconds is the user+system CPU time of this process and its reaped
// children (external xz): unlike wall time, it does not depend on what
// else the machine runs.
func cpuSeconds() float64 {
	var total float64
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
		}
	}
	return total
}

func decompressData(p string) (int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	dr, err := OpenDeb(f, p)
	if err != nil {
		return 0, err
	}
	defer dr.Close()
	if _, err := dr.Data(); err != nil {
		return 0, err
	}
	return io.Copy(io.Discard, dr.zr)
}

// BenchmarkPhaseTar: reading data.tar headers and bodies after
// decompression (uncompressed tars prepared once), i.e. our tar handling
// without xz.
func BenchmarkPhaseTar(b *testing.B) {
	debs := realDebs(b)
	var tars [][]byte
	var total int64
	for _, d := range debs[:min(len(debs), 400)] {
		f, _ := os.Open(d.Path)
		dr, err := OpenDeb(f, d.Path)
		if err != nil {
			b.Fatal(err)
		}
		dr.Data()
		var buf bytes.Buffer
		io.Copy(&buf, dr.zr)
		f.Close()
		tars = append(tars, buf.Bytes())
		total += int64(buf.Len())
	}
	b.SetBytes(total)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, t := range tars {
			tr := tar.NewReader(bytes.NewReader(t))
			for {
				if _, err := tr.Next(); err != nil {
					break
				}
				io.Copy(io.Discard, tr)
			}
		}
	}
}

// BenchmarkPhaseGzip: compressing an uncompressed layer the size of the
// real stage with the layer's pgzip settings, on all cores.
func BenchmarkPhaseGzip(b *testing.B) {
	debs := realDebs(b)
	base := makeBase(b, baseSpec{mergedUsr: true})
	bl, err := NewBuilder(os.DirFS(base), Options{Arch: "amd64", NoScripts: true, Compression: Zstd, CacheDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer bl.Close()
	l, err := bl.AddStage(context.Background(), debs)
	if err != nil {
		b.Fatal(err)
	}
	rawPath := filepath.Join(b.TempDir(), "layer.tar")
	rc, _ := l.Uncompressed()
	out, _ := os.Create(rawPath)
	n, _ := io.Copy(out, rc)
	rc.Close()
	out.Close()
	for _, level := range []int{pgzip.DefaultCompression, pgzip.BestSpeed} {
		b.Run(fmt.Sprintf("level=%d", level), func(b *testing.B) {
			b.SetBytes(n)
			cpu0 := cpuSeconds()
			var out int64
			defer func() {
				b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op")
				b.ReportMetric(float64(out)/1e6, "MB-compressed")
			}()
			for i := 0; i < b.N; i++ {
				f, _ := os.Open(rawPath)
				cw := &countWriter{w: io.Discard}
				zw, _ := pgzip.NewWriterLevel(cw, level)
				zw.SetConcurrency(gzipBlockSize, 2*runtime.GOMAXPROCS(0)+2)
				io.Copy(zw, f)
				zw.Close()
				f.Close()
				out = cw.n
			}
		})
	}
}

// TestBenchSetSummary is not a benchmark: with -v it prints the size of the
// real package set when it is already downloaded (it never downloads).
func TestBenchSetSummary(t *testing.T) {
	dir := os.Getenv("PGASSEMBLE_BENCH_DIR")
	if dir == "" {
		c, _ := os.UserCacheDir()
		dir = filepath.Join(c, "pgassemble", "bench-trixie-amd64")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.deb"))
	if len(files) == 0 {
		t.Skipf("no downloaded benchmark set in %s (run the benchmarks once)", dir)
	}
	sort.Strings(files)
	var n int64
	for _, f := range files {
		fi, _ := os.Stat(f)
		n += fi.Size()
	}
	h := sha256.Sum256([]byte(strings.Join(files, "\n")))
	t.Logf("%d .debs, %.1f MB (set %s)", len(files), float64(n)/1e6, hex.EncodeToString(h[:4]))
}

// BenchmarkCacheHitReal: a rebuild of the real stage from the cache (new
// Builder each time, as a new process would), with a replay that reads the
// bodies an ELF/CA-bundle reader would need.
func BenchmarkCacheHitReal(b *testing.B) {
	debs := realDebs(b)
	base := makeBase(b, baseSpec{mergedUsr: true})
	cache := b.TempDir()
	build := func() *fakeReplay {
		fr := &fakeReplay{users: map[string]int{}, groups: map[string]int{}, lazy: true}
		bl, err := NewBuilder(os.DirFS(base), Options{Arch: "amd64", Replayer: fr, CacheDir: cache})
		if err != nil {
			b.Fatal(err)
		}
		defer bl.Close()
		if _, err := bl.AddStage(context.Background(), debs); err != nil {
			b.Fatal(err)
		}
		return fr
	}
	build()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		build()
	}
}

// BenchmarkCacheHitSynthetic: a stage rebuilt from the cache by a new
// Builder (as a new process would), verifying the cached blob by digest;
// BenchmarkVerifyCachedBlob is that verification alone.
func BenchmarkCacheHitSynthetic(b *testing.B) {
	debs := bulkDebs(b)
	base := makeBase(b, baseSpec{mergedUsr: true})
	cache := b.TempDir()
	build := func() {
		bl, err := NewBuilder(os.DirFS(base), Options{Arch: "amd64", NoScripts: true, CacheDir: cache})
		if err != nil {
			b.Fatal(err)
		}
		defer bl.Close()
		if _, err := bl.AddStage(context.Background(), debs); err != nil {
			b.Fatal(err)
		}
	}
	build()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		build()
	}
}

func BenchmarkVerifyCachedBlob(b *testing.B) {
	debs := bulkDebs(b)
	base := makeBase(b, baseSpec{mergedUsr: true})
	bl, err := NewBuilder(os.DirFS(base), Options{Arch: "amd64", NoScripts: true, CacheDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer bl.Close()
	l, err := bl.AddStage(context.Background(), debs)
	if err != nil {
		b.Fatal(err)
	}
	fl := l.(*fileLayer)
	b.SetBytes(fl.size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := bl.checkBlob(fl.path, fl.digest.String(), fl.size); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeHashed is the cost of hashing a .deb while it is decoded.
func BenchmarkDecodeHashed(b *testing.B) {
	debs := bulkDebs(b)
	for _, verify := range []bool{false, true} {
		name := "unverified"
		if verify {
			name = "sha256"
		}
		b.Run(name, func(b *testing.B) {
			var n int64
			for _, d := range debs {
				fi, _ := os.Stat(d.Path)
				n += fi.Size()
			}
			b.SetBytes(n)
			dir := b.TempDir()
			for i := 0; i < b.N; i++ {
				for _, d := range debs {
					if !verify {
						d.SHA256 = ""
					}
					dd, err := decodeDeb(context.Background(), d, nil, dir)
					if err != nil {
						b.Fatal(err)
					}
					dd.close()
				}
			}
		})
	}
}
