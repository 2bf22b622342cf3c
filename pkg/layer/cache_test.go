package layer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pgassemble/pgassemble/internal/debtest"
)

// bulkDebs makes a few packages with enough data to span several gzip
// blocks, so parallel compression is exercised.
func bulkDebs(t testing.TB) []Deb {
	var debs []debtest.Deb
	for p := 0; p < 3; p++ {
		var files []debtest.File
		for i := 0; i < 40; i++ {
			var sb strings.Builder
			for j := 0; sb.Len() < 64<<10; j++ {
				fmt.Fprintf(&sb, "pkg %d file %d line %d %x\n", p, i, j, j*i*7919)
			}
			files = append(files, debtest.File{Path: fmt.Sprintf("/usr/share/bulk%d/f%03d", p, i), Body: sb.String()})
		}
		d := pkgDeb(fmt.Sprintf("bulk%d", p), files...)
		d.DataCompression = []string{"xz", "gz", "zst"}[p]
		debs = append(debs, d)
	}
	return writeDebs(t, debs...)
}

func digests(t testing.TB, l v1.Layer) (v1.Hash, v1.Hash) {
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	id, err := l.DiffID()
	if err != nil {
		t.Fatal(err)
	}
	return d, id
}

func TestDeterministic(t *testing.T) {
	debs := bulkDebs(t)
	base := makeBase(t, baseSpec{mergedUsr: true})
	for _, comp := range []Compression{Gzip, Zstd} {
		t.Run(string(comp), func(t *testing.T) {
			var first v1.Hash
			for i, procs := range []int{1, 2, 4, 1} {
				old := runtime.GOMAXPROCS(procs)
				b := newTestBuilder(t, base, Options{Compression: comp})
				l := addStage(t, b, debs)
				runtime.GOMAXPROCS(old)
				d, _ := digests(t, l)
				if i == 0 {
					first = d
				} else if d != first {
					t.Errorf("GOMAXPROCS=%d: digest %s, want %s", procs, d, first)
				}
				// the recorded digest is the digest of the bytes
				rc, _ := l.Compressed()
				h, n, err := v1.SHA256(rc)
				rc.Close()
				size, _ := l.Size()
				if err != nil || h != d || n != size {
					t.Errorf("recorded %s/%d, actual %s/%d (%v)", d, size, h, n, err)
				}
				mt, _ := l.MediaType()
				want := types.OCILayer
				if comp == Zstd {
					want = types.OCILayerZStd
				}
				if mt != want {
					t.Errorf("media type %s, want %s", mt, want)
				}
			}
		})
	}
}

func TestCacheHitReadsNoDeb(t *testing.T) {
	debs := bulkDebs(t)
	base := makeBase(t, baseSpec{mergedUsr: true})
	cache := t.TempDir()
	fr1 := &fakeReplay{users: map[string]int{}, groups: map[string]int{}}
	b1 := newTestBuilder(t, base, Options{CacheDir: cache, Replayer: fr1})
	l1 := addStage(t, b1, debs[:2])
	l2 := addStage(t, b1, debs[2:])
	f1, err := b1.Finish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range debs {
		if err := os.Remove(d.Path); err != nil {
			t.Fatal(err)
		}
	}
	fr2 := &fakeReplay{users: map[string]int{}, groups: map[string]int{}}
	b2 := newTestBuilder(t, base, Options{CacheDir: cache, Replayer: fr2})
	m1 := addStage(t, b2, debs[:2])
	m2 := addStage(t, b2, debs[2:])
	f2, err := b2.Finish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, pair := range [][2]v1.Layer{{l1, m1}, {l2, m2}, {f1, f2}} {
		a, _ := digests(t, pair[0])
		b, _ := digests(t, pair[1])
		if a != b {
			t.Errorf("layer %d: %s from cache, %s converted", i, b, a)
		}
	}
	if strings.Join(fr1.observed, "\n") != strings.Join(fr2.observed, "\n") || len(fr1.observed) == 0 {
		t.Errorf("replay observed %d entries on a hit, %d on conversion", len(fr2.observed), len(fr1.observed))
	}
	obs, _ := filepath.Glob(filepath.Join(cache, "layers", "*.observe"))
	if len(obs) != 2 {
		t.Errorf("%d observation sidecars, want 2", len(obs))
	}
	// Without sidecars, a hit reads the cached layers instead.
	for _, o := range obs {
		os.Remove(o)
	}
	fr4 := &fakeReplay{users: map[string]int{}, groups: map[string]int{}}
	b4 := newTestBuilder(t, base, Options{CacheDir: cache, Replayer: fr4})
	addStage(t, b4, debs[:2])
	addStage(t, b4, debs[2:])
	if strings.Join(fr1.observed, "\n") != strings.Join(fr4.observed, "\n") {
		t.Errorf("fallback observations differ")
	}
	if again, _ := filepath.Glob(filepath.Join(cache, "layers", "*.observe")); len(again) != 2 {
		t.Errorf("the fallback recorded %d sidecars, want 2", len(again))
	}
	// A changed owner mapping invalidates the entry (and needs the .debs).
	fr3 := &fakeReplay{users: map[string]int{"root": 7}, groups: map[string]int{}}
	b3 := newTestBuilder(t, base, Options{CacheDir: cache, Replayer: fr3})
	if _, err := b3.AddStage(context.Background(), debs[:2]); err == nil {
		t.Error("a cache entry made with other owner ids was used")
	}
}

func TestPrefixStagesShared(t *testing.T) {
	debs := bulkDebs(t)
	base := makeBase(t, baseSpec{})
	cache := t.TempDir()
	minimal := newTestBuilder(t, base, Options{CacheDir: cache})
	a := addStage(t, minimal, debs[:1])
	standard := newTestBuilder(t, base, Options{})
	b := addStage(t, standard, debs[:1])
	c := addStage(t, standard, debs[1:])
	da, _ := digests(t, a)
	db, _ := digests(t, b)
	dc, _ := digests(t, c)
	if da != db {
		t.Errorf("first stage differs between builds: %s %s", da, db)
	}
	if dc == db {
		t.Error("second stage equals the first")
	}
}
