// Package sign signs images and attestations so that cosign accepts them,
// with a private key or keyless:
// a simple-signing payload per manifest, stored as a layer of the
// "sha256-<hex>.sig" image next to it, and DSSE envelopes of in-toto
// statements, stored as layers of the "sha256-<hex>.att" image. That is the
// tag scheme `cosign verify --key` and `cosign verify-attestation --key`
// read (cosign 2.x's default, without its newer bundle format).
//
// Keyless signing (NewKeyless) is cosign's: an ephemeral key certified by
// Fulcio for an OIDC identity, every signature logged in Rekor, and the
// certificate, its chain and Rekor's signed entry timestamp ("bundle")
// written as annotations of the layer, so that `cosign verify
// --certificate-identity --certificate-oidc-issuer` needs no key.
//
// Keys are read with sigstore's libraries: cosign's encrypted format
// ("ENCRYPTED SIGSTORE/COSIGN PRIVATE KEY", scrypt + secretbox, password from
// COSIGN_PASSWORD) and plain PEM (PKCS#8, EC, PKCS#1). A private key is held
// in memory only; nothing here writes or logs it.
package sign

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
	"github.com/sigstore/sigstore/pkg/signature/options"
	"github.com/sigstore/sigstore/pkg/signature/payload"
)

// Sentinel errors for bad keys.
var (
	// ErrNotAKey: the file holds no PEM private key pgassemble can use.
	ErrNotAKey = errors.New("not a private key")
	// ErrPassword: the key is encrypted and the password is missing or wrong.
	ErrPassword = errors.New("cannot decrypt the private key (wrong or missing COSIGN_PASSWORD)")
)

// Media types and annotations of cosign's tag scheme.
const (
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	DSSEMediaType          = "application/vnd.dsse.envelope.v1+json"
	SignatureAnnotation    = "dev.cosignproject.cosign/signature"
	PredicateAnnotation    = "predicateType"
	InTotoPayloadType      = "application/vnd.in-toto+json"
)

// Signer signs with one private key (LoadKey), or keyless (NewKeyless):
// with ephemeral keys certified by Fulcio, each signature logged in Rekor.
type Signer struct {
	sv      signature.SignerVerifier
	keyless *keyless
}

// ErrKeyOnly: the operation needs a private key, not keyless signing.
var ErrKeyOnly = errors.New("only with a private key (--sign-key), not keyless")

// PasswordFromEnv returns COSIGN_PASSWORD, as cosign reads it; ok is false
// when the variable is unset.
func PasswordFromEnv() (pw []byte, ok bool) {
	v, ok := os.LookupEnv("COSIGN_PASSWORD")
	return []byte(v), ok
}

// LoadKeyFile reads a private key file; see LoadKey.
func LoadKeyFile(path string, password []byte, havePassword bool) (*Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sign key: %w", err)
	}
	s, err := LoadKey(data, password, havePassword)
	if err != nil {
		return nil, fmt.Errorf("sign key %s: %w", path, err)
	}
	return s, nil
}

// LoadKey parses a PEM private key: cosign's encrypted format (decrypted
// with password; havePassword false means none was given) or a plain one.
// Ed25519 keys sign pre-hashed (Ed25519ph), as cosign does.
func LoadKey(data []byte, password []byte, havePassword bool) (*Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block", ErrNotAKey)
	}
	encrypted := strings.HasPrefix(block.Type, "ENCRYPTED ") && strings.HasSuffix(block.Type, " PRIVATE KEY")
	if !encrypted && !strings.HasSuffix(block.Type, "PRIVATE KEY") {
		return nil, fmt.Errorf("%w: PEM block is %q", ErrNotAKey, block.Type)
	}
	if encrypted && !havePassword {
		return nil, fmt.Errorf("%w: the key is encrypted and COSIGN_PASSWORD is not set", ErrPassword)
	}
	pk, err := cryptoutils.UnmarshalPEMToPrivateKey(data, func(bool) ([]byte, error) { return password, nil })
	if err != nil {
		if encrypted {
			return nil, fmt.Errorf("%w: %v", ErrPassword, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrNotAKey, err)
	}
	sv, err := signature.LoadDefaultSignerVerifier(pk, options.WithED25519ph())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotAKey, err)
	}
	return &Signer{sv: sv}, nil
}

