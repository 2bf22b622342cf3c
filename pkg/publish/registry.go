package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sync/errgroup"

	"github.com/pgassemble/pgassemble/internal/loopback"
)

// Registry publishes to one repository of a container registry.
//
// A Registry may be shared by concurrent Publish calls (e.g. every target
// of a bake): a blob shared by several indexes is then uploaded once, and
// the other calls wait for that upload instead of starting their own.
type Registry struct {
	repo   name.Repository
	o      options
	pusher *remote.Pusher
	ropts  []remote.Option // for reading what extras merge with
}

var _ Publisher = (*Registry)(nil)

// NewRegistry returns a publisher for repo, e.g.
// "localhost:5000/postgresql-testing". Plain HTTP is used for loopback
// hosts and with WithInsecure(true); HTTPS otherwise.
func NewRegistry(repo string, opts ...Option) (*Registry, error) {
	o := makeOptions(opts)
	var nameOpts []name.Option
	if o.insecure || loopback.Registry(repo) {
		nameOpts = append(nameOpts, name.Insecure)
	}
	r, err := name.NewRepository(repo, nameOpts...)
	if err != nil {
		return nil, fmt.Errorf("registry repository %q: %w", repo, err)
	}
	ropts := []remote.Option{
		remote.WithAuthFromKeychain(o.keychain),
		remote.WithTransport(newRetryAfterTransport(o.transport)),
		remote.WithJobs(o.jobs),
	}
	if o.backoff != nil {
		ropts = append(ropts, remote.WithRetryBackoff(*o.backoff))
	}
	if o.userAgent != "" {
		ropts = append(ropts, remote.WithUserAgent(o.userAgent))
	}
	p, err := remote.NewPusher(ropts...)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", r, err)
	}
	return &Registry{repo: r, o: o, pusher: p, ropts: ropts}, nil
}

// Repository is the repository published to, e.g.
// "localhost:5000/postgresql-testing".
func (r *Registry) Repository() string { return r.repo.String() }

// Publish implements Publisher: blobs, then manifests, then the index by
// digest, then the tags.
func (r *Registry) Publish(ctx context.Context, idx v1.ImageIndex, tags []string) (Result, error) {
	return r.PublishWith(ctx, idx, tags, nil)
}

// PublishWith is Publish writing extras after the index, before the tags.
func (r *Registry) PublishWith(ctx context.Context, idx v1.ImageIndex, tags []string, extras []Extra) (Result, error) {
	target := r.repo.String()
	fail := func(op, object string, err error) error {
		return newError(ErrIncomplete, target, op, object, err)
	}

	// Everything that can be checked without the network is checked
	// first, so bad input never leaves a half-written push behind.
	refs := make([]name.Tag, 0, len(tags))
	for _, t := range tags {
		ref, err := name.NewTag(r.repo.String()+":"+t, name.StrictValidation)
		if err != nil || t == "" {
			if err == nil {
				err = errors.New("empty tag")
			}
			return Result{}, fail("parse tag", t, err)
		}
		refs = append(refs, ref)
	}
	p, err := planIndex(idx)
	if err != nil {
		return Result{}, fail("read index", "", err)
	}
	res := p.result()
	res.DigestRef = r.repo.Digest(p.index.digest.String()).String()
	log := r.o.logger.With("repository", target, "index", p.index.digest.String())

	// One plain request first: an unreachable or misconfigured registry
	// then fails with one clear error instead of one per blob.
	if _, err := transport.Ping(ctx, r.repo.Registry, r.o.transport); err != nil {
		return res, fail("connect", r.repo.RegistryStr(), err)
	}

	// 1. Blobs, concurrently, skipping those the registry has.
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.o.jobs)
	for _, b := range p.blobs {
		g.Go(func() error {
			tl := &trackedLayer{Layer: b.layer, digest: b.digest, size: b.size, progress: r.o.progress}
			err := r.pusher.Upload(gctx, r.repo, mountable(b.layer, tl))
			opened := tl.opened.Load()
			if opened {
				r.o.progress.BlobDone(b.digest, err)
			}
			if err != nil {
				return fail("upload blob", b.digest.String(), err)
			}
			mu.Lock()
			defer mu.Unlock()
			if opened {
				res.Uploaded++
				res.UploadedBytes += b.size
				log.Debug("uploaded blob", "digest", b.digest.String(), "size", b.size)
			} else {
				res.Skipped++
				res.SkippedBytes += b.size
				r.o.progress.BlobSkipped(b.digest, b.size)
				log.Debug("registry has blob", "digest", b.digest.String(), "size", b.size)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}

	// 2. Manifests under the index, children first, by digest. Push
	// checks with HEAD first, so an unchanged manifest is not rewritten.
	for _, m := range p.manifests {
		if err := r.pusher.Push(ctx, r.repo.Digest(m.digest.String()), m.taggable); err != nil {
			return res, fail("push manifest", m.digest.String(), err)
		}
		log.Debug("pushed manifest", "digest", m.digest.String())
	}

	// 3. The index, by digest: complete now, but nothing points at it yet.
	if err := r.pusher.Push(ctx, r.repo.Digest(p.index.digest.String()), idx); err != nil {
		return res, fail("push index", p.index.digest.String(), err)
	}

	// 3b. Extras (referrers, signatures): they point at digests only.
	if err := r.writeExtras(ctx, extras, fail); err != nil {
		return res, err
	}

	// 4. Tags, last.
	for _, ref := range refs {
		if err := r.pusher.Push(ctx, ref, idx); err != nil {
			return res, newError(ErrTagging, target, "tag", ref.TagStr(),
				fmt.Errorf("%w (tags already pointing at %s: %d of %d)", err, p.index.digest, len(res.Refs), len(refs)))
		}
		res.Refs = append(res.Refs, ref.String())
		log.Debug("tagged", "tag", ref.TagStr())
	}
	log.Info("published", "tags", len(res.Refs), "uploaded", res.Uploaded, "skipped", res.Skipped, "uploaded_bytes", res.UploadedBytes)
	return res, nil
}

// trackedLayer tells whether its bytes were read: go-containerregistry only
// opens a blob to upload it, never when the registry already has it.
type trackedLayer struct {
	v1.Layer
	digest   v1.Hash
	size     int64
	progress Progress
	opened   atomic.Bool
}

func (l *trackedLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	if l.opened.CompareAndSwap(false, true) {
		l.progress.BlobStart(l.digest, l.size)
	}
	return &countingReader{ReadCloser: rc, digest: l.digest, progress: l.progress}, nil
}

// mountable keeps a layer pulled from a registry mountable after wrapping,
// so go-containerregistry can try a cross-repository mount.
func mountable(orig v1.Layer, tl *trackedLayer) v1.Layer {
	if ml, ok := orig.(*remote.MountableLayer); ok {
		return &remote.MountableLayer{Layer: tl, Reference: ml.Reference}
	}
	return tl
}
