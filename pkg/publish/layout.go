package publish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/pgassemble/pgassemble/internal/atomicfile"
)

// Layout publishes to an OCI image layout directory, for air-gapped
// transfer: `skopeo copy oci:DIR:TAG docker://...` reads it back.
//
// Blobs are written to a temporary file, checked against their digest and
// renamed into place, so a blob file is never partial. index.json gets one
// entry per tag (annotation org.opencontainers.image.ref.name = TAG),
// replacing an earlier entry of the same name, and is itself replaced
// atomically after everything it points at is on disk. Concurrent Publish
// calls on one Layout, and on one directory across processes (where the
// platform supports file locks), serialize their index.json updates.
type Layout struct {
	dir string
	o   options
	mu  sync.Mutex // serializes index.json updates within this process
}

var _ Publisher = (*Layout)(nil)

// NewLayout returns a publisher writing the OCI image layout in dir,
// created if missing. Options WithJobs, WithProgress and WithLogger apply.
func NewLayout(dir string, opts ...Option) *Layout {
	return &Layout{dir: dir, o: makeOptions(opts)}
}

// Dir is the layout directory.
func (l *Layout) Dir() string { return l.dir }

const (
	indexFile  = "index.json"
	layoutFile = ocispec.ImageLayoutFile // "oci-layout"
	lockFile   = ".pgassemble.lock"
)

// Publish implements Publisher.
func (l *Layout) Publish(ctx context.Context, idx v1.ImageIndex, tags []string) (Result, error) {
	return l.PublishWith(ctx, idx, tags, nil)
}

// PublishWith is Publish writing extras after the index, before the tags.
func (l *Layout) PublishWith(ctx context.Context, idx v1.ImageIndex, tags []string, extras []Extra) (Result, error) {
	target := "oci:" + l.dir
	fail := func(op, object string, err error) error {
		return newError(ErrIncomplete, target, op, object, err)
	}
	for _, t := range tags {
		if !validTag(t) {
			return Result{}, fail("parse tag", t, fmt.Errorf("invalid tag %q", t))
		}
	}
	p, err := planIndex(idx)
	if err != nil {
		return Result{}, fail("read index", "", err)
	}
	res := p.result()
	res.DigestRef = target + "@" + p.index.digest.String()
	log := l.o.logger.With("layout", l.dir, "index", p.index.digest.String())

	if err := os.MkdirAll(filepath.Join(l.dir, "blobs", "sha256"), 0o755); err != nil {
		return res, fail("create", l.dir, err)
	}
	layoutJSON, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err := writeFileIfMissing(filepath.Join(l.dir, layoutFile), layoutJSON); err != nil {
		return res, fail("write", layoutFile, err)
	}

	sweepLayout(l.dir, time.Now())

	// 1. Blobs.
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(l.o.jobs)
	for _, b := range p.blobs {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return fail("write blob", b.digest.String(), err)
			}
			written, err := l.writeLayerBlob(b)
			if err != nil {
				return fail("write blob", b.digest.String(), err)
			}
			mu.Lock()
			defer mu.Unlock()
			if written {
				res.Uploaded++
				res.UploadedBytes += b.size
			} else {
				res.Skipped++
				res.SkippedBytes += b.size
				l.o.progress.BlobSkipped(b.digest, b.size)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}

	// 2. Manifests, children first, then 3. the index manifest.
	for _, m := range append(p.manifests, p.index) {
		if err := ctx.Err(); err != nil {
			return res, fail("write manifest", m.digest.String(), err)
		}
		if _, err := l.writeBlob(m.digest, int64(len(m.raw)), func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(m.raw)), nil
		}, nil); err != nil {
			return res, fail("write manifest", m.digest.String(), err)
		}
	}

	// 3b. Extras (referrers, signatures), each listed in index.json.
	if err := l.writeExtras(extras, fail); err != nil {
		return res, err
	}

	// 4. index.json, last.
	desc := v1.Descriptor{MediaType: p.index.mediaType, Digest: p.index.digest, Size: int64(len(p.index.raw))}
	if err := l.updateIndex(desc, tags); err != nil {
		return res, fail("update", indexFile, err)
	}
	for _, t := range tags {
		res.Refs = append(res.Refs, target+":"+t)
	}
	log.Info("published", "tags", len(tags), "written", res.Uploaded, "skipped", res.Skipped, "written_bytes", res.UploadedBytes)
	return res, nil
}

func (l *Layout) blobPath(d v1.Hash) string {
	return filepath.Join(l.dir, "blobs", d.Algorithm, d.Hex)
}

func (l *Layout) writeLayerBlob(b blob) (bool, error) {
	return l.writeBlob(b.digest, b.size, b.layer.Compressed, l.o.progress)
}

