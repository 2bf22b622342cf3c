// Package cacerts holds what update-ca-certificates and `openssl rehash`
// compute: the file name of a certificate's link in /etc/ssl/certs, the
// subject hash links (<hash>.<n>) and the bundle's certificate checks.
package cacerts

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// PEMName is the link update-ca-certificates makes in /etc/ssl/certs for a
// line of /etc/ca-certificates.conf ("mozilla/ISRG_Root_X1.crt" ->
// "ISRG_Root_X1.pem").
func PEMName(confLine string) string {
	n := strings.TrimSuffix(path.Base(confLine), ".crt")
	return strings.NewReplacer(" ", "_", "(", "=", ")", "=", ",", "_").Replace(n) + ".pem"
}

// Cert is one certificate linked in /etc/ssl/certs.
type Cert struct {
	PEMName string // the link's name, "ISRG_Root_X1.pem"
	Body    []byte // the PEM file
}

// Link is one `openssl rehash` link: Name ("4042bcee.0") -> Target (a PEMName).
type Link struct{ Name, Target string }

// Rehash computes `openssl rehash`'s links for certs: files in name order;
// per subject hash, suffixes .0, .1, ...; a certificate identical to one
// already linked is skipped, and so is a file without exactly one
// certificate.
func Rehash(certs []Cert) ([]Link, error) {
	type hashed struct {
		pemName string
		hash    uint32
		fp      [32]byte
	}
	var links []hashed
	for _, c := range certs {
		der, err := SingleCertDER(c.Body)
		if err != nil {
			continue
		}
		h, err := SubjectHash(der)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.PEMName, err)
		}
		links = append(links, hashed{pemName: c.PEMName, hash: h, fp: sha256.Sum256(der)})
	}
	sort.SliceStable(links, func(i, j int) bool { return links[i].pemName < links[j].pemName })
	next := map[uint32]int{}
	seen := map[uint32][][32]byte{}
	var out []Link
	for _, l := range links {
		dup := false
		for _, fp := range seen[l.hash] {
			dup = dup || fp == l.fp
		}
		if dup {
			continue
		}
		seen[l.hash] = append(seen[l.hash], l.fp)
		n := next[l.hash]
		next[l.hash] = n + 1
		out = append(out, Link{Name: fmt.Sprintf("%08x.%d", l.hash, n), Target: l.pemName})
	}
	return out, nil
}

// SingleCertDER returns the DER of the only certificate of a PEM file.
func SingleCertDER(b []byte) ([]byte, error) {
	var der []byte
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" || blk.Type == "TRUSTED CERTIFICATE" {
			der = blk.Bytes
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("%d certificates", n)
	}
	return der, nil
}

// SubjectHash returns OpenSSL's X509_NAME_hash of a certificate's subject
// (what `openssl x509 -hash` prints): the first four bytes, little-endian,
// of the SHA-1 of the subject's canonical encoding.
func SubjectHash(certDER []byte) (uint32, error) {
	subject, err := rawSubject(certDER)
	if err != nil {
		return 0, err
	}
	canon, err := CanonicalName(subject)
	if err != nil {
		return 0, err
	}
	sum := sha1.Sum(canon)
	return binary.LittleEndian.Uint32(sum[:4]), nil
}

// rawSubject extracts the subject Name (DER) from a certificate without
// validating anything else.
func rawSubject(der []byte) ([]byte, error) {
	var cert struct {
		TBS asn1.RawValue
	}
	if _, err := asn1.UnmarshalWithParams(der, &cert, ""); err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	rest := cert.TBS.Bytes
	// TBSCertificate: [0] version (optional), serial, signature alg, issuer, validity, subject
	var fields []asn1.RawValue
	for len(rest) > 0 && len(fields) < 6 {
		var v asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &v); err != nil {
			return nil, fmt.Errorf("tbsCertificate: %w", err)
		}
		fields = append(fields, v)
	}
	i := 0
	if len(fields) > 0 && fields[0].Class == asn1.ClassContextSpecific && fields[0].Tag == 0 {
		i = 1
	}
	if len(fields) < i+5 {
		return nil, errors.New("tbsCertificate: too few fields")
	}
	return fields[i+4].FullBytes, nil
}

