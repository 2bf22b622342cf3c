package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sigstore/fulcio/pkg/api"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Annotations cosign writes on a keyless signature or attestation layer.
const (
	CertificateAnnotation = "dev.sigstore.cosign/certificate"
	ChainAnnotation       = "dev.sigstore.cosign/chain"
	BundleAnnotation      = "dev.sigstore.cosign/bundle"
)

// Sigstore's public instances, the defaults of --fulcio-url and --rekor-url.
const (
	DefaultFulcioURL = "https://fulcio.sigstore.dev"
	DefaultRekorURL  = "https://rekor.sigstore.dev"
)

// Sentinel errors of keyless signing's services.
var (
	// ErrFulcio: the certificate authority refused or failed to issue a
	// certificate, or issued one that does not certify the key it was
	// asked to.
	ErrFulcio = errors.New("Fulcio")
	// ErrRekor: the transparency log refused or failed to log a signature,
	// or answered with an entry that does not prove it logged that one.
	ErrRekor = errors.New("Rekor")
)

// KeylessOptions say where keyless signing gets its identity, certificate
// and transparency log entries.
type KeylessOptions struct {
	FulcioURL string // default DefaultFulcioURL
	RekorURL  string // default DefaultRekorURL
	Token     TokenSource
	// Timeout bounds each request to Fulcio and Rekor (default 30s).
	Timeout time.Duration
	// Retries of a Rekor request that failed with a 5xx or a network error
	// (default 3; negative: none).
	Retries int
	// Renew is how long before its certificate expires the signer gets a
	// new key and certificate (default 2 minutes): Fulcio certifies a key
	// for 10 minutes, a bake signs for longer.
	Renew time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// keyless is the state of a keyless signer: the services, and the
// current ephemeral key with its certificate.
type keyless struct {
	opts   KeylessOptions
	fulcio api.LegacyClient
	rekor  *rekorLog
	mu     sync.Mutex
	cur    *identity
}

// identity is one ephemeral key (in memory only) and the certificate
// Fulcio issued for it.
type identity struct {
	sv       signature.SignerVerifier
	cert     *x509.Certificate
	certPEM  []byte
	chainPEM []byte
	claims   Claims
	from     string
}

// NewKeyless makes a signer that signs as cosign's keyless mode does: an
// ephemeral ECDSA P-256 key, never written anywhere; a certificate for it
// from Fulcio, which binds it to the OIDC identity of the token; and each
// signature logged in Rekor, whose signed entry timestamp is kept with the
// signature. It gets the first certificate and the log's public key now, so
// that a bad token or an unreachable service fails before anything is
// built.
func NewKeyless(ctx context.Context, o KeylessOptions) (*Signer, error) {
	if o.Token == nil {
		return nil, fmt.Errorf("%w: no token source", ErrNoToken)
	}
	if o.FulcioURL == "" {
		o.FulcioURL = DefaultFulcioURL
	}
	if o.RekorURL == "" {
		o.RekorURL = DefaultRekorURL
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Retries == 0 {
		o.Retries = 3
	} else if o.Retries < 0 {
		o.Retries = 0
	}
	if o.Renew <= 0 {
		o.Renew = 2 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	fu, err := parseServiceURL(o.FulcioURL)
	if err != nil {
		return nil, fmt.Errorf("%w URL %q: %v", ErrFulcio, o.FulcioURL, err)
	}
	if _, err := parseServiceURL(o.RekorURL); err != nil {
		return nil, fmt.Errorf("%w URL %q: %v", ErrRekor, o.RekorURL, err)
	}
	k := &keyless{opts: o, fulcio: api.NewClient(fu, api.WithTimeout(o.Timeout), api.WithUserAgent("pgassemble"))}
	if k.rekor, err = newRekorLog(ctx, o.RekorURL, o.Timeout, uint(o.Retries)); err != nil {
		return nil, err
	}
	id, err := k.identity(ctx)
	if err != nil {
		return nil, err
	}
	return &Signer{sv: id.sv, keyless: k}, nil
}

func parseServiceURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("want an http(s)://HOST URL")
	}
	return u, nil
}

// identity returns the current key and certificate, or a new pair when
// there is none or the certificate expires within opts.Renew.
func (k *keyless) identity(ctx context.Context) (*identity, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.opts.Now()
	if k.cur != nil && now.Add(k.opts.Renew).Before(k.cur.cert.NotAfter) {
		return k.cur, nil
	}
	tok, from, err := k.opts.Token(ctx)
	if err != nil {
		return nil, err
	}
	claims, err := ParseToken(tok, now)
	if err != nil {
		return nil, fmt.Errorf("token from %s: %w", from, err)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ephemeral key: %w", err)
	}
	sv, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("ephemeral key: %w", err)
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(&priv.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("ephemeral key: %w", err)
	}
	// Proof of possession: the subject Fulcio will certify, signed.
	proof, err := sv.SignMessage(strings.NewReader(claims.Subject))
	if err != nil {
		return nil, fmt.Errorf("ephemeral key: %w", err)
	}
	resp, err := k.signingCert(ctx, api.CertificateRequest{PublicKey: api.Key{Content: pubPEM}, SignedEmailAddress: proof}, tok)
	if err != nil {
		return nil, fmt.Errorf("%w %s: certificate for %s (token from %s): %v", ErrFulcio, k.opts.FulcioURL, claims.Subject, from, err)
	}
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM(resp.CertPEM)
	if err != nil || len(certs) != 1 {
		return nil, fmt.Errorf("%w %s: the answer holds no certificate: %v", ErrFulcio, k.opts.FulcioURL, err)
	}
	cert := certs[0]
	if err := cryptoutils.EqualKeys(cert.PublicKey, &priv.PublicKey); err != nil {
		return nil, fmt.Errorf("%w %s: the certificate does not certify the key it was asked to: %v", ErrFulcio, k.opts.FulcioURL, err)
	}
	if now.Before(cert.NotBefore.Add(-time.Minute)) || !now.Before(cert.NotAfter) {
		return nil, fmt.Errorf("%w %s: the certificate is valid from %s to %s, not now (%s)", ErrFulcio, k.opts.FulcioURL,
			cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if len(resp.ChainPEM) > 0 {
		if _, err := cryptoutils.UnmarshalCertificatesFromPEM(resp.ChainPEM); err != nil {
			return nil, fmt.Errorf("%w %s: certificate chain: %v", ErrFulcio, k.opts.FulcioURL, err)
		}
	}
	k.cur = &identity{sv: sv, cert: cert, certPEM: resp.CertPEM, chainPEM: bytes.TrimSpace(resp.ChainPEM), claims: claims, from: from}
	if len(k.cur.chainPEM) > 0 {
		k.cur.chainPEM = append(k.cur.chainPEM, '\n')
	}
	return k.cur, nil
}

// signingCert calls Fulcio's signingCert (the legacy API cosign 2 uses);
// fulcio's client takes no context, so a cancelled ctx abandons the call
// (bounded by the client's timeout).
func (k *keyless) signingCert(ctx context.Context, cr api.CertificateRequest, tok string) (*api.CertificateResponse, error) {
	type answer struct {
		resp *api.CertificateResponse
		err  error
	}
	ch := make(chan answer, 1)
	go func() {
		resp, err := k.fulcio.SigningCert(cr, tok)
		ch <- answer{resp, err}
	}()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case a := <-ch:
		return a.resp, a.err
	}
}

// Identity says who a keyless signer signs as: the certificate's subject
// (email or URI) and the token's issuer; "" for a key.
func (s *Signer) Identity() (subject, issuer string) {
	if s.keyless == nil {
		return "", ""
	}
	s.keyless.mu.Lock()
	defer s.keyless.mu.Unlock()
	id := s.keyless.cur
	for _, e := range id.cert.EmailAddresses {
		return e, id.claims.Issuer
	}
	for _, u := range id.cert.URIs {
		return u.String(), id.claims.Issuer
	}
	return id.claims.Subject, id.claims.Issuer
}

// Keyless says whether the signer signs with Fulcio certificates.
func (s *Signer) Keyless() bool { return s.keyless != nil }

// layer signs with the current identity (sign returns the layer's body,
// the message itself or the DSSE envelope, and the signature), logs it in
// Rekor, and returns the layer with cosign's certificate, chain and bundle
// annotations. dsse says what is logged: a dsse entry of the envelope, or
// a hashedrekord of the body's SHA-256 and the signature.
func (k *keyless) layer(ctx context.Context, what string, sign func(signature.SignerVerifier) (body, sig []byte, err error), dsse bool) (Layer, error) {
	id, err := k.identity(ctx)
	if err != nil {
		return Layer{}, err
	}
	body, sig, err := sign(id.sv)
	if err != nil {
		return Layer{}, fmt.Errorf("sign %s: %w", what, err)
	}
	var entry *logEntry
	if dsse {
		entry, err = k.rekor.uploadDSSE(ctx, body, id.certPEM)
	} else {
		entry, err = k.rekor.uploadHashedRekord(ctx, body, sig, id.certPEM)
	}
	if err != nil {
		return Layer{}, fmt.Errorf("%s: %w", what, err)
	}
	it := time.Unix(entry.IntegratedTime, 0)
	if it.Before(id.cert.NotBefore.Add(-time.Minute)) || it.After(id.cert.NotAfter) {
		return Layer{}, fmt.Errorf("%w %s: %s: entry %d was logged at %s, outside the certificate's validity (%s to %s)", ErrRekor, k.opts.RekorURL, what,
			entry.LogIndex, it.UTC().Format(time.RFC3339), id.cert.NotBefore.UTC().Format(time.RFC3339), id.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	bundle, err := entry.bundleJSON()
	if err != nil {
		return Layer{}, fmt.Errorf("%s: bundle: %w", what, err)
	}
	return Layer{Body: body, Annotations: map[string]string{
		CertificateAnnotation: string(id.certPEM),
		ChainAnnotation:       string(id.chainPEM),
		BundleAnnotation:      string(bundle),
	}}, nil
}