// PublicKeyPEM is the public half, PEM-encoded as cosign writes cosign.pub.
func (s *Signer) PublicKeyPEM() ([]byte, error) {
	pub, err := s.PublicKey()
	if err != nil {
		return nil, err
	}
	return cryptoutils.MarshalPublicKeyToPEM(pub)
}

// PublicKey is the public half (keyless: of the current ephemeral key).
func (s *Signer) PublicKey() (crypto.PublicKey, error) {
	if s.keyless != nil {
		s.keyless.mu.Lock()
		defer s.keyless.mu.Unlock()
		return s.keyless.cur.sv.PublicKey()
	}
	return s.sv.PublicKey()
}

// SimpleSigning returns the simple-signing payload for the manifest digest
// in repository repo ("REGISTRY/REPO") and its signature.
func (s *Signer) SimpleSigning(repo name.Repository, digest v1.Hash) (body, sig []byte, err error) {
	if s.keyless != nil {
		return nil, nil, fmt.Errorf("sign %s: SimpleSigning: %w", digest, ErrKeyOnly)
	}
	return simpleSigning(s.sv, repo, digest)
}

func simpleSigning(sv signature.SignerVerifier, repo name.Repository, digest v1.Hash) (body, sig []byte, err error) {
	body, err = payload.Cosign{Image: repo.Digest(digest.String())}.MarshalJSON()
	if err != nil {
		return nil, nil, fmt.Errorf("sign %s: payload: %w", digest, err)
	}
	sig, err = sv.SignMessage(bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("sign %s: %w", digest, err)
	}
	return body, sig, nil
}

// Envelope signs an in-toto statement and returns its DSSE envelope (JSON).
func (s *Signer) Envelope(statement []byte) ([]byte, error) {
	if s.keyless != nil {
		return nil, fmt.Errorf("sign statement: Envelope: %w", ErrKeyOnly)
	}
	return envelope(s.sv, statement)
}

func envelope(sv signature.SignerVerifier, statement []byte) ([]byte, error) {
	env, err := sigdsse.WrapSigner(sv, InTotoPayloadType).SignMessage(bytes.NewReader(statement))
	if err != nil {
		return nil, fmt.Errorf("sign statement: %w", err)
	}
	return env, nil
}

// Blob signs a file's bytes as `cosign sign-blob` does and returns the
// signature base64-encoded, as its --output-signature file holds it
// (`cosign verify-blob --key --signature` reads that file).
func (s *Signer) Blob(data []byte) ([]byte, error) {
	if s.keyless != nil {
		return nil, fmt.Errorf("sign blob: %w", ErrKeyOnly)
	}
	sig, err := s.sv.SignMessage(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("sign blob: %w", err)
	}
	return []byte(base64.StdEncoding.EncodeToString(sig)), nil
}

// Signature signs the manifest digest in repository repo ("REGISTRY/REPO")
// and returns the layer of its .sig image: the simple-signing payload with
// its signature and, keyless, the certificate, chain and Rekor bundle.
func (s *Signer) Signature(ctx context.Context, repo name.Repository, digest v1.Hash) (Layer, error) {
	if s.keyless == nil {
		body, sig, err := simpleSigning(s.sv, repo, digest)
		if err != nil {
			return Layer{}, err
		}
		return SignatureLayer(body, sig), nil
	}
	var sig []byte
	l, err := s.keyless.layer(ctx, "signature of "+digest.String(), func(sv signature.SignerVerifier) ([]byte, []byte, error) {
		body, sg, err := simpleSigning(sv, repo, digest)
		sig = sg
		return body, sg, err
	}, false)
	if err != nil {
		return Layer{}, err
	}
	l.MediaType = SimpleSigningMediaType
	l.Annotations[SignatureAnnotation] = base64.StdEncoding.EncodeToString(sig)
	return l, nil
}