// ASN.1 universal string tags.
const (
	tagUTF8       = 12
	tagPrintable  = 19
	tagT61        = 20
	tagIA5        = 22
	tagVisible    = 26
	tagUniversal  = 28
	tagBMP        = 30
	tagSet        = 17
	tagSequence   = 16
	canonStrTypes = 1<<tagUTF8 | 1<<tagPrintable | 1<<tagT61 | 1<<tagIA5 | 1<<tagVisible | 1<<tagUniversal | 1<<tagBMP
)

// CanonicalName returns OpenSSL's canonical encoding of a DER Name (used
// by X509_NAME_hash): each RDN re-encoded as a SET of SEQUENCE{type,
// value}, string values converted to UTF8String with leading and trailing
// whitespace removed, inner runs of whitespace collapsed to one space and
// ASCII lowercased; the RDNs concatenated without the outer SEQUENCE.
func CanonicalName(name []byte) ([]byte, error) {
	var seq asn1.RawValue
	if _, err := asn1.Unmarshal(name, &seq); err != nil {
		return nil, fmt.Errorf("name: %w", err)
	}
	if seq.Tag != tagSequence {
		return nil, errors.New("name: not a SEQUENCE")
	}
	var out []byte
	rest := seq.Bytes
	for len(rest) > 0 {
		var set asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &set); err != nil {
			return nil, fmt.Errorf("rdn: %w", err)
		}
		if set.Tag != tagSet {
			return nil, errors.New("rdn: not a SET")
		}
		var avas [][]byte
		r2 := set.Bytes
		for len(r2) > 0 {
			var ava asn1.RawValue
			if r2, err = asn1.Unmarshal(r2, &ava); err != nil {
				return nil, fmt.Errorf("ava: %w", err)
			}
			var oid, val asn1.RawValue
			r3, err := asn1.Unmarshal(ava.Bytes, &oid)
			if err != nil {
				return nil, fmt.Errorf("ava type: %w", err)
			}
			if _, err := asn1.Unmarshal(r3, &val); err != nil {
				return nil, fmt.Errorf("ava value: %w", err)
			}
			v := val.FullBytes
			if val.Class == asn1.ClassUniversal && val.Tag < 31 && canonStrTypes&(1<<val.Tag) != 0 {
				u, err := toUTF8(val.Tag, val.Bytes)
				if err != nil {
					return nil, err
				}
				v = derTLV(tagUTF8, canonString(u))
			}
			avas = append(avas, derTLV(0x20|tagSequence, append(append([]byte(nil), oid.FullBytes...), v...)))
		}
		// DER SET OF: elements sorted by their encoding.
		sort.Slice(avas, func(i, j int) bool { return bytes.Compare(avas[i], avas[j]) < 0 })
		out = append(out, derTLV(0x20|tagSet, bytes.Join(avas, nil))...)
	}
	return out, nil
}

func toUTF8(tag int, b []byte) ([]byte, error) {
	switch tag {
	case tagBMP:
		if len(b)%2 != 0 {
			return nil, errors.New("BMPString of odd length")
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = binary.BigEndian.Uint16(b[2*i:])
		}
		return []byte(string(utf16.Decode(u))), nil
	case tagUniversal:
		if len(b)%4 != 0 {
			return nil, errors.New("UniversalString of bad length")
		}
		var s strings.Builder
		for i := 0; i < len(b); i += 4 {
			s.WriteRune(rune(binary.BigEndian.Uint32(b[i:])))
		}
		return []byte(s.String()), nil
	case tagT61:
		// OpenSSL treats T61String as ISO 8859-1.
		var s []byte
		for _, c := range b {
			s = utf8.AppendRune(s, rune(c))
		}
		return s, nil
	}
	return b, nil
}

func isCanonSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func canonString(b []byte) []byte {
	for len(b) > 0 && isCanonSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isCanonSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c >= 0x80:
			out = append(out, c)
			i++
		case isCanonSpace(c):
			out = append(out, ' ')
			for i < len(b) && isCanonSpace(b[i]) {
				i++
			}
		default:
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			out = append(out, c)
			i++
		}
	}
	return out
}

// derTLV encodes a DER element with a one-byte tag.
func derTLV(tag byte, content []byte) []byte {
	n := len(content)
	var hdr []byte
	switch {
	case n < 0x80:
		hdr = []byte{tag, byte(n)}
	case n < 0x100:
		hdr = []byte{tag, 0x81, byte(n)}
	case n < 0x10000:
		hdr = []byte{tag, 0x82, byte(n >> 8), byte(n)}
	default:
		hdr = []byte{tag, 0x83, byte(n >> 16), byte(n >> 8), byte(n)}
	}
	return append(hdr, content...)
}
