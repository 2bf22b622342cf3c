package publish

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

var testTags = []string{"17-standard-trixie", "17.12-standard-trixie", "17.12-202611232300-standard-trixie"}

func remoteDigest(t *testing.T, ref string) (v1.Hash, bool) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(r)
	if err != nil {
		if strings.Contains(err.Error(), "404") || strings.Contains(err.Error(), "MANIFEST_UNKNOWN") {
			return v1.Hash{}, false
		}
		t.Fatalf("HEAD %s: %v", ref, err)
	}
	return desc.Digest, true
}

func TestRegistryPublish(t *testing.T) {
	reg := newTestRegistry(t)
	idx := testIndex(t)
	want, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	nblobs := distinctBlobs(t, idx)
	repo := reg.host() + "/postgresql-testing"
	progress := newRecordingProgress()
	pub, err := NewRegistry(repo, testOptions(WithProgress(progress), WithJobs(3))...)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	res, err := pub.Publish(ctx, idx, testTags)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	reqs := reg.takeLog()
	if res.Digest != want {
		t.Errorf("result digest %s, want %s", res.Digest, want)
	}
	if res.Uploaded != nblobs || res.Skipped != 0 {
		t.Errorf("first publish: uploaded %d skipped %d, want %d and 0", res.Uploaded, res.Skipped, nblobs)
	}
	// Each uploaded blob is exactly one committing PUT at the registry.
	commits := 0
	for _, r := range reqs {
		if r.Method == http.MethodPut && r.isBlobWrite() {
			commits++
		}
	}
	if commits != nblobs {
		t.Errorf("registry saw %d blob commits, want %d", commits, nblobs)
	}
	if len(progress.started) != nblobs || len(progress.done) != nblobs || progress.errs != 0 {
		t.Errorf("progress: %d started, %d done, %d errors; want %d, %d, 0", len(progress.started), len(progress.done), progress.errs, nblobs, nblobs)
	}
	for d, size := range progress.started {
		if progress.bytes[d] != size {
			t.Errorf("progress for %s ended at %d bytes, want %d", d, progress.bytes[d], size)
		}
	}
	if wantRef := repo + "@" + want.String(); res.DigestRef != wantRef {
		t.Errorf("DigestRef %q, want %q", res.DigestRef, wantRef)
	}
	if len(res.Refs) != len(testTags) {
		t.Fatalf("Refs %v, want %d", res.Refs, len(testTags))
	}
	for i, tag := range testTags {
		if res.Refs[i] != repo+":"+tag {
			t.Errorf("Refs[%d] = %q, want %q", i, res.Refs[i], repo+":"+tag)
		}
		if got, ok := remoteDigest(t, repo+":"+tag); !ok || got != want {
			t.Errorf("tag %s points at %s (found %v), want %s", tag, got, ok, want)
		}
	}

	// Read everything back through the registry.
	ref, _ := name.ParseReference(res.DigestRef)
	ridx, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	checkIndexContent(t, ridx)
	im, err := ridx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if im.Annotations["org.opencontainers.image.version"] != "17.12" {
		t.Errorf("index annotations %v lost", im.Annotations)
	}
	if len(im.Manifests) != len(testPlatforms) || len(res.Manifests) != len(testPlatforms) {
		t.Fatalf("index has %d manifests, result %d; want %d", len(im.Manifests), len(res.Manifests), len(testPlatforms))
	}
	for i, p := range testPlatforms {
		d := im.Manifests[i]
		if d.Platform == nil || d.Platform.Architecture != p.Architecture {
			t.Errorf("manifest %d platform %v, want %v", i, d.Platform, p)
		}
		if res.Manifests[i].Digest != d.Digest || res.Manifests[i].Platform == nil || res.Manifests[i].Platform.Architecture != p.Architecture {
			t.Errorf("result manifest %d = %+v, want %s %s", i, res.Manifests[i], d.Digest, p.Architecture)
		}
		img, err := remote.Image(ref.Context().Digest(d.Digest.String()))
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Architecture != p.Architecture || cf.Config.User != "26" {
			t.Errorf("image %s config: arch %q user %q", d.Digest, cf.Architecture, cf.Config.User)
		}
	}

	// A second identical publish uploads nothing and changes nothing.
	progress2 := newRecordingProgress()
	pub2, err := NewRegistry(repo, testOptions(WithProgress(progress2))...)
	if err != nil {
		t.Fatal(err)
	}
	res2, err := pub2.Publish(ctx, idx, testTags)
	if err != nil {
		t.Fatalf("second publish: %v", err)
	}
	reqs2 := reg.takeLog()
	if n := countBlobWrites(reqs2); n != 0 {
		t.Errorf("second publish made %d blob upload requests, want 0", n)
	}
	if res2.Uploaded != 0 || res2.Skipped != nblobs || res2.Digest != want {
		t.Errorf("second publish: uploaded %d skipped %d digest %s; want 0, %d, %s", res2.Uploaded, res2.Skipped, res2.Digest, nblobs, want)
	}
	if len(progress2.started) != 0 || len(progress2.skipped) != nblobs {
		t.Errorf("second publish progress: %d started, %d skipped; want 0, %d", len(progress2.started), len(progress2.skipped), nblobs)
	}
	for _, r := range reqs2 {
		if r.isManifestPut() && strings.HasPrefix(r.manifestRef(), "sha256:") {
			t.Errorf("second publish rewrote manifest %s", r.manifestRef())
		}
	}

	// Publishing again through the same Registry skips without asking.
	res3, err := pub.Publish(ctx, idx, testTags[:1])
	if err != nil || res3.Uploaded != 0 || countBlobWrites(reg.takeLog()) != 0 {
		t.Errorf("third publish: uploaded %d, err %v", res3.Uploaded, err)
	}
}

