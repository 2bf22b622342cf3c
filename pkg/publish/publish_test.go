package publish

import (
	"bytes"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var testPlatforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}

// testIndex builds a 2-platform OCI index whose images share a first
// layer, as images built on one base do, with annotations on the index
// and on each manifest descriptor.
func testIndex(t testing.TB) v1.ImageIndex {
	t.Helper()
	shared, err := random.Layer(2048, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	return testIndexOn(t, shared)
}

// testIndexOn is testIndex with a given first layer, so several indexes
// can share it, as minimal and standard share their package layers.
func testIndexOn(t testing.TB, shared v1.Layer) v1.ImageIndex {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for i, p := range testPlatforms {
		own, err := random.Layer(int64(1024*(i+1)), types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		img, err = mutate.AppendLayers(img, shared, own)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = p.OS, p.Architecture
		cf.Config.User = "26"
		img, err = mutate.ConfigFile(img, cf)
		if err != nil {
			t.Fatal(err)
		}
		plat := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add: img,
			Descriptor: v1.Descriptor{
				Platform:    &plat,
				Annotations: map[string]string{"org.opencontainers.image.title": "test " + p.Architecture},
			},
		})
	}
	return mutate.Annotations(idx, map[string]string{
		"org.opencontainers.image.version": "17.12",
		"org.opencontainers.image.title":   "test index",
	}).(v1.ImageIndex)
}

// distinctBlobs counts the layers and configs under idx.
func distinctBlobs(t testing.TB, idx v1.ImageIndex) int {
	t.Helper()
	p, err := planIndex(idx)
	if err != nil {
		t.Fatal(err)
	}
	return len(p.blobs)
}

// request is one request the test registry saw.
type request struct {
	Method, Path, Query string
	Status              int
}

var blobWriteRe = regexp.MustCompile(`/blobs/uploads/`)

func (r request) isBlobWrite() bool {
	return (r.Method == http.MethodPost || r.Method == http.MethodPatch || r.Method == http.MethodPut) && blobWriteRe.MatchString(r.Path)
}

func (r request) isManifestPut() bool {
	return r.Method == http.MethodPut && strings.Contains(r.Path, "/manifests/")
}

// manifestRef is the digest or tag of a manifest request.
func (r request) manifestRef() string {
	_, ref, _ := strings.Cut(r.Path, "/manifests/")
	return ref
}

// testRegistry is go-containerregistry's in-process registry on
// 127.0.0.1, recording every request and failing those fault selects.
type testRegistry struct {
	srv   *httptest.Server
	mu    sync.Mutex
	log   []request
	fault func(r *http.Request) bool
}

func newTestRegistry(t testing.TB) *testRegistry {
	t.Helper()
	tr := &testRegistry{}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	tr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		fault := tr.fault
		tr.mu.Unlock()
		status := 0
		if fault != nil && fault(r) {
			io.Copy(io.Discard, r.Body)
			status = http.StatusInternalServerError
			http.Error(w, "injected fault", status)
		} else {
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			inner.ServeHTTP(rec, r)
			status = rec.status
		}
		tr.mu.Lock()
		tr.log = append(tr.log, request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Status: status})
		tr.mu.Unlock()
	}))
	t.Cleanup(tr.srv.Close)
	return tr
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (tr *testRegistry) host() string { return strings.TrimPrefix(tr.srv.URL, "http://") }

func (tr *testRegistry) setFault(f func(r *http.Request) bool) {
	tr.mu.Lock()
	tr.fault = f
	tr.mu.Unlock()
}

// takeLog returns the requests seen since the last call.
func (tr *testRegistry) takeLog() []request {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	l := tr.log
	tr.log = nil
	return l
}

func countBlobWrites(reqs []request) int {
	n := 0
	for _, r := range reqs {
		if r.isBlobWrite() {
			n++
		}
	}
	return n
}

// fastRetry keeps fault tests short; the retry logic itself is
// go-containerregistry's.
var fastRetry = remote.Backoff{Duration: time.Millisecond, Factor: 2, Steps: 2}

func testOptions(extra ...Option) []Option {
	return append([]Option{WithKeychain(authn.NewMultiKeychain()), WithRetryBackoff(fastRetry)}, extra...)
}

// recordingProgress records Progress events.
type recordingProgress struct {
	mu                     sync.Mutex
	started, done, skipped map[v1.Hash]int64
	bytes                  map[v1.Hash]int64
	errs                   int
}

func newRecordingProgress() *recordingProgress {
	return &recordingProgress{started: map[v1.Hash]int64{}, done: map[v1.Hash]int64{}, skipped: map[v1.Hash]int64{}, bytes: map[v1.Hash]int64{}}
}

func (p *recordingProgress) BlobStart(d v1.Hash, size int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.started[d] = size
}

func (p *recordingProgress) BlobBytes(d v1.Hash, n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bytes[d] = n
}

func (p *recordingProgress) BlobDone(d v1.Hash, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done[d]++
	if err != nil {
		p.errs++
	}
}

func (p *recordingProgress) BlobSkipped(d v1.Hash, size int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.skipped[d] = size
}

// checkIndexContent reads every manifest, config and layer under idx and
// checks each against its digest and size.
func checkIndexContent(t *testing.T, idx v1.ImageIndex) {
	t.Helper()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, desc := range im.Manifests {
		img, err := idx.Image(desc.Digest)
		if err != nil {
			t.Fatalf("image %s: %v", desc.Digest, err)
		}
		raw, err := img.RawManifest()
		if err != nil {
			t.Fatalf("image %s manifest: %v", desc.Digest, err)
		}
		if h, n, _ := v1.SHA256(bytes.NewReader(raw)); h != desc.Digest || n != desc.Size {
			t.Errorf("manifest %s: got %s, %d bytes", desc.Digest, h, n)
		}
		rawCfg, err := img.RawConfigFile()
		if err != nil {
			t.Fatalf("image %s config: %v", desc.Digest, err)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if h, _, _ := v1.SHA256(bytes.NewReader(rawCfg)); h != m.Config.Digest {
			t.Errorf("config of %s: got %s, want %s", desc.Digest, h, m.Config.Digest)
		}
		for _, ld := range m.Layers {
			l, err := img.LayerByDigest(ld.Digest)
			if err != nil {
				t.Fatalf("layer %s: %v", ld.Digest, err)
			}
			rc, err := l.Compressed()
			if err != nil {
				t.Fatalf("layer %s: %v", ld.Digest, err)
			}
			h, n, err := v1.SHA256(rc)
			rc.Close()
			if err != nil || h != ld.Digest || n != ld.Size {
				t.Errorf("layer %s: got %s, %d bytes, %v", ld.Digest, h, n, err)
			}
		}
	}
}

func testImageBase() v1.Image { return mutate.ConfigMediaType(empty.Image, types.OCIConfigJSON) }

func testIndexBase() v1.ImageIndex { return mutate.IndexMediaType(empty.Index, types.OCIImageIndex) }
