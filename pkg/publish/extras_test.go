package publish

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pgassemble/pgassemble/pkg/attest"
	"github.com/pgassemble/pgassemble/pkg/sign"
)

// extrasFor is one referrer of the index's first manifest and one tagged
// signature image that merges with what is there.
func extrasFor(t *testing.T, idx v1.ImageIndex, sigBody string) ([]Extra, v1.Descriptor) {
	t.Helper()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	sub := im.Manifests[0]
	ref, err := attest.Artifact(sub, "application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3"}`), "application/spdx+json", nil)
	if err != nil {
		t.Fatal(err)
	}
	layer := sign.SignatureLayer([]byte(sigBody), []byte("sig-"+sigBody))
	img, err := sign.Image(nil, layer)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	return []Extra{
		{Image: ref, What: "SBOM of linux/amd64"},
		{Image: img, Tag: sign.SignatureTag(d), What: "signature of the index", Merge: func(existing v1.Image) (v1.Image, error) {
			return sign.Image(existing, layer)
		}},
	}, sub
}

func TestRegistryExtras(t *testing.T) {
	reg := newTestRegistry(t)
	repo := reg.host() + "/postgresql-testing"
	ctx := context.Background()
	pub, err := NewRegistry(repo, testOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	idx := testIndex(t)
	extras, sub := extrasFor(t, idx, "one")
	res, err := pub.PublishWith(ctx, idx, testTags, extras)
	if err != nil {
		t.Fatal(err)
	}
	refDigest, _ := extras[0].Image.Digest()
	if _, ok := remoteDigest(t, repo+"@"+refDigest.String()); !ok {
		t.Fatal("referrer not pushed")
	}
	// The in-process registry has no referrers API: the fallback tag
	// sha256-<subject hex> is an index listing the referrer.
	r, _ := name.ParseReference(repo + ":sha256-" + sub.Digest.Hex)
	fb, err := remote.Index(r)
	if err != nil {
		t.Fatalf("no referrers fallback tag: %v", err)
	}
	fim, _ := fb.IndexManifest()
	if len(fim.Manifests) != 1 || fim.Manifests[0].Digest != refDigest || fim.Manifests[0].ArtifactType != "application/spdx+json" {
		t.Errorf("fallback index %+v", fim.Manifests)
	}
	// The signature tag merges: a second signer's layer is added, the first kept.
	extras2, _ := extrasFor(t, idx, "two")
	if _, err := pub.PublishWith(ctx, idx, testTags, extras2[1:]); err != nil {
		t.Fatal(err)
	}
	sr, _ := name.ParseReference(repo + ":" + sign.SignatureTag(res.Digest))
	sig, err := remote.Image(sr)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := sig.Manifest(); len(m.Layers) != 2 {
		t.Errorf("signature image has %d layers after two signers, want 2", len(m.Layers))
	}
}

// TestRegistryExtrasRefused: a registry refusing the referrer leaves the
// index pushed by digest and no tag written.
func TestRegistryExtrasRefused(t *testing.T) {
	reg := newTestRegistry(t)
	repo := reg.host() + "/postgresql-testing"
	pub, err := NewRegistry(repo, testOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	idx := testIndex(t)
	extras, _ := extrasFor(t, idx, "one")
	refDigest, _ := extras[0].Image.Digest()
	reg.setFault(func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifests/"+refDigest.String())
	})
	_, err = pub.PublishWith(context.Background(), idx, testTags, extras)
	if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "push SBOM of linux/amd64") {
		t.Fatalf("err = %v, want ErrIncomplete naming the SBOM", err)
	}
	reg.setFault(nil)
	d, _ := idx.Digest()
	if _, ok := remoteDigest(t, repo+"@"+d.String()); !ok {
		t.Error("index not pushed by digest")
	}
	for _, tag := range testTags {
		if _, ok := remoteDigest(t, repo+":"+tag); ok {
			t.Errorf("tag %s written although an extra failed", tag)
		}
	}
}

func TestLayoutExtras(t *testing.T) {
	dir := t.TempDir()
	l := NewLayout(dir)
	idx := testIndex(t)
	extras, sub := extrasFor(t, idx, "one")
	if _, err := l.PublishWith(context.Background(), idx, testTags[:1], extras); err != nil {
		t.Fatal(err)
	}
	extras2, _ := extrasFor(t, idx, "two")
	if _, err := l.PublishWith(context.Background(), idx, testTags[:1], extras2); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var im v1.IndexManifest
	if err := json.Unmarshal(raw, &im); err != nil {
		t.Fatal(err)
	}
	var referrers, sigs, tagged int
	for _, m := range im.Manifests {
		switch {
		case m.ArtifactType == "application/spdx+json":
			referrers++
		case strings.HasSuffix(m.Annotations["org.opencontainers.image.ref.name"], ".sig"):
			sigs++
			lp, err := layout.FromPath(dir)
			if err != nil {
				t.Fatal(err)
			}
			img, err := lp.Image(m.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if mf, _ := img.Manifest(); len(mf.Layers) != 2 {
				t.Errorf("signature image has %d layers, want 2", len(mf.Layers))
			}
		case m.Annotations["org.opencontainers.image.ref.name"] == testTags[0]:
			tagged++
		}
	}
	if referrers != 1 || sigs != 1 || tagged != 1 {
		t.Errorf("index.json: %d referrers (want 1, listed once), %d signature tags, %d image tags:\n%s", referrers, sigs, tagged, raw)
	}
	// Every blob of the referrer is in the layout.
	ref, _ := extras[0].Image.Digest()
	for _, d := range []string{ref.Hex, sub.Digest.Hex} {
		if _, err := os.Stat(filepath.Join(dir, "blobs", "sha256", d)); err != nil {
			t.Error(err)
		}
	}
}
