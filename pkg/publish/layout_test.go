package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// readIndexJSON returns the ref name -> digest map of DIR/index.json,
// failing on duplicate names.
func readIndexJSON(t *testing.T, dir string) (map[string]v1.Hash, []v1.Descriptor) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var im v1.IndexManifest
	if err := json.Unmarshal(raw, &im); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	if im.SchemaVersion != 2 {
		t.Errorf("index.json schemaVersion %d", im.SchemaVersion)
	}
	refs := map[string]v1.Hash{}
	for _, d := range im.Manifests {
		ref, ok := d.Annotations[ocispec.AnnotationRefName]
		if !ok {
			continue
		}
		if _, dup := refs[ref]; dup {
			t.Errorf("index.json names %q twice", ref)
		}
		refs[ref] = d.Digest
	}
	return refs, im.Manifests
}

// leftovers lists temporary files left in the layout.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestLayoutPublish(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "oci")
	ctx := context.Background()
	idx := testIndex(t)
	want, _ := idx.Digest()
	nblobs := distinctBlobs(t, idx)
	progress := newRecordingProgress()
	pub := NewLayout(dir, WithProgress(progress))

	res, err := pub.Publish(ctx, idx, testTags[:2])
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != want || res.Uploaded != nblobs || res.Skipped != 0 {
		t.Errorf("result digest %s uploaded %d skipped %d; want %s, %d, 0", res.Digest, res.Uploaded, res.Skipped, want, nblobs)
	}
	if len(progress.started) != nblobs || progress.errs != 0 {
		t.Errorf("progress: %d started, %d errors", len(progress.started), progress.errs)
	}
	wantRefs := []string{"oci:" + dir + ":" + testTags[0], "oci:" + dir + ":" + testTags[1]}
	if strings.Join(res.Refs, " ") != strings.Join(wantRefs, " ") || res.DigestRef != "oci:"+dir+"@"+want.String() {
		t.Errorf("refs %v %s", res.Refs, res.DigestRef)
	}
	refs, entries := readIndexJSON(t, dir)
	if len(entries) != 2 || refs[testTags[0]] != want || refs[testTags[1]] != want {
		t.Errorf("index.json entries %v", entries)
	}
	if raw, err := os.ReadFile(filepath.Join(dir, "oci-layout")); err != nil || !bytes.Contains(raw, []byte(`"imageLayoutVersion":"1.0.0"`)) {
		t.Errorf("oci-layout: %q %v", raw, err)
	}

	// Read back with go-containerregistry's layout reader.
	root, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	rim, err := root.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range rim.Manifests {
		child, err := root.ImageIndex(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := child.Digest(); got != want {
			t.Errorf("layout index digest %s, want %s", got, want)
		}
		checkIndexContent(t, child)
		cim, _ := child.IndexManifest()
		if len(cim.Manifests) != 2 || cim.Annotations["org.opencontainers.image.version"] != "17.12" {
			t.Errorf("layout index manifest %+v", cim)
		}
	}

	// Re-running is idempotent: nothing written, no duplicate refs.
	res, err = pub.Publish(ctx, idx, testTags[:2])
	if err != nil {
		t.Fatal(err)
	}
	if res.Uploaded != 0 || res.Skipped != nblobs {
		t.Errorf("re-run: uploaded %d skipped %d, want 0 and %d", res.Uploaded, res.Skipped, nblobs)
	}
	if _, entries = readIndexJSON(t, dir); len(entries) != 2 {
		t.Errorf("re-run: index.json has %d entries, want 2", len(entries))
	}

	// A new index takes over one tag and adds another; the rest stay.
	idx2 := testIndex(t)
	want2, _ := idx2.Digest()
	if _, err := NewLayout(dir).Publish(ctx, idx2, []string{testTags[1], testTags[2]}); err != nil {
		t.Fatal(err)
	}
	refs, entries = readIndexJSON(t, dir)
	if len(entries) != 3 || refs[testTags[0]] != want || refs[testTags[1]] != want2 || refs[testTags[2]] != want2 {
		t.Errorf("after second index: %v", refs)
	}

	// Untagged publishes are recorded once.
	for range 2 {
		if _, err := pub.Publish(ctx, idx2, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, entries = readIndexJSON(t, dir); len(entries) != 4 {
		t.Errorf("after untagged publishes: %d entries, want 4", len(entries))
	}
	if l := leftovers(t, dir); len(l) != 0 {
		t.Errorf("temporary files left: %v", l)
	}
}

// corruptLayer claims a digest its bytes do not have.
type corruptLayer struct{ v1.Layer }

func (c corruptLayer) Compressed() (io.ReadCloser, error) {
	rc, err := c.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	b[len(b)/2] ^= 0xff
	return io.NopCloser(bytes.NewReader(b)), nil
}

func TestLayoutRefusesCorruptBlob(t *testing.T) {
	dir := t.TempDir()
	good, err := random.Layer(1024, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(mutate.MediaType(testImageBase(), types.OCIManifestSchema1), corruptLayer{good})
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(testIndexBase(), mutate.IndexAddendum{Add: img})
	d, _ := good.Digest()

	_, err = NewLayout(dir).Publish(context.Background(), idx, []string{"x"})
	if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "write blob "+d.String()) {
		t.Fatalf("error %v, want ErrIncomplete naming blob %s", err, d)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("index.json written despite a bad blob: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "blobs", "sha256", d.Hex)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("corrupt blob landed in the layout: %v", err)
	}
	if l := leftovers(t, dir); len(l) != 0 {
		t.Errorf("temporary files left: %v", l)
	}
}

func TestLayoutBadTags(t *testing.T) {
	for _, tag := range []string{"", ".x", "-x", "a/b", "a:b", strings.Repeat("a", 129)} {
		dir := t.TempDir()
		_, err := NewLayout(dir).Publish(context.Background(), testIndex(t), []string{"ok", tag})
		if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "parse tag") {
			t.Errorf("tag %q: error %v", tag, err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("tag %q: layout written despite the bad tag", tag)
		}
	}
}

// TestLayoutSkopeo checks that a real consumer reads the layout and pushes
// it, by tag, to a registry without changing digests.
func TestLayoutSkopeo(t *testing.T) {
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		t.Skipf("skopeo not installed (apt-get install skopeo): %v", err)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	idx := testIndex(t)
	want, _ := idx.Digest()
	rawIndex, _ := idx.RawManifest()
	tag := testTags[1]
	if _, err := NewLayout(dir).Publish(context.Background(), idx, testTags); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(skopeo, append([]string{"--insecure-policy"}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no user registries.conf or auth
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}

	if got := run("inspect", "--raw", "oci:"+dir+":"+tag); !bytes.Equal(bytes.TrimSpace(got), rawIndex) {
		t.Errorf("skopeo inspect --raw returned\n%s\nwant\n%s", got, rawIndex)
	}

	reg := newTestRegistry(t)
	dest := reg.host() + "/x:" + tag
	run("copy", "--all", "--dest-tls-verify=false",
		"oci:"+dir+":"+tag, "docker://"+dest)
	ref, err := name.ParseReference(dest)
	if err != nil {
		t.Fatal(err)
	}
	ridx, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	// skopeo 1.9 re-serializes an OCI index (its own field order, no
	// artifactType), so the index digest may change; the images must not.
	gotIM, err := ridx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	wantIM, _ := idx.IndexManifest()
	if len(gotIM.Manifests) != len(wantIM.Manifests) || gotIM.Annotations["org.opencontainers.image.version"] != "17.12" {
		t.Fatalf("skopeo pushed index %+v, want children of %s", gotIM, want)
	}
	for i, d := range wantIM.Manifests {
		g := gotIM.Manifests[i]
		if g.Digest != d.Digest || g.Platform == nil || g.Platform.Architecture != d.Platform.Architecture ||
			g.Annotations["org.opencontainers.image.title"] != d.Annotations["org.opencontainers.image.title"] {
			t.Errorf("skopeo pushed manifest %d = %+v, want %+v", i, g, d)
		}
	}
	checkIndexContent(t, ridx)
}

func FuzzUpdateIndex(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"manifests":[]}`), "t1")
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1,"annotations":{"org.opencontainers.image.ref.name":"t1"}}]}`), "t1")
	f.Add([]byte(`{"manifests":null}`), "")
	f.Add([]byte(`not json`), "x")
	desc := v1.Descriptor{MediaType: types.OCIImageIndex, Size: 3,
		Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}}
	f.Fuzz(func(t *testing.T, existing []byte, tag string) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "index.json"), existing, 0o644); err != nil {
			t.Fatal(err)
		}
		if tag != "" && !validTag(tag) {
			return // Publish refuses such tags before updateIndex
		}
		var tags []string
		if tag != "" {
			tags = []string{tag}
		}
		err := NewLayout(dir).updateIndex(desc, tags)
		if json.Valid(existing) == false && err == nil {
			t.Fatalf("accepted invalid index.json %q", existing)
		}
		if err != nil {
			return
		}
		raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
		if err != nil {
			t.Fatal(err)
		}
		var im v1.IndexManifest
		if err := json.Unmarshal(raw, &im); err != nil {
			t.Fatalf("wrote unreadable index.json: %v", err)
		}
		n := 0
		for _, m := range im.Manifests {
			if tag != "" && m.Annotations[ocispec.AnnotationRefName] == tag {
				n++
				if m.Digest != desc.Digest {
					t.Errorf("tag %q points at %s", tag, m.Digest)
				}
			}
		}
		if tag != "" && n != 1 {
			t.Errorf("tag %q appears %d times", tag, n)
		}
	})
}

