package archive_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"weak"

	"github.com/klauspost/compress/zstd"

	"github.com/pgassemble/pgassemble/internal/debtest"
	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/apt/apttest"
	"github.com/pgassemble/pgassemble/pkg/apt/archive"
)

func testPackages() map[string][]debtest.Deb {
	return map[string][]debtest.Deb{
		"main": {
			{Control: debtest.Control("Package", "foo", "Version", "1.0-1", "Architecture", "amd64",
				"Depends", "bar (>= 2), baz"), Files: []debtest.File{{Path: "/usr/bin/foo", Body: "foo"}}},
			{Control: debtest.Control("Package", "bar", "Version", "2:2.0-1", "Architecture", "amd64",
				"Multi-Arch", "same")},
			{Control: debtest.Control("Package", "baz", "Version", "3", "Architecture", "all")},
			{Control: debtest.Control("Package", "qux", "Version", "1", "Architecture", "arm64")},
		},
		"contrib": {
			{Control: debtest.Control("Package", "extra", "Version", "0.1", "Architecture", "all")},
		},
	}
}

// repos turns an apttest repository into archive.Repos the way the CLI
// does: a source line plus a keyring file.
func repos(t *testing.T, r *apttest.Repo, keyring string, suite ...string) []archive.Repo {
	t.Helper()
	src, err := archive.ParseSourceLine(r.SourceLine(suite...))
	if err != nil {
		t.Fatal(err)
	}
	src.SignedBy = []string{keyring}
	rs, err := archive.Repos(os.DirFS("/"), []archive.Source{src})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func newClient(cache string, opts ...archive.Option) *archive.Client {
	return archive.New(append([]archive.Option{
		archive.WithCacheDir(cache),
		archive.WithRetries(2, time.Millisecond),
	}, opts...)...)
}

// cacheFiles lists the regular files under dir, relative, sorted.
func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	for _, f := range cacheFiles(t, dir) {
		if strings.Contains(f, ".tmp-") {
			t.Errorf("temporary file left in cache: %s", f)
		}
	}
}

func names(pkgs []*apt.Package) string {
	var s []string
	for _, p := range pkgs {
		s = append(s, p.Name+"="+p.Version+":"+p.Architecture)
	}
	return strings.Join(s, " ")
}

func TestIndexesDownloadAndWarmCache(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     apttest.Config
		armored bool
	}{
		{name: "xz by-hash binary keyring", cfg: apttest.Config{Suite: "trixie", Packages: testPackages()}},
		{name: "gz armored keyring", cfg: apttest.Config{Suite: "trixie", Packages: testPackages(), Compressions: []string{"gz"}, NoByHash: true}, armored: true},
		{name: "plain only, Release.gpg only", cfg: apttest.Config{Suite: "trixie", Packages: testPackages(), Compressions: []string{""}, NoInRelease: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := apttest.NewRepo(t, tc.cfg)
			kr := r.KeyringFile
			if tc.armored {
				kr = r.ArmoredKeyringFile
			}
			ctx := context.Background()
			cache := t.TempDir()
			c := newClient(cache)
			pkgs, err := c.Indexes(ctx, repos(t, r, kr), "amd64")
			if err != nil {
				t.Fatal(err)
			}
			// contrib sorts before main in the source line's components.
			if got, want := names(pkgs), "extra=0.1:all foo=1.0-1:amd64 bar=2:2.0-1:amd64 baz=3:all"; got != want {
				t.Fatalf("packages = %s, want %s", got, want)
			}
			for _, p := range pkgs {
				if p.Repository == nil || p.Repository.URI != r.URL || p.Repository.Suite != "trixie" || p.Repository.Origin != "apttest" {
					t.Fatalf("%s: repository = %+v", p.Name, p.Repository)
				}
			}
			paths, err := c.Download(ctx, pkgs)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range paths {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(b)
				if hex.EncodeToString(sum[:]) != pkgs[i].SHA256 {
					t.Fatalf("%s: cached file does not match its SHA256", p)
				}
			}
			if n := r.Hits("/pool/"); n != len(pkgs) {
				t.Fatalf("first run: %d pool requests, want %d", n, len(pkgs))
			}
			assertNoTemp(t, cache)

			// Second run, new client, same cache: only the release file is asked for.
			r.ResetCounts()
			c2 := newClient(cache)
			pkgs2, err := c2.Indexes(ctx, repos(t, r, kr), "amd64")
			if err != nil {
				t.Fatal(err)
			}
			if names(pkgs2) != names(pkgs) {
				t.Fatalf("warm packages = %s", names(pkgs2))
			}
			if _, err := c2.Download(ctx, pkgs2); err != nil {
				t.Fatal(err)
			}
			if n := r.Hits("/pool/"); n != 0 {
				t.Errorf("warm run: %d .deb requests, want 0", n)
			}
			if n := r.HitsMatching("Packages") + r.HitsMatching("by-hash"); n != 0 {
				t.Errorf("warm run: %d index requests, want 0 (%v)", n, r.Requests())
			}
			if n := r.Hits("/"); n > 3 {
				t.Errorf("warm run: %d requests (%v), want only the release files", n, r.Requests())
			}
			if !tc.cfg.NoInRelease {
				if st := r.Statuses("/dists/trixie/InRelease"); len(st) != 1 || st[0] != 304 {
					t.Errorf("warm InRelease answers %v, want one 304 (conditional GET)", st)
				}
			}
		})
	}
}

