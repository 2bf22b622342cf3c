package archive_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/apt/archive"
)

// hostMirror returns the host's main Debian mirror URI from its apt
// sources, or skips when there is none or it does not answer.
func hostMirror(t testing.TB) string {
	t.Helper()
	srcs, err := archive.ReadSources(os.DirFS("/"))
	if err != nil {
		t.Skipf("cannot read the host's apt sources: %v", err)
	}
	for _, s := range srcs {
		if s.Enabled && slices.Contains(s.Types, "deb") && slices.Contains(s.Components, "main") &&
			len(s.URIs) > 0 && !strings.Contains(s.URIs[0], "security") {
			m := strings.TrimRight(s.URIs[0], "/")
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodHead, m+"/dists/trixie/InRelease", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Skipf("the host's Debian mirror %s is unreachable: %v", m, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Skipf("the host's Debian mirror %s has no trixie InRelease: %s", m, resp.Status)
			}
			return m
		}
	}
	t.Skip("the host's apt sources name no Debian mirror with a main component")
	return ""
}

// TestRealDebianRelease verifies the real trixie InRelease (RSA keys,
// several signatures) with the keyrings a Debian system has, in each form.
func TestRealDebianRelease(t *testing.T) {
	mirror := hostMirror(t)
	const binKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
	if _, err := os.Stat(binKeyring); err != nil {
		t.Skipf("%s is absent (package debian-archive-keyring): %v", binKeyring, err)
	}
	root := os.DirFS("/")
	bin, err := archive.LoadKeyrings(root, binKeyring)
	if err != nil {
		t.Fatal(err)
	}
	def, err := archive.DefaultKeyring(root) // /etc/apt/trusted.gpg.d/*.asc on Debian 12
	if err != nil {
		t.Fatal(err)
	}
	_, _, other := testKeyFiles(t)
	for _, tc := range []struct {
		name    string
		kr      *archive.Keyring
		wantErr error
	}{
		{"binary keyring", bin, nil},
		{"trusted.gpg.d", def, nil},
		{"unrelated key", other, archive.ErrUnknownKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.kr.Entities) == 0 {
				t.Skipf("no keys in %s on this host", tc.kr)
			}
			cache := t.TempDir()
			c := archive.New(archive.WithCacheDir(cache))
			rel, err := c.Release(context.Background(), archive.Repo{URI: mirror, Suite: "trixie", Components: []string{"main"}, Keyring: tc.kr})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				if files := cacheFiles(t, cache); len(files) != 0 {
					t.Errorf("cache after failure: %v", files)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rel.Codename != "trixie" || rel.Files["main/binary-arm64/Packages.xz"].Size == 0 || !rel.AcquireByHash {
				t.Errorf("release: codename %q, %d files, by-hash %v", rel.Codename, len(rel.Files), rel.AcquireByHash)
			}
		})
	}
}

// BenchmarkWarmDownload measures Download of postgresql-17's install set
// (trixie arm64 over a minbase system) when every .deb is already cached:
// what a warm build pays to re-verify the cache.
func BenchmarkWarmDownload(b *testing.B) {
	mirror := hostMirror(b)
	kr, err := archive.LoadKeyrings(os.DirFS("/"), "/usr/share/keyrings/debian-archive-keyring.gpg")
	if err != nil {
		b.Skipf("no Debian keyring: %v", err)
	}
	sf, err := os.Open("../../../testdata/trixie-minbase-arm64.status")
	if err != nil {
		b.Fatal(err)
	}
	installed, err := apt.ParseStatus(sf)
	sf.Close()
	if err != nil {
		b.Fatal(err)
	}
	cache := b.TempDir()
	ctx := context.Background()
	c := archive.New(archive.WithCacheDir(cache))
	pkgs, err := c.Indexes(ctx, []archive.Repo{{URI: mirror, Suite: "trixie", Components: []string{"main"}, Keyring: kr}}, "arm64")
	if err != nil {
		b.Skipf("indexes of %s: %v", mirror, err)
	}
	set, err := apt.Resolve(apt.NewUniverse("arm64", pkgs), installed, []string{"postgresql-17"}, apt.ResolveOptions{})
	if err != nil {
		b.Fatal(err)
	}
	list := make([]*apt.Package, len(set.Packages))
	var size int64
	for i, p := range set.Packages {
		list[i] = p.Package
		size += p.Size
	}
	if _, err := c.Download(ctx, list); err != nil {
		b.Skipf("cold download: %v", err)
	}
	b.SetBytes(size)
	for b.Loop() {
		c := archive.New(archive.WithCacheDir(cache)) // a new process each time
		if _, err := c.Download(ctx, list); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(list)), "debs")
}
