// Package sigstoretest runs a local Sigstore for tests: an OIDC issuer, a
// Fulcio-compatible certificate authority and a Rekor-compatible
// transparency log, each an httptest server on 127.0.0.1, so that keyless
// signing (pkg/sign) is exercised against real HTTP APIs and its output is
// checked by sigstore-go's verifier and by the real cosign.
//
// What comes from the sigstore libraries: the CA's root and intermediate
// (sigstore-go's testing/ca), the token checks (go-oidc, as Fulcio does),
// the validation and canonicalization of proposed log entries (rekor's own
// entry types, which verify the signature against the certificate as the
// log does), the certificate-transparency structures of the embedded SCT
// (certificate-transparency-go), and the trusted root (sigstore-go's
// root). What is written here is the glue a test server needs: the HTTP
// handlers, the leaf certificate's template (Fulcio's extensions), the
// precertificate/SCT dance, and the log's index and signed entry
// timestamps (no Merkle tree: cosign 2 and the v0.1 bundle verify the SET).
//
// Nothing here is for production: keys live in memory for the life of the
// servers, and the log forgets its entries when it stops.
package sigstoretest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	ctx509 "github.com/google/certificate-transparency-go/x509"
	"github.com/sigstore/fulcio/pkg/api"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/types"
	_ "github.com/sigstore/rekor/pkg/types/dsse/v0.0.1"         // the dsse kind cosign attest logs
	_ "github.com/sigstore/rekor/pkg/types/hashedrekord/v0.0.1" // the hashedrekord kind cosign sign logs
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// OIDs of Fulcio's certificate extensions and of certificate transparency.
var (
	oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1} // raw string (deprecated, still read)
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8} // DER UTF8String
	oidCTPoison = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 3}
	oidSCTList  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2}
)

// CertValidity is how long the local Fulcio certifies a key, as Fulcio does.
const CertValidity = 10 * time.Minute

// Sigstore is the running local instance.
type Sigstore struct {
	// URLs of the three services (http://127.0.0.1:PORT).
	IssuerURL, FulcioURL, RekorURL string

	issuerKey  *ecdsa.PrivateKey
	root       *x509.Certificate
	inter      *x509.Certificate
	interKey   *ecdsa.PrivateKey
	ctKey      *ecdsa.PrivateKey
	rekorKey   *ecdsa.PrivateKey
	rekorLogID string
	verifier   *oidc.IDTokenVerifier
	servers    []*httptest.Server

	mu      sync.Mutex
	entries []string // canonical bodies, base64, by log index
	issued  int
	faults  Faults
}

// Faults make a service refuse or fail, to test the client's errors. The
// zero value is a working Sigstore.
type Faults struct {
	// FulcioStatus, when set, is the status of every certificate request
	// (with a JSON error body, as Fulcio answers).
	FulcioStatus int
	// FulcioWrongKey issues the certificate for another key than the one
	// proven.
	FulcioWrongKey bool
	// RekorAfter, when RekorStatus is set, is how many entries are logged
	// before every further one is refused with RekorStatus.
	RekorAfter  int
	RekorStatus int
	// RekorBadSET signs entry timestamps with another key.
	RekorBadSET bool
}

// Start runs the three servers on 127.0.0.1. Close stops them.
func Start() (*Sigstore, error) {
	s := &Sigstore{}
	var err error
	if s.issuerKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	var rootKey *ecdsa.PrivateKey
	if s.root, rootKey, err = ca.GenerateRootCa(); err != nil {
		return nil, fmt.Errorf("sigstoretest: root CA: %w", err)
	}
	if s.inter, s.interKey, err = ca.GenerateFulcioIntermediate(s.root, rootKey); err != nil {
		return nil, fmt.Errorf("sigstoretest: intermediate CA: %w", err)
	}
	if s.ctKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	if s.rekorKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	if s.rekorLogID, err = logID(s.rekorKey.Public()); err != nil {
		return nil, err
	}
	issuer := s.serve(http.HandlerFunc(s.handleIssuer))
	s.IssuerURL = issuer.URL
	s.verifier = oidc.NewVerifier(s.IssuerURL, oidc.NewRemoteKeySet(context.Background(), s.IssuerURL+"/keys"), &oidc.Config{ClientID: "sigstore", SupportedSigningAlgs: []string{"ES256"}})
	s.FulcioURL = s.serve(http.HandlerFunc(s.handleFulcio)).URL
	s.RekorURL = s.serve(http.HandlerFunc(s.handleRekor)).URL
	return s, nil
}

func (s *Sigstore) serve(h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	if l, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		srv.Listener.Close()
		srv.Listener = l
	}
	srv.Start()
	s.servers = append(s.servers, srv)
	return srv
}

