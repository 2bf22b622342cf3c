package archive_test

// The archive side of the fault suite: a mirror (apttest.Fault) that
// stalls, truncates, resets, serves corrupt data, fails transiently
// (503, 429 with Retry-After) or redirects where it must not. Transient
// faults: the operation succeeds after retries. Permanent ones: a clear
// error naming the URL. In every case nothing corrupt or temporary is left
// in the cache.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/apt/apttest"
	"github.com/pgassemble/pgassemble/pkg/apt/archive"
)

// fastTimeouts keep the stall cases short.
var fastTimeouts = archive.WithTimeouts(archive.Timeouts{Connect: time.Second, Idle: 300 * time.Millisecond, Request: 5 * time.Second})

// assertCacheVerified checks that every .deb and blob in the cache has the
// SHA256 its name says, and that no temporary file is left.
func assertCacheVerified(t *testing.T, cache string) {
	t.Helper()
	assertNoTemp(t, cache)
	for _, f := range cacheFiles(t, cache) {
		if !strings.HasPrefix(f, "debs/sha256/") && !strings.HasPrefix(f, "blobs/sha256/") {
			continue
		}
		want := strings.TrimSuffix(filepath.Base(f), ".deb")
		if got := fileSHA256(t, filepath.Join(cache, f)); got != want {
			t.Errorf("cache holds %s with SHA256 %s", f, got)
		}
	}
}

func TestMirrorFaults(t *testing.T) {
	type target int
	const (
		inRelease target = iota
		index
		deb
	)
	for _, tc := range []struct {
		name    string
		target  target
		fault   apttest.Fault
		wantErr error // nil: transient, the operation succeeds
	}{
		{"InRelease 503 once", inRelease, apttest.Fault{Status: 503, Times: 1}, nil},
		{"InRelease 429 Retry-After once", inRelease, apttest.Fault{Status: 429, RetryAfter: "1", Times: 1}, nil},
		{"InRelease stalls once", inRelease, apttest.Fault{Stall: true, StallAfter: 20, Times: 1}, nil},
		{"InRelease reset once", inRelease, apttest.Fault{Reset: true, Times: 1}, nil},
		{"InRelease stalls always", inRelease, apttest.Fault{Stall: true}, archive.ErrTimeout},
		{"InRelease stalls before the body", inRelease, apttest.Fault{Stall: true, StallAfter: 0}, archive.ErrTimeout},
		{"InRelease 503 always", inRelease, apttest.Fault{Status: 503}, nil /* any error */},
		{"index stalls once", index, apttest.Fault{Stall: true, StallAfter: 10, Times: 1}, nil},
		{"index corrupt once", index, apttest.Fault{Corrupt: true, Times: 1}, nil},
		{"index corrupt always", index, apttest.Fault{Corrupt: true}, archive.ErrChecksum},
		{"deb 429 Retry-After once", deb, apttest.Fault{Status: 429, RetryAfter: "0", Times: 1}, nil},
		{"deb truncated once", deb, apttest.Fault{TruncateAt: 7, Times: 1}, nil},
		{"deb reset once", deb, apttest.Fault{Reset: true, Times: 1}, nil},
		{"deb stalls mid-body once", deb, apttest.Fault{Stall: true, StallAfter: 100, Times: 1}, nil},
		{"deb stalls always", deb, apttest.Fault{Stall: true, StallAfter: 100}, archive.ErrTimeout},
		{"deb corrupt always", deb, apttest.Fault{Corrupt: true}, archive.ErrChecksum},
		{"deb truncated always", deb, apttest.Fault{TruncateAt: 7}, nil /* any error */},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := apttest.NewRepo(t, trixie(func(c *apttest.Config) { c.NoByHash = true }))
			ctx := context.Background()
			cache := t.TempDir()
			c := newClient(cache, fastTimeouts)
			var url string
			switch tc.target {
			case inRelease:
				url = "/dists/trixie/InRelease"
			case index:
				url = "/dists/trixie/main/binary-amd64/Packages.xz"
			case deb:
				url = "/" + r.Deb("foo", "1.0-1", "amd64").Path
			}
			r.SetFault(url, tc.fault)
			pkgs, err := c.Indexes(ctx, repos(t, r, r.KeyringFile), "amd64")
			if err == nil {
				_, err = c.Download(ctx, []*apt.Package{find(t, pkgs, "foo")})
			}
			permanent := tc.fault.Times == 0
			switch {
			case !permanent && err != nil:
				t.Fatalf("transient fault: %v", err)
			case permanent && err == nil:
				t.Fatal("permanent fault: no error")
			case permanent && (!strings.Contains(err.Error(), r.URL+url) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr))):
				t.Fatalf("err = %v, want %v naming %s", err, tc.wantErr, r.URL+url)
			}
			if n := r.Hits(url); n < 2 {
				t.Errorf("%d requests of %s, want retries", n, url)
			}
			assertCacheVerified(t, cache)
		})
	}
}

