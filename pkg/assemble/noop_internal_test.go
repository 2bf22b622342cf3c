package assemble

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pgassemble/pgassemble/internal/debtest"
	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/apt/apttest"
	"github.com/pgassemble/pgassemble/pkg/apt/archive"
)

// TestReleaseRefsAreTheBuildsOwn: the no-op record names the InRelease
// the build's indexes were verified through, not one fetched afterwards:
// a mirror that moves between the two must make the next run build.
func TestReleaseRefsAreTheBuildsOwn(t *testing.T) {
	ctx := context.Background()
	deb := func(name string) debtest.Deb {
		return debtest.Deb{Control: debtest.Control("Package", name, "Version", "1", "Architecture", "amd64")}
	}
	r := apttest.NewRepo(t, apttest.Config{Suite: "stable", Date: time.Now().Add(-2 * time.Hour), Packages: map[string][]debtest.Deb{"main": {deb("a")}}})
	b := &Builder{client: archive.New(archive.WithCacheDir(t.TempDir()), archive.WithRetries(0, time.Millisecond))}
	repos := []archive.Repo{{URI: r.URL, Suite: "stable", Components: []string{"main"}, Trusted: true}}
	pkgs, err := b.client.Indexes(ctx, repos, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	u := apt.NewUniverse("amd64", pkgs)
	used := pkgs[0].Repository.ReleaseSHA256
	// The mirror publishes a new InRelease while the build runs.
	r.Update("stable", func(c *apttest.Config) {
		c.Date = time.Now().Add(-time.Hour) // Last-Modified moves too
		c.Packages["main"] = append(c.Packages["main"], deb("b"))
	})
	refs, err := b.releaseRefs(ctx, repos, u)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0].SHA256 != used {
		t.Fatalf("recorded %+v, want the InRelease the indexes came from (%s)", refs, used)
	}
}

// TestRecordRefusesMixedReleases: platforms resolved through different
// InRelease files of one repository cannot be proven unchanged by either.
func TestRecordRefusesMixedReleases(t *testing.T) {
	base := &Base{Digest: v1.Hash{Algorithm: "sha256", Hex: "1111111111111111111111111111111111111111111111111111111111111111"}}
	rel := func(sum string) []ReleaseRef { return []ReleaseRef{{URL: "http://m/dists/s/InRelease", SHA256: sum}} }
	res := &Result{Index: empty.Index, Plan: &TargetPlan{BaseRef: "b", Platforms: []*PlatformPlan{
		{Base: base, Releases: rel("aa")}, {Base: base, Releases: rel("bb")},
	}}}
	p, err := Record("k", res, nil)
	if err != nil || p != nil {
		t.Fatalf("Record = %+v, %v; want nil, nil", p, err)
	}
	res.Plan.Platforms[1].Releases = rel("aa")
	if p, err := Record("k", res, nil); err != nil || p == nil || len(p.Releases) != 1 {
		t.Fatalf("Record with one InRelease = %+v, %v", p, err)
	}
}

// TestLoadRecordVerifies: a record whose manifest is not the index it
// names (damaged, or written by something else) is no record: the no-op
// path would tag those bytes.
func TestLoadRecordVerifies(t *testing.T) {
	dir := t.TempDir()
	raw, _ := empty.Index.RawManifest()
	d, _ := empty.Index.Digest()
	mt, _ := empty.Index.MediaType()
	good := Published{Version: publishedVersion, Key: "k", Refs: []string{"r/p:t"}, Index: d.String(), Manifest: raw, MediaType: string(mt)}
	tests := []struct {
		name string
		edit func(*Published)
		ok   bool
	}{
		{"as recorded", func(*Published) {}, true},
		{"manifest not the index", func(p *Published) { p.Manifest = []byte(`{"schemaVersion":2,"manifests":[]}`) }, false},
		{"no refs", func(p *Published) { p.Refs = nil }, false},
		{"not an index", func(p *Published) { p.MediaType = string(types.OCIManifestSchema1) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := good
			tt.edit(&p)
			if err := SaveRecord(dir, &p); err != nil {
				t.Fatal(err)
			}
			if got := LoadRecord(dir, "k"); (got != nil) != tt.ok {
				t.Fatalf("LoadRecord = %v, want a record: %v", got, tt.ok)
			}
			if !tt.ok {
				if err := (&Builder{}).Unchanged(context.Background(), &p, UnchangedOptions{}); !errors.Is(err, ErrChanged) {
					t.Fatalf("Unchanged = %v, want ErrChanged", err)
				}
			}
		})
	}
}