// Close stops the servers.
func (s *Sigstore) Close() {
	for _, srv := range s.servers {
		srv.Close()
	}
}

// SetFaults replaces the faults in force.
func (s *Sigstore) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// Entries is how many entries the log holds.
func (s *Sigstore) Entries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// Issued is how many certificates the CA issued.
func (s *Sigstore) Issued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

func logID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

// ---- OIDC issuer -------------------------------------------------------

// Claims of a token the local issuer mints.
type Claims struct {
	// Email, when set, is certified (email_verified true); else Subject,
	// which is then certified as a URI SAN when it parses as one (as
	// Fulcio does for CI identities such as a workflow's URL).
	Email   string
	Subject string
	// Audience defaults to "sigstore".
	Audience string
	// Expiry defaults to an hour from now; IssuedAt to now.
	Expiry, IssuedAt time.Time
}

// Token mints a signed ID token of this issuer.
func (s *Sigstore) Token(c Claims) (string, error) {
	return s.token(s.issuerKey, s.IssuerURL, c)
}

// ForeignToken mints a token that claims this issuer but is signed by
// another key: Fulcio must refuse it.
func (s *Sigstore) ForeignToken(c Claims) (string, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	return s.token(k, s.IssuerURL, c)
}

func (s *Sigstore) token(key *ecdsa.PrivateKey, iss string, c Claims) (string, error) {
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "local"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	now := time.Now()
	if c.IssuedAt.IsZero() {
		c.IssuedAt = now
	}
	if c.Expiry.IsZero() {
		c.Expiry = now.Add(time.Hour)
	}
	if c.Audience == "" {
		c.Audience = "sigstore"
	}
	if c.Subject == "" {
		c.Subject = c.Email
	}
	std := jwt.Claims{Issuer: iss, Subject: c.Subject, Audience: jwt.Audience{c.Audience},
		IssuedAt: jwt.NewNumericDate(c.IssuedAt), NotBefore: jwt.NewNumericDate(c.IssuedAt.Add(-time.Minute)), Expiry: jwt.NewNumericDate(c.Expiry)}
	b := jwt.Signed(sig).Claims(std)
	if c.Email != "" {
		b = b.Claims(map[string]any{"email": c.Email, "email_verified": true})
	}
	return b.Serialize()
}

func (s *Sigstore) handleIssuer(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer": s.IssuerURL, "jwks_uri": s.IssuerURL + "/keys",
			"id_token_signing_alg_values_supported": []string{"ES256"},
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
		})
	case "/keys":
		writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: s.issuerKey.Public(), KeyID: "local", Algorithm: "ES256", Use: "sig"}}})
	default:
		http.NotFound(w, r)
	}
}

// ---- Fulcio -------------------------------------------------------------

func fulcioError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"code": code, "message": msg})
}

// handleFulcio is Fulcio's legacy signingCert (the API cosign 2 calls):
// the token as a bearer, the public key (PEM) and the subject signed with
// it; 201 with the certificate and its chain, PEM, the SCT embedded.
func (s *Sigstore) handleFulcio(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/signingCert" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	f := s.faults
	s.mu.Unlock()
	if f.FulcioStatus != 0 {
		fulcioError(w, f.FulcioStatus, "refused by the test's fault injection")
		return
	}
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		fulcioError(w, http.StatusUnauthorized, "no bearer token")
		return
	}
	tok, err := s.verifier.Verify(r.Context(), raw)
	if err != nil {
		fulcioError(w, http.StatusUnauthorized, "the OIDC token does not verify: "+err.Error())
		return
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
	}
	if err := tok.Claims(&claims); err != nil {
		fulcioError(w, http.StatusBadRequest, err.Error())
		return
	}
	var cr api.CertificateRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&cr); err != nil {
		fulcioError(w, http.StatusBadRequest, "request: "+err.Error())
		return
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(cr.PublicKey.Content)
	if err != nil {
		if pub, err = x509.ParsePKIXPublicKey(cr.PublicKey.Content); err != nil {
			fulcioError(w, http.StatusBadRequest, "public key: "+err.Error())
			return
		}
	}
	subject := tok.Subject
	if claims.Email != "" {
		if !claims.EmailVerified {
			fulcioError(w, http.StatusBadRequest, "email not verified")
			return
		}
		subject = claims.Email
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		fulcioError(w, http.StatusBadRequest, "public key: "+err.Error())
		return
	}
	if err := v.VerifySignature(bytes.NewReader(cr.SignedEmailAddress), strings.NewReader(subject)); err != nil {
		fulcioError(w, http.StatusBadRequest, "proof of possession of the key does not verify for "+subject)
		return
	}
	if f.FulcioWrongKey {
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub = other.Public()
	}
	cert, err := s.issue(pub, claims.Email, tok.Subject, tok.Issuer)
	if err != nil {
		fulcioError(w, http.StatusInternalServerError, err.Error())
		return
	}
	var out bytes.Buffer
	for _, c := range []*x509.Certificate{cert, s.inter, s.root} {
		p, _ := cryptoutils.MarshalCertificateToPEM(c)
		out.Write(p)
	}
	s.mu.Lock()
	s.issued++
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/pem-certificate-chain")
	w.WriteHeader(http.StatusCreated)
	w.Write(out.Bytes())
}

