package apt

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ulikunitz/xz"
)

// The benchmarks run against the real trixie main amd64 Packages index. The
// mirror is read from the host's apt sources (never written here); the file
// is downloaded once into $XDG_CACHE_HOME/pgassemble-bench/.

const benchIndex = "Packages-trixie-main-amd64.xz"

// hostMirror returns the first URIs entry of the host's deb822 sources
// that is not a -security archive, or of a one-line sources.list.
func hostMirror() (string, error) {
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "URIs:"); ok {
				for _, u := range strings.Fields(rest) {
					if !strings.HasSuffix(strings.TrimSuffix(u, "/"), "-security") {
						return strings.TrimSuffix(u, "/"), nil
					}
				}
			}
		}
	}
	if b, err := os.ReadFile("/etc/apt/sources.list"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) >= 3 && f[0] == "deb" {
				i := 1
				if strings.HasPrefix(f[1], "[") {
					for i < len(f) && !strings.HasSuffix(f[i], "]") {
						i++
					}
					i++
				}
				if i < len(f) && !strings.HasSuffix(strings.TrimSuffix(f[i], "/"), "-security") {
					return strings.TrimSuffix(f[i], "/"), nil
				}
			}
		}
	}
	return "", fmt.Errorf("no Debian mirror found in the host's apt sources")
}

func benchCacheDir() string {
	d := os.Getenv("XDG_CACHE_HOME")
	if d == "" {
		h, _ := os.UserHomeDir()
		d = filepath.Join(h, ".cache")
	}
	return filepath.Join(d, "pgassemble-bench")
}

var (
	benchOnce sync.Once
	benchXZ   []byte
	benchRaw  []byte
	benchErr  error
)

// benchData returns the compressed and decompressed trixie index, or skips.
func benchData(tb testing.TB) (compressed, raw []byte) {
	tb.Helper()
	benchOnce.Do(func() {
		path := filepath.Join(benchCacheDir(), benchIndex)
		if _, err := os.Stat(path); err != nil {
			benchErr = downloadIndex(path)
			if benchErr != nil {
				return
			}
		}
		benchXZ, benchErr = os.ReadFile(path)
		if benchErr != nil {
			return
		}
		zr, err := xz.NewReader(bytes.NewReader(benchXZ))
		if err != nil {
			benchErr = err
			return
		}
		benchRaw, benchErr = io.ReadAll(zr)
	})
	if benchErr != nil {
		tb.Skipf("trixie Packages index unavailable (needs the host's apt mirror to be reachable): %v", benchErr)
	}
	return benchXZ, benchRaw
}

func downloadIndex(path string) error {
	m, err := hostMirror()
	if err != nil {
		return err
	}
	url := m + "/dists/trixie/main/binary-amd64/Packages.xz"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("download %s: %s", url, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("download %s: %w", url, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func BenchmarkXZDecompress(b *testing.B) {
	compressed, raw := benchData(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		zr, err := xz.NewReader(bytes.NewReader(compressed))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, bufio.NewReader(zr)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParsePackages(b *testing.B) {
	_, raw := benchData(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n = 0
		err := ParsePackages(bytes.NewReader(raw), func(*Package) error { n++; return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "packages")
}

func benchPackages(tb testing.TB) []*Package {
	_, raw := benchData(tb)
	var pkgs []*Package
	if err := ParsePackages(bytes.NewReader(raw), func(p *Package) error { pkgs = append(pkgs, p); return nil }); err != nil {
		tb.Fatal(err)
	}
	return pkgs
}

func BenchmarkNewUniverse(b *testing.B) {
	pkgs := benchPackages(b)
	b.ReportAllocs()
	for b.Loop() {
		NewUniverse("amd64", pkgs)
	}
}

// standardRequests is the package list of a postgresql-17 "standard" image.
var standardRequests = []string{
	"postgresql-17", "postgresql-17-pgaudit", "postgresql-17-pgvector", "postgresql-17-pg-failover-slots",
	"locales-all", "postgresql-common", "ca-certificates", "gnupg", "libsasl2-modules", "libldap-common",
}

// minbaseStatus reads testdata/trixie-minbase-arm64.status (a debootstrap
// --variant=minbase trixie system) and relabels its arm64 packages as
// amd64, so that it can stand for an amd64 minbase: the package set and
// versions of minbase are the same on both architectures.
func minbaseStatus(tb testing.TB) []*Package {
	f, err := os.Open("../../testdata/trixie-minbase-arm64.status")
	if err != nil {
		tb.Fatalf("minbase status: %v", err)
	}
	defer f.Close()
	pkgs, err := ParseStatus(f)
	if err != nil {
		tb.Fatal(err)
	}
	for _, p := range pkgs {
		if p.Architecture == "arm64" {
			p.Architecture = "amd64"
		}
	}
	return pkgs
}

func BenchmarkResolveStandard(b *testing.B) {
	u := NewUniverse("amd64", benchPackages(b))
	installed := minbaseStatus(b)
	b.ReportAllocs()
	var set *InstallSet
	for b.Loop() {
		var err error
		set, err = Resolve(u, installed, standardRequests, ResolveOptions{})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(set.Packages)), "packages")
}
