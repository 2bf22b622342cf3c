package layer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"

	"github.com/pgassemble/pgassemble/internal/atomicfile"
)

// Compression of layer blobs.
type Compression string

const (
	// Gzip layers (application/vnd.oci.image.layer.v1.tar+gzip), compressed
	// in parallel by pgzip.
	Gzip Compression = "gzip"
	// Zstd layers (application/vnd.oci.image.layer.v1.tar+zstd).
	Zstd Compression = "zstd"
)

// gzipMaxCores bounds the cores one gzip layer stream compresses on.
const gzipMaxCores = 4

// gzipBlockSize is fixed: pgzip's output depends on the block size (each
// block is deflated on its own, primed with the previous 32 KiB) but not on
// how many goroutines compress blocks, so the digest does not depend on the
// machine. Changing it changes every digest: bump formatVersion.
const gzipBlockSize = 1 << 20

func (c Compression) mediaType() types.MediaType {
	if c == Zstd {
		return types.OCILayerZStd
	}
	return types.OCILayer
}

func (c Compression) ext() string {
	if c == Zstd {
		return ".tar.zst"
	}
	return ".tar.gz"
}

// ParseCompression reads a compression name as a user writes it ("gzip"
// or "zstd").
func ParseCompression(s string) (Compression, error) {
	c := Compression(s)
	return c, c.valid()
}

func (c Compression) valid() error {
	switch c {
	case Gzip, Zstd:
		return nil
	}
	return fmt.Errorf("unknown compression %q (want gzip or zstd)", c)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// blobWriter compresses a tar stream into a file, hashing the uncompressed
// stream (diffID) and the compressed one (digest) on the way, so the layer
// never has to be read again to be described.
type blobWriter struct {
	f      *atomicfile.File
	comp   Compression
	zw     io.WriteCloser
	diff   hash.Hash
	dig    hash.Hash
	cw     *countWriter
	raw    int64
	closed bool
}

func newBlobWriter(dir string, comp Compression, level int) (*blobWriter, error) {
	f, err := atomicfile.Create("", atomicfile.InDir(dir))
	if err != nil {
		return nil, err
	}
	b := &blobWriter{f: f, comp: comp, diff: sha256.New(), dig: sha256.New()}
	b.cw = &countWriter{w: io.MultiWriter(f, b.dig)}
	switch comp {
	case Zstd:
		// The zstd stream encoder's output does not depend on its
		// concurrency (blocks are cut at fixed sizes); tested.
		zl := zstd.SpeedDefault
		if level != 0 {
			zl = zstd.EncoderLevelFromZstd(level)
		}
		zw, err := zstd.NewWriter(b.cw, zstd.WithEncoderLevel(zl),
			zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithEncoderCRC(true))
		if err != nil {
			f.Abort()
			return nil, err
		}
		b.zw = zw
	default:
		if level == 0 {
			level = gzip.DefaultCompression
		}
		zw, err := pgzip.NewWriterLevel(b.cw, level)
		if err != nil {
			f.Abort()
			return nil, err
		}
		// More blocks in flight than cores, so the tar writer never waits;
		// at most gzipMaxCores' worth: each block holds about 2.5 MiB
		// (its input, output and compressor), and at GOMAXPROCS 64 the
		// blocks of two platforms' layers alone passed the 256 MB a build
		// should stay within. The output does not depend on it.
		if err := zw.SetConcurrency(gzipBlockSize, 2*min(runtime.GOMAXPROCS(0), gzipMaxCores)+2); err != nil {
			f.Abort()
			return nil, err
		}
		b.zw = zw
	}
	return b, nil
}

func (b *blobWriter) Write(p []byte) (int, error) {
	b.diff.Write(p)
	n, err := b.zw.Write(p)
	b.raw += int64(n)
	return n, err
}

// abort removes the temporary file.
func (b *blobWriter) abort() {
	if !b.closed {
		b.zw.Close()
		b.closed = true
	}
	b.f.Abort()
}

// finish flushes and puts the blob at dst, whole or not at all.
func (b *blobWriter) finish(dst string) (*fileLayer, error) {
	return b.finishTo(func(v1.Hash) string { return dst })
}

// finishTo flushes and puts the blob at the path named after its digest.
func (b *blobWriter) finishTo(name func(digest v1.Hash) string) (*fileLayer, error) {
	if err := b.zw.Close(); err != nil {
		b.abort()
		return nil, err
	}
	b.closed = true
	digest := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(b.dig.Sum(nil))}
	dst := name(digest)
	if err := b.f.CommitAs(dst); err != nil {
		return nil, err
	}
	return &fileLayer{
		path:      dst,
		digest:    digest,
		diffID:    v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(b.diff.Sum(nil))},
		size:      b.cw.n,
		comp:      b.comp,
		rawSize:   b.raw,
		mediaType: b.comp.mediaType(),
	}, nil
}

// fileLayer is a v1.Layer backed by a compressed blob on disk whose
// digests are known.
type fileLayer struct {
	path      string
	digest    v1.Hash
	diffID    v1.Hash
	size      int64
	rawSize   int64
	comp      Compression
	mediaType types.MediaType
}

var _ v1.Layer = (*fileLayer)(nil)

func (l *fileLayer) Digest() (v1.Hash, error)             { return l.digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)             { return l.diffID, nil }
func (l *fileLayer) Size() (int64, error)                 { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error)  { return l.mediaType, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)   { return os.Open(l.path) }
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) { return openUncompressed(l.path, l.comp) }

// openUncompressed opens a compressed blob and decompresses it.
func openUncompressed(p string, comp Compression) (io.ReadCloser, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	r, err := decompressStream(f, comp)
	if err != nil {
		f.Close()
		return nil, err
	}
	return readCloser{Reader: r, close: func() error {
		if c, ok := r.(io.Closer); ok {
			c.Close()
		}
		return f.Close()
	}}, nil
}

func decompressStream(r io.Reader, comp Compression) (io.Reader, error) {
	if comp == Zstd {
		zr, err := zstd.NewReader(r)
		if err != nil {
			return nil, err
		}
		return zstdCloser{zr}, nil
	}
	return gzip.NewReader(r)
}

type zstdCloser struct{ *zstd.Decoder }

func (z zstdCloser) Close() error { z.Decoder.Close(); return nil }

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }
