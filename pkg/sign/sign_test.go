package sign

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"github.com/sigstore/sigstore/pkg/signature/payload"
)

func encryptedKey(t *testing.T, pw string) (priv, pub []byte) {
	t.Helper()
	priv, pub, err := cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), cryptoutils.StaticPasswordFunc([]byte(pw)))
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

func TestLoadKey(t *testing.T) {
	enc, _ := encryptedKey(t, "s3cret")
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(ec)
	plain := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	_, edk, _ := ed25519.GenerateKey(rand.Reader)
	edder, _ := x509.MarshalPKCS8PrivateKey(edk)
	ed := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edder})
	pubOnly := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("x")})
	for _, tc := range []struct {
		name   string
		data   []byte
		pw     string
		havePw bool
		want   error
	}{
		{"encrypted, right password", enc, "s3cret", true, nil},
		{"encrypted, wrong password", enc, "nope", true, ErrPassword},
		{"encrypted, no password", enc, "", false, ErrPassword},
		{"plain PKCS#8 ECDSA", plain, "", false, nil},
		{"plain Ed25519", ed, "", false, nil},
		{"public key", pubOnly, "", false, ErrNotAKey},
		{"not PEM", []byte("hello\n"), "", false, ErrNotAKey},
		{"garbage in a private key block", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("zz")}), "", false, ErrNotAKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := LoadKey(tc.data, []byte(tc.pw), tc.havePw)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				if strings.Contains(err.Error(), "BEGIN") {
					t.Fatalf("error quotes the key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.PublicKeyPEM(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSimpleSigningVerifies(t *testing.T) {
	enc, pubPEM := encryptedKey(t, "pw")
	s, err := LoadKey(enc, []byte("pw"), true)
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := name.NewRepository("127.0.0.1:5030/postgresql")
	d := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	body, sig, err := s.SimpleSigning(repo, d)
	if err != nil {
		t.Fatal(err)
	}
	var p payload.Cosign
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Image.DigestStr() != d.String() || p.Image.Context().Name() != "127.0.0.1:5030/postgresql" {
		t.Errorf("payload names %s", p.Image)
	}
	pub, _ := cryptoutils.UnmarshalPEMToPublicKey(pubPEM)
	v, _ := signature.LoadVerifier(pub, 0x5) // crypto.SHA256
	if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(body)); err != nil {
		t.Fatalf("signature does not verify with the public key: %v", err)
	}
	if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(append(body, ' '))); err == nil {
		t.Fatal("signature verifies for another payload")
	}
	l := SignatureLayer(body, sig)
	if got, _ := base64.StdEncoding.DecodeString(l.Annotations[SignatureAnnotation]); !bytes.Equal(got, sig) {
		t.Error("signature annotation is not the base64 signature")
	}
}

func TestEnvelopeVerifies(t *testing.T) {
	enc, pubPEM := encryptedKey(t, "pw")
	s, _ := LoadKey(enc, []byte("pw"), true)
	stmt := []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)
	env, err := s.Envelope(stmt)
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		PayloadType, Payload string
		Signatures           []struct{ Sig string }
	}
	json.Unmarshal(env, &e)
	if e.PayloadType != InTotoPayloadType || len(e.Signatures) != 1 {
		t.Fatalf("envelope %s", env)
	}
	if got, _ := base64.StdEncoding.DecodeString(e.Payload); !bytes.Equal(got, stmt) {
		t.Error("payload is not the statement")
	}
	pub, _ := cryptoutils.UnmarshalPEMToPublicKey(pubPEM)
	v, _ := signature.LoadVerifier(pub, 0x5)
	if err := sigdsse.WrapVerifier(v).VerifySignature(bytes.NewReader(env), nil); err != nil {
		t.Fatalf("envelope does not verify: %v", err)
	}
	_ = options.WithED25519ph
}

func TestImageAppends(t *testing.T) {
	a := SignatureLayer([]byte("payload-a"), []byte("sig-a"))
	b := AttestationLayer([]byte("env-b"), "https://slsa.dev/provenance/v1")
	img, err := Image(nil, a)
	if err != nil {
		t.Fatal(err)
	}
	img2, err := Image(img, a, b)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := img2.Manifest()
	if len(m.Layers) != 2 {
		t.Fatalf("%d layers, want 2 (the repeated one once)", len(m.Layers))
	}
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || m.Layers[1].MediaType != DSSEMediaType || m.Layers[1].Annotations[PredicateAnnotation] != "https://slsa.dev/provenance/v1" {
		t.Errorf("manifest %+v", m)
	}
	if m.Layers[0].Annotations[SignatureAnnotation] != a.Annotations[SignatureAnnotation] {
		t.Error("the existing signature's annotation was lost")
	}
	if SignatureTag(v1.Hash{Algorithm: "sha256", Hex: "ab"}) != "sha256-ab.sig" {
		t.Error("signature tag")
	}
}

func TestBlob(t *testing.T) {
	enc, pubPEM := encryptedKey(t, "pw")
	s, _ := LoadKey(enc, []byte("pw"), true)
	data := []byte("apiVersion: postgresql.cnpg.io/v1\n")
	b64, err := s.Blob(data)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := base64.StdEncoding.DecodeString(string(b64))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := cryptoutils.UnmarshalPEMToPublicKey(pubPEM)
	v, _ := signature.LoadVerifier(pub, 0x5)
	if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(append(data, 'x'))); err == nil {
		t.Fatal("the blob signature verifies other bytes")
	}
}
