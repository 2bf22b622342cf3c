package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestCachedEmptyIndexIsAHit: an empty Packages index (an architecture or
// a suite with no packages) is cached like any other and served from the
// cache; it was refused (its zstd frame names no content size, so its
// window exceeded a bound of size+1), removed and fetched again with a
// warning on every run.
func TestCachedEmptyIndexIsAHit(t *testing.T) {
	var logs bytes.Buffer
	c := New(WithCacheDir(t.TempDir()), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	sum := sha256.Sum256(nil)
	plain := &FileHash{SHA256: hex.EncodeToString(sum[:]), Size: 0}
	p := c.plainPath(plain.SHA256)
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	zw.Close()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	pkgs, err := c.cachedPlain(plain, nil)
	if err != nil || pkgs == nil || len(pkgs) != 0 {
		t.Fatalf("cachedPlain: %v, %v; want an empty hit", pkgs, err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Errorf("the cached empty index was removed: %v", err)
	}
	if logs.Len() > 0 {
		t.Errorf("warned: %s", logs.String())
	}
}
