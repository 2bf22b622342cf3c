package fault

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pgassemble/pgassemble/internal/fixture"
	"github.com/pgassemble/pgassemble/pkg/apt/apttest"
)

// TestRegistryTransientFaults: faults a registry recovers from. The build
// succeeds, the tag names a complete index, the cache is sound.
func TestRegistryTransientFaults(t *testing.T) {
	tests := []struct {
		name string
		rule func(r *http.Request) fault
	}{
		{"503 with Retry-After on blob uploads", firstN(2, isBlobUpload, fault{status: http.StatusServiceUnavailable, retryAfter: 1})},
		{"429 with Retry-After on a manifest", firstN(1, isManifestPut, fault{status: http.StatusTooManyRequests, retryAfter: 1})},
		{"connection reset in the middle of a blob upload", firstN(1, func(r *http.Request) bool {
			return isBlobUpload(r) && r.ContentLength != 0
		}, fault{reset: true})},
		{"slow link", func(r *http.Request) fault { return fault{delay: 20 * time.Millisecond, throttle: 256 << 10} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := fixture.New(t)
			p := newProxy(t, w.Registry.URL)
			p.setRule(tt.rule)
			cache := t.TempDir()
			res := run(t, buildArgs(w, p.host, cache)...)
			if res.code != 0 {
				t.Fatalf("exit %d after %d injected faults:\n%s", res.code, p.faults.Load(), res.stderr)
			}
			if tt.name != "slow link" && p.faults.Load() == 0 {
				t.Fatal("no fault was injected: the case tests nothing")
			}
			assertTagComplete(t, w, true)
			assertCacheSound(t, cache)
		})
	}
}

// TestRegistryPermanentFaults: refusals that do not go away. The build
// fails with an error naming the registry and what was refused, and the
// tag does not exist (never an incomplete index).
func TestRegistryPermanentFaults(t *testing.T) {
	tests := []struct {
		name string
		rule func(r *http.Request) fault
		want string // in the error
	}{
		{"manifests refused", func(r *http.Request) fault {
			if isManifestPut(r) {
				return fault{status: http.StatusForbidden}
			}
			return fault{}
		}, "manifest"},
		{"tag refused after the index", func(r *http.Request) fault {
			if isManifestPut(r) && strings.HasSuffix(r.URL.Path, "/"+tag) {
				return fault{status: http.StatusForbidden}
			}
			return fault{}
		}, tag},
		{"blob uploads always reset", func(r *http.Request) fault {
			if isBlobUpload(r) && r.ContentLength != 0 {
				return fault{reset: true}
			}
			return fault{}
		}, "blob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := fixture.New(t)
			p := newProxy(t, w.Registry.URL)
			p.setRule(tt.rule)
			cache := t.TempDir()
			res := run(t, buildArgs(w, p.host, cache)...)
			if res.code == 0 {
				t.Fatalf("the build succeeded although the registry refused:\n%s", res.stderr)
			}
			if !strings.Contains(res.stderr, p.host) || !strings.Contains(res.stderr, tt.want) {
				t.Errorf("error does not name the registry %s and %q:\n%s", p.host, tt.want, res.stderr)
			}
			assertTagComplete(t, w, false)
			assertCacheSound(t, cache)
		})
	}
}

// deb1Name is the file name of the .deb the mirror cases break.
const deb1Name = "postgresql-common_262_all.deb"

// TestMirrorFaults: a mirror that fails once is retried; one that serves
// a corrupt file fails the build naming it, and nothing of it is cached.
func TestMirrorFaults(t *testing.T) {
	tests := []struct {
		name   string
		fault  func(w *fixture.World, deb apttest.PoolFile)
		ok     bool
		errHas []string
	}{
		{"503 once", func(w *fixture.World, deb apttest.PoolFile) {
			w.Debian.SetFault("/"+deb.Path, apttest.Fault{Status: http.StatusServiceUnavailable, Times: 1})
		}, true, nil},
		{"truncated once", func(w *fixture.World, deb apttest.PoolFile) {
			w.Debian.SetFault("/"+deb.Path, apttest.Fault{TruncateAt: 64, Times: 1})
		}, true, nil},
		{"corrupt file", func(w *fixture.World, deb apttest.PoolFile) { w.Debian.Corrupt(deb.Path) },
			false, []string{"postgresql-common", "SHA256"}},
		{"stalls once", func(w *fixture.World, deb apttest.PoolFile) {
			w.Debian.SetFault("/"+deb.Path, apttest.Fault{Stall: true, StallAfter: 16, Times: 1})
		}, true, nil},
		{"stalls always", func(w *fixture.World, deb apttest.PoolFile) {
			w.Debian.SetFault("/"+deb.Path, apttest.Fault{Stall: true, StallAfter: 16})
		}, false, []string{"postgresql-common", deb1Name, "timeout"}},
		{"404", func(w *fixture.World, deb apttest.PoolFile) {
			w.Debian.SetFault("/"+deb.Path, apttest.Fault{Status: http.StatusNotFound})
		}, false, []string{"postgresql-common", "404"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := fixture.New(t)
			deb := w.Debian.Deb("postgresql-common", "262", "all")
			tt.fault(w, deb)
			cache := t.TempDir()
			// A stalled mirror is given up after 1 s of silence, twice.
			res := run(t, buildArgs(w, w.RegHost, cache, "--http-timeout", "1s", "--http-retries", "1")...)
			if tt.ok {
				if res.code != 0 {
					t.Fatalf("exit %d:\n%s", res.code, res.stderr)
				}
				assertTagComplete(t, w, true)
				assertCacheSound(t, cache)
				return
			}
			if res.code == 0 {
				t.Fatalf("the build succeeded with a bad mirror:\n%s", res.stderr)
			}
			for _, s := range tt.errHas {
				if !strings.Contains(res.stderr, s) {
					t.Errorf("error does not mention %q:\n%s", s, res.stderr)
				}
			}
			if _, err := os.Stat(filepath.Join(cache, "debs", "sha256", deb.SHA256+".deb")); err == nil {
				t.Error("the bad file is in the cache")
			}
			assertTagComplete(t, w, false)
		})
	}
}