func TestArchitectureAll(t *testing.T) {
	r := apttest.NewRepo(t, apttest.Config{Suite: "trixie", Arches: []string{"amd64", "arm64"}, Packages: testPackages()})
	pkgs, err := newClient(t.TempDir()).Indexes(context.Background(), repos(t, r, r.KeyringFile), "arm64")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(pkgs), "extra=0.1:all baz=3:all qux=1:arm64"; got != want {
		t.Fatalf("arm64 packages = %s, want %s", got, want)
	}
	// Every package names the InRelease it was verified through.
	resp, err := http.Get(r.URL + "/dists/trixie/InRelease")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sum := sha256.Sum256(raw)
	for _, p := range pkgs {
		if p.Repository.ReleaseSHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: ReleaseSHA256 %q, want the InRelease's %x", p.Name, p.Repository.ReleaseSHA256, sum)
		}
	}
	// An architecture the Release does not list yields nothing, not an error.
	pkgs, err = newClient(t.TempDir()).Indexes(context.Background(), repos(t, r, r.KeyringFile), "riscv64")
	if err != nil || len(pkgs) != 0 {
		t.Fatalf("riscv64: %v, %v", names(pkgs), err)
	}
}

func TestFailures(t *testing.T) {
	const suite = "trixie"
	pkgIndex := "/dists/" + suite + "/main/binary-amd64/Packages.xz"
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, r *apttest.Repo)
		// download: the failure is expected from Download, not Indexes.
		download bool
		opts     []archive.Option
		wantErr  error
		wantMsg  []string
		// hits: URL path whose request count is checked, and the count.
		hitsPath string
		hits     int
		// keep: cache entries allowed after the failure (prefixes).
		keep []string
	}{
		{
			name:    "bad signature",
			setup:   func(t *testing.T, r *apttest.Repo) { r.TamperRelease(suite) },
			wantErr: archive.ErrSignature, wantMsg: []string{"/dists/trixie/InRelease"},
		},
		{
			name: "bad detached signature",
			setup: func(t *testing.T, r *apttest.Repo) {
				r.SetFault("/dists/trixie/InRelease", apttest.Fault{Status: 404})
				r.TamperRelease(suite)
			},
			wantErr: archive.ErrSignature, wantMsg: []string{"/dists/trixie/Release"},
		},
		{
			name: "unknown key",
			setup: func(t *testing.T, r *apttest.Repo) {
				r.SignWith(apttest.NewKey(t, "intruder"))
			},
			wantErr: archive.ErrUnknownKey, wantMsg: []string{"/dists/trixie/InRelease", "signed by key"},
		},
		{
			name: "expired Valid-Until",
			setup: func(t *testing.T, r *apttest.Repo) {
				r.Update(suite, func(c *apttest.Config) { c.ValidUntil = time.Now().Add(-time.Hour) })
			},
			wantErr: archive.ErrExpired, wantMsg: []string{"Valid-Until"},
		},
		{
			name:    "Packages hash differs from Release",
			setup:   func(t *testing.T, r *apttest.Repo) { r.Corrupt(strings.TrimPrefix(pkgIndex, "/")) },
			wantErr: archive.ErrChecksum, wantMsg: []string{"by-hash/SHA256/", "want "},
			keep: []string{"blobs/", "release/"},
		},
		{
			name:    "InRelease HTTP 500",
			setup:   func(t *testing.T, r *apttest.Repo) { r.SetFault("/dists/trixie/InRelease", apttest.Fault{Status: 500}) },
			wantMsg: []string{"500 Internal Server Error", "after 3 attempts"},
			// 1 try + 2 retries.
			hitsPath: "/dists/trixie/InRelease", hits: 3,
		},
		{
			name: "deb hash differs from index",
			setup: func(t *testing.T, r *apttest.Repo) {
				r.Corrupt(r.Deb("foo", "1.0-1", "amd64").Path)
			},
			download: true, wantErr: archive.ErrChecksum, wantMsg: []string{"foo=1.0-1:amd64", "/pool/main/f/foo/foo_1.0-1_amd64.deb", "SHA256"},
			// a checksum mismatch is retried once.
			hitsPath: "/pool/main/f/foo/foo_1.0-1_amd64.deb", hits: 2,
			keep: []string{"blobs/", "release/", "plain/", "debs/"},
		},
		{
			name: "truncated deb",
			setup: func(t *testing.T, r *apttest.Repo) {
				r.SetFault("/"+r.Deb("foo", "1.0-1", "amd64").Path, apttest.Fault{TruncateAt: 10})
			},
			download: true, wantMsg: []string{"foo=1.0-1:amd64", "truncated: got 10 of"},
			hitsPath: "/pool/main/f/foo/foo_1.0-1_amd64.deb", hits: 3,
			keep: []string{"blobs/", "release/", "plain/", "debs/"},
		},
		{
			name: "deb HTTP 404",
			setup: func(t *testing.T, r *apttest.Repo) {
				r.SetFault("/"+r.Deb("foo", "1.0-1", "amd64").Path, apttest.Fault{Status: 404})
			},
			download: true, wantErr: archive.ErrNotFound, wantMsg: []string{"foo=1.0-1:amd64", "404 Not Found"},
			hitsPath: "/pool/main/f/foo/foo_1.0-1_amd64.deb", hits: 1,
			keep: []string{"blobs/", "release/", "plain/", "debs/"},
		},
		{
			name: "deb HTTP 500",
			setup: func(t *testing.T, r *apttest.Repo) {
				r.SetFault("/"+r.Deb("foo", "1.0-1", "amd64").Path, apttest.Fault{Status: 500})
			},
			download: true, wantMsg: []string{"foo=1.0-1:amd64", "500 Internal Server Error", "after 3 attempts"},
			hitsPath: "/pool/main/f/foo/foo_1.0-1_amd64.deb", hits: 3,
			keep: []string{"blobs/", "release/", "plain/", "debs/"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := apttest.NewRepo(t, apttest.Config{Suite: suite, Components: []string{"main"}, Packages: testPackages()})
			tc.setup(t, r)
			cache := t.TempDir()
			c := newClient(cache, tc.opts...)
			ctx := context.Background()
			pkgs, err := c.Indexes(ctx, repos(t, r, r.KeyringFile), "amd64")
			if tc.download {
				if err != nil {
					t.Fatalf("indexes: %v", err)
				}
				_, err = c.Download(ctx, pkgs)
			}
			if err == nil {
				t.Fatal("no error")
			}
			t.Logf("error: %v", err)
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %q is not %v", err, tc.wantErr)
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if tc.hitsPath != "" {
				if n := r.Hits(tc.hitsPath); n != tc.hits {
					t.Errorf("%s requested %d times, want %d", tc.hitsPath, n, tc.hits)
				}
			}
			assertNoTemp(t, cache)
			// Nothing unverified is left: only the allowed kinds of entry,
			// and for a failed .deb, no file of that package.
			for _, f := range cacheFiles(t, cache) {
				ok := false
				for _, k := range tc.keep {
					ok = ok || strings.HasPrefix(f, k)
				}
				if !ok {
					t.Errorf("cache entry left after failure: %s", f)
				}
			}
			if tc.download {
				foo := r.Deb("foo", "1.0-1", "amd64")
				if _, err := os.Stat(c.DebPath(foo.SHA256)); err == nil {
					t.Errorf("failed .deb is in the cache")
				}
			}
		})
	}
}

