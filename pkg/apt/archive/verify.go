package archive

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Sentinel errors callers can tell apart with errors.Is.
var (
	// ErrSignature: the Release signature does not verify (bad signature,
	// malformed signature, revoked or expired signing key).
	ErrSignature = errors.New("bad OpenPGP signature")
	// ErrUnknownKey: the Release is signed, but by no key of the keyring.
	ErrUnknownKey = errors.New("signed by a key not in the keyring")
	// ErrExpired: the Release's Valid-Until is in the past.
	ErrExpired = errors.New("release file expired")
	// ErrChecksum: a downloaded file's SHA256 or size differs from what the
	// signed metadata says.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrNotFound: the server answered 404 for a file the metadata names.
	ErrNotFound = errors.New("not found")
	// ErrWeakSignature: the only signatures by trusted keys use a digest
	// or a key that Debian's verifier no longer trusts (SHA-1, RSA under
	// 2048 bits, DSA...). It comes wrapped with ErrSignature.
	ErrWeakSignature = errors.New("weak signature")
)

// Keyring is a set of OpenPGP public keys trusted to sign Release files.
type Keyring struct {
	Entities openpgp.EntityList
	// Files are the keyring files the keys were read from, for reports.
	Files []string
	// signers, when not nil, are the fingerprints of the only keys (primary
	// or subkeys) whose signatures count: a Signed-By fingerprint list.
	signers map[string]bool
}

// ParseKeyring reads keys in binary (.gpg) or armored (.asc, possibly
// several blocks) form. name is used in errors.
func ParseKeyring(data []byte, name string) (*Keyring, error) {
	var el openpgp.EntityList
	if bytes.Contains(data, []byte("-----BEGIN PGP")) {
		rest := data
		for {
			i := bytes.Index(rest, []byte("-----BEGIN PGP"))
			if i < 0 {
				break
			}
			rest = rest[i:]
			end := bytes.Index(rest, []byte("-----END PGP"))
			if end < 0 {
				return nil, fmt.Errorf("keyring %s: unterminated armored block", name)
			}
			nl := bytes.IndexByte(rest[end:], '\n')
			if nl < 0 {
				nl = len(rest) - end
			}
			blockText := rest[:end+nl]
			rest = rest[end+nl:]
			block, err := armor.Decode(bytes.NewReader(blockText))
			if err != nil {
				return nil, fmt.Errorf("keyring %s: %w", name, err)
			}
			if block.Type != openpgp.PublicKeyType {
				continue
			}
			keys, err := openpgp.ReadKeyRing(block.Body)
			if err != nil {
				return nil, fmt.Errorf("keyring %s: %w", name, err)
			}
			el = append(el, keys...)
		}
	} else {
		keys, err := openpgp.ReadKeyRing(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("keyring %s: %w", name, err)
		}
		el = keys
	}
	if len(el) == 0 {
		return nil, fmt.Errorf("keyring %s: no public keys", name)
	}
	return &Keyring{Entities: el, Files: []string{name}}, nil
}

// LoadKeyrings reads keyring files from fsys; paths are absolute as apt
// writes them ("/usr/share/keyrings/x.gpg") and resolved inside fsys.
func LoadKeyrings(fsys fs.FS, paths ...string) (*Keyring, error) {
	kr := &Keyring{}
	for _, p := range paths {
		b, err := fs.ReadFile(fsys, fsPath(p))
		if err != nil {
			return nil, fmt.Errorf("read keyring %s: %w", p, err)
		}
		k, err := ParseKeyring(b, p)
		if err != nil {
			return nil, err
		}
		kr.merge(k)
	}
	return kr, nil
}

// DefaultKeyring reads the keyrings apt trusts for sources without
// Signed-By: etc/apt/trusted.gpg and etc/apt/trusted.gpg.d/*.{gpg,asc}.
// An empty result is not an error here; verification will then fail with
// ErrUnknownKey naming the key.
func DefaultKeyring(fsys fs.FS) (*Keyring, error) {
	var paths []string
	if _, err := fs.Stat(fsys, "etc/apt/trusted.gpg"); err == nil {
		paths = append(paths, "/etc/apt/trusted.gpg")
	}
	entries, err := fs.ReadDir(fsys, "etc/apt/trusted.gpg.d")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read /etc/apt/trusted.gpg.d: %w", err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".gpg") || strings.HasSuffix(e.Name(), ".asc") {
			paths = append(paths, "/etc/apt/trusted.gpg.d/"+e.Name())
		}
	}
	sort.Strings(paths)
	kr := &Keyring{}
	for _, p := range paths {
		k, err := LoadKeyrings(fsys, p)
		if err != nil {
			// apt warns and goes on for unreadable trusted.gpg.d parts.
			continue
		}
		kr.merge(k)
	}
	return kr, nil
}

func (k *Keyring) merge(o *Keyring) {
	k.Entities = append(k.Entities, o.Entities...)
	k.Files = append(k.Files, o.Files...)
}

