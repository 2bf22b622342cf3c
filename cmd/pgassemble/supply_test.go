package main

import (
	"crypto/elliptic"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/pgassemble/pgassemble/internal/fixture"
)

func writeKey(t *testing.T, password string) string {
	t.Helper()
	priv, _, err := cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), cryptoutils.StaticPasswordFunc([]byte(password)))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "cosign.key")
	if err := os.WriteFile(p, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSignedBuild: --sign-key publishes cosign's .sig and .att tags for the
// index and its platform manifest, and the CycloneDX referrer asked for.
func TestSignedBuild(t *testing.T) {
	w := fixture.New(t)
	key := writeKey(t, "pw")
	t.Setenv("COSIGN_PASSWORD", "pw")
	_, stderr, code := cli(t, worldArgs(w, t.TempDir(), "--pg", "17", "--type", "minimal", "--base", "trixie", "--platform", "linux/amd64",
		"--allow-unhandled-scripts", "--sign-key", key, "--sbom-format", "cyclonedx")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "cyclonedx SBOM, SLSA provenance, cosign signatures and attestations") {
		t.Errorf("output does not say what was attached:\n%s", stderr)
	}
	ref, _ := name.ParseReference(w.RegHost+"/postgresql-testing:17-minimal-trixie", name.Insecure)
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	im, _ := idx.IndexManifest()
	plat := im.Manifests[0].Digest
	tags, err := remote.List(ref.Context())
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, tg := range tags {
		have[tg] = true
	}
	for _, want := range []string{
		"sha256-" + d.Hex + ".sig", "sha256-" + d.Hex + ".att",
		"sha256-" + plat.Hex + ".sig", "sha256-" + plat.Hex + ".att",
		"sha256-" + plat.Hex, // referrers fallback: the test registry has no referrers API
	} {
		if !have[want] {
			t.Errorf("no tag %s (tags %v)", want, tags)
		}
	}
	fb, err := remote.Index(ref.Context().Tag("sha256-" + plat.Hex))
	if err != nil {
		t.Fatal(err)
	}
	fm, _ := fb.IndexManifest()
	var types []string
	for _, m := range fm.Manifests {
		types = append(types, m.ArtifactType)
	}
	sort.Strings(types)
	if got := strings.Join(types, " "); got != "application/vnd.cyclonedx+json application/vnd.in-toto+json" {
		t.Errorf("referrers of the platform manifest: %s", got)
	}
}

// TestSignKeyErrors: a bad key stops the command before anything is built
// or published.
func TestSignKeyErrors(t *testing.T) {
	w := fixture.New(t)
	key := writeKey(t, "right")
	notKey := filepath.Join(t.TempDir(), "notakey")
	os.WriteFile(notKey, []byte("hello\n"), 0o600)
	for _, tc := range []struct {
		name, pw string
		args     []string
		code     int
		msg      string
	}{
		{"wrong password", "wrong", []string{"--sign-key", key}, 1, "cannot decrypt the private key"},
		{"not a key", "", []string{"--sign-key", notKey}, 1, "not a private key"},
		{"missing file", "", []string{"--sign-key", notKey + ".gone"}, 1, "no such file"},
		{"keyless", "", []string{"--sign", "keyless"}, 2, "keyless is not implemented"},
		{"bad attest", "", []string{"--attest", "sbom,vex"}, 2, "--attest"},
		{"bad sbom format", "", []string{"--sbom-format", "swid"}, 2, "--sbom-format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("COSIGN_PASSWORD", tc.pw)
			args := append(worldArgs(w, t.TempDir(), "--pg", "17", "--type", "minimal", "--base", "trixie", "-q"), tc.args...)
			_, stderr, code := cli(t, args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr, tc.code, tc.msg)
			}
			if strings.Contains(stderr, "PRIVATE KEY") {
				t.Fatal("the error quotes the key")
			}
			ref, _ := name.ParseReference(w.RegHost+"/postgresql-testing:17-minimal-trixie", name.Insecure)
			if _, err := remote.Head(ref); err == nil {
				t.Fatal("an image was published despite the bad key")
			}
		})
	}
}

// TestSignedBuildAttestNone: --attest none with --sign-key signs the index
// and the platform manifest (.sig) and pushes nothing attestation-shaped:
// no .att tag, no referrer (nor the referrers fallback tag).
func TestSignedBuildAttestNone(t *testing.T) {
	w := fixture.New(t)
	key := writeKey(t, "pw")
	t.Setenv("COSIGN_PASSWORD", "pw")
	_, stderr, code := cli(t, worldArgs(w, t.TempDir(), "--pg", "17", "--type", "minimal", "--base", "trixie", "--platform", "linux/amd64",
		"--allow-unhandled-scripts", "--sign-key", key, "--attest", "none")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "(cosign signatures)") {
		t.Errorf("output does not say only signatures were attached:\n%s", stderr)
	}
	ref, _ := name.ParseReference(w.RegHost+"/postgresql-testing:17-minimal-trixie", name.Insecure)
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	im, _ := idx.IndexManifest()
	plat := im.Manifests[0].Digest
	tags, err := remote.List(ref.Context())
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, tg := range tags {
		have[tg] = true
	}
	for _, want := range []string{"sha256-" + d.Hex + ".sig", "sha256-" + plat.Hex + ".sig"} {
		if !have[want] {
			t.Errorf("no tag %s (tags %v)", want, tags)
		}
	}
	for _, tg := range tags {
		if strings.HasSuffix(tg, ".att") || tg == "sha256-"+plat.Hex || tg == "sha256-"+d.Hex {
			t.Errorf("--attest none pushed %s (tags %v)", tg, tags)
		}
	}
}
