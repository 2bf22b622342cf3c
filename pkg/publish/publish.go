package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Publisher writes an image index and everything under it to one
// destination and, last, points every tag at it.
type Publisher interface {
	// Publish writes the index, its manifests and all blobs, then (last)
	// points every tag at it. Tags are bare tags ("17-standard-trixie"),
	// not full references. With no tags the index is written by digest only.
	Publish(ctx context.Context, idx v1.ImageIndex, tags []string) (Result, error)
}

// Result describes what a Publish call wrote.
type Result struct {
	// Digest, MediaType and Size describe the index manifest.
	Digest    v1.Hash
	MediaType types.MediaType
	Size      int64
	// DigestRef is the index by digest: "REGISTRY/REPO@sha256:..." or
	// "oci:DIR@sha256:...".
	DigestRef string
	// Refs are the full references of the tags, in the order given:
	// "REGISTRY/REPO:TAG" or "oci:DIR:TAG".
	Refs []string
	// Manifests are the index's children, in index order.
	Manifests []Manifest
	// Uploaded and Skipped count distinct blobs (layers and configs):
	// written now, or already present at the destination.
	Uploaded, Skipped           int
	UploadedBytes, SkippedBytes int64
}

// Manifest is one child of the published index.
type Manifest struct {
	Digest    v1.Hash
	MediaType types.MediaType
	Size      int64
	Platform  *v1.Platform // nil when the index does not say
}

// Progress receives per-blob events. Implementations must be safe for
// concurrent use (blobs are written in parallel) and cheap: BlobBytes is
// called for every read of a blob's bytes.
type Progress interface {
	// BlobStart is called when a blob starts being written.
	BlobStart(digest v1.Hash, size int64)
	// BlobBytes reports the bytes of the blob written so far in the
	// current attempt; a retried upload starts again from zero.
	BlobBytes(digest v1.Hash, written int64)
	// BlobDone is called once per started blob, with the outcome.
	BlobDone(digest v1.Hash, err error)
	// BlobSkipped is called for a blob the destination already has.
	BlobSkipped(digest v1.Hash, size int64)
}

// Sentinel errors; every error returned by Publish matches exactly one.
var (
	// ErrIncomplete: something failed before any tag was written. Blobs
	// and manifests may have been written, but no tag was created or
	// moved. Re-running the publish is safe.
	ErrIncomplete = errors.New("publish incomplete, no tag written")
	// ErrTagging: everything under the index was written, but writing a
	// tag failed; tags before it in the list may already point at the new
	// index (a registry offers no transaction across tags).
	ErrTagging = errors.New("publish complete but tagging failed")
)

// Error says what was being written, where, and how it failed.
type Error struct {
	Kind   error  // ErrIncomplete or ErrTagging
	Target string // "localhost:5000/postgresql-testing" or "oci:DIR"
	Op     string // "connect", "upload blob", "push manifest", "push index", "tag", "write blob", "update index.json", ...
	Object string // digest or tag, may be empty
	Status int    // HTTP status code, 0 when there was no HTTP response
	Err    error
}

func (e *Error) Error() string {
	s := "publish to " + e.Target + ": " + e.Op
	if e.Object != "" {
		s += " " + e.Object
	}
	if e.Status != 0 {
		s += fmt.Sprintf(": HTTP %d %s", e.Status, http.StatusText(e.Status))
	}
	return s + ": " + e.Err.Error()
}

// Unwrap lets errors.Is match both the kind and the cause.
func (e *Error) Unwrap() []error { return []error{e.Kind, e.Err} }

func newError(kind error, target, op, object string, err error) *Error {
	e := &Error{Kind: kind, Target: target, Op: op, Object: object, Err: err}
	var terr *transport.Error
	if errors.As(err, &terr) {
		e.Status = terr.StatusCode
	}
	return e
}

// Option configures a publisher. Options that do not apply to a
// destination (a keychain for a layout) are ignored by it.
type Option func(*options)

type options struct {
	keychain  authn.Keychain
	insecure  bool
	transport http.RoundTripper
	jobs      int
	progress  Progress
	logger    *slog.Logger
	backoff   *remote.Backoff
	userAgent string
}