// MergeKeyrings returns one keyring trusting the keys of every one of ks
// (nil ones are skipped); nil when all are nil.
func MergeKeyrings(ks ...*Keyring) *Keyring {
	var out *Keyring
	for _, k := range ks {
		if k == nil {
			continue
		}
		if out == nil {
			out = &Keyring{}
		}
		out.merge(k)
	}
	return out
}

// Only keeps the keys whose fingerprint or long key id is listed (a
// Signed-By fingerprint list), with apt's meaning: a primary key's
// fingerprint accepts signatures by it and by its subkeys, a subkey's
// fingerprint signatures by that subkey, and a fingerprint ending in "!"
// signatures by exactly that key, not its subkeys.
func (k *Keyring) Only(fingerprints []string) *Keyring {
	exact, withSubkeys := map[string]bool{}, map[string]bool{}
	for _, f := range fingerprints {
		f = strings.ToUpper(f)
		if strings.HasSuffix(f, "!") {
			exact[strings.TrimSuffix(f, "!")] = true
		} else {
			withSubkeys[f] = true
		}
	}
	match := func(set map[string]bool, pk *packet.PublicKey) bool {
		return set[fmt.Sprintf("%X", pk.Fingerprint)] || set[fmt.Sprintf("%016X", pk.KeyId)]
	}
	out := &Keyring{Files: k.Files, signers: map[string]bool{}}
	for _, e := range k.Entities {
		var allowed []*packet.PublicKey
		primary := match(withSubkeys, e.PrimaryKey)
		if primary || match(exact, e.PrimaryKey) {
			allowed = append(allowed, e.PrimaryKey)
		}
		for _, s := range e.Subkeys {
			if primary || match(withSubkeys, s.PublicKey) || match(exact, s.PublicKey) {
				allowed = append(allowed, s.PublicKey)
			}
		}
		if len(allowed) > 0 {
			out.Entities = append(out.Entities, e)
			for _, pk := range allowed {
				out.signers[fmt.Sprintf("%X", pk.Fingerprint)] = true
			}
		}
	}
	return out
}

func (k *Keyring) String() string {
	if k == nil || len(k.Files) == 0 {
		return "(no keyring)"
	}
	return strings.Join(k.Files, ", ")
}

// verifyClearsigned checks an InRelease file and returns the signed text.
func verifyClearsigned(data []byte, kr *Keyring, url string, now time.Time) ([]byte, error) {
	block, _ := clearsign.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("verify %s: not a clearsigned message: %w", url, ErrSignature)
	}
	sig, err := io.ReadAll(block.ArmoredSignature.Body)
	if err != nil {
		return nil, fmt.Errorf("verify %s: read signature: %w", url, ErrSignature)
	}
	if err := checkDetached(block.Bytes, sig, kr, url, now); err != nil {
		return nil, err
	}
	return block.Plaintext, nil
}

// checkDetached verifies a binary or armored detached signature over
// signed. It maps go-crypto's errors to ErrUnknownKey and ErrSignature and
// names the issuer key ids. Only signatures that pass Debian's verifier
// policy count (see weakness); when every signature by a trusted key
// fails it, the error (ErrWeakSignature) names the keys and why.
func checkDetached(signed, sig []byte, kr *Keyring, url string, now time.Time) error {
	if bytes.HasPrefix(bytes.TrimSpace(sig), []byte("-----BEGIN PGP")) {
		b, err := armor.Decode(bytes.NewReader(sig))
		if err != nil {
			return fmt.Errorf("verify %s: %v: %w", url, err, ErrSignature)
		}
		if sig, err = io.ReadAll(b.Body); err != nil {
			return fmt.Errorf("verify %s: %v: %w", url, err, ErrSignature)
		}
	}
	var el openpgp.EntityList
	if kr != nil {
		el = kr.Entities
	}
	pr := policyKeyring{el: el}
	if kr != nil {
		pr.signers = kr.signers
	}
	// Keep the signature packets that pass the policy, so that go-crypto
	// verifies one of those; note why the others were dropped.
	var kept bytes.Buffer
	var refused []string
	or := packet.NewOpaqueReader(bytes.NewReader(sig))
	for {
		op, err := or.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("verify %s: %v: %w", url, err, ErrSignature)
		}
		p, err := op.Parse()
		s, ok := p.(*packet.Signature)
		if err != nil || !ok {
			return fmt.Errorf("verify %s: not a signature packet (tag %d): %w", url, op.Tag, ErrSignature)
		}
		if s.IssuerKeyId != nil {
			if why := pr.weakness(s); why != "" {
				refused = append(refused, why)
				continue
			}
		}
		if err := op.Serialize(&kept); err != nil {
			return fmt.Errorf("verify %s: %v: %w", url, err, ErrSignature)
		}
	}
	cfg := &packet.Config{Time: func() time.Time { return now }}
	_, err := openpgp.CheckDetachedSignature(pr, bytes.NewReader(signed), bytes.NewReader(kept.Bytes()), cfg)
	if err == nil {
		return nil
	}
	ids := issuers(sig)
	if errors.Is(err, pgperrors.ErrUnknownIssuer) {
		if len(refused) > 0 {
			return fmt.Errorf("verify %s: refused, as Debian's verifier does: %s: %w: %w",
				url, strings.Join(refused, "; "), ErrWeakSignature, ErrSignature)
		}
		return fmt.Errorf("verify %s: signed by key %s, trusted keyrings: %s: %w",
			url, strings.Join(ids, ", "), kr, ErrUnknownKey)
	}
	return fmt.Errorf("verify %s: signature by key %s: %v: %w", url, strings.Join(ids, ", "), err, ErrSignature)
}

