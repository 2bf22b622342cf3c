package layerio

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The stream is go-containerregistry's, byte for byte, for gzip layers
// (inflated here) and others (passed through).
func TestUncompressedSameBytes(t *testing.T) {
	gz, err := random.Layer(1<<20, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	plain := static.NewLayer([]byte("not compressed"), types.OCIUncompressedLayer)
	for _, l := range []v1.Layer{gz, plain} {
		want := readAll(t, l.Uncompressed)
		got := readAll(t, func() (io.ReadCloser, error) { return Uncompressed(l) })
		if !bytes.Equal(got, want) || len(want) == 0 {
			t.Errorf("%d bytes, want %d", len(got), len(want))
		}
	}
}

// Close reads the compressed stream to its end (where the digest is
// checked), even when the tar stream was not read to its end.
func TestCloseDrainsCompressed(t *testing.T) {
	gz, err := random.Layer(1<<20, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	l := &countingLayer{Layer: gz}
	rc, err := Uncompressed(l)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	size, _ := gz.Size()
	if l.read != size {
		t.Errorf("%d compressed bytes read, want all %d", l.read, size)
	}
}

type countingLayer struct {
	v1.Layer
	read int64
}

func (c *countingLayer) Compressed() (io.ReadCloser, error) {
	rc, err := c.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{readerFunc(func(p []byte) (int, error) { n, err := rc.Read(p); c.read += int64(n); return n, err }), rc}, nil
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func readAll(t *testing.T, open func() (io.ReadCloser, error)) []byte {
	t.Helper()
	rc, err := open()
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	return b
}

// An error at the end of the compressed stream (where a verifying reader
// reports a digest mismatch) is Close's, when the reader stopped early.
func TestCloseReportsTailError(t *testing.T) {
	gz, err := random.Layer(1<<16, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	bad := errors.New("digest mismatch")
	rc, err := Uncompressed(&failingTail{Layer: gz, err: bad})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); !errors.Is(err, bad) {
		t.Errorf("Close = %v, want the compressed stream's error", err)
	}
}

type failingTail struct {
	v1.Layer
	err error
}

func (f *failingTail) Compressed() (io.ReadCloser, error) {
	rc, err := f.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(rc, readerFunc(func([]byte) (int, error) { return 0, f.err })), rc}, nil
}

// A layer whose media type says gzip but whose bytes are not compressed
// (images pushed by some tools are) reads as go-containerregistry reads
// it: its bytes as they are, not a gzip error.
func TestMislabeledLayer(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "etc/os-release", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg})
	tw.Write([]byte("ID\n"))
	tw.Close()
	l, err := partial.CompressedToLayer(rawLayer(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	want := readAll(t, l.Uncompressed)
	got := readAll(t, func() (io.ReadCloser, error) { return Uncompressed(l) })
	if !bytes.Equal(got, buf.Bytes()) || !bytes.Equal(want, buf.Bytes()) {
		t.Errorf("%d bytes (go-containerregistry: %d), want the layer's %d", len(got), len(want), buf.Len())
	}
}

// rawLayer is a compressed layer (as a registry serves one) labelled gzip
// whose bytes are a plain tar.
type rawLayer []byte

func (r rawLayer) Digest() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(r))
	return h, err
}
func (r rawLayer) Compressed() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(r)), nil }
func (r rawLayer) Size() (int64, error)               { return int64(len(r)), nil }
func (r rawLayer) MediaType() (types.MediaType, error) {
	return types.DockerLayer, nil
}
