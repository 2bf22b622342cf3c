package fault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pgassemble/pgassemble/internal/fixture"
)

// The pgassemble binary is built from this tree once, on first use (not
// in TestMain, so listing the tests, as `make fuzz` does, builds nothing).
var (
	buildOnce sync.Once
	binDir    string
	binary    string
	buildErr  error
)

func pgassemble(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "pgassemble-fault-*"); buildErr != nil {
			return
		}
		binary = filepath.Join(binDir, "pgassemble")
		goBin, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("the go command builds the binary under test: %w", err)
			return
		}
		out, err := exec.Command(goBin, "build", "-o", binary, "github.com/pgassemble/pgassemble/cmd/pgassemble").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// result of one run of the binary.
type result struct {
	stdout, stderr string
	code           int
}

// command prepares a run of the binary with its own HOME.
func command(ctx context.Context, t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, pgassemble(t), args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "NO_COLOR=1")
	cmd.Cancel = func() error { return cmd.Process.Kill() }
	return cmd
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := command(ctx, t, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

// buildArgs builds the smallest target of the fixture and publishes it
// to registry (host:port).
func buildArgs(w *fixture.World, registry, cache string, extra ...string) []string {
	return append([]string{"build", "--base-image", w.BaseRef, "--registry", registry, "--cache-dir", cache,
		"--pg", "17", "--type", "minimal", "--base", "trixie", "--allow-unhandled-scripts"}, extra...)
}

const repo = "postgresql-testing"
const tag = "17-minimal-trixie"

// assertTagComplete checks, on the registry behind every proxy, that the
// tag either does not exist or names an index whose every manifest,
// config and layer is there and matches its digest.
func assertTagComplete(t *testing.T, w *fixture.World, mustExist bool) {
	t.Helper()
	ref, err := name.ParseReference(w.RegHost+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(ref)
	if err != nil {
		if mustExist {
			t.Fatalf("tag %s: %v", ref, err)
		}
		if !strings.Contains(err.Error(), "MANIFEST_UNKNOWN") && !strings.Contains(err.Error(), "NAME_UNKNOWN") {
			t.Errorf("tag %s: %v", ref, err)
		}
		return
	}
	if err := indexComplete(idx); err != nil {
		t.Errorf("tag %s points at an incomplete or corrupt index: %v", ref, err)
	}
}

// indexComplete reads every manifest, config and layer of idx and checks
// each against its digest.
func indexComplete(idx v1.ImageIndex) error {
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	if len(im.Manifests) == 0 {
		return fmt.Errorf("empty index")
	}
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			return fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		raw, err := img.RawManifest()
		if err != nil {
			return fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		if h, _, _ := v1.SHA256(bytes.NewReader(raw)); h != d.Digest {
			return fmt.Errorf("manifest %s has digest %s", d.Digest, h)
		}
		m, err := img.Manifest()
		if err != nil {
			return err
		}
		cfg, err := img.RawConfigFile()
		if err != nil {
			return fmt.Errorf("config %s: %w", m.Config.Digest, err)
		}
		if h, _, _ := v1.SHA256(bytes.NewReader(cfg)); h != m.Config.Digest {
			return fmt.Errorf("config %s has digest %s", m.Config.Digest, h)
		}
		for _, l := range m.Layers {
			layer, err := img.LayerByDigest(l.Digest)
			if err != nil {
				return fmt.Errorf("layer %s: %w", l.Digest, err)
			}
			rc, err := layer.Compressed()
			if err != nil {
				return fmt.Errorf("layer %s: %w", l.Digest, err)
			}
			h, n, err := v1.SHA256(rc)
			rc.Close()
			if err != nil || h != l.Digest || n != l.Size {
				return fmt.Errorf("layer %s: read %s, %d bytes (%v)", l.Digest, h, n, err)
			}
		}
	}
	return nil
}

// assertCacheSound walks a cache directory: no temporary files left, every
// cached .deb hashes to its name, every cached layer to its recorded
// digest.
func assertCacheSound(t *testing.T, cache string) {
	t.Helper()
	var debs, layers int
	filepath.Walk(cache, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(cache, p)
		base := fi.Name()
		switch {
		case strings.HasPrefix(base, ".tmp-") || strings.HasPrefix(base, "run-") || strings.Contains(base, ".partial"):
			t.Errorf("temporary file left in the cache: %s", rel)
		case strings.HasSuffix(base, ".deb") && strings.Contains(rel, "sha256"):
			debs++
			if got := fileSHA(t, p); got+".deb" != base {
				t.Errorf("cached %s hashes to %s", rel, got)
			}
		case strings.HasSuffix(base, ".json") && filepath.Base(filepath.Dir(p)) == "layers":
			var m struct {
				Digest string
				Size   int64
			}
			raw, _ := os.ReadFile(p)
			if json.Unmarshal(raw, &m) != nil || m.Digest == "" {
				return nil
			}
			layers++
			blobs, _ := filepath.Glob(strings.TrimSuffix(p, ".json") + ".tar.*")
			for _, b := range blobs {
				if got := "sha256:" + fileSHA(t, b); got != m.Digest {
					t.Errorf("cached layer %s is %s, its entry says %s", b, got, m.Digest)
				}
			}
		}
		return nil
	})
	if debs == 0 || layers == 0 {
		t.Errorf("cache %s: %d .debs and %d layers: the walk saw nothing to check", cache, debs, layers)
	}
}

func fileSHA(t *testing.T, p string) string {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil))
}

