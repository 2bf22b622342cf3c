package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestBinarySHA256: the no-op key's stand-in for pgassemble's code is the
// binary's hash, remembered per file and recomputed when the file
// changes; a binary that cannot be read is an error, never a constant
// that two versions of pgassemble would share.
func TestBinarySHA256(t *testing.T) {
	dir, bin := t.TempDir(), filepath.Join(t.TempDir(), "pgassemble")
	if sum, err := binarySHA256(dir, bin); err == nil {
		t.Fatalf("a missing binary hashed to %q", sum)
	}
	for i, body := range []string{"version 1", "version 2"} {
		if err := os.WriteFile(bin, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		mtime := time.Unix(1700000000+int64(i), 0)
		if err := os.Chtimes(bin, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		want := sha256.Sum256([]byte(body))
		for range 2 { // hashed, then from the memo
			if sum, err := binarySHA256(dir, bin); err != nil || sum != hex.EncodeToString(want[:]) {
				t.Fatalf("%s: %s, %v; want %x", body, sum, err, want)
			}
		}
	}
}
