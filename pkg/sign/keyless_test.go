package sign_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/pgassemble/pgassemble/internal/sigstoretest"
	"github.com/pgassemble/pgassemble/pkg/sign"
)

const testEmail = "builder@example.test"

func startSigstore(t *testing.T) *sigstoretest.Sigstore {
	t.Helper()
	ss, err := sigstoretest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ss.Close)
	return ss
}

func staticToken(tok string) sign.TokenSource {
	return func(context.Context) (string, string, error) { return tok, "the test", nil }
}

func keylessSigner(t *testing.T, ss *sigstoretest.Sigstore, c sigstoretest.Claims) (*sign.Signer, error) {
	t.Helper()
	tok, err := ss.Token(c)
	if err != nil {
		t.Fatal(err)
	}
	return sign.NewKeyless(context.Background(), sign.KeylessOptions{FulcioURL: ss.FulcioURL, RekorURL: ss.RekorURL, Token: staticToken(tok), Retries: -1})
}

// sgBundle turns a keyless layer into a sigstore bundle (v0.1: the SET, no
// inclusion proof), as sigstore-go's verifier reads one: the certificate
// from the certificate annotation, the log entry from the bundle
// annotation, the content from the layer.
func sgBundle(t *testing.T, l sign.Layer) *bundle.Bundle {
	t.Helper()
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(l.Annotations[sign.CertificateAnnotation]))
	if err != nil || len(certs) != 1 {
		t.Fatalf("certificate annotation: %v (%d certificates)", err, len(certs))
	}
	if chain, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(l.Annotations[sign.ChainAnnotation])); err != nil || len(chain) != 2 {
		t.Fatalf("chain annotation: %v (%d certificates, want intermediate and root)", err, len(chain))
	}
	var rb struct {
		SignedEntryTimestamp []byte
		Payload              struct {
			Body           string `json:"body"`
			IntegratedTime int64  `json:"integratedTime"`
			LogIndex       int64  `json:"logIndex"`
			LogID          string `json:"logID"`
		}
	}
	if err := json.Unmarshal([]byte(l.Annotations[sign.BundleAnnotation]), &rb); err != nil {
		t.Fatalf("bundle annotation: %v", err)
	}
	body, err := base64.StdEncoding.DecodeString(rb.Payload.Body)
	if err != nil {
		t.Fatal(err)
	}
	var kind struct{ Kind, APIVersion string }
	json.Unmarshal(body, &kind)
	logID, _ := hex.DecodeString(rb.Payload.LogID)
	pb := &protobundle.Bundle{
		MediaType: "application/vnd.dev.sigstore.bundle+json;version=0.1",
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_X509CertificateChain{X509CertificateChain: &protocommon.X509CertificateChain{
				Certificates: []*protocommon.X509Certificate{{RawBytes: certs[0].Raw}}}},
			TlogEntries: []*protorekor.TransparencyLogEntry{{
				LogIndex: rb.Payload.LogIndex, LogId: &protocommon.LogId{KeyId: logID},
				KindVersion:       &protorekor.KindVersion{Kind: kind.Kind, Version: kind.APIVersion},
				IntegratedTime:    rb.Payload.IntegratedTime,
				InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: rb.SignedEntryTimestamp},
				CanonicalizedBody: body,
			}},
		},
	}
	switch l.MediaType {
	case sign.SimpleSigningMediaType:
		sig, _ := base64.StdEncoding.DecodeString(l.Annotations[sign.SignatureAnnotation])
		sum := sha256.Sum256(l.Body)
		pb.Content = &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: sum[:]}, Signature: sig}}
	case sign.DSSEMediaType:
		var env struct {
			PayloadType string `json:"payloadType"`
			Payload     []byte `json:"payload"`
			Signatures  []struct {
				KeyID string `json:"keyid"`
				Sig   []byte `json:"sig"`
			} `json:"signatures"`
		}
		if err := json.Unmarshal(l.Body, &env); err != nil {
			t.Fatal(err)
		}
		e := &protodsse.Envelope{PayloadType: env.PayloadType, Payload: env.Payload}
		for _, s := range env.Signatures {
			e.Signatures = append(e.Signatures, &protodsse.Signature{Sig: s.Sig, Keyid: s.KeyID})
		}
		pb.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: e}
	default:
		t.Fatalf("layer media type %s", l.MediaType)
	}
	b, err := bundle.NewBundle(pb)
	if err != nil {
		t.Fatalf("bundle: %v", err)
	}
	return b
}