// TestUnchangedFetchesThroughTheArchiveClient: the InRelease check is
// made as the build makes it: a mirror failing once is retried, and a
// file: mirror is read.
func TestUnchangedFetchesThroughTheArchiveClient(t *testing.T) {
	ctx := context.Background()
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img})
	baseRef, pubRef := host+"/base:1", host+"/out:1"
	for _, ref := range []string{baseRef, pubRef} {
		r, _ := name.ParseReference(ref, name.Insecure)
		if err := remote.WriteIndex(r, idx); err != nil {
			t.Fatal(err)
		}
	}
	d, _ := idx.Digest()
	raw, _ := idx.RawManifest()
	mt, _ := idx.MediaType()

	r := apttest.NewRepo(t, apttest.Config{Suite: "stable"})
	inrel, err := os.ReadFile(filepath.Join(r.Dir, "dists", "stable", "InRelease"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(inrel)
	local := filepath.Join(t.TempDir(), "InRelease")
	if err := os.WriteFile(local, inrel, 0o644); err != nil {
		t.Fatal(err)
	}
	r.SetFault("/dists/stable/InRelease", apttest.Fault{Status: http.StatusServiceUnavailable, Times: 1})

	b := &Builder{client: archive.New(archive.WithCacheDir(t.TempDir()), archive.WithRetries(2, time.Millisecond))}
	p := &Published{Version: publishedVersion, Key: "k", BaseRef: baseRef, BaseDigest: d.String(),
		Releases: []ReleaseRef{
			{URL: r.URL + "/dists/stable/InRelease", SHA256: hex.EncodeToString(sum[:])},
			{URL: "file://" + local, SHA256: hex.EncodeToString(sum[:])},
		},
		Refs: []string{pubRef}, Index: d.String(), Manifest: raw, MediaType: string(mt)}
	if err := b.Unchanged(ctx, p, UnchangedOptions{}); err != nil {
		t.Fatalf("Unchanged: %v", err)
	}
	p.Releases[1].SHA256 = strings.Repeat("0", 64)
	if err := b.Unchanged(ctx, p, UnchangedOptions{}); !errors.Is(err, ErrChanged) {
		t.Fatalf("Unchanged with another InRelease: %v, want ErrChanged", err)
	}
}

// TestReleaseRefsWithoutInRelease: a repository with only Release and
// Release.gpg is recorded by its Release file, which the no-op check can
// fetch again (not an InRelease URL that answers 404 on every run).
func TestReleaseRefsWithoutInRelease(t *testing.T) {
	ctx := context.Background()
	deb := debtest.Deb{Control: debtest.Control("Package", "a", "Version", "1", "Architecture", "amd64")}
	r := apttest.NewRepo(t, apttest.Config{Suite: "stable", NoInRelease: true, Packages: map[string][]debtest.Deb{"main": {deb}}})
	b := &Builder{client: archive.New(archive.WithCacheDir(t.TempDir()), archive.WithRetries(0, time.Millisecond))}
	repos := []archive.Repo{{URI: r.URL, Suite: "stable", Components: []string{"main"}, Trusted: true}}
	pkgs, err := b.client.Indexes(ctx, repos, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	refs, err := b.releaseRefs(ctx, repos, apt.NewUniverse("amd64", pkgs))
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0].URL != r.URL+"/dists/stable/Release" {
		t.Fatalf("recorded %+v, want the Release file", refs)
	}
	if sum, err := b.client.SHA256(ctx, refs[0].URL); err != nil || sum != refs[0].SHA256 {
		t.Fatalf("GET %s: %s, %v; want %s", refs[0].URL, sum, err, refs[0].SHA256)
	}
}
