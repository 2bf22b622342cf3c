//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgassemble/pgassemble/internal/sigstoretest"
)

// Keyless signing (issue 10) end to end: a local OIDC issuer, Fulcio and Rekor
// (internal/sigstoretest, on 127.0.0.1) stand in for Sigstore's public instance and a CI's
// identity provider, which this machine cannot reach. pgassemble builds and publishes an
// image with --sign keyless; the real cosign then verifies it with nothing but the local
// instance's trust material (its CA's root and intermediate, the log's key, the CT log's key:
// cosign's SIGSTORE_ROOT_FILE / SIGSTORE_REKOR_PUBLIC_KEY / SIGSTORE_CT_LOG_PUBLIC_KEY_FILE,
// and again as a --trusted-root file) and the identity the certificate must name. The SCT is
// checked too: the local Fulcio embeds one from its CT log key, so no --insecure-ignore-sct.

const (
	keylessEmail = "release-bot@pgassemble.test"
	keylessTag   = "17-minimal-trixie"
)

// keylessEnv is the cosign environment and arguments for the local instance.
type keylessEnv struct {
	ss          *sigstoretest.Sigstore
	env         []string // SIGSTORE_* variables
	trustedRoot string   // trusted_root.json of the same instance
}

// startKeyless starts the local instance for the life of parent (the whole test, so that
// the verification checks find its files) and writes its trust material.
func startKeyless(c *checkT, parent *testing.T) *keylessEnv {
	ss, err := sigstoretest.Start()
	if err != nil {
		c.Fatalf("local Sigstore: %v", err)
	}
	parent.Cleanup(ss.Close)
	dir := parent.TempDir()
	write := func(name string, data []byte, err error) string {
		if err != nil {
			c.Fatalf("%s: %v", name, err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			c.Fatalf("%v", err)
		}
		return p
	}
	roots, err := ss.RootsPEM()
	rootFile := write("fulcio-roots.pem", roots, err)
	rekorPub, err := ss.RekorPublicKeyPEM()
	rekorFile := write("rekor.pub", rekorPub, err)
	ctPub, err := ss.CTLogPublicKeyPEM()
	ctFile := write("ctlog.pub", ctPub, err)
	tr, err := ss.TrustedRoot()
	if err != nil {
		c.Fatalf("trusted root: %v", err)
	}
	trJSON, err := tr.MarshalJSON()
	trFile := write("trusted_root.json", trJSON, err)
	return &keylessEnv{ss: ss, trustedRoot: trFile, env: []string{
		"SIGSTORE_ROOT_FILE=" + rootFile,
		"SIGSTORE_REKOR_PUBLIC_KEY=" + rekorFile,
		"SIGSTORE_CT_LOG_PUBLIC_KEY_FILE=" + ctFile,
		// cosign's TUF cache stays in the test's directory; nothing reaches for the public root.
		"TUF_ROOT=" + filepath.Join(dir, "tuf"),
	}}
}

// runEnv runs a tool with extra environment variables and returns its standard output and
// standard error.
func runEnv(ctx context.Context, env []string, name string, args ...string) (string, string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, tail(stderr.String(), 1500))
	}
	return stdout.String(), stderr.String(), err
}

// pgassembleBinary is $PGASSEMBLE, else pgassemble built from this tree.
func pgassembleBinary(c *checkT) string {
	if p := os.Getenv("PGASSEMBLE"); p != "" {
		return p
	}
	out := filepath.Join(c.TempDir(), "pgassemble")
	if _, err := run(ctxFor(c.T, 10*time.Minute), "go", "build", "-o", out, "../../cmd/pgassemble"); err != nil {
		c.Fatalf("go build pgassemble: %v", err)
	}
	return out
}

