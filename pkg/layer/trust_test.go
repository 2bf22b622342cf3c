package layer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pgassemble/pgassemble/internal/debtest"
)

// TestClaimedDigestNotTrusted plants a different, valid .deb under a
// package's verified SHA256: the conversion refuses it before anything is
// cached under that key, and a stage cache hit refuses it too when it has
// to read the file.
func TestClaimedDigestNotTrusted(t *testing.T) {
	base := makeBase(t, baseSpec{mergedUsr: true})
	good := writeDebs(t, pkgDeb("p", debtest.File{Path: "/usr/bin/p", Body: "good"}))
	evil := writeDebs(t, pkgDeb("p", debtest.File{Path: "/usr/bin/p", Body: "evil"}))
	planted := []Deb{{Path: evil[0].Path, SHA256: good[0].SHA256}}
	cache := t.TempDir()

	b := newTestBuilder(t, base, Options{CacheDir: cache})
	_, err := b.AddStage(context.Background(), planted)
	if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), evil[0].Path) {
		t.Fatalf("planted .deb: %v, want ErrDigestMismatch naming the file", err)
	}
	for _, dir := range []string{"layers", "control"} {
		if ents, _ := os.ReadDir(filepath.Join(cache, dir)); len(ents) != 0 {
			t.Errorf("%s/ holds %d entries after a refused conversion", dir, len(ents))
		}
	}

	// The good file converts and is cached; the planted one is then
	// refused on a hit that must read it (its control member was not
	// cached), and a hit with the control member cached reads no file.
	addStage(t, newTestBuilder(t, base, Options{CacheDir: cache}), good)
	os.RemoveAll(filepath.Join(cache, "control"))
	os.MkdirAll(filepath.Join(cache, "control"), 0o755)
	if _, err := newTestBuilder(t, base, Options{CacheDir: cache}).AddStage(context.Background(), planted); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("planted .deb on a cache hit: %v, want ErrDigestMismatch", err)
	}
	if _, err := newTestBuilder(t, base, Options{CacheDir: cache}).AddStage(context.Background(), []Deb{{Path: good[0].Path, SHA256: "../../../../etc/passwd0000000000000000000000000000000000000000"}}); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("non-hex SHA256: %v, want ErrDigestMismatch", err)
	}
}

// TestCorruptCachedLayerRebuilt damages a cached layer without changing
// its size: the next build must not use it, must remove it and convert
// the stage again to the same digest.
func TestCorruptCachedLayerRebuilt(t *testing.T) {
	base := makeBase(t, baseSpec{mergedUsr: true})
	debs := bulkDebs(t)[:1]
	cache := t.TempDir()
	l1 := addStage(t, newTestBuilder(t, base, Options{CacheDir: cache}), debs)
	want, _ := digests(t, l1)
	blobs, _ := filepath.Glob(filepath.Join(cache, "layers", "*.tar.gz"))
	if len(blobs) != 1 {
		t.Fatalf("%d cached blobs", len(blobs))
	}
	raw, err := os.ReadFile(blobs[0])
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0xff
	if err := os.WriteFile(blobs[0], raw, 0o644); err != nil {
		t.Fatal(err)
	}
	l2 := addStage(t, newTestBuilder(t, base, Options{CacheDir: cache}), debs)
	got, _ := digests(t, l2)
	if got != want {
		t.Fatalf("rebuilt digest %s, want %s", got, want)
	}
	rc, _ := l2.Compressed()
	defer rc.Close()
	if err := (&Builder{}).checkBlob(blobs[0], want.String(), int64(len(raw))); err != nil {
		t.Errorf("cache still holds a corrupt blob: %v", err)
	}
}

