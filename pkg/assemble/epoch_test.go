package assemble

import (
	"archive/tar"
	"context"
	"io"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pgassemble/pgassemble/internal/fixture"
)

// TestCreatedDerivedFromInputs: without SOURCE_DATE_EPOCH, two builds from
// separate caches give the same digest, the image is dated by its newest
// input (minimal: PGDG's server packages; standard: its extensions), and no
// file is dated after it.
func TestCreatedDerivedFromInputs(t *testing.T) {
	f := fixture.New(t)
	ctx := context.Background()
	for _, tc := range []struct {
		typ  string
		want time.Time
	}{
		{"minimal", fixture.PGDGBuilt},
		{"standard", fixture.ExtensionBuilt},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			var digests []v1.Hash
			for range 2 {
				res, err := builder(f, t, t.TempDir()).Build(ctx, target(t, "17", tc.typ))
				if err != nil {
					t.Fatal(err)
				}
				d, err := res.Index.Digest()
				if err != nil {
					t.Fatal(err)
				}
				digests = append(digests, d)
				if got := res.Labels["org.opencontainers.image.created"]; got != tc.want.Format(time.RFC3339) {
					t.Errorf("created label %s, want %s", got, tc.want.Format(time.RFC3339))
				}
				im, _ := res.Index.IndexManifest()
				for _, m := range im.Manifests {
					img, _ := res.Index.Image(m.Digest)
					cf, err := img.ConfigFile()
					if err != nil {
						t.Fatal(err)
					}
					if !cf.Created.Time.Equal(tc.want) {
						t.Errorf("%s: config created %v, want %v", m.Platform.Architecture, cf.Created.Time, tc.want)
					}
					newest := newestAdded(t, img, len(res.Report.Platforms[0].Layers))
					if newest.After(tc.want) {
						t.Errorf("%s: a file is dated %v, after the image's creation %v", m.Platform.Architecture, newest, tc.want)
					}
					if !newest.Equal(tc.want) {
						t.Errorf("%s: newest file %v, want the state layer dated at the creation %v", m.Platform.Architecture, newest, tc.want)
					}
				}
			}
			if digests[0] != digests[1] {
				t.Errorf("same inputs, digests %s and %s", digests[0], digests[1])
			}
		})
	}
}

// TestCreatedFromSourceDateEpoch: SOURCE_DATE_EPOCH (Options.Epoch) wins.
func TestCreatedFromSourceDateEpoch(t *testing.T) {
	f := fixture.New(t)
	sde := time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC)
	res, err := builder(f, t, t.TempDir(), func(o *Options) { o.Epoch = sde }).Build(context.Background(), target(t, "17", "minimal"))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Labels["org.opencontainers.image.created"]; got != sde.Format(time.RFC3339) {
		t.Errorf("created %s, want SOURCE_DATE_EPOCH %s", got, sde.Format(time.RFC3339))
	}
}

// newestAdded is the newest mtime among the last n layers of img.
func newestAdded(t *testing.T, img v1.Image, n int) time.Time {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var newest time.Time
	for _, l := range ls[len(ls)-n:] {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.ModTime.After(newest) {
				newest = h.ModTime
			}
		}
		rc.Close()
	}
	return newest.UTC()
}