// issue makes Fulcio's certificate for pub: 10 minutes, code signing, the
// identity as SAN, the issuer in both of Fulcio's extensions, and an SCT
// from the local CT log embedded (precertificate, then the certificate).
func (s *Sigstore) issue(pub crypto.PublicKey, email, subject, issuer string) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
	if err != nil {
		return nil, err
	}
	issuerV2, err := asn1.MarshalWithParams(issuer, "utf8")
	if err != nil {
		return nil, err
	}
	now := time.Now().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{},
		NotBefore:    now,
		NotAfter:     now.Add(CertValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: []pkix.Extension{
			{Id: oidIssuerV1, Value: []byte(issuer)},
			{Id: oidIssuerV2, Value: issuerV2},
			{Id: oidCTPoison, Critical: true, Value: asn1.NullBytes},
		},
	}
	if email != "" {
		tmpl.EmailAddresses = []string{email}
	} else if u, err := url.Parse(subject); err == nil && u.Scheme != "" {
		tmpl.URIs = []*url.URL{u}
	} else {
		return nil, fmt.Errorf("subject %q is neither an email nor a URI", subject)
	}
	preDER, err := x509.CreateCertificate(rand.Reader, tmpl, s.inter, pub, s.interKey)
	if err != nil {
		return nil, fmt.Errorf("precertificate: %w", err)
	}
	sctExt, err := s.sct(preDER)
	if err != nil {
		return nil, fmt.Errorf("SCT: %w", err)
	}
	tmpl.ExtraExtensions[2] = pkix.Extension{Id: oidSCTList, Value: sctExt}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.inter, pub, s.interKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// sct is the local CT log's signed certificate timestamp of a
// precertificate, as the value of the embedded-SCT-list extension.
func (s *Sigstore) sct(preDER []byte) ([]byte, error) {
	pre, err := ctx509.ParseCertificate(preDER)
	if err != nil {
		return nil, err
	}
	issuer, err := ctx509.ParseCertificate(s.inter.Raw)
	if err != nil {
		return nil, err
	}
	ts := uint64(time.Now().UnixMilli())
	leaf, err := ct.MerkleTreeLeafFromChain([]*ctx509.Certificate{pre, issuer}, ct.PrecertLogEntryType, ts)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(s.ctKey.Public())
	if err != nil {
		return nil, err
	}
	sct := ct.SignedCertificateTimestamp{SCTVersion: ct.V1, LogID: ct.LogID{KeyID: sha256.Sum256(der)}, Timestamp: ts}
	input, err := ct.SerializeSCTSignatureInput(sct, ct.LogEntry{Leaf: *leaf})
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(input)
	sig, err := ecdsa.SignASN1(rand.Reader, s.ctKey, sum[:])
	if err != nil {
		return nil, err
	}
	sct.Signature = ct.DigitallySigned{Algorithm: cttls.SignatureAndHashAlgorithm{Hash: cttls.SHA256, Signature: cttls.ECDSA}, Signature: sig}
	one, err := cttls.Marshal(sct)
	if err != nil {
		return nil, err
	}
	list, err := cttls.Marshal(ctx509.SignedCertificateTimestampList{SCTList: []ctx509.SerializedSCT{{Val: one}}})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(list)
}

// ---- Rekor --------------------------------------------------------------

func rekorError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, models.Error{Code: int64(code), Message: msg})
}

