package regcache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

const key = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// tamper serves the registry, replacing blob bodies while on is set.
type tamper struct {
	next http.Handler
	on   atomic.Bool
}

func (h *tamper) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.on.Load() && r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
		rec := httptest.NewRecorder()
		h.next.ServeHTTP(rec, r)
		body := bytes.ToUpper(rec.Body.Bytes())
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(body)
		return
	}
	h.next.ServeHTTP(w, r)
}

func TestStoreFetch(t *testing.T) {
	h := &tamper{next: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	srv := httptest.NewServer(h)
	defer srv.Close()
	c, err := New(strings.TrimPrefix(srv.URL, "http://") + "/cache/layers")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	src := t.TempDir()
	files := map[string]string{key + ".json": `{"Version":4}`, key + ".gz": "layer bytes", key + ".abc.observe": "sidecar"}
	var paths []string
	for n, body := range files {
		p := filepath.Join(src, n)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}

	missing := strings.Repeat("f", 64)
	if ok, err := c.Fetch(ctx, missing, t.TempDir(), ""); ok || err != nil {
		t.Fatalf("Fetch of an absent entry: %v, %v; want false, nil", ok, err)
	}
	if err := c.Store(ctx, key, paths); err != nil {
		t.Fatal(err)
	}
	dst, tmp := t.TempDir(), t.TempDir()
	if ok, err := c.Fetch(ctx, key, dst, tmp); !ok || err != nil {
		t.Fatalf("Fetch: %v, %v", ok, err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("a fetch left %d files in its temporary directory", len(left))
	}
	for n, body := range files {
		got, err := os.ReadFile(filepath.Join(dst, n))
		if err != nil || string(got) != body {
			t.Errorf("%s: %q, %v; want %q", n, got, err, body)
		}
	}

	// Bytes that do not match the manifest's digests never enter the cache.
	h.on.Store(true)
	bad, badTmp := t.TempDir(), t.TempDir()
	ok, err := c.Fetch(ctx, key, bad, badTmp)
	if ok || err == nil {
		t.Fatalf("Fetch of tampered blobs: %v, %v; want an error", ok, err)
	}
	for _, d := range []string{bad, badTmp} {
		if left, _ := os.ReadDir(d); len(left) != 0 {
			t.Errorf("a failed fetch left %d files in %s", len(left), d)
		}
	}
	h.on.Store(false)

	if err := c.Store(ctx, key, []string{filepath.Join(src, "other.json")}); !errors.Is(err, ErrBadEntry) {
		t.Errorf("Store of a file of another entry: %v, want ErrBadEntry", err)
	}
	if _, err := c.Fetch(ctx, "../x", dst, ""); !errors.Is(err, ErrBadEntry) {
		t.Errorf("Fetch of a bad key: %v, want ErrBadEntry", err)
	}
}
