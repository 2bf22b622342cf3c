package sigstoretest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/fulcio/pkg/api"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// TestServersCheck: the local Fulcio and Rekor refuse what the real ones
// refuse, so that a test passing against them means something.
func TestServersCheck(t *testing.T) {
	ss, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sv, _ := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	pubPEM, _ := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	const email = "a@example.test"
	proof, _ := sv.SignMessage(strings.NewReader(email))
	u, _ := url.Parse(ss.FulcioURL)
	fulcio := api.NewClient(u)
	req := api.CertificateRequest{PublicKey: api.Key{Content: pubPEM}, SignedEmailAddress: proof}

	good, _ := ss.Token(Claims{Email: email})
	wrongAud, _ := ss.Token(Claims{Email: email, Audience: "other"})
	expired, _ := ss.Token(Claims{Email: email, IssuedAt: time.Now().Add(-2 * time.Hour), Expiry: time.Now().Add(-time.Hour)})
	foreign, _ := ss.ForeignToken(Claims{Email: email})
	for name, tok := range map[string]string{"wrong audience": wrongAud, "expired": expired, "foreign key": foreign} {
		if _, err := fulcio.SigningCert(req, tok); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("Fulcio, %s token: %v, want 401", name, err)
		}
	}
	otherProof, _ := sv.SignMessage(strings.NewReader("b@example.test"))
	if _, err := fulcio.SigningCert(api.CertificateRequest{PublicKey: req.PublicKey, SignedEmailAddress: otherProof}, good); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("Fulcio, proof for another subject: %v, want 400", err)
	}
	resp, err := fulcio.SigningCert(req, good)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM(resp.CertPEM)
	if err != nil || len(certs) != 1 || len(certs[0].EmailAddresses) != 1 || certs[0].EmailAddresses[0] != email {
		t.Fatalf("certificate: %v %v", err, certs)
	}

	// Rekor: a hashedrekord whose signature does not verify with the
	// certificate is refused; a good one is logged.
	payload := []byte("payload")
	sum := sha256.Sum256(payload)
	sig, _ := sv.SignMessage(bytes.NewReader(payload))
	entry := func(sig []byte) []byte {
		b, _ := json.Marshal(map[string]any{"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": map[string]any{
			"data":      map[string]any{"hash": map[string]any{"algorithm": "sha256", "value": hex.EncodeToString(sum[:])}},
			"signature": map[string]any{"content": sig, "publicKey": map[string]any{"content": resp.CertPEM}},
		}})
		return b
	}
	post := func(body []byte) int {
		r, err := http.Post(ss.RekorURL+"/api/v1/log/entries", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r.StatusCode
	}
	badSig, _ := sv.SignMessage(strings.NewReader("something else"))
	if code := post(entry(badSig)); code != http.StatusBadRequest {
		t.Errorf("Rekor, signature of another payload: %d, want 400", code)
	}
	if code := post(entry(sig)); code != http.StatusCreated || ss.Entries() != 1 {
		t.Errorf("Rekor, good entry: %d, %d entries", code, ss.Entries())
	}
}
