package layer

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/pgassemble/pgassemble/internal/digest"
)

// BenchmarkHashLayer measures the digest check of a cached layer (what a
// cache hit costs per byte when the process has not verified the file
// yet): a 64 MiB file from the page cache.
func BenchmarkHashLayer(b *testing.B) {
	p := filepath.Join(b.TempDir(), "layer")
	data := make([]byte, 64<<20)
	rand.Read(data)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		b.Fatal(err)
	}
	sum, err := digest.FileSHA256(p)
	if err != nil {
		b.Fatal(err)
	}
	bl := &Builder{}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := bl.checkBlob(p, "sha256:"+sum, int64(len(data))); err != nil {
			b.Fatal(err)
		}
	}
}
