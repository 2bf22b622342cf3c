package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Extra is a manifest published with an index: an OCI 1.1 referrer (an
// SBOM, a provenance statement) written by digest, or a tagged image such as
// cosign's "sha256-<hex>.sig". Extras are written after the index and
// before its tags: if one fails, no tag is written and the error matches
// ErrIncomplete.
type Extra struct {
	Image v1.Image
	// Tag is "" for a manifest written by digest only.
	Tag string
	// Merge, for a tagged extra, combines it with the image the tag points
	// at now (nil when there is none), so that what others attached there
	// is kept. Nil replaces it.
	Merge func(existing v1.Image) (v1.Image, error)
	// What names it in errors ("SBOM of linux/amd64").
	What string
}

// ExtrasPublisher publishes an index together with extras.
type ExtrasPublisher interface {
	Publisher
	PublishWith(ctx context.Context, idx v1.ImageIndex, tags []string, extras []Extra) (Result, error)
}

var (
	_ ExtrasPublisher = (*Registry)(nil)
	_ ExtrasPublisher = (*Layout)(nil)
)

// writeExtras pushes each extra; a referrer (a manifest with a subject) to a
// registry without the referrers API gets go-containerregistry's
// tag-schema fallback ("sha256-<hex>" index of referrers) updated.
func (r *Registry) writeExtras(ctx context.Context, extras []Extra, fail func(op, object string, err error) error) error {
	for _, e := range extras {
		img := e.Image
		if e.Tag == "" {
			d, err := img.Digest()
			if err != nil {
				return fail("push "+e.What, "", err)
			}
			if err := r.pusher.Push(ctx, r.repo.Digest(d.String()), img); err != nil {
				return fail("push "+e.What, d.String(), err)
			}
			continue
		}
		ref := r.repo.Tag(e.Tag)
		if e.Merge != nil {
			existing, err := remote.Image(ref, append(r.ropts, remote.WithContext(ctx))...)
			var terr *transport.Error
			switch {
			case errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound:
				existing = nil
			case err != nil:
				return fail("read "+e.What, e.Tag, err)
			}
			if img, err = e.Merge(existing); err != nil {
				return fail("merge "+e.What, e.Tag, err)
			}
		}
		if err := r.pusher.Push(ctx, ref, img); err != nil {
			return fail("push "+e.What, e.Tag, err)
		}
	}
	return nil
}

// writeExtras writes each extra's blobs and manifest into the layout and
// lists it in index.json: a referrer untagged, with its artifactType (so
// that tools that scan the layout find it), a tagged one under its name.
func (l *Layout) writeExtras(extras []Extra, fail func(op, object string, err error) error) error {
	for _, e := range extras {
		img := e.Image
		if e.Merge != nil {
			existing, err := l.taggedImage(e.Tag)
			if err != nil {
				return fail("read "+e.What, e.Tag, err)
			}
			if img, err = e.Merge(existing); err != nil {
				return fail("merge "+e.What, e.Tag, err)
			}
		}
		desc, err := l.writeImage(img)
		if err != nil {
			return fail("write "+e.What, e.Tag, err)
		}
		var tags []string
		if e.Tag != "" {
			tags = []string{e.Tag}
		}
		if err := l.updateIndex(desc, tags); err != nil {
			return fail("update", indexFile, err)
		}
	}
	return nil
}

// writeImage writes an image's layers, config and manifest and returns its
// descriptor (with artifactType when the manifest has one).
func (l *Layout) writeImage(img v1.Image) (v1.Descriptor, error) {
	layers, err := img.Layers()
	if err != nil {
		return v1.Descriptor{}, err
	}
	cfg, err := partial.ConfigLayer(img)
	if err != nil {
		return v1.Descriptor{}, err
	}
	for _, bl := range append(layers, cfg) {
		d, err := bl.Digest()
		if err != nil {
			return v1.Descriptor{}, err
		}
		size, err := bl.Size()
		if err != nil {
			return v1.Descriptor{}, err
		}
		if _, err := l.writeBlob(d, size, bl.Compressed, nil); err != nil {
			return v1.Descriptor{}, err
		}
	}
	raw, err := img.RawManifest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	d, size, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return v1.Descriptor{}, err
	}
	if _, err := l.writeBlob(d, size, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }, nil); err != nil {
		return v1.Descriptor{}, err
	}
	var m struct {
		MediaType    string `json:"mediaType"`
		ArtifactType string `json:"artifactType"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: types.MediaType(m.MediaType), Digest: d, Size: size, ArtifactType: m.ArtifactType}, nil
}

// taggedImage is the image index.json names tag, or nil.
func (l *Layout) taggedImage(tag string) (v1.Image, error) {
	raw, err := os.ReadFile(filepath.Join(l.dir, indexFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var im v1.IndexManifest
	if err := json.Unmarshal(raw, &im); err != nil {
		return nil, fmt.Errorf("parse %s: %w", indexFile, err)
	}
	for _, m := range im.Manifests {
		if m.Annotations[ocispec.AnnotationRefName] == tag {
			p, err := layout.FromPath(l.dir)
			if err != nil {
				return nil, err
			}
			return p.Image(m.Digest)
		}
	}
	return nil, nil
}