// TestRegistryOrder checks the order of writes: all blobs, then platform
// manifests, then the index by digest, then the tags.
func TestRegistryOrder(t *testing.T) {
	reg := newTestRegistry(t)
	idx := testIndex(t)
	p, err := planIndex(idx)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := NewRegistry(reg.host()+"/order", testOptions(WithJobs(4))...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(context.Background(), idx, testTags); err != nil {
		t.Fatal(err)
	}
	var phases []int // 0 blob, 1 platform manifest, 2 index by digest, 3 tag
	for _, r := range reg.takeLog() {
		switch {
		case r.isBlobWrite():
			phases = append(phases, 0)
		case r.isManifestPut():
			switch ref := r.manifestRef(); {
			case ref == p.index.digest.String():
				phases = append(phases, 2)
			case strings.HasPrefix(ref, "sha256:"):
				phases = append(phases, 1)
			default:
				phases = append(phases, 3)
			}
		}
	}
	counts := make([]int, 4)
	for i, ph := range phases {
		counts[ph]++
		if i > 0 && ph < phases[i-1] {
			t.Fatalf("write order %v: phase %d after %d", phases, ph, phases[i-1])
		}
	}
	if counts[1] != len(testPlatforms) || counts[2] != 1 || counts[3] != len(testTags) || counts[0] < len(p.blobs) {
		t.Errorf("writes per phase %v, want >=%d blob requests, %d manifests, 1 index, %d tags", counts, len(p.blobs), len(testPlatforms), len(testTags))
	}
}

// TestRegistryFaults injects server errors at each step of a publish over
// tags that point at an older index, and checks that the error names what
// failed and that no tag moved.
func TestRegistryFaults(t *testing.T) {
	type planned struct {
		p   *plan
		idx v1.ImageIndex
	}
	tests := []struct {
		name      string
		fault     func(pl planned, r *http.Request) bool
		wantKind  error
		wantOp    string
		wantObj   func(pl planned) string
		wantMoved int // tags moved to the new index
	}{
		{
			name: "second blob upload",
			fault: func(pl planned, r *http.Request) bool {
				return r.Method == http.MethodPut && r.URL.Query().Get("digest") == pl.p.blobs[1].digest.String()
			},
			wantKind: ErrIncomplete, wantOp: "upload blob",
			wantObj: func(pl planned) string { return pl.p.blobs[1].digest.String() },
		},
		{
			name: "blob upload start",
			fault: func(pl planned, r *http.Request) bool {
				return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/blobs/uploads/")
			},
			wantKind: ErrIncomplete, wantOp: "upload blob",
			wantObj: func(pl planned) string { return "sha256:" },
		},
		{
			name: "platform manifest",
			fault: func(pl planned, r *http.Request) bool {
				return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifests/"+pl.p.manifests[1].digest.String())
			},
			wantKind: ErrIncomplete, wantOp: "push manifest",
			wantObj: func(pl planned) string { return pl.p.manifests[1].digest.String() },
		},
		{
			name: "index manifest",
			fault: func(pl planned, r *http.Request) bool {
				return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifests/"+pl.p.index.digest.String())
			},
			wantKind: ErrIncomplete, wantOp: "push index",
			wantObj: func(pl planned) string { return pl.p.index.digest.String() },
		},
		{
			name: "second tag",
			fault: func(pl planned, r *http.Request) bool {
				return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifests/"+testTags[1])
			},
			wantKind: ErrTagging, wantOp: "tag",
			wantObj:   func(pl planned) string { return testTags[1] },
			wantMoved: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newTestRegistry(t)
			repo := reg.host() + "/postgresql-testing"
			ctx := context.Background()
			pub, err := NewRegistry(repo, testOptions()...)
			if err != nil {
				t.Fatal(err)
			}
			old := testIndex(t)
			oldDigest, _ := old.Digest()
			if _, err := pub.Publish(ctx, old, testTags); err != nil {
				t.Fatalf("publish old index: %v", err)
			}

			idx := testIndex(t)
			p, err := planIndex(idx)
			if err != nil {
				t.Fatal(err)
			}
			pl := planned{p: p, idx: idx}
			reg.setFault(func(r *http.Request) bool { return tt.fault(pl, r) })
			// A fresh publisher: nothing of the new index is known to it.
			pub, err = NewRegistry(repo, testOptions()...)
			if err != nil {
				t.Fatal(err)
			}
			_, err = pub.Publish(ctx, idx, testTags)
			if err == nil {
				t.Fatal("publish succeeded despite the injected fault")
			}
			t.Logf("error: %v", err)
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("error %T %v is not a *publish.Error", err, err)
			}
			if !errors.Is(err, tt.wantKind) {
				t.Errorf("error %v does not match %v", err, tt.wantKind)
			}
			if perr.Op != tt.wantOp || perr.Status != http.StatusInternalServerError {
				t.Errorf("error op %q status %d, want %q 500", perr.Op, perr.Status, tt.wantOp)
			}
			msg := err.Error()
			for _, want := range []string{repo, tt.wantOp, tt.wantObj(pl), "HTTP 500"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
			reg.setFault(nil)
			newDigest := p.index.digest
			for i, tag := range testTags {
				got, _ := remoteDigest(t, repo+":"+tag)
				want := oldDigest
				if i < tt.wantMoved {
					want = newDigest
				}
				if got != want {
					t.Errorf("after failed publish, tag %s points at %s, want %s", tag, got, want)
				}
			}

			// Once the registry recovers, a re-run completes the publish.
			res, err := pub.Publish(ctx, idx, testTags)
			if err != nil {
				t.Fatalf("re-run: %v", err)
			}
			for _, tag := range testTags {
				if got, _ := remoteDigest(t, repo+":"+tag); got != res.Digest {
					t.Errorf("after re-run, tag %s points at %s, want %s", tag, got, res.Digest)
				}
			}
		})
	}
}