func BenchmarkLayoutPublish(b *testing.B) {
	idx := testIndex(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := NewLayout(b.TempDir()).Publish(ctx, idx, testTags); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLayoutReplacesCorruptExistingBlob: a blob file of the right size but
// the wrong content already in the layout is not trusted: it is rewritten
// with the right bytes.
func TestLayoutReplacesCorruptExistingBlob(t *testing.T) {
	dir := t.TempDir()
	good, err := random.Layer(1024, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(mutate.MediaType(testImageBase(), types.OCIManifestSchema1), good)
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(testIndexBase(), mutate.IndexAddendum{Add: img})
	d, _ := good.Digest()
	size, _ := good.Size()
	p := filepath.Join(dir, "blobs", "sha256", d.Hex)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, bytes.Repeat([]byte("x"), int(size)), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := NewLayout(dir).Publish(context.Background(), idx, []string{"x"})
	if err != nil {
		t.Fatal(err)
	}
	if !fileHasDigest(p, d) {
		t.Error("the corrupt blob was kept")
	}
	if res.Uploaded == 0 {
		t.Errorf("result %+v: the corrupt blob counted as present", res)
	}
}

// TestLayoutSweepsDeadWriters: the temporary blob file of a killed
// writer (lock free) is removed by the next publish; one being written
// (locked) is not.
func TestLayoutSweepsDeadWriters(t *testing.T) {
	dir := t.TempDir()
	blobs := filepath.Join(dir, "blobs", "sha256")
	os.MkdirAll(blobs, 0o755)
	dead := filepath.Join(blobs, ".tmp-deadbeef-1")
	os.WriteFile(dead, []byte("partial"), 0o644)
	live, err := os.Create(filepath.Join(blobs, ".tmp-cafe-2"))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	live.WriteString("partial")
	if err := lockFileNB(live); err != nil {
		t.Skipf("no advisory locks here: %v", err)
	}
	if _, err := NewLayout(dir).Publish(context.Background(), testIndex(t), []string{"x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); err == nil {
		t.Error("a dead writer's temporary file survived")
	}
	if _, err := os.Stat(live.Name()); err != nil {
		t.Errorf("a live writer's temporary file was swept: %v", err)
	}
}