// proxy forwards to a backend and lets a test decide, per request, to
// answer a fault instead.
type proxy struct {
	srv  *httptest.Server
	host string
	rp   *httputil.ReverseProxy
	mu   sync.Mutex
	rule func(r *http.Request) fault
	// counters
	faults atomic.Int64
	reqs   []string
}

type fault struct {
	status     int           // answer this status instead
	retryAfter int           // seconds, with status
	reset      bool          // read part of the request body, then drop the connection
	delay      time.Duration // wait before forwarding
	throttle   int           // bytes per second for the response body (0: unlimited)
	stall      chan struct{} // wait until closed (or the client leaves) before forwarding
}

func newProxy(t *testing.T, backend string) *proxy {
	u, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{rp: httputil.NewSingleHostReverseProxy(u)}
	p.rp.ErrorLog = nil
	p.srv = httptest.NewServer(p)
	t.Cleanup(p.srv.Close)
	p.host = strings.TrimPrefix(p.srv.URL, "http://")
	return p
}

func (p *proxy) setRule(fn func(r *http.Request) fault) {
	p.mu.Lock()
	p.rule = fn
	p.mu.Unlock()
}

func (p *proxy) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.reqs...)
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	rule := p.rule
	p.reqs = append(p.reqs, r.Method+" "+r.URL.Path)
	p.mu.Unlock()
	var f fault
	if rule != nil {
		f = rule(r)
	}
	if f.stall != nil {
		select {
		case <-f.stall:
		case <-r.Context().Done():
			return
		}
	}
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	switch {
	case f.status != 0:
		p.faults.Add(1)
		io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		if f.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.retryAfter))
		}
		http.Error(w, http.StatusText(f.status), f.status)
		return
	case f.reset:
		p.faults.Add(1)
		io.CopyN(io.Discard, r.Body, 512)
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic("no hijacker")
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetLinger(0) // RST, not FIN
			}
			conn.Close()
		}
		return
	case f.throttle > 0:
		p.rp.ServeHTTP(&throttled{ResponseWriter: w, rate: f.throttle}, r)
		return
	}
	p.rp.ServeHTTP(w, r)
}

// throttled writes a response body at rate bytes per second.
type throttled struct {
	http.ResponseWriter
	rate int
}

func (t *throttled) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		chunk := min(len(b), max(t.rate/20, 1))
		m, err := t.ResponseWriter.Write(b[:chunk])
		n += m
		if err != nil {
			return n, err
		}
		if f, ok := t.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		b = b[chunk:]
		time.Sleep(50 * time.Millisecond)
	}
	return n, nil
}

func (t *throttled) Flush() {
	if f, ok := t.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// firstN returns a rule applying f to the first n requests matching sel.
func firstN(n int, sel func(r *http.Request) bool, f fault) func(r *http.Request) fault {
	var mu sync.Mutex
	seen := 0
	return func(r *http.Request) fault {
		if !sel(r) {
			return fault{}
		}
		mu.Lock()
		defer mu.Unlock()
		if seen >= n {
			return fault{}
		}
		seen++
		return f
	}
}

func isBlobUpload(r *http.Request) bool {
	return strings.Contains(r.URL.Path, "/blobs/uploads/") && (r.Method == http.MethodPatch || r.Method == http.MethodPut)
}

func isManifestPut(r *http.Request) bool {
	return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/")
}

func isDeb(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, ".deb") }