// TestInterruptedBuildResumes interrupts a build (SIGINT, and SIGKILL
// which leaves its temporary files behind) while it downloads, then runs
// it again: the rerun completes without downloading again what the first
// run verified, and no temporary file is left.
func TestInterruptedBuildResumes(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) { interruptAndResume(t, sig) })
	}
}

func interruptAndResume(t *testing.T, sig syscall.Signal) {
	w := fixture.New(t)
	p := newProxy(t, w.Debian.URL)
	stall := make(chan struct{})
	var mu sync.Mutex
	var done []string
	debs := 0
	p.setRule(func(r *http.Request) fault {
		if !isDeb(r) {
			return fault{}
		}
		mu.Lock()
		defer mu.Unlock()
		debs++
		if debs > 2 {
			return fault{stall: stall}
		}
		done = append(done, r.URL.Path)
		return fault{}
	})
	defer close(stall)
	cache := t.TempDir()
	layout := filepath.Join(t.TempDir(), "layout")
	args := buildArgs(w, w.RegHost, cache, "--debian-mirror", p.srv.URL, "--output", "oci:"+layout)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := command(ctx, t, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := debs
		mu.Unlock()
		if n > 2 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the build never reached its third download:\n%s", stderr.String())
		}
	}
	time.Sleep(100 * time.Millisecond)
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err == nil {
			t.Fatal("the interrupted build exited 0")
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the build did not stop within 30s of %v:\n%s", sig, stderr.String())
	}
	if left, _ := filepath.Glob(filepath.Join(cache, "*", "tmp", "run-*")); len(left) > 0 {
		t.Logf("left by the %v run, to be swept: %v", sig, left)
	}
	mu.Lock()
	first := append([]string(nil), done...)
	mu.Unlock()

	before := len(p.requests())
	p.setRule(nil)
	res := run(t, args...)
	if res.code != 0 {
		t.Fatalf("rerun: exit %d:\n%s", res.code, res.stderr)
	}
	again := map[string]bool{}
	for _, r := range p.requests()[before:] {
		again[strings.TrimPrefix(r, "GET ")] = true
	}
	for _, d := range first {
		if again[d] {
			t.Errorf("%s was verified by the interrupted run and downloaded again", d)
		}
	}
	assertCacheSound(t, cache)
	if left, _ := filepath.Glob(filepath.Join(layout, "blobs", "sha256", ".tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left in the layout: %v", left)
	}
	if _, err := os.Stat(filepath.Join(layout, "index.json")); err != nil {
		t.Errorf("the rerun wrote no layout: %v", err)
	}
}

// TestConcurrentBakes runs two bakes of the same targets at once on one
// cache: both succeed with the same index, and the cache is sound.
func TestConcurrentBakes(t *testing.T) {
	w := fixture.New(t)
	cache := t.TempDir()
	args := []string{"bake", "--base-image", w.BaseRef, "--registry", w.RegHost, "--cache-dir", cache,
		"--pg", "17", "--type", "minimal", "--base", "trixie", "--allow-unhandled-scripts", "--json"}
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = run(t, args...)
		}()
	}
	wg.Wait()
	var index []string
	for i, r := range results {
		if r.code != 0 {
			t.Fatalf("bake %d: exit %d:\n%s", i, r.code, r.stderr)
		}
		var reports []struct{ Index string }
		if err := json.Unmarshal([]byte(r.stdout), &reports); err != nil || len(reports) != 1 {
			t.Fatalf("bake %d: report %q: %v", i, r.stdout, err)
		}
		index = append(index, reports[0].Index)
	}
	if index[0] != index[1] {
		t.Errorf("the two bakes built different indexes: %s, %s", index[0], index[1])
	}
	assertTagComplete(t, w, true)
	assertCacheSound(t, cache)
}