// A Retry-After longer than the backoff is waited for.
func TestRetryAfterIsHonoured(t *testing.T) {
	r := apttest.NewRepo(t, trixie())
	r.SetFault("/dists/trixie/InRelease", apttest.Fault{Status: 503, RetryAfter: "1", Times: 1})
	start := time.Now()
	if _, err := newClient(t.TempDir()).Release(context.Background(), repos(t, r, r.KeyringFile)[0]); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("retried after %s, the server asked for 1s", waited)
	}
}

// Redirects: followed across hosts and from http to https as apt does;
// refused to other schemes (file: above all, with an error that says
// nothing of the local file) and from https down to http.
func TestRedirects(t *testing.T) {
	t.Run("to file", func(t *testing.T) {
		r := apttest.NewRepo(t, trixie())
		secret := filepath.Join(t.TempDir(), "secret-file")
		os.WriteFile(secret, []byte("0123456789"), 0o600)
		r.SetFault("/dists/trixie/InRelease", apttest.Fault{Redirect: "file://" + secret})
		_, err := newClient(t.TempDir()).Release(context.Background(), repos(t, r, r.KeyringFile)[0])
		if !errors.Is(err, archive.ErrRedirect) {
			t.Fatalf("err = %v, want ErrRedirect", err)
		}
		if strings.Contains(err.Error(), "secret-file") || strings.Contains(err.Error(), "10") {
			t.Errorf("error reveals the local file: %v", err)
		}
	})
	t.Run("to another host", func(t *testing.T) {
		r := apttest.NewRepo(t, trixie())
		other := strings.Replace(r.URL, "127.0.0.1", "localhost", 1)
		deb := "/" + r.Deb("foo", "1.0-1", "amd64").Path
		r.SetFault(deb, apttest.Fault{Redirect: other + deb, Times: 1})
		c := newClient(t.TempDir())
		pkgs, err := c.Indexes(context.Background(), repos(t, r, r.KeyringFile), "amd64")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Download(context.Background(), []*apt.Package{find(t, pkgs, "foo")}); err != nil {
			t.Fatal(err)
		}
		if n := r.Hits(deb); n != 2 {
			t.Errorf("%d requests of %s, want the redirect and the file", n, deb)
		}
	})
	t.Run("https to http", func(t *testing.T) {
		r := apttest.NewRepo(t, trixie())
		tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			http.Redirect(w, req, r.URL+req.URL.Path, http.StatusFound)
		}))
		defer tls.Close()
		rs := repos(t, r, r.KeyringFile)
		rs[0].URI = tls.URL
		_, err := newClient(t.TempDir(), archive.WithHTTPClient(tls.Client())).Release(context.Background(), rs[0])
		if !errors.Is(err, archive.ErrRedirect) || !strings.Contains(err.Error(), tls.URL) {
			t.Fatalf("err = %v, want ErrRedirect naming %s", err, tls.URL)
		}
	})
}
