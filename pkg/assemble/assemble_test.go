package assemble

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pgassemble/pgassemble/internal/fixture"
	"github.com/pgassemble/pgassemble/pkg/apt/archive"
	"github.com/pgassemble/pgassemble/pkg/publish"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

var built = time.Date(2026, 11, 23, 12, 34, 0, 0, time.UTC)

func builder(f *fixture.World, t *testing.T, cache string, mutate ...func(*Options)) *Builder {
	t.Helper()
	return builderB(t, f, cache, mutate...)
}

func builderB(t testing.TB, f *fixture.World, cache string, mutate ...func(*Options)) *Builder {
	t.Helper()
	o := Options{
		Client:    archive.New(archive.WithCacheDir(cache), archive.WithRetries(0, time.Millisecond)),
		BaseImage: f.BaseRef,
		CacheDir:  filepath.Join(cache, "layers"),
		Built:     built,
		Revision:  "abc123",
	}
	for _, m := range mutate {
		m(&o)
	}
	b, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func target(t *testing.T, pg, typ string) variants.Target {
	t.Helper()
	tg, err := variants.Default().Target(pg, typ, "trixie")
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func publisher(f *fixture.World, t *testing.T) *publish.Registry {
	p, err := publish.NewRegistry(f.RegHost + "/postgresql-testing")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBuildPublishesTwoPlatformIndex(t *testing.T) {
	f := fixture.New(t)
	ctx := context.Background()
	cache := t.TempDir()
	b := builder(f, t, cache)
	res, err := b.Build(ctx, target(t, "17", "standard"))
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	if res.Plan.Version != "17.12-1.pgdg13+1" {
		t.Errorf("resolved %s, want PGDG's 17.12-1.pgdg13+1 over Debian's 17.5-1", res.Plan.Version)
	}
	pr, err := publisher(f, t).Publish(ctx, res.Index, res.Tags)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}

	// Tags, read back from the registry.
	wantTags := []string{"17-standard-trixie", "17.12-standard-trixie", "17.12-202611231234-standard-trixie"}
	repo, _ := name.NewRepository(f.RegHost+"/postgresql-testing", name.Insecure)
	tags, err := remote.List(repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range wantTags {
		if !slices.Contains(tags, w) {
			t.Errorf("tag %s missing; registry has %v", w, tags)
		}
		desc, err := remote.Get(repo.Tag(w))
		if err != nil {
			t.Fatal(err)
		}
		if desc.Digest != pr.Digest {
			t.Errorf("tag %s -> %s, want the index %s", w, desc.Digest, pr.Digest)
		}
	}

	idx, err := remote.Index(repo.Tag(wantTags[0]))
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	var plats []string
	for _, m := range im.Manifests {
		plats = append(plats, m.Platform.OS+"/"+m.Platform.Architecture)
	}
	if !slices.Equal(plats, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("index platforms %v, want exactly linux/amd64, linux/arm64 (attestation skipped)", plats)
	}
	if im.Annotations["org.opencontainers.image.version"] == "" || im.Annotations["org.opencontainers.image.title"] == "" {
		t.Errorf("index annotations missing: %v", im.Annotations)
	}
	for _, m := range im.Manifests {
		img, err := idx.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		if cf.Config.User != "26" {
			t.Errorf("%s: User %q, want 26", m.Platform.Architecture, cf.Config.User)
		}
		if cf.Architecture != m.Platform.Architecture {
			t.Errorf("config architecture %s in the %s manifest", cf.Architecture, m.Platform.Architecture)
		}
		var path string
		for _, e := range cf.Config.Env {
			if v, ok := strings.CutPrefix(e, "PATH="); ok {
				path = v
			}
		}
		if !strings.HasSuffix(path, ":/usr/lib/postgresql/17/bin") || !strings.HasPrefix(path, "/usr/local/sbin") {
			t.Errorf("PATH %q: want the base's PATH then /usr/lib/postgresql/17/bin", path)
		}
		for _, k := range []string{"created", "url", "source", "documentation", "version", "revision", "vendor", "authors", "title", "description", "licenses", "base.name", "base.digest"} {
			key := "org.opencontainers.image." + k
			if cf.Config.Labels[key] == "" {
				t.Errorf("label %s missing", key)
			}
		}
		if got := cf.Config.Labels["org.opencontainers.image.base.name"]; got != f.BaseRef {
			t.Errorf("base.name label %q, want the base actually used, %s", got, f.BaseRef)
		}
		if cf.Config.Labels["org.opencontainers.image.revision"] != "abc123" {
			t.Errorf("revision label %q", cf.Config.Labels["org.opencontainers.image.revision"])
		}
		mf, _ := img.Manifest()
		if mf.Annotations["org.opencontainers.image.version"] != cf.Config.Labels["org.opencontainers.image.version"] {
			t.Errorf("manifest annotations %v do not carry the labels", mf.Annotations)
		}
		if mf.MediaType != "application/vnd.oci.image.manifest.v1+json" {
			t.Errorf("manifest media type %s", mf.MediaType)
		}
		files := flatten(t, img)
		if files["etc/passwd"] == "" || !strings.Contains(files["etc/passwd"], "\npostgres:x:26:") {
			t.Errorf("%s: etc/passwd has no postgres with uid 26:\n%s", m.Platform.Architecture, files["etc/passwd"])
		}
		if got := files["usr/lib/postgresql/17/bin/postgres"]; got != "server-"+m.Platform.Architecture {
			t.Errorf("%s: postgres binary = %q: wrong architecture's package", m.Platform.Architecture, got)
		}
		if _, ok := files["usr/share/doc/postgresql-common/README"]; ok {
			t.Errorf("the base's dpkg path-exclude was not applied")
		}
		if _, ok := files["usr/share/doc/postgresql-common/copyright"]; !ok {
			t.Errorf("path-include of copyright files was not applied")
		}
		if cc := files["etc/postgresql-common/createcluster.conf"]; !strings.Contains(cc, "create_main_cluster = false") {
			t.Errorf("createcluster.conf not edited: %q", cc)
		}
		if st := files["var/lib/dpkg/status"]; !strings.Contains(st, "Package: postgresql-17-pgvector\nStatus: install ok installed") {
			t.Errorf("dpkg status lacks the new packages")
		}
		// apt's auto-installed marks: dependencies yes, requested packages no.
		ext := files["var/lib/apt/extended_states"]
		if !strings.Contains(ext, "Package: postgresql-client-17\n") || strings.Contains(ext, "Package: postgresql-17\n") {
			t.Errorf("extended_states should mark dependencies only:\n%s", ext)
		}
	}
}

// flatten applies every layer of img in order and returns regular files'
// content (symlinks as "-> target").
func flatten(t *testing.T, img v1.Image) map[string]string {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, l := range ls {
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
			n := strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/")
			n = strings.TrimSuffix(n, "/")
			dir, base := filepath.Split(n)
			if strings.HasPrefix(base, ".wh.") {
				delete(files, dir+strings.TrimPrefix(base, ".wh."))
				continue
			}
			switch h.Typeflag {
			case tar.TypeReg:
				b, _ := io.ReadAll(tr)
				files[n] = string(b)
			case tar.TypeSymlink:
				files[n] = "-> " + h.Linkname
			}
		}
		rc.Close()
	}
	return files
}

func layerDigests(t *testing.T, idx v1.ImageIndex, arch string) []v1.Hash {
	t.Helper()
	im, _ := idx.IndexManifest()
	for _, m := range im.Manifests {
		if m.Platform.Architecture == arch {
			img, _ := idx.Image(m.Digest)
			mf, _ := img.Manifest()
			var out []v1.Hash
			for _, l := range mf.Layers {
				out = append(out, l.Digest)
			}
			return out
		}
	}
	t.Fatalf("no %s in index", arch)
	return nil
}

func TestStandardSharesMinimalLayersAndRebuildUploadsNothing(t *testing.T) {
	f := fixture.New(t)
	ctx := context.Background()
	cache := t.TempDir()
	b := builder(f, t, cache)
	pub := publisher(f, t)

	min, err := b.Build(ctx, target(t, "17", "minimal"))
	if err != nil {
		t.Fatal(err)
	}
	std, err := b.Build(ctx, target(t, "17", "standard"))
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range fixture.Arches {
		ml, sl := layerDigests(t, min.Index, arch), layerDigests(t, std.Index, arch)
		// base layer(s) + minimal's stage layer are shared; the state layer is not.
		shared := len(ml) - 1
		if !slices.Equal(ml[:shared], sl[:shared]) {
			t.Errorf("%s: standard's layers %v do not start with minimal's %v", arch, sl, ml[:shared])
		}
		if len(sl) != len(ml)+1 {
			t.Errorf("%s: standard has %d layers, want minimal's %d + 1 stage", arch, len(sl), len(ml))
		}
	}
	debHits := map[string]int{}
	for _, r := range append(f.Debian.Requests(), f.PGDG.Requests()...) {
		if strings.HasSuffix(r, ".deb") {
			debHits[r]++
		}
	}
	for r, n := range debHits {
		if n != 1 {
			t.Errorf("%s fetched %d times, want once for the whole run", r, n)
		}
	}

	f.Counter.Reset()
	for _, res := range []*Result{min, std} {
		if _, err := pub.Publish(ctx, res.Index, res.Tags); err != nil {
			t.Fatal(err)
		}
	}
	if _, maxPer := f.Counter.Total(); maxPer != 1 {
		t.Errorf("a blob was uploaded %d times; shared layers must be pushed once", maxPer)
	}

	// A second, identical run in a new process (a new Builder, same cache):
	// same digests, no blob uploaded, no .deb fetched.
	f.Counter.Reset()
	f.Debian.ResetCounts()
	f.PGDG.ResetCounts()
	b2 := builder(f, t, cache)
	again, err := b2.Build(ctx, target(t, "17", "standard"))
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := std.Index.Digest()
	d2, _ := again.Index.Digest()
	if d1 != d2 {
		t.Errorf("rebuild gave index %s, first build %s: not reproducible", d2, d1)
	}
	res, err := pub.Publish(ctx, again.Index, again.Tags)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := f.Counter.Total(); n != 0 || res.Uploaded != 0 {
		t.Errorf("rebuild uploaded %d blobs (publisher says %d), want 0", n, res.Uploaded)
	}
	if n := f.Debian.HitsMatching(".deb") + f.PGDG.HitsMatching(".deb"); n != 0 {
		t.Errorf("rebuild fetched %d .debs, want 0 (cache)", n)
	}
}

func TestOCILayoutOutput(t *testing.T) {
	f := fixture.New(t)
	ctx := context.Background()
	b := builder(f, t, t.TempDir())
	res, err := b.Build(ctx, target(t, "17", "minimal"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := publish.NewLayout(dir).Publish(ctx, res.Index, res.Tags); err != nil {
		t.Fatal(err)
	}
	lp, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := lp.IndexManifest()
	var refs []string
	for _, m := range im.Manifests {
		refs = append(refs, m.Annotations["org.opencontainers.image.ref.name"])
	}
	for _, tag := range res.Tags {
		if !slices.Contains(refs, tag) {
			t.Errorf("layout lacks ref %s (has %v)", tag, refs)
		}
	}
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Skipf("skopeo not installed: the layout was checked with go-containerregistry only (CI installs skopeo)")
	}
	out, err := exec.Command("skopeo", "inspect", "--raw", "oci:"+dir+":"+res.Tags[0]).CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo inspect: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "linux") || !strings.Contains(string(out), "arm64") {
		t.Errorf("skopeo read %s", out)
	}
	dest := "docker://" + f.RegHost + "/mirror/postgresql:" + res.Tags[0]
	if out, err := exec.Command("skopeo", "copy", "--all", "--dest-tls-verify=false", "oci:"+dir+":"+res.Tags[0], dest).CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy: %v\n%s", err, out)
	}
}

func TestBadInput(t *testing.T) {
	f := fixture.New(t)
	ctx := context.Background()
	b := builder(f, t, t.TempDir())

	t.Run("version the repositories lack", func(t *testing.T) {
		_, err := b.Plan(ctx, target(t, "17.99", "minimal"))
		if !errors.Is(err, ErrVersionUnavailable) || !strings.Contains(err.Error(), "17.12-1.pgdg13+1") {
			t.Errorf("err = %v; want ErrVersionUnavailable listing what is available", err)
		}
	})
	t.Run("base without the platform", func(t *testing.T) {
		tg, err := target(t, "17", "minimal").WithPlatforms([]string{"linux/s390x"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.Plan(ctx, tg)
		if !errors.Is(err, ErrPlatformMissing) || !strings.Contains(err.Error(), "linux/amd64") {
			t.Errorf("err = %v; want ErrPlatformMissing naming what the base has", err)
		}
	})
	t.Run("unreachable registry", func(t *testing.T) {
		res, err := b.Build(ctx, target(t, "17", "minimal"))
		if err != nil {
			t.Fatal(err)
		}
		p, _ := publish.NewRegistry("127.0.0.1:1/postgresql-testing")
		_, err = p.Publish(ctx, res.Index, res.Tags)
		if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
			t.Errorf("err = %v; want an error naming the registry", err)
		}
	})
	t.Run("registry fails mid-push: tags unmoved", func(t *testing.T) {
		pub := publisher(f, t)
		old, err := b.Build(ctx, target(t, "17", "minimal"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pub.Publish(ctx, old.Index, old.Tags); err != nil {
			t.Fatal(err)
		}
		oldDigest, _ := old.Index.Digest()
		newer := builder(f, t, t.TempDir(), func(o *Options) { o.Revision = "def456" })
		res, err := newer.Build(ctx, target(t, "17", "minimal"))
		if err != nil {
			t.Fatal(err)
		}
		f.Counter.FailIf(func(r *http.Request) bool {
			return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/sha256:")
		})
		defer f.Counter.FailIf(nil)
		fast, _ := publish.NewRegistry(f.RegHost+"/postgresql-testing", publish.WithRetryBackoff(remote.Backoff{Steps: 1}))
		_, err = fast.Publish(ctx, res.Index, res.Tags)
		if !errors.Is(err, publish.ErrIncomplete) {
			t.Fatalf("err = %v; want publish.ErrIncomplete", err)
		}
		repo, _ := name.NewRepository(f.RegHost+"/postgresql-testing", name.Insecure)
		for _, tag := range old.Tags[:1] {
			d, err := remote.Get(repo.Tag(tag))
			if err != nil {
				t.Fatal(err)
			}
			if d.Digest != oldDigest {
				t.Errorf("tag %s moved to %s after a failed push", tag, d.Digest)
			}
		}
	})
}

// The system's xz and the pure-Go decoder must give the same image.
func TestExternalXZSameDigest(t *testing.T) {
	xz, err := exec.LookPath("xz")
	if err != nil {
		t.Skipf("xz not installed: only the pure-Go decoder can be checked (CI installs xz-utils)")
	}
	f := fixture.New(t)
	ctx := context.Background()
	tg := target(t, "17", "standard")
	goRes, err := builder(f, t, t.TempDir()).Build(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	extRes, err := builder(f, t, t.TempDir(), func(o *Options) { o.XZCommand = xz }).Build(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := goRes.Index.Digest()
	d2, _ := extRes.Index.Digest()
	if d1 != d2 {
		t.Errorf("pure-Go xz gave %s, %s gave %s", d1, xz, d2)
	}
}

func TestPGDGMirrorFromSetupScript(t *testing.T) {
	script := []byte(`#!/bin/sh
PG_REPOSITORY_DISTS="sid trixie bookworm"
PG_ARCHIVE_DISTS="sid trixie bookworm buster stretch"
if [ "${HOST:-}" ]; then
    :
elif echo "$PG_REPOSITORY_DISTS" | grep -qw "$CODENAME"; then
    HOST="current.example"
elif echo "$PG_ARCHIVE_DISTS" | grep -qw "$CODENAME"; then
    HOST="archive.example"
else
    HOST="current.example"
fi
cat > $SOURCES <<END
Types: deb
URIs: https://$HOST/pub/repos/apt
Suites: $CODENAME-pgdg
END
`)
	for codename, want := range map[string]string{
		"trixie": "https://current.example/pub/repos/apt",
		"buster": "https://archive.example/pub/repos/apt",
		"future": "https://current.example/pub/repos/apt",
	} {
		if got := pgdgMirror(script, codename); got != want {
			t.Errorf("%s: mirror %q, want %q", codename, got, want)
		}
	}
	if got := pgdgMirror([]byte("#!/bin/sh\necho no template\n"), "trixie"); got != "" {
		t.Errorf("a script without a URIs template gave %q", got)
	}
}
