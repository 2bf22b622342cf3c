// Package regcache keeps the layer cache's entries in an OCI registry, so
// that several machines building parts of one matrix convert each layer
// once, the way BuildKit's registry cache shares layers between runners.
//
// An entry (a stage key of pkg/layer and the files the local cache holds
// for it: the layer blob, its metadata, the replay's observation sidecar)
// is one OCI artifact manifest tagged "layer-KEY" in the cache repository:
// artifactType ArtifactType, the empty config, one blob per file with the
// file's name after the key as its title annotation. The key hashes every
// input of the stage (base digest, .deb SHA256s, epoch, compression,
// format version), so a tag never changes meaning. Fetched blobs are
// checked against the manifest's digests and sizes before they enter the
// local cache, where the layer is checked again against its metadata.
//
// The cache repository is as trusted as the images built from it: whoever
// can push there can put content into later builds (as with BuildKit's).
package regcache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pgassemble/pgassemble/internal/atomicfile"
	"github.com/pgassemble/pgassemble/internal/loopback"
	"github.com/pgassemble/pgassemble/pkg/layer"
)

// ArtifactType marks pgassemble's layer-cache entries.
const ArtifactType = "application/vnd.pgassemble.layer-cache.v1"

// fileMediaType is the media type of an entry's files (opaque bytes).
const fileMediaType = "application/vnd.pgassemble.layer-cache.file.v1"

const titleAnnotation = "org.opencontainers.image.title"

// ErrBadEntry is wrapped by errors about an entry whose manifest or blobs
// are not what this package writes (or do not match their digests).
var ErrBadEntry = errors.New("bad layer-cache entry")

var (
	keyRE    = regexp.MustCompile(`^[0-9a-f]{64}$`)
	suffixRE = regexp.MustCompile(`^\.[A-Za-z0-9][A-Za-z0-9._-]{0,100}$`)
)

// Cache is a cache repository. It implements layer.RemoteCache.
type Cache struct {
	repo name.Repository
	opts []remote.Option
}

var _ layer.RemoteCache = (*Cache)(nil)

// Option configures a Cache.
type Option func(*config)

type config struct {
	insecure bool
	remote   []remote.Option
}

// WithInsecure allows plain HTTP to a registry that is not on this machine.
func WithInsecure(v bool) Option { return func(c *config) { c.insecure = v } }

// WithRemoteOptions adds go-containerregistry options (transport, auth).
func WithRemoteOptions(o ...remote.Option) Option {
	return func(c *config) { c.remote = append(c.remote, o...) }
}

// New returns the cache repository repo ("HOST[:PORT]/PATH"). Credentials
// come from the Docker config; loopback registries speak plain HTTP.
func New(repo string, opts ...Option) (*Cache, error) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	var nopts []name.Option
	if c.insecure || loopback.Registry(repo) {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.NewRepository(repo, nopts...)
	if err != nil {
		return nil, fmt.Errorf("cache repository %q: %w", repo, err)
	}
	ro := append([]remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithUserAgent("pgassemble")}, c.remote...)
	return &Cache{repo: r, opts: ro}, nil
}

func (c *Cache) String() string { return c.repo.String() }

func (c *Cache) tag(key string) name.Tag { return c.repo.Tag("layer-" + key) }

func (c *Cache) ropts(ctx context.Context) []remote.Option {
	return append([]remote.Option{remote.WithContext(ctx)}, c.opts...)
}