// handleRekor is Rekor's v1 API as cosign 2 uses it: the log's public key,
// and the creation of an entry (201, {UUID: entry} with the SET).
func (s *Sigstore) handleRekor(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/api/v1/log/publicKey" && r.Method == http.MethodGet:
		p, err := s.RekorPublicKeyPEM()
		if err != nil {
			rekorError(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Write(p)
	case r.URL.Path == "/api/v1/log/entries" && r.Method == http.MethodPost:
		s.createEntry(w, r)
	default:
		rekorError(w, http.StatusNotFound, "not found")
	}
}

func (s *Sigstore) createEntry(w http.ResponseWriter, r *http.Request) {
	pe, err := models.UnmarshalProposedEntry(io.LimitReader(r.Body, 32<<20), jsonConsumer{})
	if err != nil {
		rekorError(w, http.StatusBadRequest, "proposed entry: "+err.Error())
		return
	}
	// rekor's own entry types validate the entry (the signature against
	// the certificate) and canonicalize it, as the log does.
	entry, err := types.UnmarshalEntry(pe)
	if err != nil {
		rekorError(w, http.StatusBadRequest, "entry: "+err.Error())
		return
	}
	body, err := types.CanonicalizeEntry(r.Context(), entry)
	if err != nil {
		rekorError(w, http.StatusBadRequest, "canonicalize: "+err.Error())
		return
	}
	s.mu.Lock()
	f := s.faults
	if f.RekorStatus != 0 && len(s.entries) >= f.RekorAfter {
		s.mu.Unlock()
		rekorError(w, f.RekorStatus, "refused by the test's fault injection")
		return
	}
	index := int64(len(s.entries))
	b64 := base64.StdEncoding.EncodeToString(body)
	s.entries = append(s.entries, b64)
	s.mu.Unlock()
	it := time.Now().Unix()
	key := s.rekorKey
	if f.RekorBadSET {
		key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	set, err := signSET(key, b64, it, index, s.rekorLogID)
	if err != nil {
		rekorError(w, http.StatusInternalServerError, err.Error())
		return
	}
	leaf := sha256.Sum256(append([]byte{0}, body...))
	uuid := hex.EncodeToString(leaf[:])
	w.Header().Set("Location", "/api/v1/log/entries/"+uuid)
	writeJSON(w, http.StatusCreated, map[string]any{uuid: map[string]any{
		"body": b64, "integratedTime": it, "logID": s.rekorLogID, "logIndex": index,
		"verification": map[string]any{"signedEntryTimestamp": set},
	}})
}

// signSET signs the canonical JSON of (body, integratedTime, logID,
// logIndex), as Rekor's signed entry timestamp.
func signSET(key *ecdsa.PrivateKey, body string, it, index int64, id string) ([]byte, error) {
	raw, err := json.Marshal(map[string]any{"body": body, "integratedTime": it, "logID": id, "logIndex": index})
	if err != nil {
		return nil, err
	}
	canon, err := jsoncanonicalizer.Transform(raw)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(canon)
	return ecdsa.SignASN1(rand.Reader, key, sum[:])
}

type jsonConsumer struct{}

func (jsonConsumer) Consume(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// ---- trust material -----------------------------------------------------

// RootsPEM is the CA's root and intermediate, PEM (cosign's
// SIGSTORE_ROOT_FILE).
func (s *Sigstore) RootsPEM() ([]byte, error) {
	return cryptoutils.MarshalCertificatesToPEM([]*x509.Certificate{s.root, s.inter})
}

// RekorPublicKeyPEM is the log's key (cosign's SIGSTORE_REKOR_PUBLIC_KEY).
func (s *Sigstore) RekorPublicKeyPEM() ([]byte, error) {
	return cryptoutils.MarshalPublicKeyToPEM(s.rekorKey.Public())
}

// CTLogPublicKeyPEM is the CT log's key (cosign's
// SIGSTORE_CT_LOG_PUBLIC_KEY_FILE).
func (s *Sigstore) CTLogPublicKeyPEM() ([]byte, error) {
	return cryptoutils.MarshalPublicKeyToPEM(s.ctKey.Public())
}

// TrustedRoot is the instance as sigstore-go's trusted root: the CA, the
// transparency log and the CT log, valid from an hour ago to a day ahead.
func (s *Sigstore) TrustedRoot() (*root.TrustedRoot, error) {
	start, end := time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	ctID, err := logID(s.ctKey.Public())
	if err != nil {
		return nil, err
	}
	rid, _ := hex.DecodeString(s.rekorLogID)
	cid, _ := hex.DecodeString(ctID)
	return root.NewTrustedRoot(root.TrustedRootMediaType01,
		[]root.CertificateAuthority{&root.FulcioCertificateAuthority{Root: s.root, Intermediates: []*x509.Certificate{s.inter},
			ValidityPeriodStart: start, ValidityPeriodEnd: end, URI: s.FulcioURL}},
		map[string]*root.TransparencyLog{ctID: {BaseURL: "http://127.0.0.1/ctlog", ID: cid, ValidityPeriodStart: start, ValidityPeriodEnd: end,
			HashFunc: crypto.SHA256, PublicKey: s.ctKey.Public(), SignatureHashFunc: crypto.SHA256}},
		nil,
		map[string]*root.TransparencyLog{s.rekorLogID: {BaseURL: s.RekorURL, ID: rid, ValidityPeriodStart: start, ValidityPeriodEnd: end,
			HashFunc: crypto.SHA256, PublicKey: s.rekorKey.Public(), SignatureHashFunc: crypto.SHA256}})
}
