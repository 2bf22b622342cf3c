package main

import (
	"context"
	"crypto/elliptic"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/pgassemble/pgassemble/internal/fixture"
	"github.com/pgassemble/pgassemble/internal/sigstoretest"
	"github.com/pgassemble/pgassemble/pkg/assemble"
	"github.com/pgassemble/pgassemble/pkg/sign"
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
	ref, d, plat, tags := published(t, w)
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
		{"keyless without a token", "", []string{"--sign", "keyless"}, 2, "no OIDC identity token: give --oidc-token FILE"},
		{"keyless and a key", "", []string{"--sign", "keyless", "--sign-key", key}, 2, "exclude each other"},
		{"token without keyless", "", []string{"--oidc-token", notKey}, 2, "--oidc-token needs --sign keyless"},
		{"Rekor without keyless", "", []string{"--sign-key", key, "--rekor-url", "http://127.0.0.1:9"}, 2, "--fulcio-url and --rekor-url need --sign keyless"},
		{"Fulcio without keyless", "", []string{"--fulcio-url", "http://127.0.0.1:9"}, 2, "--fulcio-url and --rekor-url need --sign keyless"},
		{"bad attest", "", []string{"--attest", "sbom,vex"}, 2, "--attest"},
		{"bad sbom format", "", []string{"--sbom-format", "swid"}, 2, "--sbom-format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("COSIGN_PASSWORD", tc.pw)
			for _, v := range []string{"SIGSTORE_ID_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"} {
				t.Setenv(v, "")
			}
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
	_, d, plat, tags := published(t, w)
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

// TestKeylessBuild: --sign keyless against the local Sigstore publishes
// .sig and .att layers with cosign's certificate, chain and bundle
// annotations, one log entry per signature; a log refusing mid-way fails
// the command naming the log, and nothing is published.
func TestKeylessBuild(t *testing.T) {
	w := fixture.New(t)
	ss, err := sigstoretest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	tok, err := ss.Token(sigstoretest.Claims{Email: "ci@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	tokFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokFile, []byte(tok), 0o600)
	keyless := []string{"--sign", "keyless", "--oidc-token", tokFile, "--fulcio-url", ss.FulcioURL, "--rekor-url", ss.RekorURL}
	base := []string{"--pg", "17", "--type", "minimal", "--base", "trixie", "--platform", "linux/amd64", "--allow-unhandled-scripts"}

	t.Run("log refusing mid-way", func(t *testing.T) {
		ss.SetFaults(sigstoretest.Faults{RekorAfter: 2, RekorStatus: 400})
		defer ss.SetFaults(sigstoretest.Faults{})
		_, stderr, code := cli(t, append(worldArgs(w, t.TempDir(), base...), keyless...)...)
		if code != 1 || !strings.Contains(stderr, "Rekor "+ss.RekorURL) {
			t.Fatalf("exit %d, want 1 and an error naming Rekor %s:\n%s", code, ss.RekorURL, stderr)
		}
		if strings.Contains(stderr, tok) {
			t.Fatal("the error quotes the token")
		}
		ref, _ := name.ParseReference(w.RegHost+"/postgresql-testing:17-minimal-trixie", name.Insecure)
		if _, err := remote.Head(ref); err == nil {
			t.Fatal("the image was tagged although its signing failed")
		}
	})

	before := ss.Entries()
	_, stderr, code := cli(t, append(worldArgs(w, t.TempDir(), base...), keyless...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "keyless cosign signatures and attestations as ci@example.test ("+ss.IssuerURL+")") {
		t.Errorf("output does not say who signed:\n%s", stderr)
	}
	// The index and one platform: two signatures, and the SBOM and
	// provenance statements of the platform in both .att images, logged once each.
	if n := ss.Entries() - before; n != 4 {
		t.Errorf("%d log entries, want 4 (2 signatures, 2 attestations)", n)
	}
	ref, d, plat, _ := published(t, w)
	for _, tag := range []string{"sha256-" + d.Hex + ".sig", "sha256-" + plat.Hex + ".sig", "sha256-" + d.Hex + ".att"} {
		img, err := remote.Image(ref.Context().Tag(tag))
		if err != nil {
			t.Fatalf("%s: %v", tag, err)
		}
		m, _ := img.Manifest()
		if len(m.Layers) == 0 {
			t.Fatalf("%s has no layers", tag)
		}
		for _, l := range m.Layers {
			for _, k := range []string{"dev.sigstore.cosign/certificate", "dev.sigstore.cosign/chain", "dev.sigstore.cosign/bundle"} {
				if l.Annotations[k] == "" {
					t.Errorf("%s: layer %s lacks %s", tag, l.Digest, k)
				}
			}
		}
	}
}

// TestExtrasRefusesUnreadySigner: with signing asked, extras before ready
// is an error, never an image published unsigned; after ready it signs.
func TestExtrasRefusesUnreadySigner(t *testing.T) {
	opened := 0
	s := &supply{openSigner: func(context.Context) (*sign.Signer, error) { opened++; return nil, errors.New("no Fulcio here") }}
	if _, err := s.extras(context.Background(), &assemble.Result{}, time.Now()); !errors.Is(err, errSignerNotReady) {
		t.Fatalf("extras before ready: %v, want errSignerNotReady", err)
	}
	if err := s.ready(context.Background()); err == nil || opened != 1 {
		t.Fatalf("ready with a failing opener: %v after %d opens, want its error", err, opened)
	}
	if s.signer != nil {
		t.Fatal("a failed ready left a signer")
	}
}

// published reads what the fixture registry holds for 17-minimal-trixie:
// the tag's reference, the index digest, its first platform manifest's
// digest and every tag of the repository.
func published(t *testing.T, w *fixture.World) (name.Reference, v1.Hash, v1.Hash, []string) {
	t.Helper()
	ref, _ := name.ParseReference(w.RegHost+"/postgresql-testing:17-minimal-trixie", name.Insecure)
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	im, _ := idx.IndexManifest()
	tags, err := remote.List(ref.Context())
	if err != nil {
		t.Fatal(err)
	}
	return ref, d, im.Manifests[0].Digest, tags
}