// TestRegistryConcurrentShared publishes several indexes sharing a layer
// through one Registry at once: the shared layer is uploaded once.
func TestRegistryConcurrentShared(t *testing.T) {
	reg := newTestRegistry(t)
	pub, err := NewRegistry(reg.host()+"/postgresql-testing", testOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := random.Layer(4096, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	idxs := make([]v1.ImageIndex, n)
	distinct := map[v1.Hash]bool{}
	for i := range idxs {
		idxs[i] = testIndexOn(t, shared)
		p, err := planIndex(idxs[i])
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range p.blobs {
			distinct[b.digest] = true
		}
	}
	results := make([]Result, n)
	g, ctx := errgroup.WithContext(context.Background())
	for i := range idxs {
		g.Go(func() (err error) {
			results[i], err = pub.Publish(ctx, idxs[i], []string{fmt.Sprintf("t%d", i)})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	commits, uploaded := 0, 0
	for _, r := range reg.takeLog() {
		if r.Method == http.MethodPut && r.isBlobWrite() {
			commits++
		}
	}
	for _, r := range results {
		uploaded += r.Uploaded
	}
	if commits != len(distinct) || uploaded != len(distinct) {
		t.Errorf("%d blob commits, %d counted uploads; want %d distinct blobs once each", commits, uploaded, len(distinct))
	}
}

func TestRegistryUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there any more

	// Default retry settings: a refused connection must not be retried
	// for long.
	pub, err := NewRegistry(addr+"/postgresql-testing", WithKeychain(authn.NewMultiKeychain()))
	if err != nil {
		t.Fatal(err)
	}
	_, err = pub.Publish(context.Background(), testIndex(t), testTags)
	if !errors.Is(err, ErrIncomplete) {
		t.Fatalf("error %v, want ErrIncomplete", err)
	}
	t.Logf("error: %v", err)
	var perr *Error
	if !errors.As(err, &perr) || perr.Op != "connect" {
		t.Fatalf("error %v, want op connect", err)
	}
	for _, want := range []string{addr, "connection refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestRegistryBadInput(t *testing.T) {
	reg := newTestRegistry(t)
	tests := []struct {
		name string
		repo string
		tags []string
		want string
	}{
		{"empty tag", reg.host() + "/x", []string{"ok", ""}, "parse tag"},
		{"tag with slash", reg.host() + "/x", []string{"a/b"}, "parse tag"},
		{"tag with colon", reg.host() + "/x", []string{"a:b"}, "parse tag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, err := NewRegistry(tt.repo, testOptions()...)
			if err != nil {
				t.Fatal(err)
			}
			_, err = pub.Publish(context.Background(), testIndex(t), tt.tags)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrIncomplete) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
			if n := len(reg.takeLog()); n != 0 {
				t.Errorf("bad input reached the registry with %d requests", n)
			}
		})
	}
	if _, err := NewRegistry("UPPER/case"); err == nil {
		t.Error("NewRegistry accepted an invalid repository")
	}
}

func TestNewRegistryScheme(t *testing.T) {
	tests := []struct {
		repo     string
		insecure bool
		want     string
	}{
		{"localhost:5000/postgresql-testing", false, "http"},
		{"127.0.0.1:5000/x", false, "http"},
		{"registry.example/x", false, "https"},
		{"registry.example/x", true, "http"},
	}
	for _, tt := range tests {
		pub, err := NewRegistry(tt.repo, WithInsecure(tt.insecure))
		if err != nil {
			t.Fatal(err)
		}
		if got := pub.repo.Scheme(); got != tt.want {
			t.Errorf("%s insecure=%v: scheme %s, want %s", tt.repo, tt.insecure, got, tt.want)
		}
	}
}

// BenchmarkRegistryRepublish measures a publish where the registry has
// everything already: the common case of a rebuild.
func BenchmarkRegistryRepublish(b *testing.B) {
	reg := newTestRegistry(b)
	idx := testIndex(b)
	ctx := context.Background()
	first, err := NewRegistry(reg.host()+"/bench", testOptions()...)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := first.Publish(ctx, idx, testTags); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		pub, err := NewRegistry(reg.host()+"/bench", testOptions()...)
		if err != nil {
			b.Fatal(err)
		}
		if res, err := pub.Publish(ctx, idx, testTags); err != nil || res.Uploaded != 0 {
			b.Fatal(res.Uploaded, err)
		}
	}
}