// Attestation signs an in-toto statement of predicateType as a DSSE
// envelope and returns the layer of its .att image (keyless: with the
// certificate, chain and Rekor bundle).
func (s *Signer) Attestation(ctx context.Context, statement []byte, predicateType string) (Layer, error) {
	if s.keyless == nil {
		env, err := envelope(s.sv, statement)
		if err != nil {
			return Layer{}, err
		}
		return AttestationLayer(env, predicateType), nil
	}
	l, err := s.keyless.layer(ctx, "attestation "+predicateType, func(sv signature.SignerVerifier) ([]byte, []byte, error) {
		env, err := envelope(sv, statement)
		return env, nil, err
	}, true)
	if err != nil {
		return Layer{}, err
	}
	l.MediaType = DSSEMediaType
	l.Annotations[SignatureAnnotation] = ""
	l.Annotations[PredicateAnnotation] = predicateType
	return l, nil
}

// SignatureTag is the tag cosign looks up for a manifest's signatures.
func SignatureTag(d v1.Hash) string { return d.Algorithm + "-" + d.Hex + ".sig" }

// AttestationTag is the tag cosign looks up for a manifest's attestations.
func AttestationTag(d v1.Hash) string { return d.Algorithm + "-" + d.Hex + ".att" }

// Layer is one signature or attestation layer of a .sig/.att image.
type Layer struct {
	Body        []byte
	MediaType   types.MediaType
	Annotations map[string]string
}

// SignatureLayer is a simple-signing payload with its signature.
func SignatureLayer(body, sig []byte) Layer {
	return Layer{Body: body, MediaType: SimpleSigningMediaType, Annotations: map[string]string{SignatureAnnotation: base64.StdEncoding.EncodeToString(sig)}}
}

// AttestationLayer is a DSSE envelope of a statement of predicateType.
func AttestationLayer(envelope []byte, predicateType string) Layer {
	return Layer{Body: envelope, MediaType: DSSEMediaType, Annotations: map[string]string{SignatureAnnotation: "", PredicateAnnotation: predicateType}}
}

// Image builds a .sig or .att image holding the layers of existing (nil for
// none) followed by layers; a layer already present (same bytes, same
// annotations) is not added twice, so re-signing adds one layer per new
// signature and keeps other signers' ones.
func Image(existing v1.Image, layers ...Layer) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	have := map[string]bool{}
	var adds []mutate.Addendum
	key := func(d v1.Hash, ann map[string]string) string {
		return d.String() + "\x00" + ann[SignatureAnnotation] + "\x00" + ann[PredicateAnnotation]
	}
	if existing != nil {
		m, err := existing.Manifest()
		if err != nil {
			return nil, fmt.Errorf("existing signatures: %w", err)
		}
		for _, desc := range m.Layers {
			l, err := existing.LayerByDigest(desc.Digest)
			if err != nil {
				return nil, fmt.Errorf("existing signature layer %s: %w", desc.Digest, err)
			}
			rc, err := l.Compressed()
			if err != nil {
				return nil, fmt.Errorf("existing signature layer %s: %w", desc.Digest, err)
			}
			body, err := io.ReadAll(io.LimitReader(rc, 64<<20))
			rc.Close()
			if err != nil {
				return nil, fmt.Errorf("existing signature layer %s: %w", desc.Digest, err)
			}
			have[key(desc.Digest, desc.Annotations)] = true
			adds = append(adds, mutate.Addendum{Layer: static.NewLayer(body, desc.MediaType), Annotations: desc.Annotations})
		}
	}
	for _, l := range layers {
		sl := static.NewLayer(l.Body, l.MediaType)
		d, err := sl.Digest()
		if err != nil {
			return nil, err
		}
		if have[key(d, l.Annotations)] {
			continue
		}
		have[key(d, l.Annotations)] = true
		adds = append(adds, mutate.Addendum{Layer: sl, Annotations: l.Annotations})
	}
	out, err := mutate.Append(img, adds...)
	if err != nil {
		return nil, fmt.Errorf("signature image: %w", err)
	}
	return out, nil
}