func sgVerify(t *testing.T, ss *sigstoretest.Sigstore, l sign.Layer, artifact verify.ArtifactPolicyOption, email string) error {
	t.Helper()
	tr, err := ss.TrustedRoot()
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.NewVerifier(tr, verify.WithTransparencyLog(1), verify.WithSignedCertificateTimestamps(1), verify.WithIntegratedTimestamps(1))
	if err != nil {
		t.Fatal(err)
	}
	id, err := verify.NewShortCertificateIdentity(ss.IssuerURL, "", email, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(sgBundle(t, l), verify.NewPolicy(artifact, verify.WithCertificateIdentity(id)))
	return err
}

var testDigest = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}

// TestKeylessSignatureVerifies: a keyless signature and attestation verify
// with sigstore-go against the local CA and log (chain, SCT, SET, identity),
// and fail for a tampered payload or another identity.
func TestKeylessSignatureVerifies(t *testing.T) {
	ss := startSigstore(t)
	s, err := keylessSigner(t, ss, sigstoretest.Claims{Email: testEmail})
	if err != nil {
		t.Fatal(err)
	}
	if sub, iss := s.Identity(); sub != testEmail || iss != ss.IssuerURL {
		t.Errorf("Identity() = %q, %q; want %q, %q", sub, iss, testEmail, ss.IssuerURL)
	}
	repo, _ := name.NewRepository("127.0.0.1:5000/postgresql-testing")
	l, err := s.Signature(context.Background(), repo, testDigest)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(l.Body, []byte(testDigest.String())) {
		t.Errorf("payload does not name the digest: %s", l.Body)
	}
	if err := sgVerify(t, ss, l, verify.WithArtifact(bytes.NewReader(l.Body)), testEmail); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	tampered := bytes.Replace(l.Body, []byte("ab"), []byte("cd"), 1)
	if err := sgVerify(t, ss, l, verify.WithArtifact(bytes.NewReader(tampered)), testEmail); err == nil {
		t.Error("signature verifies for a tampered payload")
	}
	if err := sgVerify(t, ss, l, verify.WithArtifact(bytes.NewReader(l.Body)), "someone@else.test"); err == nil {
		t.Error("signature verifies for another identity")
	}

	stmt := []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":"` + testDigest.Hex + `"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`)
	a, err := s.Attestation(context.Background(), stmt, "https://slsa.dev/provenance/v1")
	if err != nil {
		t.Fatal(err)
	}
	if a.Annotations[sign.PredicateAnnotation] != "https://slsa.dev/provenance/v1" {
		t.Errorf("predicateType annotation %q", a.Annotations[sign.PredicateAnnotation])
	}
	dig, _ := hex.DecodeString(testDigest.Hex)
	if err := sgVerify(t, ss, a, verify.WithArtifactDigest("sha256", dig), testEmail); err != nil {
		t.Fatalf("attestation does not verify: %v", err)
	}
	other := sha256.Sum256([]byte("other"))
	if err := sgVerify(t, ss, a, verify.WithArtifactDigest("sha256", other[:]), testEmail); err == nil {
		t.Error("attestation verifies for another subject")
	}
	if n := ss.Entries(); n != 2 {
		t.Errorf("log holds %d entries, want 2", n)
	}
	// The key-only operations say so.
	if _, err := s.Blob([]byte("x")); !errors.Is(err, sign.ErrKeyOnly) {
		t.Errorf("Blob: %v, want ErrKeyOnly", err)
	}
}

// TestKeylessURIIdentity: a CI-style token without email is certified as
// its subject URI (as Fulcio does for a workflow).
func TestKeylessURIIdentity(t *testing.T) {
	ss := startSigstore(t)
	const wf = "https://ci.example.test/org/repo/.github/workflows/release.yml@refs/heads/main"
	s, err := keylessSigner(t, ss, sigstoretest.Claims{Subject: wf})
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := name.NewRepository("127.0.0.1:5000/postgresql-testing")
	l, err := s.Signature(context.Background(), repo, testDigest)
	if err != nil {
		t.Fatal(err)
	}
	if err := sgVerify(t, ss, l, verify.WithArtifact(bytes.NewReader(l.Body)), wf); err != nil {
		t.Fatalf("does not verify for the workflow URI: %v", err)
	}
}