// writeBlob writes one blob unless a file of the right size is already
// there. It reports whether it wrote. Progress may be nil (manifests).
func (l *Layout) writeBlob(d v1.Hash, size int64, open func() (io.ReadCloser, error), progress Progress) (bool, error) {
	if d.Algorithm != "sha256" || len(d.Hex) != 64 {
		return false, fmt.Errorf("unsupported digest %q", d)
	}
	final := l.blobPath(d)
	// Blob files only appear by rename after verification, but the
	// directory may have been written by something else or damaged since:
	// a blob is reused only if its content has its digest. Anything else
	// at that name is replaced.
	if fi, err := os.Stat(final); err == nil && fi.Mode().IsRegular() && fi.Size() == size {
		if fileHasDigest(final, d) {
			return false, nil
		}
		l.o.logger.Warn("layout blob corrupt, rewriting", "blob", d.String())
	}
	rc, err := open()
	if err != nil {
		return false, err
	}
	defer rc.Close()
	if progress != nil {
		progress.BlobStart(d, size)
		rc = &countingReader{ReadCloser: rc, digest: d, progress: progress}
	}
	err = writeVerified(final, rc, d, size)
	if progress != nil {
		progress.BlobDone(d, err)
	}
	return err == nil, err
}

// fileHasDigest reports whether the file at p hashes to d.
func fileHasDigest(p string, d v1.Hash) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false
	}
	return hex.EncodeToString(h.Sum(nil)) == d.Hex
}

// sweepLayout removes the temporary blob files of writers that died (a
// killed run): their lock is free. An empty one may belong to a writer
// that has not locked it yet, and is left alone while young.
func sweepLayout(dir string, now time.Time) {
	blobs := filepath.Join(dir, "blobs", "sha256")
	ents, err := os.ReadDir(blobs)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), atomicfile.TempPrefix) {
			continue
		}
		p := filepath.Join(blobs, e.Name())
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		fi, err := f.Stat()
		if err == nil && lockFileNB(f) == nil && (fi.Size() > 0 || now.Sub(fi.ModTime()) > time.Minute) {
			os.Remove(p)
		}
		f.Close()
	}
}

// writeVerified streams r to a temporary file beside path, checks digest
// and size, and puts it in place.
func writeVerified(path string, r io.Reader, d v1.Hash, size int64) error {
	tmp, err := atomicfile.Create(path)
	if err != nil {
		return err
	}
	defer tmp.Abort()
	// Held while the file is written: a later run sweeps the temporary
	// files whose lock is free (their writer died). Where there are no
	// locks, nothing is swept and the write goes on.
	_ = lockFileNB(tmp.File)
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), r)
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != d.Hex || n != size {
		return fmt.Errorf("content is sha256:%s, %d bytes; want %s, %d bytes", got, n, d, size)
	}
	return tmp.Commit()
}

func writeFileIfMissing(path string, data []byte) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	return atomicfile.WriteFile(path, data)
}

// updateIndex adds desc to index.json once per tag (or once untagged),
// dropping entries whose ref name is one of tags.
func (l *Layout) updateIndex(desc v1.Descriptor, tags []string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	unlock, err := lockDir(filepath.Join(l.dir, lockFile))
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer unlock()

	path := filepath.Join(l.dir, indexFile)
	im := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(raw, &im); err != nil {
			return fmt.Errorf("parse existing %s: %w", path, err)
		}
	}

	replaced := map[string]bool{}
	for _, t := range tags {
		replaced[t] = true
	}
	kept := im.Manifests[:0]
	for _, m := range im.Manifests {
		ref, named := m.Annotations[ocispec.AnnotationRefName]
		if named && replaced[ref] {
			continue
		}
		if !named && len(tags) == 0 && m.Digest == desc.Digest {
			continue // untagged re-publish of the same index
		}
		kept = append(kept, m)
	}
	im.Manifests = kept
	if len(tags) == 0 {
		im.Manifests = append(im.Manifests, desc)
	}
	for _, t := range tags {
		d := desc
		d.Annotations = map[string]string{ocispec.AnnotationRefName: t}
		im.Manifests = append(im.Manifests, d)
	}
	if im.MediaType == "" {
		im.MediaType = types.OCIImageIndex
	}
	out, err := json.Marshal(im)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, out)
}

// validTag follows the distribution spec's tag grammar
// [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}, which is also what skopeo accepts as
// an oci: reference name without ambiguity.
func validTag(t string) bool {
	if t == "" || len(t) > 128 {
		return false
	}
	for i, c := range t {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' ||
			i > 0 && (c == '.' || c == '-')
		if !ok {
			return false
		}
	}
	return true
}
