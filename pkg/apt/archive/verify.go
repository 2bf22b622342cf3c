package archive

import (
	"bytes"
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
)

// Keyring is a set of OpenPGP public keys trusted to sign Release files.
type Keyring struct {
	Entities openpgp.EntityList
	// Files are the keyring files the keys were read from, for reports.
	Files []string
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

// Only keeps the keys whose fingerprint or long key id is listed (a
// Signed-By fingerprint list). A trailing "!" (apt's "this exact subkey")
// is accepted and treated like the plain form.
func (k *Keyring) Only(fingerprints []string) *Keyring {
	want := map[string]bool{}
	for _, f := range fingerprints {
		want[strings.ToUpper(strings.TrimSuffix(f, "!"))] = true
	}
	match := func(pk *packet.PublicKey) bool {
		fp := fmt.Sprintf("%X", pk.Fingerprint)
		return want[fp] || want[fmt.Sprintf("%016X", pk.KeyId)]
	}
	out := &Keyring{Files: k.Files}
	for _, e := range k.Entities {
		ok := match(e.PrimaryKey)
		for _, s := range e.Subkeys {
			ok = ok || match(s.PublicKey)
		}
		if ok {
			out.Entities = append(out.Entities, e)
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
// names the issuer key ids.
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
	cfg := &packet.Config{Time: func() time.Time { return now }}
	_, err := openpgp.CheckDetachedSignature(el, bytes.NewReader(signed), bytes.NewReader(sig), cfg)
	if err == nil {
		return nil
	}
	ids := issuers(sig)
	if errors.Is(err, pgperrors.ErrUnknownIssuer) {
		return fmt.Errorf("verify %s: signed by key %s, trusted keyrings: %s: %w",
			url, strings.Join(ids, ", "), kr, ErrUnknownKey)
	}
	return fmt.Errorf("verify %s: signature by key %s: %v: %w", url, strings.Join(ids, ", "), err, ErrSignature)
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