// TestKeylessRenews: a signer whose certificate is about to expire gets a
// new key and certificate before signing.
func TestKeylessRenews(t *testing.T) {
	ss := startSigstore(t)
	tok, _ := ss.Token(sigstoretest.Claims{Email: testEmail, Expiry: time.Now().Add(2 * time.Hour)})
	now := time.Now()
	clock := func() time.Time { return now }
	s, err := sign.NewKeyless(context.Background(), sign.KeylessOptions{FulcioURL: ss.FulcioURL, RekorURL: ss.RekorURL, Token: staticToken(tok), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := name.NewRepository("127.0.0.1:5000/p")
	first, _ := s.PublicKeyPEM()
	if _, err := s.Signature(context.Background(), repo, testDigest); err != nil {
		t.Fatal(err)
	}
	if ss.Issued() != 1 {
		t.Fatalf("%d certificates issued, want 1", ss.Issued())
	}
	now = now.Add(sigstoretest.CertValidity - time.Minute) // within the 2-minute margin
	if _, err := s.Signature(context.Background(), repo, testDigest); err != nil {
		t.Fatal(err)
	}
	second, _ := s.PublicKeyPEM()
	if ss.Issued() != 2 || bytes.Equal(first, second) {
		t.Errorf("after 9 minutes: %d certificates issued (want 2), key changed: %v", ss.Issued(), !bytes.Equal(first, second))
	}
}

// TestKeylessErrors: each failure names the service and its URL, and
// nothing is logged or issued past it.
func TestKeylessErrors(t *testing.T) {
	ctx := context.Background()
	repo, _ := name.NewRepository("127.0.0.1:5000/p")
	t.Run("expired token", func(t *testing.T) {
		ss := startSigstore(t)
		_, err := keylessSigner(t, ss, sigstoretest.Claims{Email: testEmail, IssuedAt: time.Now().Add(-2 * time.Hour), Expiry: time.Now().Add(-time.Hour)})
		if !errors.Is(err, sign.ErrTokenExpired) || !strings.Contains(err.Error(), ss.IssuerURL) {
			t.Errorf("err = %v, want ErrTokenExpired naming the issuer", err)
		}
		if ss.Issued() != 0 {
			t.Errorf("%d certificates issued for an expired token", ss.Issued())
		}
	})
	t.Run("token signed by another key", func(t *testing.T) {
		ss := startSigstore(t)
		tok, _ := ss.ForeignToken(sigstoretest.Claims{Email: testEmail})
		_, err := sign.NewKeyless(ctx, sign.KeylessOptions{FulcioURL: ss.FulcioURL, RekorURL: ss.RekorURL, Token: staticToken(tok)})
		if !errors.Is(err, sign.ErrFulcio) || !strings.Contains(err.Error(), ss.FulcioURL) || !strings.Contains(err.Error(), "401") {
			t.Errorf("err = %v, want ErrFulcio naming %s and the 401", err, ss.FulcioURL)
		}
	})
	t.Run("not a JWT", func(t *testing.T) {
		ss := startSigstore(t)
		_, err := sign.NewKeyless(ctx, sign.KeylessOptions{FulcioURL: ss.FulcioURL, RekorURL: ss.RekorURL, Token: staticToken("not-a-token")})
		if !errors.Is(err, sign.ErrToken) {
			t.Errorf("err = %v, want ErrToken", err)
		}
	})
	t.Run("Fulcio failing", func(t *testing.T) {
		ss := startSigstore(t)
		ss.SetFaults(sigstoretest.Faults{FulcioStatus: http.StatusServiceUnavailable})
		_, err := keylessSigner(t, ss, sigstoretest.Claims{Email: testEmail})
		if !errors.Is(err, sign.ErrFulcio) || !strings.Contains(err.Error(), "503") {
			t.Errorf("err = %v, want ErrFulcio with the 503", err)
		}
	})
	t.Run("Fulcio certifying another key", func(t *testing.T) {
		ss := startSigstore(t)
		ss.SetFaults(sigstoretest.Faults{FulcioWrongKey: true})
		_, err := keylessSigner(t, ss, sigstoretest.Claims{Email: testEmail})
		if !errors.Is(err, sign.ErrFulcio) || !strings.Contains(err.Error(), "does not certify") {
			t.Errorf("err = %v, want ErrFulcio: does not certify the key", err)
		}
	})
	t.Run("Rekor unreachable", func(t *testing.T) {
		ss := startSigstore(t)
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		tok, _ := ss.Token(sigstoretest.Claims{Email: testEmail})
		_, err := sign.NewKeyless(ctx, sign.KeylessOptions{FulcioURL: ss.FulcioURL, RekorURL: dead.URL, Token: staticToken(tok), Retries: -1})
		if !errors.Is(err, sign.ErrRekor) || !strings.Contains(err.Error(), dead.URL) {
			t.Errorf("err = %v, want ErrRekor naming %s", err, dead.URL)
		}
	})
	t.Run("Rekor refusing mid-way", func(t *testing.T) {
		ss := startSigstore(t)
		ss.SetFaults(sigstoretest.Faults{RekorAfter: 1, RekorStatus: http.StatusBadRequest})
		s, err := keylessSigner(t, ss, sigstoretest.Claims{Email: testEmail})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Signature(ctx, repo, testDigest); err != nil {
			t.Fatalf("first signature: %v", err)
		}
		_, err = s.Attestation(ctx, []byte(`{}`), "https://spdx.dev/Document")
		if !errors.Is(err, sign.ErrRekor) || !strings.Contains(err.Error(), ss.RekorURL) || !strings.Contains(err.Error(), "400") {
			t.Errorf("err = %v, want ErrRekor naming %s and the 400", err, ss.RekorURL)
		}
	})
	t.Run("Rekor failing (5xx)", func(t *testing.T) {
		ss := startSigstore(t)
		ss.SetFaults(sigstoretest.Faults{RekorStatus: http.StatusInternalServerError})
		s, err := keylessSigner(t, ss, sigstoretest.Claims{Email: testEmail})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Signature(ctx, repo, testDigest); !errors.Is(err, sign.ErrRekor) {
			t.Errorf("err = %v, want ErrRekor", err)
		}
	})
	t.Run("Rekor with a bad SET", func(t *testing.T) {
		ss := startSigstore(t)
		ss.SetFaults(sigstoretest.Faults{RekorBadSET: true})
		s, err := keylessSigner(t, ss, sigstoretest.Claims{Email: testEmail})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Signature(ctx, repo, testDigest)
		if !errors.Is(err, sign.ErrRekor) || !strings.Contains(err.Error(), "signed entry timestamp") {
			t.Errorf("err = %v, want ErrRekor: signed entry timestamp", err)
		}
	})
}

func TestTokenFrom(t *testing.T) {
	ctx := context.Background()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	os.WriteFile(file, []byte("file-token\n"), 0o600)

	src, err := sign.TokenFrom(file, env(map[string]string{sign.EnvIDToken: "env-token"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok, _, err := src(ctx); err != nil || tok != "file-token" {
		t.Errorf("file first: %q, %v", tok, err)
	}
	src, _ = sign.TokenFrom("", env(map[string]string{sign.EnvIDToken: "env-token"}), nil)
	if tok, from, _ := src(ctx); tok != "env-token" || from != "$SIGSTORE_ID_TOKEN" {
		t.Errorf("env: %q from %q", tok, from)
	}
	if _, err := sign.TokenFrom("", env(nil), nil); !errors.Is(err, sign.ErrNoToken) {
		t.Errorf("none: %v, want ErrNoToken", err)
	}
	src, _ = sign.TokenFrom(filepath.Join(dir, "missing"), env(nil), nil)
	if _, _, err := src(ctx); !errors.Is(err, sign.ErrNoToken) {
		t.Errorf("missing file: %v, want ErrNoToken", err)
	}

	// GitHub Actions: the request token as a bearer, audience=sigstore
	// added to the request URL's query.
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "bearer request-token" || r.URL.Query().Get("audience") != "sigstore" || r.URL.Query().Get("api-version") != "2.0" {
			http.Error(w, "bad request "+r.URL.String(), http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"value":"gh-token"}`))
	}))
	defer gh.Close()
	src, err = sign.TokenFrom("", env(map[string]string{sign.EnvGitHubRequestURL: gh.URL + "/token?api-version=2.0", sign.EnvGitHubRequestToken: "request-token"}), gh.Client())
	if err != nil {
		t.Fatal(err)
	}
	if tok, _, err := src(ctx); err != nil || tok != "gh-token" {
		t.Errorf("GitHub: %q, %v", tok, err)
	}
	src, _ = sign.TokenFrom("", env(map[string]string{sign.EnvGitHubRequestURL: gh.URL + "/token?api-version=2.0", sign.EnvGitHubRequestToken: "wrong"}), gh.Client())
	if _, _, err := src(ctx); !errors.Is(err, sign.ErrNoToken) || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("GitHub refusing: %v, want ErrNoToken with the 401 and without the request token", err)
	}
	// Unreachable: the error names the service by host and path, never the
	// request URL's query.
	down := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("connection refused")
	})}
	src, _ = sign.TokenFrom("", env(map[string]string{sign.EnvGitHubRequestURL: "http://127.0.0.1:9/token?sig=query-secret", sign.EnvGitHubRequestToken: "request-token"}), down)
	if _, _, err := src(ctx); !errors.Is(err, sign.ErrNoToken) || !strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "query-secret") {
		t.Errorf("GitHub unreachable: %v, want ErrNoToken naming the failure without the URL's query", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