// policyKeyring is the keyring go-crypto verifies against: the trusted
// keys, less those a Signed-By pin leaves out and those too weak to sign.
type policyKeyring struct {
	el      openpgp.EntityList
	signers map[string]bool // nil: every key
}

func (k policyKeyring) filter(keys []openpgp.Key) []openpgp.Key {
	var out []openpgp.Key
	for _, key := range keys {
		if k.pinned(key.PublicKey) && keyWeakness(key.PublicKey) == "" {
			out = append(out, key)
		}
	}
	return out
}

func (k policyKeyring) pinned(pk *packet.PublicKey) bool {
	return k.signers == nil || k.signers[fmt.Sprintf("%X", pk.Fingerprint)]
}

func (k policyKeyring) KeysById(id uint64) []openpgp.Key { return k.filter(k.el.KeysById(id)) }

func (k policyKeyring) KeysByIdUsage(id uint64, usage byte) []openpgp.Key {
	return k.filter(k.el.KeysByIdUsage(id, usage))
}

func (k policyKeyring) DecryptionKeys() []openpgp.Key { return nil }

// weakness says why a signature by a trusted key does not count, or ""
// (also "" when no trusted key made it: that is ErrUnknownKey's case).
func (k policyKeyring) weakness(s *packet.Signature) string {
	for _, key := range k.el.KeysByIdUsage(*s.IssuerKeyId, packet.KeyFlagSign) {
		if !k.pinned(key.PublicKey) {
			continue
		}
		fp := fmt.Sprintf("%X", key.PublicKey.Fingerprint)
		switch s.Hash {
		case crypto.MD5, crypto.SHA1, crypto.RIPEMD160:
			return fmt.Sprintf("signature by key %s uses the untrusted digest algorithm %s", fp, hashName(s.Hash))
		}
		if why := keyWeakness(key.PublicKey); why != "" {
			return fmt.Sprintf("key %s is %s", fp, why)
		}
	}
	return ""
}

func hashName(h crypto.Hash) string {
	switch h {
	case crypto.SHA1:
		return "SHA1"
	case crypto.RIPEMD160:
		return "RIPEMD160"
	}
	return h.String()
}

// keyWeakness applies apt's APT::Key::Assert-Pubkey-Algo default
// (">=rsa2048,ed25519,ed448,nistp256,nistp384,nistp512,brainpoolP256r1,
// brainpoolP320r1,brainpoolP384r1,brainpoolP512r1,secp256k1"): it
// returns why pk may not sign a Release, or "".
func keyWeakness(pk *packet.PublicKey) string {
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSASignOnly:
		bits, err := pk.BitLength()
		if err != nil || bits < 2048 {
			return fmt.Sprintf("RSA with %d bits (an untrusted public key algorithm: apt requires 2048 bits or more)", bits)
		}
		return ""
	case packet.PubKeyAlgoEd25519, packet.PubKeyAlgoEd448:
		return ""
	case packet.PubKeyAlgoECDSA, packet.PubKeyAlgoEdDSA:
		c, err := pk.Curve()
		if err == nil {
			switch c {
			case packet.Curve25519, packet.Curve448, packet.CurveNistP256, packet.CurveNistP384, packet.CurveNistP521,
				packet.CurveSecP256k1, packet.CurveBrainpoolP256, packet.CurveBrainpoolP384, packet.CurveBrainpoolP512:
				return ""
			}
		}
		return fmt.Sprintf("an elliptic-curve key on curve %q (an untrusted public key algorithm)", c)
	case packet.PubKeyAlgoDSA:
		return "DSA (an untrusted public key algorithm: apt accepts no DSA key)"
	}
	return fmt.Sprintf("of public key algorithm %d (untrusted)", pk.PubKeyAlgo)
}

// issuers lists the issuer key ids of the signature packets in sig.
func issuers(sig []byte) []string {
	var ids []string
	r := packet.NewReader(bytes.NewReader(sig))
	for {
		p, err := r.Next()
		if err != nil {
			break
		}
		if s, ok := p.(*packet.Signature); ok {
			switch {
			case s.IssuerFingerprint != nil:
				ids = append(ids, fmt.Sprintf("%X", s.IssuerFingerprint))
			case s.IssuerKeyId != nil:
				ids = append(ids, fmt.Sprintf("%016X", *s.IssuerKeyId))
			}
		}
	}
	if len(ids) == 0 {
		return []string{"(unknown)"}
	}
	return ids
}