func makeOptions(opts []Option) options {
	o := options{
		keychain:  authn.DefaultKeychain,
		transport: remote.DefaultTransport,
		jobs:      4,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.jobs < 1 {
		o.jobs = 1
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if o.progress == nil {
		o.progress = nopProgress{}
	}
	return o
}

// WithKeychain sets where registry credentials come from; the default is
// authn.DefaultKeychain, i.e. the Docker config.
func WithKeychain(kc authn.Keychain) Option { return func(o *options) { o.keychain = kc } }

// WithInsecure uses plain HTTP for the registry. Loopback registries
// (localhost, 127.0.0.1, ::1) use plain HTTP without it.
func WithInsecure(insecure bool) Option { return func(o *options) { o.insecure = insecure } }

// WithJobs sets how many blobs are written concurrently (default 4).
func WithJobs(n int) Option { return func(o *options) { o.jobs = n } }

// WithProgress reports per-blob progress to p.
func WithProgress(p Progress) Option { return func(o *options) { o.progress = p } }

// WithLogger logs each step at debug level and a summary at info level.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithRetryBackoff overrides how failed registry requests are retried
// (go-containerregistry's default: 3 tries, 1 s then 3 s apart).
func WithRetryBackoff(b remote.Backoff) Option { return func(o *options) { o.backoff = &b } }

// WithUserAgent sets the User-Agent sent to registries.
func WithUserAgent(ua string) Option { return func(o *options) { o.userAgent = ua } }

type nopProgress struct{}

func (nopProgress) BlobStart(v1.Hash, int64)   {}
func (nopProgress) BlobBytes(v1.Hash, int64)   {}
func (nopProgress) BlobDone(v1.Hash, error)    {}
func (nopProgress) BlobSkipped(v1.Hash, int64) {}

// blob is one distinct layer or config of the index.
type blob struct {
	layer  v1.Layer
	digest v1.Hash
	size   int64
}

// manifestNode is one manifest (image or nested index) under the index.
type manifestNode struct {
	digest    v1.Hash
	mediaType types.MediaType
	raw       []byte
	taggable  remote.Taggable
}

// plan lists what an index consists of, in the order it must be written:
// blobs, then manifests children-first, then the index.
type plan struct {
	blobs     []blob
	manifests []manifestNode
	index     manifestNode
	children  []Manifest
}

func planIndex(idx v1.ImageIndex) (*plan, error) {
	p := &plan{}
	seenBlob := map[v1.Hash]bool{}
	seenManifest := map[v1.Hash]bool{}

	addImage := func(img v1.Image) error {
		layers, err := img.Layers()
		if err != nil {
			return fmt.Errorf("layers: %w", err)
		}
		cfg, err := partial.ConfigLayer(img)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		for _, l := range append(layers, cfg) {
			d, err := l.Digest()
			if err != nil {
				return fmt.Errorf("blob digest: %w", err)
			}
			if seenBlob[d] {
				continue
			}
			size, err := l.Size()
			if err != nil {
				return fmt.Errorf("blob %s size: %w", d, err)
			}
			seenBlob[d] = true
			p.blobs = append(p.blobs, blob{layer: l, digest: d, size: size})
		}
		return nil
	}

	var walk func(ii v1.ImageIndex, depth int) error
	walk = func(ii v1.ImageIndex, depth int) error {
		if depth > 8 {
			return errors.New("indexes nested too deep")
		}
		im, err := ii.IndexManifest()
		if err != nil {
			return fmt.Errorf("index manifest: %w", err)
		}
		for _, desc := range im.Manifests {
			var node manifestNode
			switch {
			case desc.MediaType.IsIndex():
				child, err := ii.ImageIndex(desc.Digest)
				if err != nil {
					return fmt.Errorf("child index %s: %w", desc.Digest, err)
				}
				if err := walk(child, depth+1); err != nil {
					return fmt.Errorf("child index %s: %w", desc.Digest, err)
				}
				node.taggable = child
			case desc.MediaType.IsImage():
				img, err := ii.Image(desc.Digest)
				if err != nil {
					return fmt.Errorf("image %s: %w", desc.Digest, err)
				}
				if err := addImage(img); err != nil {
					return fmt.Errorf("image %s: %w", desc.Digest, err)
				}
				node.taggable = img
			default:
				return fmt.Errorf("child %s: unsupported media type %q", desc.Digest, desc.MediaType)
			}
			if seenManifest[desc.Digest] {
				continue
			}
			seenManifest[desc.Digest] = true
			raw, err := node.taggable.RawManifest()
			if err != nil {
				return fmt.Errorf("manifest %s: %w", desc.Digest, err)
			}
			if got, _, err := v1.SHA256(bytes.NewReader(raw)); err != nil || got != desc.Digest {
				return fmt.Errorf("manifest %s: content has digest %s", desc.Digest, got)
			}
			node.digest, node.mediaType, node.raw = desc.Digest, desc.MediaType, raw
			p.manifests = append(p.manifests, node)
		}
		return nil
	}

	if err := walk(idx, 0); err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("index manifest: %w", err)
	}
	for _, d := range im.Manifests {
		p.children = append(p.children, Manifest{Digest: d.Digest, MediaType: d.MediaType, Size: d.Size, Platform: d.Platform})
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("index manifest: %w", err)
	}
	d, err := idx.Digest()
	if err != nil {
		return nil, fmt.Errorf("index digest: %w", err)
	}
	mt, err := idx.MediaType()
	if err != nil {
		return nil, fmt.Errorf("index media type: %w", err)
	}
	p.index = manifestNode{digest: d, mediaType: mt, raw: raw, taggable: idx}
	return p, nil
}

func (p *plan) result() Result {
	return Result{
		Digest:    p.index.digest,
		MediaType: p.index.mediaType,
		Size:      int64(len(p.index.raw)),
		Manifests: p.children,
	}
}

// countingReader reports the bytes read through it to Progress.
type countingReader struct {
	io.ReadCloser
	digest   v1.Hash
	progress Progress
	n        atomic.Int64
}

func (r *countingReader) Read(b []byte) (int, error) {
	n, err := r.ReadCloser.Read(b)
	if n > 0 {
		r.progress.BlobBytes(r.digest, r.n.Add(int64(n)))
	}
	return n, err
}
