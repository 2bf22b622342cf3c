package sign

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	"github.com/go-openapi/strfmt"
	"github.com/go-openapi/swag/conv"
	rclient "github.com/sigstore/rekor/pkg/client"
	"github.com/sigstore/rekor/pkg/generated/client"
	"github.com/sigstore/rekor/pkg/generated/client/entries"
	"github.com/sigstore/rekor/pkg/generated/client/pubkey"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// rekorLog is a Rekor transparency log (its v1 API, as cosign 2 uses it),
// with the public key it signs entry timestamps with, asked of it once.
type rekorLog struct {
	url     string
	client  *client.Rekor
	timeout time.Duration
	pub     *ecdsa.PublicKey
	logID   string
}

func newRekorLog(ctx context.Context, url string, timeout time.Duration, retries uint) (*rekorLog, error) {
	c, err := rclient.GetRekorClient(url, rclient.WithUserAgent("pgassemble"), rclient.WithRetryCount(retries),
		rclient.WithRetryWaitMin(500*time.Millisecond), rclient.WithRetryWaitMax(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrRekor, url, err)
	}
	r := &rekorLog{url: url, client: c, timeout: timeout}
	params := pubkey.NewGetPublicKeyParams()
	params.SetTimeout(timeout)
	resp, err := c.Pubkey.GetPublicKeyContext(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("%w %s: public key: %v", ErrRekor, url, err)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey([]byte(resp.Payload))
	if err != nil {
		return nil, fmt.Errorf("%w %s: public key: %v", ErrRekor, url, err)
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w %s: public key is a %T, want ECDSA", ErrRekor, url, pub)
	}
	der, err := x509.MarshalPKIXPublicKey(ec)
	if err != nil {
		return nil, fmt.Errorf("%w %s: public key: %v", ErrRekor, url, err)
	}
	sum := sha256.Sum256(der)
	r.pub, r.logID = ec, hex.EncodeToString(sum[:])
	return r, nil
}

// logEntry is what cosign keeps of a Rekor entry: its canonical body and
// the log's signed promise to include it (the SET).
type logEntry struct {
	Body           string // base64 of the canonicalized entry
	IntegratedTime int64
	LogIndex       int64
	LogID          string
	SET            []byte
}

// rekorPayload is what the SET signs, canonicalized (RFC 8785), and the
// "Payload" of cosign's bundle annotation.
type rekorPayload struct {
	Body           string `json:"body"`
	IntegratedTime int64  `json:"integratedTime"`
	LogIndex       int64  `json:"logIndex"`
	LogID          string `json:"logID"`
}

// bundleJSON is the value of the dev.sigstore.cosign/bundle annotation.
func (e *logEntry) bundleJSON() ([]byte, error) {
	return json.Marshal(struct {
		SignedEntryTimestamp []byte
		Payload              rekorPayload
	}{e.SET, rekorPayload{e.Body, e.IntegratedTime, e.LogIndex, e.LogID}})
}

// uploadHashedRekord logs a signature of payload as cosign sign does: a
// hashedrekord entry of the payload's SHA-256, the signature and the
// certificate.
func (r *rekorLog) uploadHashedRekord(ctx context.Context, payload, sig, certPEM []byte) (*logEntry, error) {
	sum := sha256.Sum256(payload)
	digest := hex.EncodeToString(sum[:])
	pe := &models.Hashedrekord{
		APIVersion: conv.Pointer("0.0.1"),
		Spec: models.HashedrekordV001Schema{
			Data: &models.HashedrekordV001SchemaData{Hash: &models.HashedrekordV001SchemaDataHash{
				Algorithm: conv.Pointer(models.HashedrekordV001SchemaDataHashAlgorithmSha256), Value: conv.Pointer(digest)}},
			Signature: &models.HashedrekordV001SchemaSignature{
				Content:   strfmt.Base64(sig),
				PublicKey: &models.HashedrekordV001SchemaSignaturePublicKey{Content: strfmt.Base64(certPEM)},
			},
		},
	}
	return r.upload(ctx, pe, func(body []byte) error {
		var e struct {
			Kind string `json:"kind"`
			Spec struct {
				Data struct {
					Hash struct{ Algorithm, Value string } `json:"hash"`
				} `json:"data"`
				Signature struct {
					Content   []byte `json:"content"`
					PublicKey struct {
						Content []byte `json:"content"`
					} `json:"publicKey"`
				} `json:"signature"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(body, &e); err != nil {
			return err
		}
		if e.Kind != "hashedrekord" || e.Spec.Data.Hash.Algorithm != "sha256" || e.Spec.Data.Hash.Value != digest {
			return fmt.Errorf("the entry is a %s of sha256:%s, want a hashedrekord of sha256:%s", e.Kind, e.Spec.Data.Hash.Value, digest)
		}
		if !bytes.Equal(e.Spec.Signature.Content, sig) {
			return fmt.Errorf("the entry holds another signature")
		}
		return sameCert(e.Spec.Signature.PublicKey.Content, certPEM)
	})
}

// uploadDSSE logs a DSSE envelope as cosign attest does (its default entry
// type): a dsse entry, whose envelopeHash is the SHA-256 of the envelope
// exactly as stored in the .att layer.
func (r *rekorLog) uploadDSSE(ctx context.Context, envelope, certPEM []byte) (*logEntry, error) {
	sum := sha256.Sum256(envelope)
	digest := hex.EncodeToString(sum[:])
	env := string(envelope)
	pe := &models.DSSE{
		APIVersion: conv.Pointer("0.0.1"),
		Spec: models.DSSEV001Schema{ProposedContent: &models.DSSEV001SchemaProposedContent{
			Envelope: &env, Verifiers: []strfmt.Base64{certPEM},
		}},
	}
	return r.upload(ctx, pe, func(body []byte) error {
		var e struct {
			Kind string `json:"kind"`
			Spec struct {
				EnvelopeHash struct{ Algorithm, Value string } `json:"envelopeHash"`
				Signatures   []struct {
					Verifier []byte `json:"verifier"`
				} `json:"signatures"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(body, &e); err != nil {
			return err
		}
		if e.Kind != "dsse" || e.Spec.EnvelopeHash.Algorithm != "sha256" || e.Spec.EnvelopeHash.Value != digest {
			return fmt.Errorf("the entry is a %s of sha256:%s, want a dsse envelope of sha256:%s", e.Kind, e.Spec.EnvelopeHash.Value, digest)
		}
		if len(e.Spec.Signatures) != 1 {
			return fmt.Errorf("the entry has %d signatures, want 1", len(e.Spec.Signatures))
		}
		return sameCert(e.Spec.Signatures[0].Verifier, certPEM)
	})
}

func sameCert(got, want []byte) error {
	g, _ := pem.Decode(got)
	w, _ := pem.Decode(want)
	if g == nil || w == nil || !bytes.Equal(g.Bytes, w.Bytes) {
		return fmt.Errorf("the entry names another certificate")
	}
	return nil
}

// upload proposes an entry and checks the answer: one entry, from this log
// (its log ID), with a signed entry timestamp that the log's key verifies,
// whose body check accepts.
func (r *rekorLog) upload(ctx context.Context, pe models.ProposedEntry, check func(body []byte) error) (*logEntry, error) {
	params := entries.NewCreateLogEntryParams()
	params.SetTimeout(r.timeout)
	params.SetProposedEntry(pe)
	resp, err := r.client.Entries.CreateLogEntryContext(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("%w %s: log entry: %v", ErrRekor, r.url, err)
	}
	if len(resp.Payload) != 1 {
		return nil, fmt.Errorf("%w %s: log entry: the answer has %d entries, want 1", ErrRekor, r.url, len(resp.Payload))
	}
	for uuid, e := range resp.Payload {
		body, _ := e.Body.(string)
		if body == "" || e.IntegratedTime == nil || e.LogIndex == nil || e.LogID == nil || e.Verification == nil || len(e.Verification.SignedEntryTimestamp) == 0 {
			return nil, fmt.Errorf("%w %s: entry %s: body, integratedTime, logIndex, logID or signedEntryTimestamp missing", ErrRekor, r.url, uuid)
		}
		le := &logEntry{Body: body, IntegratedTime: *e.IntegratedTime, LogIndex: *e.LogIndex, LogID: *e.LogID, SET: e.Verification.SignedEntryTimestamp}
		if le.LogID != r.logID {
			return nil, fmt.Errorf("%w %s: entry %s: log ID %s is not this log's (%s)", ErrRekor, r.url, uuid, le.LogID, r.logID)
		}
		if err := r.verifySET(le); err != nil {
			return nil, fmt.Errorf("%w %s: entry %s: %v", ErrRekor, r.url, uuid, err)
		}
		raw, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			return nil, fmt.Errorf("%w %s: entry %s: body: %v", ErrRekor, r.url, uuid, err)
		}
		if err := check(raw); err != nil {
			return nil, fmt.Errorf("%w %s: entry %s: %v", ErrRekor, r.url, uuid, err)
		}
		return le, nil
	}
	panic("unreachable")
}

// verifySET checks the log's signature of the canonicalized entry
// (body, integratedTime, logIndex, logID).
func (r *rekorLog) verifySET(e *logEntry) error {
	raw, err := json.Marshal(rekorPayload{e.Body, e.IntegratedTime, e.LogIndex, e.LogID})
	if err != nil {
		return err
	}
	canon, err := jsoncanonicalizer.Transform(raw)
	if err != nil {
		return fmt.Errorf("signed entry timestamp: %v", err)
	}
	sum := sha256.Sum256(canon)
	if !ecdsa.VerifyASN1(r.pub, sum[:], e.SET) {
		return fmt.Errorf("signed entry timestamp does not verify with the log's public key")
	}
	return nil
}