// buildKeyless publishes 17-minimal-trixie to REGISTRY/keyless/postgresql-testing with
// --sign keyless against the local instance, and returns its reference.
func buildKeyless(c *checkT, k *keylessEnv) imageRef {
	reg, base := os.Getenv("E2E_REGISTRY"), os.Getenv("E2E_IMAGE_BASE_TRIXIE")
	if reg == "" || base == "" {
		c.NotChecked("keyless signing", "E2E_REGISTRY or E2E_IMAGE_BASE_TRIXIE is not set (run through test/e2e/run.sh)")
	}
	tok, err := k.ss.Token(sigstoretest.Claims{Email: keylessEmail})
	if err != nil {
		c.Fatalf("token: %v", err)
	}
	tokFile := filepath.Join(c.TempDir(), "oidc-token")
	if err := os.WriteFile(tokFile, []byte(tok), 0o600); err != nil {
		c.Fatalf("%v", err)
	}
	args := []string{"--pg", "17", "--type", "minimal", "--base", "trixie", "--pg-source", "debian",
		"--base-image", base, "--registry", reg + "/keyless", "--rebuild",
		"--sign", "keyless", "--oidc-token", tokFile, "--fulcio-url", k.ss.FulcioURL, "--rekor-url", k.ss.RekorURL}
	args = append(args, strings.Fields(os.Getenv("PGASSEMBLE_ARGS"))...)
	out, stderr, err := runEnv(ctxFor(c.T, 20*time.Minute), nil, pgassembleBinary(c), args...)
	if err != nil {
		c.Fatalf("pgassemble --sign keyless: %v\n%s", err, tail(out+stderr, 3000))
	}
	if strings.Contains(out+stderr, tok) {
		c.Errorf("pgassemble printed the OIDC token")
	}
	if !strings.Contains(stderr+out, "keyless cosign signatures and attestations as "+keylessEmail) {
		c.Errorf("pgassemble does not say who signed:\n%s", tail(out+stderr, 1500))
	}
	ref := reg + "/keyless/postgresql-testing:" + keylessTag
	return imageRef{Ref: ref, Repo: reg + "/keyless/postgresql-testing", Tag: keylessTag, Major: "17", Type: "minimal", Suite: "trixie"}
}

// keylessArgs are cosign's identity flags plus the registry's.
func (k *keylessEnv) keylessArgs(identity, issuer string) []string {
	return []string{"--certificate-identity", identity, "--certificate-oidc-issuer", issuer, "--allow-insecure-registry"}
}