// TestSweepDeadRuns: a run whose process died (its lock is free) is swept
// by the next builder; a live builder's run directory is not.
func TestSweepDeadRuns(t *testing.T) {
	base := makeBase(t, baseSpec{mergedUsr: true})
	cache := t.TempDir()
	live := newTestBuilder(t, base, Options{CacheDir: cache})
	tmp := filepath.Join(cache, "tmp")
	// A dead run: lock file with a pid, nobody holding it.
	dead := filepath.Join(tmp, "run-dead")
	os.MkdirAll(filepath.Join(dead, "stage-1"), 0o755)
	os.WriteFile(filepath.Join(dead, "stage-1", "spool-1"), []byte("partial"), 0o644)
	os.WriteFile(dead+".lock", []byte("12345\n"), 0o644)
	// A leftover of an older layout, old enough to go.
	old := filepath.Join(tmp, "blob-123")
	os.WriteFile(old, []byte("x"), 0o644)
	past := time.Now().Add(-2 * legacyAge)
	os.Chtimes(old, past, past)
	// A fresh empty lock file may be another process starting: kept.
	os.WriteFile(filepath.Join(tmp, "run-starting.lock"), nil, 0o644)

	newTestBuilder(t, base, Options{CacheDir: cache})
	for _, p := range []string{dead, dead + ".lock", old} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s survived the sweep", p)
		}
	}
	for _, p := range []string{live.tmpDir, filepath.Join(tmp, "run-starting.lock")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was swept: %v", p, err)
		}
	}
	live.Close()
	if _, err := os.Stat(live.tmpDir); err == nil {
		t.Error("Close left its run directory")
	}
}

// TestDebWithoutDataMember: a .deb that ends after control.tar fails
// naming the package, the file and what is missing.
func TestDebWithoutDataMember(t *testing.T) {
	d := pkgDeb("nodata", debtest.File{Path: "/usr/bin/x", Body: "x"})
	m := splitAr(t, d.MustBytes())
	raw := append([]byte(arMagic), arMember("debian-binary", []byte("2.0\n"))...)
	raw = append(raw, arMember("control.tar.xz", m["control.tar.xz"])...)
	p := filepath.Join(t.TempDir(), "nodata.deb")
	os.WriteFile(p, raw, 0o644)
	b := newTestBuilder(t, makeBase(t, baseSpec{}), Options{})
	_, err := b.AddStage(context.Background(), []Deb{{Path: p}})
	if !errors.Is(err, ErrBadDeb) || !strings.Contains(err.Error(), "nodata") || !strings.Contains(err.Error(), "no data.tar member") {
		t.Fatalf("err = %v", err)
	}
	// truncated in the middle of data.tar
	full := d.MustBytes()
	os.WriteFile(p, full[:len(full)-40], 0o644)
	_, err = newTestBuilder(t, makeBase(t, baseSpec{}), Options{}).AddStage(context.Background(), []Deb{{Path: p}})
	if !errors.Is(err, ErrBadDeb) || !strings.Contains(err.Error(), "data.tar") || err.Error() == "EOF" {
		t.Fatalf("truncated: %v", err)
	}
}

// TestVerifiedOncePerProcess: builders sharing Options.Verified hash a
// cached layer once; a layer rewritten since (a new file) is hashed again.
func TestVerifiedOncePerProcess(t *testing.T) {
	base := makeBase(t, baseSpec{mergedUsr: true})
	debs := bulkDebs(t)[:1]
	cache := t.TempDir()
	v := &VerifiedLayers{}
	addStage(t, newTestBuilder(t, base, Options{CacheDir: cache, Verified: v}), debs)
	for i := 0; i < 3; i++ {
		addStage(t, newTestBuilder(t, base, Options{CacheDir: cache, Verified: v}), debs)
	}
	if v.hashes != 1 {
		t.Errorf("%d hashes for three hits, want 1", v.hashes)
	}
	blobs, _ := filepath.Glob(filepath.Join(cache, "layers", "*.tar.gz"))
	raw, _ := os.ReadFile(blobs[0])
	raw[len(raw)/2] ^= 0xff
	tmp := blobs[0] + ".new"
	os.WriteFile(tmp, raw, 0o644)
	os.Rename(tmp, blobs[0])
	l := addStage(t, newTestBuilder(t, base, Options{CacheDir: cache, Verified: v}), debs)
	if err := (&Builder{}).checkBlob(blobs[0], mustDigest(t, l), int64(len(raw))); err != nil {
		t.Errorf("a replaced layer was trusted from the process record: %v", err)
	}
}

func mustDigest(t *testing.T, l interface{ Digest() (v1.Hash, error) }) string {
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}