// Fetch writes the files of entry key into dir, downloading them into
// tmpDir first ("" means dir; it must be on dir's file system). A missing
// tag is no entry; a manifest or blob that is not what Store writes is an
// error (ErrBadEntry) and nothing is written.
func (c *Cache) Fetch(ctx context.Context, key, dir, tmpDir string) (bool, error) {
	if tmpDir == "" {
		tmpDir = dir
	}
	if !keyRE.MatchString(key) {
		return false, fmt.Errorf("key %q: %w", key, ErrBadEntry)
	}
	ref := c.tag(key)
	desc, err := remote.Get(ref, c.ropts(ctx)...)
	if err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
			return false, nil
		}
		return false, fmt.Errorf("%s: %w", ref, err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		return false, fmt.Errorf("%s: manifest: %v: %w", ref, err, ErrBadEntry)
	}
	if m.ArtifactType != ArtifactType || len(m.Layers) == 0 {
		return false, fmt.Errorf("%s: artifactType %q with %d files, want %s: %w", ref, m.ArtifactType, len(m.Layers), ArtifactType, ErrBadEntry)
	}
	// Every file is downloaded and verified first, then all are renamed
	// into place: a half-fetched entry never appears in the cache. The
	// metadata (KEY.json) goes last: without it the entry is a miss.
	type got struct {
		tmp *atomicfile.File
		dst string
	}
	var files []got
	defer func() {
		for _, f := range files {
			f.tmp.Abort() // nothing once committed
		}
	}()
	for _, l := range m.Layers {
		suffix := l.Annotations[titleAnnotation]
		if !suffixRE.MatchString(suffix) || strings.Contains(suffix, "..") {
			return false, fmt.Errorf("%s: file name %q: %w", ref, suffix, ErrBadEntry)
		}
		tmp, err := c.download(ctx, l, tmpDir)
		if err != nil {
			return false, fmt.Errorf("%s: %s: %w", ref, suffix, err)
		}
		files = append(files, got{tmp, filepath.Join(dir, key+suffix)})
	}
	meta := -1
	for i := range files {
		if filepath.Base(files[i].dst) == key+".json" {
			meta = i
		}
	}
	if meta < 0 {
		return false, fmt.Errorf("%s: no metadata file: %w", ref, ErrBadEntry)
	}
	for i := range files {
		if i != meta {
			if err := files[i].tmp.CommitAs(files[i].dst); err != nil {
				return false, err
			}
		}
	}
	if err := files[meta].tmp.CommitAs(files[meta].dst); err != nil {
		return false, err
	}
	return true, nil
}

// download fetches one blob into a temporary file of dir, checking its
// digest and size; the caller commits or aborts it.
func (c *Cache) download(ctx context.Context, d v1.Descriptor, dir string) (*atomicfile.File, error) {
	bl, err := remote.Layer(c.repo.Digest(d.Digest.String()), c.ropts(ctx)...)
	if err != nil {
		return nil, err
	}
	rc, err := bl.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	f, err := atomicfile.Create("", atomicfile.InDir(dir))
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(rc, d.Size+1))
	if err == nil {
		if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != d.Digest.String() || n != d.Size {
			err = fmt.Errorf("blob is %s, %d bytes; want %s, %d bytes: %w", got, n, d.Digest, d.Size, ErrBadEntry)
		}
	}
	if err != nil {
		f.Abort()
		return nil, err
	}
	return f, nil
}

// Store uploads files (each named KEY.SUFFIX) as the entry key: blobs
// first (those already there are not sent again), then the manifest under
// its tag.
func (c *Cache) Store(ctx context.Context, key string, files []string) error {
	if !keyRE.MatchString(key) {
		return fmt.Errorf("key %q: %w", key, ErrBadEntry)
	}
	empty := v1.Descriptor{MediaType: types.MediaType("application/vnd.oci.empty.v1+json"), Size: 2,
		Digest: v1.Hash{Algorithm: "sha256", Hex: "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: ArtifactType, Config: empty}
	if err := remote.WriteLayer(c.repo, static.NewLayer([]byte("{}"), empty.MediaType), c.ropts(ctx)...); err != nil {
		return fmt.Errorf("%s: %w", c.repo, err)
	}
	for _, p := range files {
		base := filepath.Base(p)
		if !strings.HasPrefix(base, key+".") {
			return fmt.Errorf("%s is not a file of entry %s: %w", p, key, ErrBadEntry)
		}
		suffix := strings.TrimPrefix(base, key)
		l, err := fileLayer(p)
		if err != nil {
			return err
		}
		if err := remote.WriteLayer(c.repo, l, c.ropts(ctx)...); err != nil {
			return fmt.Errorf("%s: upload %s: %w", c.repo, base, err)
		}
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: fileMediaType, Size: l.size, Digest: l.digest,
			Annotations: map[string]string{titleAnnotation: suffix}})
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := remote.Put(c.tag(key), rawManifest{raw: raw, mt: types.OCIManifestSchema1}, c.ropts(ctx)...); err != nil {
		return fmt.Errorf("%s: %w", c.tag(key), err)
	}
	return nil
}

type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

// fileBlob is a file as an opaque blob (streamed from disk, hashed once).
type fileBlob struct {
	path   string
	digest v1.Hash
	size   int64
}

func fileLayer(p string) (*fileBlob, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return &fileBlob{path: p, size: n, digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}}, nil
}

func (b *fileBlob) Digest() (v1.Hash, error)             { return b.digest, nil }
func (b *fileBlob) DiffID() (v1.Hash, error)             { return b.digest, nil }
func (b *fileBlob) Compressed() (io.ReadCloser, error)   { return os.Open(b.path) }
func (b *fileBlob) Uncompressed() (io.ReadCloser, error) { return os.Open(b.path) }
func (b *fileBlob) Size() (int64, error)                 { return b.size, nil }
func (b *fileBlob) MediaType() (types.MediaType, error)  { return fileMediaType, nil }