func TestExpiredOptOutAndRecovery(t *testing.T) {
	r := apttest.NewRepo(t, apttest.Config{Suite: "trixie", Packages: testPackages(),
		ValidUntil: time.Now().Add(-24 * time.Hour)})
	ctx := context.Background()
	cache := t.TempDir()
	if _, err := newClient(cache).Indexes(ctx, repos(t, r, r.KeyringFile), "amd64"); !errors.Is(err, archive.ErrExpired) {
		t.Fatalf("err = %v, want ErrExpired", err)
	}
	pkgs, err := newClient(cache, archive.WithIgnoreValidUntil(true)).Indexes(ctx, repos(t, r, r.KeyringFile), "amd64")
	if err != nil || len(pkgs) != 4 {
		t.Fatalf("with IgnoreValidUntil: %d packages, %v", len(pkgs), err)
	}
}

func TestTransientFailuresAreRetried(t *testing.T) {
	r := apttest.NewRepo(t, apttest.Config{Suite: "trixie", Packages: testPackages()})
	foo := "/" + r.Deb("foo", "1.0-1", "amd64").Path
	r.SetFault(foo, apttest.Fault{Status: 503, Times: 1})
	r.SetFault("/"+r.Deb("bar", "2:2.0-1", "amd64").Path, apttest.Fault{TruncateAt: 5, Times: 1})
	ctx := context.Background()
	prog := &recordingProgress{started: map[string]int64{}, bytes: map[string]int64{}, errs: map[string]error{}}
	c := newClient(t.TempDir(), archive.WithProgress(prog))
	pkgs, err := c.Indexes(ctx, repos(t, r, r.KeyringFile), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Download(ctx, pkgs); err != nil {
		t.Fatal(err)
	}
	if n := r.Hits(foo); n != 2 {
		t.Errorf("foo requested %d times, want 2", n)
	}
	bar := r.Deb("bar", "2:2.0-1", "amd64")
	if n := prog.bytes["bar 2:2.0-1"]; n != bar.Size {
		t.Errorf("progress of bar after a truncated first attempt: %d bytes, want %d", n, bar.Size)
	}
}

func TestByHashMissingFallsBack(t *testing.T) {
	r := apttest.NewRepo(t, apttest.Config{Suite: "trixie", Components: []string{"main"}, Packages: testPackages()})
	// Make every by-hash request 404: the client must use the plain name.
	idx := "/dists/trixie/main/binary-amd64/by-hash/SHA256/"
	c := newClient(t.TempDir())
	rs := repos(t, r, r.KeyringFile)
	rel, err := c.Release(context.Background(), rs[0])
	if err != nil {
		t.Fatal(err)
	}
	r.SetFault(idx+rel.Files["main/binary-amd64/Packages.xz"].SHA256, apttest.Fault{Status: 404})
	pkgs, err := c.Indexes(context.Background(), rs, "amd64")
	if err != nil || len(pkgs) != 3 {
		t.Fatalf("%d packages, %v", len(pkgs), err)
	}
	if r.Hits("/dists/trixie/main/binary-amd64/Packages.xz") != 1 {
		t.Errorf("plain index not fetched after by-hash 404: %v", r.Requests())
	}
}

func TestChangedInReleaseRefetches(t *testing.T) {
	r := apttest.NewRepo(t, apttest.Config{Suite: "trixie", Components: []string{"main"}, Packages: testPackages(),
		Date: time.Now().Add(-2 * time.Minute)})
	ctx := context.Background()
	cache := t.TempDir()
	if _, err := newClient(cache).Indexes(ctx, repos(t, r, r.KeyringFile), "amd64"); err != nil {
		t.Fatal(err)
	}
	r.Update("trixie", func(c *apttest.Config) {
		c.Packages["main"] = append(c.Packages["main"], debtest.Deb{Control: debtest.Control("Package", "new", "Version", "1", "Architecture", "amd64")})
		c.Date = time.Now().Add(-time.Minute)
	})
	pkgs, err := newClient(cache).Indexes(ctx, repos(t, r, r.KeyringFile), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(names(pkgs), "new=1:amd64") {
		t.Fatalf("updated repository not seen: %s", names(pkgs))
	}
}

type recordingProgress struct {
	mu      sync.Mutex
	started map[string]int64
	bytes   map[string]int64
	errs    map[string]error
}

func (p *recordingProgress) Start(name string, size int64) archive.Task {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.started[name] = size
	return &recordingTask{p: p, name: name}
}

type recordingTask struct {
	p    *recordingProgress
	name string
}

func (t *recordingTask) Add(n int64) {
	t.p.mu.Lock()
	defer t.p.mu.Unlock()
	t.p.bytes[t.name] += n
}

func (t *recordingTask) Done(err error) {
	t.p.mu.Lock()
	defer t.p.mu.Unlock()
	t.p.errs[t.name] = err
}

func TestDownloadProgress(t *testing.T) {
	r := apttest.NewRepo(t, apttest.Config{Suite: "trixie", Components: []string{"main"}, Packages: testPackages()})
	ctx := context.Background()
	cache := t.TempDir()
	prog := &recordingProgress{started: map[string]int64{}, bytes: map[string]int64{}, errs: map[string]error{}}
	c := newClient(cache, archive.WithProgress(prog), archive.WithParallelism(2))
	pkgs, err := c.Indexes(ctx, repos(t, r, r.KeyringFile), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Download(ctx, []*apt.Package{pkgs[0], pkgs[0]}); err != nil { // foo only, listed twice
		t.Fatal(err)
	}
	if n := r.Hits("/pool/"); n != 1 {
		t.Errorf("a package listed twice was fetched %d times", n)
	}
	if _, err := c.Download(ctx, pkgs[:1]); err != nil {
		t.Fatal(err)
	}
	prog.started = map[string]int64{}
	if _, err := c.Download(ctx, pkgs); err != nil {
		t.Fatal(err)
	}
	// foo was cached: no task for it. The others report their full size.
	if _, ok := prog.started["foo 1.0-1"]; ok {
		t.Errorf("a cache hit reported a download")
	}
	for _, p := range pkgs[1:] {
		key := p.Name + " " + p.Version
		if prog.started[key] != p.Size || prog.bytes[key] != p.Size || prog.errs[key] != nil {
			t.Errorf("%s: started %d, bytes %d, err %v; want size %d", key, prog.started[key], prog.bytes[key], prog.errs[key], p.Size)
		}
	}
}

func TestDownloadRefusesPackagesWithoutOrigin(t *testing.T) {
	c := newClient(t.TempDir())
	for _, p := range []*apt.Package{
		{Name: "installed", Version: "1", Architecture: "all"},
		{Name: "nohash", Version: "1", Architecture: "all", Repository: &apt.Repository{URI: "http://127.0.0.1:1"}, Filename: "pool/x.deb"},
		{Name: "escape", Version: "1", Architecture: "all", Repository: &apt.Repository{URI: "http://127.0.0.1:1"}, Filename: "pool/../../x.deb", SHA256: strings.Repeat("a", 64)},
	} {
		if _, err := c.Download(context.Background(), []*apt.Package{p}); err == nil || !strings.Contains(err.Error(), p.Name) {
			t.Errorf("%s: err %v", p.Name, err)
		}
	}
}

// TestDownloadChecksEveryPackageFirst: a package that cannot be
// downloaded fails the call before any download starts (none is left
// running after Download returned).
func TestDownloadChecksEveryPackageFirst(t *testing.T) {
	r := apttest.NewRepo(t, apttest.Config{Suite: "trixie", Components: []string{"main"}, Packages: testPackages()})
	ctx := context.Background()
	// One at a time: the second good package waits for the first to be
	// downloaded, so a check made only when the loop reaches the bad one
	// comes after a download.
	c := newClient(t.TempDir(), archive.WithParallelism(1))
	pkgs, err := c.Indexes(ctx, repos(t, r, r.KeyringFile), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	bad := &apt.Package{Name: "installed", Version: "1", Architecture: "all"}
	if _, err := c.Download(ctx, []*apt.Package{pkgs[0], pkgs[1], bad}); err == nil || !strings.Contains(err.Error(), "installed") {
		t.Fatalf("err %v, want one naming the package without a repository", err)
	}
	if n := r.Hits("/pool/"); n != 0 {
		t.Errorf("%d downloads started for a call that failed on its input", n)
	}
}

func TestClientParsesAnIndexOnce(t *testing.T) {
	r := apttest.NewRepo(t, apttest.Config{Suite: "trixie", Components: []string{"main"}, Packages: testPackages()})
	ctx := context.Background()
	c := newClient(t.TempDir())
	a, err := c.Indexes(ctx, repos(t, r, r.KeyringFile), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Indexes(ctx, repos(t, r, r.KeyringFile), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if len(a) == 0 || len(a) != len(b) || a[0] != b[0] {
		t.Fatalf("second Indexes call re-parsed the index")
	}
	// A new client parses again (from the disk cache).
	c2 := newClient(c.CacheDir())
	d, err := c2.Indexes(ctx, repos(t, r, r.KeyringFile), "amd64")
	if err != nil || len(d) != len(a) || d[0] == a[0] {
		t.Fatalf("new client: %d packages, same pointers %v, err %v", len(d), len(d) > 0 && d[0] == a[0], err)
	}
}

func TestFileURISource(t *testing.T) {
	r := apttest.NewRepo(t, apttest.Config{Suite: "trixie", Components: []string{"main"}, Packages: testPackages(), NoInRelease: true})
	src, err := archive.ParseSourceLine("file:" + r.Dir + " trixie main")
	if err != nil {
		t.Fatal(err)
	}
	src.SignedBy = []string{r.ArmoredKeyringFile}
	rs, err := archive.Repos(os.DirFS("/"), []archive.Source{src})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := newClient(t.TempDir())
	pkgs, err := c.Indexes(ctx, rs, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Download(ctx, pkgs); err != nil {
		t.Fatal(err)
	}
	if r.Hits("/") != 0 {
		t.Errorf("file: source went through HTTP")
	}
}

func TestMissingCompressionFallsBack(t *testing.T) {
	r := apttest.NewRepo(t, apttest.Config{Suite: "trixie", Components: []string{"main"}, Packages: testPackages(), NoByHash: true})
	xzPath := "/dists/trixie/main/binary-amd64/Packages.xz"
	r.SetFault(xzPath, apttest.Fault{Status: 404})
	pkgs, err := newClient(t.TempDir()).Indexes(context.Background(), repos(t, r, r.KeyringFile), "amd64")
	if err != nil || len(pkgs) != 3 {
		t.Fatalf("%d packages, %v", len(pkgs), err)
	}
	if r.Hits(xzPath) != 1 || r.Hits("/dists/trixie/main/binary-amd64/Packages.gz") != 1 {
		t.Errorf("requests: %v", r.Requests())
	}
}

// testKeyFiles makes an unrelated key and returns it as a Keyring read
// from a binary file and from an armored file.
func testKeyFiles(t *testing.T) (string, string, *archive.Keyring) {
	t.Helper()
	e := apttest.NewKey(t, "unrelated")
	dir := t.TempDir()
	bin, asc := filepath.Join(dir, "k.gpg"), filepath.Join(dir, "k.asc")
	if err := apttest.WriteKeyring(bin, e, false); err != nil {
		t.Fatal(err)
	}
	if err := apttest.WriteKeyring(asc, e, true); err != nil {
		t.Fatal(err)
	}
	kr, err := archive.LoadKeyrings(os.DirFS("/"), asc)
	if err != nil {
		t.Fatal(err)
	}
	return bin, asc, kr
}

func TestMalformedIndex(t *testing.T) {
	pk := testPackages()
	pk["main"] = append(pk["main"], debtest.Deb{Control: debtest.Control("Package", "bad", "Version", "1", "Architecture", "amd64", "Depends", "foo (>> ")})
	r := apttest.NewRepo(t, apttest.Config{Suite: "trixie", Components: []string{"main"}, Packages: pk})
	cache := t.TempDir()
	_, err := newClient(cache).Indexes(context.Background(), repos(t, r, r.KeyringFile), "amd64")
	if err == nil || !strings.Contains(err.Error(), "/dists/trixie/main/binary-amd64/Packages.xz") || !strings.Contains(err.Error(), `"bad"`) {
		t.Fatalf("err = %v, want one naming the index and the package", err)
	}
	assertNoTemp(t, cache)
	for _, f := range cacheFiles(t, cache) {
		if strings.HasPrefix(f, "plain/") {
			t.Errorf("derived copy of a malformed index kept: %s", f)
		}
	}
	if blobs, _ := filepath.Glob(filepath.Join(cache, "blobs/sha256/*")); len(blobs) != 1 { // the InRelease only
		t.Errorf("blobs after a malformed index: %v", blobs)
	}
}

func TestBinaryAll(t *testing.T) {
	for _, tc := range []struct {
		allIndex   string
		wantAllGet bool
	}{
		{"", false},
		{"separate", true},
		{"both", false}, // No-Support-for-Architecture-all: Packages
	} {
		t.Run("AllIndex="+tc.allIndex, func(t *testing.T) {
			r := apttest.NewRepo(t, apttest.Config{Suite: "trixie", Arches: []string{"amd64", "arm64"}, Packages: testPackages(), AllIndex: tc.allIndex})
			pkgs, err := newClient(t.TempDir()).Indexes(context.Background(), repos(t, r, r.KeyringFile), "arm64")
			if err != nil {
				t.Fatal(err)
			}
			if got, want := names(pkgs), "extra=0.1:all baz=3:all qux=1:arm64"; !sameWords(got, want) {
				t.Fatalf("packages = %s, want %s", got, want)
			}
			if got := r.HitsMatching("binary-all") > 0; got != tc.wantAllGet {
				t.Errorf("binary-all fetched: %v, want %v (%v)", got, tc.wantAllGet, r.Requests())
			}
		})
	}
}

func sameWords(a, b string) bool {
	x, y := strings.Fields(a), strings.Fields(b)
	sort.Strings(x)
	sort.Strings(y)
	return strings.Join(x, " ") == strings.Join(y, " ")
}

// The indexes of two architectures share their "Architecture: all"
// packages (and repositories): one Package per entry, not one per index.
func TestArchitectureAllShared(t *testing.T) {
	r := apttest.NewRepo(t, apttest.Config{Suite: "trixie", Arches: []string{"amd64", "arm64"}, Packages: testPackages()})
	c := newClient(t.TempDir())
	byArch := map[string]map[string]*apt.Package{}
	for _, arch := range []string{"amd64", "arm64"} {
		pkgs, err := c.Indexes(context.Background(), repos(t, r, r.KeyringFile), arch)
		if err != nil {
			t.Fatal(err)
		}
		byArch[arch] = map[string]*apt.Package{}
		for _, p := range pkgs {
			byArch[arch][p.Name] = p
		}
	}
	for _, name := range []string{"baz", "extra"} {
		a, b := byArch["amd64"][name], byArch["arm64"][name]
		if a == nil || b == nil || a != b {
			t.Errorf("%s: amd64 %p, arm64 %p: want one shared package", name, a, b)
		}
	}
	if a, b := byArch["amd64"]["foo"], byArch["arm64"]["qux"]; a.Repository != b.Repository {
		t.Errorf("repositories of foo (amd64) and qux (arm64) differ: %p, %p", a.Repository, b.Repository)
	}
}

// ForgetIndexes leaves the client holding no parsed package; the next
// Indexes call parses again and gives the same packages.
func TestForgetIndexes(t *testing.T) {
	r := apttest.NewRepo(t, apttest.Config{Suite: "trixie", Arches: []string{"amd64", "arm64"}, Packages: testPackages()})
	c := newClient(t.TempDir())
	var held []weak.Pointer[apt.Package]
	var want string
	for _, arch := range []string{"amd64", "arm64"} {
		pkgs, err := c.Indexes(context.Background(), repos(t, r, r.KeyringFile), arch)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkgs {
			held = append(held, weak.Make(p))
		}
		want += names(pkgs) + "\n"
	}
	c.ForgetIndexes()
	runtime.GC()
	for _, w := range held {
		if p := w.Value(); p != nil {
			t.Errorf("%s is still reachable after ForgetIndexes", p.ID())
		}
	}
	var got string
	for _, arch := range []string{"amd64", "arm64"} {
		pkgs, err := c.Indexes(context.Background(), repos(t, r, r.KeyringFile), arch)
		if err != nil {
			t.Fatal(err)
		}
		got += names(pkgs) + "\n"
	}
	if got != want {
		t.Errorf("after ForgetIndexes:\n%s\nwant:\n%s", got, want)
	}
}

// A cached decompressed index that does not match the signed hash is not
// used (though it parses: it holds a package more) and is replaced.
func TestTamperedPlainCopy(t *testing.T) {
	r := apttest.NewRepo(t, apttest.Config{Suite: "trixie", Components: []string{"main"}, Packages: testPackages()})
	cache := t.TempDir()
	want, err := newClient(cache).Indexes(context.Background(), repos(t, r, r.KeyringFile), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	plains, _ := filepath.Glob(filepath.Join(cache, "plain", "*.zst"))
	if len(plains) != 1 {
		t.Fatalf("plain copies: %v", plains)
	}
	f, err := os.Create(plains[0])
	if err != nil {
		t.Fatal(err)
	}
	zw, _ := zstd.NewWriter(f)
	fmt.Fprintf(zw, "Package: intruder\nVersion: 1\nArchitecture: amd64\nFilename: pool/i.deb\nSize: 1\nSHA256: %064x\n\n", 1)
	zw.Close()
	f.Close()
	got, err := newClient(cache).Indexes(context.Background(), repos(t, r, r.KeyringFile), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if names(got) != names(want) {
		t.Errorf("packages with a tampered plain copy: %s, want %s", names(got), names(want))
	}
	again, _ := newClient(cache).Indexes(context.Background(), repos(t, r, r.KeyringFile), "amd64")
	if names(again) != names(want) {
		t.Errorf("packages from the replaced copy: %s, want %s", names(again), names(want))
	}
}

// With an external xz the indexes are the same; an xz that fails is an
// error, never a short index.
func TestIndexesExternalXZ(t *testing.T) {
	xzPath, err := exec.LookPath("xz")
	if err != nil {
		t.Skipf("xz not installed (%v): needed to compare with the pure-Go decoder", err)
	}
	for _, withPlain := range []bool{true, false} {
		r := apttest.NewRepo(t, apttest.Config{Suite: "trixie", Arches: []string{"amd64", "arm64"}, Packages: testPackages(), Compressions: []string{"xz"}})
		if !withPlain {
			// No signed hash of the uncompressed index: nothing but xz's
			// exit status tells a failed decompression.
			r.EditRelease("trixie", func(s string) string {
				var out []string
				for _, l := range strings.Split(s, "\n") {
					if !strings.HasSuffix(strings.TrimSpace(l), "/Packages") {
						out = append(out, l)
					}
				}
				return strings.Join(out, "\n")
			})
		}
		want, err := newClient(t.TempDir()).Indexes(context.Background(), repos(t, r, r.KeyringFile), "arm64")
		if err != nil {
			t.Fatal(err)
		}
		got, err := newClient(t.TempDir(), archive.WithXZCommand(xzPath)).Indexes(context.Background(), repos(t, r, r.KeyringFile), "arm64")
		if err != nil {
			t.Fatal(err)
		}
		if names(got) != names(want) {
			t.Errorf("plain hash %v: with %s: %s, want %s", withPlain, xzPath, names(got), names(want))
		}
		_, err = newClient(t.TempDir(), archive.WithXZCommand("/bin/false")).Indexes(context.Background(), repos(t, r, r.KeyringFile), "arm64")
		if err == nil {
			t.Errorf("plain hash %v: an xz that fails gave an index", withPlain)
		}
	}
}

// Cancelling the context stops an external xz that is still running: the
// process is killed and reaped, and Indexes returns the context's error
// instead of waiting for it.
func TestExternalXZCancelled(t *testing.T) {
	dir := t.TempDir()
	started := filepath.Join(dir, "started")
	script := filepath.Join(dir, "xz")
	// An xz that never answers: it only marks that it runs.
	if err := os.WriteFile(script, []byte("#!/bin/sh\n: > '"+started+"'\nexec sleep 120\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := apttest.NewRepo(t, apttest.Config{Suite: "trixie", Packages: testPackages(), Compressions: []string{"xz"}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := newClient(t.TempDir(), archive.WithXZCommand(script)).Indexes(ctx, repos(t, r, r.KeyringFile), "amd64")
		done <- err
	}()
	for {
		if _, err := os.Stat(started); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Indexes returned before xz ran: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(60 * time.Second): // far below the script's 120 s
		t.Fatal("Indexes still waiting for xz a minute after the context was cancelled")
	}
}

// An xz that writes part of the index and then fails is an error that
// quotes its stderr, not a shorter index, also when the Release signs no
// uncompressed index to compare with.
func TestExternalXZFailsMidway(t *testing.T) {
	xzPath, err := exec.LookPath("xz")
	if err != nil {
		t.Skipf("xz not installed (%v): the failing xz passes on part of a real decompression", err)
	}
	r := apttest.NewRepo(t, apttest.Config{Suite: "trixie", Packages: testPackages(), Compressions: []string{"xz"}})
	r.EditRelease("trixie", func(s string) string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.HasSuffix(strings.TrimSpace(l), "/Packages") {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	})
	// The first stanza, whole, then a failure.
	script := filepath.Join(t.TempDir(), "xz")
	body := "#!/bin/sh\n'" + xzPath + "' -dc | awk 'BEGIN{RS=\"\";ORS=\"\\n\\n\"} NR==1' || exit 3\necho 'xz: (stdin): Compressed data is corrupt' >&2\nexit 1\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := newClient(t.TempDir(), archive.WithXZCommand(script)).Indexes(context.Background(), repos(t, r, r.KeyringFile), "amd64")
	if err == nil {
		t.Fatalf("a failing xz gave an index: %s", names(got))
	}
	if !strings.Contains(err.Error(), "Compressed data is corrupt") || !strings.Contains(err.Error(), "Packages.xz") {
		t.Errorf("err = %v, want xz's stderr and the index named", err)
	}
}

// A cached decompressed index that matches its signed hash but does not
// parse (a stricter parser than the one that cached it) is an error that
// names the index, as it is when the index is read from the archive.
func TestCachedPlainParseErrorNamesIndex(t *testing.T) {
	r := apttest.NewRepo(t, apttest.Config{Suite: "trixie", Components: []string{"main"}, Packages: testPackages(), Compressions: []string{"xz"}})
	bad := fmt.Sprintf("Package: evil\nVersion: 1\nArchitecture: amd64\nFilename: /etc/passwd\nSize: 1\nSHA256: %064x\n", 1)
	r.ReplaceFile("trixie", "main/binary-amd64/Packages", strings.NewReader(bad))
	cache := t.TempDir()
	sum := sha256.Sum256([]byte(bad))
	p := filepath.Join(cache, "plain", hex.EncodeToString(sum[:])+".zst")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest))
	io.WriteString(zw, bad)
	zw.Close()
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := newClient(cache).Indexes(context.Background(), repos(t, r, r.KeyringFile), "amd64")
	if !errors.Is(err, archive.ErrBadIndex) || !strings.Contains(err.Error(), "main/binary-amd64/Packages") {
		t.Errorf("err = %v, want ErrBadIndex naming the index", err)
	}
}

// A tampered cached copy of one architecture's index is read (and its
// "Architecture: all" packages offered for sharing) before its hash is
// known to be wrong: nothing of it reaches either architecture's packages.
func TestTamperedPlainCopySharesNothing(t *testing.T) {
	r := apttest.NewRepo(t, apttest.Config{Suite: "trixie", Arches: []string{"amd64", "arm64"}, Packages: testPackages()})
	cache := t.TempDir()
	for _, arch := range []string{"amd64", "arm64"} {
		if _, err := newClient(cache).Indexes(context.Background(), repos(t, r, r.KeyringFile), arch); err != nil {
			t.Fatal(err)
		}
	}
	// The amd64 main index: baz (all) is fetched from elsewhere, nothing
	// else changes (same name, version, SHA256, and the same size, so
	// that the copy is read to its end).
	plains, _ := filepath.Glob(filepath.Join(cache, "plain", "*.zst"))
	tampered := 0
	for _, p := range plains {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		zr, _ := zstd.NewReader(bytes.NewReader(b))
		text, err := zr.DecodeAll(b, nil)
		zr.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(text, []byte("Package: foo\n")) {
			continue
		}
		i := bytes.Index(text, []byte("Package: baz\n"))
		j := bytes.Index(text[i:], []byte("Filename: pool/main/"))
		if i < 0 || j < 0 {
			t.Fatalf("no baz in %s:\n%s", p, text)
		}
		copy(text[i+j+len("Filename: pool/"):], "evil")
		zw, _ := zstd.NewWriter(nil)
		if err := os.WriteFile(p, zw.EncodeAll(text, nil), 0o644); err != nil {
			t.Fatal(err)
		}
		tampered++
	}
	if tampered != 1 {
		t.Fatalf("%d amd64 main indexes tampered with, want 1 (%v)", tampered, plains)
	}
	c := newClient(cache)
	for _, arch := range []string{"amd64", "arm64"} {
		pkgs, err := c.Indexes(context.Background(), repos(t, r, r.KeyringFile), arch)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range pkgs {
			if p.Name == "baz" {
				found = true
				if strings.Contains(p.Filename, "evil") {
					t.Errorf("%s: baz from %s: the tampered copy's stanza was used", arch, p.Filename)
				}
			}
		}
		if !found {
			t.Errorf("%s: no baz", arch)
		}
	}
}