// checkKeylessVerify: cosign verify accepts the index and each platform manifest for the
// signing identity, with the trust material in the environment and again as a trusted root;
// it refuses another identity and another issuer.
func checkKeylessVerify(c *checkT, k *keylessEnv, img imageRef) {
	ctx := ctxFor(c.T, 5*time.Minute)
	ok := k.keylessArgs(keylessEmail, k.ss.IssuerURL)
	out, stderr, err := runEnv(ctx, k.env, "cosign", append(append([]string{"verify"}, ok...), img.Ref)...)
	if err != nil {
		c.Fatalf("cosign verify (keyless) %s: %v", img.Ref, err)
	}
	c.Logf("cosign verify: %s", tail(stderr, 800))
	// cosign says which checks it made: the Rekor bundle offline, the certificate against the CA.
	for _, want := range []string{
		"Existence of the claims in the transparency log was verified offline",
		"The code-signing certificate was verified using trusted certificate authority certificates",
	} {
		if !strings.Contains(stderr, want) {
			c.Errorf("cosign verify does not report %q:\n%s", want, tail(stderr, 800))
		}
	}
	want := indexDigest(c, img.Ref)
	if !strings.Contains(out, `"docker-manifest-digest":"`+want+`"`) {
		c.Errorf("cosign verify output does not name the index %s:\n%s", want, tail(out, 600))
	}
	for _, arch := range strings.Fields(orDefault(os.Getenv("E2E_ARCHES"), "amd64 arm64")) {
		d := platformDigest(c, img, arch)
		if _, _, err := runEnv(ctx, k.env, "cosign", append(append([]string{"verify"}, ok...), img.Repo+"@"+d)...); err != nil {
			c.Errorf("cosign verify (keyless) of the %s manifest: %v", arch, err)
		}
	}
	// The same verification from a trusted_root.json alone (sigstore-go's verifiers in cosign).
	if _, _, err := runEnv(ctx, []string{"TUF_ROOT=" + filepath.Join(c.TempDir(), "tuf")}, "cosign",
		append(append([]string{"verify", "--trusted-root", k.trustedRoot}, ok...), img.Ref)...); err != nil {
		c.Errorf("cosign verify --trusted-root: %v", err)
	}
	for _, bad := range []struct{ what, identity, issuer string }{
		{"another identity", "someone-else@pgassemble.test", k.ss.IssuerURL},
		{"another issuer", keylessEmail, "https://issuer.invalid"},
	} {
		_, _, err := runEnv(ctx, k.env, "cosign", append(append([]string{"verify"}, k.keylessArgs(bad.identity, bad.issuer)...), img.Ref)...)
		c.Logf("cosign verify for %s: %v", bad.what, err)
		if err == nil {
			c.Errorf("cosign verify passed for %s (%s, %s)", bad.what, bad.identity, bad.issuer)
		} else if !strings.Contains(err.Error(), "expected identit") {
			c.Errorf("cosign verify for %s failed, but not on the identity: %v", bad.what, err)
		}
	}
	// Without the local trust material (a different CT log key), the SCT does not verify.
	other, err := sigstoretest.Start()
	if err != nil {
		c.Fatalf("second local Sigstore: %v", err)
	}
	defer other.Close()
	ctPub, _ := other.CTLogPublicKeyPEM()
	ctFile := filepath.Join(c.TempDir(), "other-ctlog.pub")
	os.WriteFile(ctFile, ctPub, 0o644)
	env := append(append([]string{}, k.env...), "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE="+ctFile)
	_, _, err = runEnv(ctx, env, "cosign", append(append([]string{"verify"}, ok...), img.Ref)...)
	c.Logf("cosign verify with another CT log's key: %v", err)
	if err == nil {
		c.Errorf("cosign verify passed with another CT log's key: the SCT is not checked")
	} else if e := strings.ToLower(err.Error()); !strings.Contains(e, "sct") && !strings.Contains(e, "ctfe public key not found") {
		c.Errorf("cosign verify with another CT log's key failed, but not on the SCT: %v", err)
	}
	// And with another log's key, the Rekor bundle does not verify.
	rekorPub, _ := other.RekorPublicKeyPEM()
	rekorFile := filepath.Join(c.TempDir(), "other-rekor.pub")
	os.WriteFile(rekorFile, rekorPub, 0o644)
	env = append(append([]string{}, k.env...), "SIGSTORE_REKOR_PUBLIC_KEY="+rekorFile)
	_, _, err = runEnv(ctx, env, "cosign", append(append([]string{"verify"}, ok...), img.Ref)...)
	c.Logf("cosign verify with another Rekor key: %v", err)
	if err == nil {
		c.Errorf("cosign verify passed with another Rekor key: the bundle is not checked")
	} else if !strings.Contains(err.Error(), "bundle") {
		c.Errorf("cosign verify with another Rekor key failed, but not on the bundle: %v", err)
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// checkKeylessAttestations: cosign verify-attestation accepts the SBOM and the provenance
// for the signing identity, one statement per platform, and refuses another identity.
func checkKeylessAttestations(c *checkT, k *keylessEnv, img imageRef) {
	ctx := ctxFor(c.T, 5*time.Minute)
	arches := strings.Fields(orDefault(os.Getenv("E2E_ARCHES"), "amd64 arm64"))
	for _, typ := range []string{"spdxjson", "slsaprovenance1"} {
		out, _, err := runEnv(ctx, k.env, "cosign", append(append([]string{"verify-attestation", "--type", typ},
			k.keylessArgs(keylessEmail, k.ss.IssuerURL)...), img.Ref)...)
		if err != nil {
			c.Errorf("cosign verify-attestation --type %s (keyless): %v", typ, err)
			continue
		}
		c.Logf("verify-attestation --type %s: %d statements", typ, len(strings.Split(strings.TrimSpace(out), "\n")))
		if n := len(strings.Split(strings.TrimSpace(out), "\n")); n < len(arches) {
			c.Errorf("verify-attestation --type %s: %d statements, want one per platform (%d)", typ, n, len(arches))
		}
		_, _, err = runEnv(ctx, k.env, "cosign", append(append([]string{"verify-attestation", "--type", typ},
			k.keylessArgs("someone-else@pgassemble.test", k.ss.IssuerURL)...), img.Ref)...)
		if err == nil {
			c.Errorf("cosign verify-attestation --type %s passed for another identity", typ)
		} else if !strings.Contains(err.Error(), "expected identit") {
			c.Errorf("cosign verify-attestation --type %s for another identity failed, but not on the identity: %v", typ, err)
		}
	}
}

// TestSupplyKeyless builds one image with --sign keyless against the local Sigstore and
// verifies it with the real cosign.
func TestSupplyKeyless(t *testing.T) {
	parent := t
	var k *keylessEnv
	var img imageRef
	t.Run("build", func(t *testing.T) {
		c := begin(t, "keyless/postgresql-testing:"+keylessTag, "pgassemble --sign keyless (local Fulcio, Rekor, OIDC)")
		k = startKeyless(c, parent)
		img = buildKeyless(c, k)
		if n := k.ss.Entries(); n == 0 {
			c.Errorf("nothing was logged in the local Rekor")
		}
	})
	if img.Ref == "" {
		return // the build check failed and says why
	}
	t.Run("cosign-verify", func(t *testing.T) {
		checkKeylessVerify(begin(t, img.Ref, "cosign verify keyless (identity, issuer, SCT, Rekor bundle)"), k, img)
	})
	t.Run("cosign-verify-attestation", func(t *testing.T) {
		checkKeylessAttestations(begin(t, img.Ref, "cosign verify-attestation keyless spdxjson+slsaprovenance1"), k, img)
	})
}
