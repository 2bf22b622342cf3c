package archive

import (
	"bytes"
	"fmt"
	"testing"
)

func TestParsePackagesLowerCasesHashes(t *testing.T) {
	var b bytes.Buffer
	for i := 0; i < 3; i++ {
		fmt.Fprintf(&b, "Package: p%d\nVersion: 1.%d\nArchitecture: all\nDescription: package %d\n long text here\nSHA256: %064X\n\n", i, i, i, i+10)
	}
	pkgs, err := parsePackages(bytes.NewReader(b.Bytes()), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 3 || pkgs[2].SHA256 != fmt.Sprintf("%064x", 12) {
		t.Errorf("packages %v: SHA256 not lower-cased", pkgs)
	}
	// A malformed stanza fails the whole parse.
	bad := append(bytes.Clone(b.Bytes()), []byte("Package: broken\n")...)
	if _, err := parsePackages(bytes.NewReader(bad), nil, nil, nil); err == nil {
		t.Error("malformed last stanza accepted")
	}
}

// syntheticIndex is a Packages index shaped like Debian's (relations,
// descriptions, hashes), n stanzas long.
func syntheticIndex(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "Package: pkg%d\nVersion: 1:%d.0-1+deb13u1\nInstalled-Size: %d\nMaintainer: Someone <someone@example.invalid>\nArchitecture: arm64\nMulti-Arch: same\n", i, i, i)
		fmt.Fprintf(&b, "Depends: libc6 (>= 2.38), libssl3t64 (>= 3.0.0), pkg%d (= 1:%d.0-1+deb13u1) | other\nPre-Depends: dpkg (>= 1.15.6~)\n", i/2, i/2)
		fmt.Fprintf(&b, "Description: package number %d\nHomepage: https://example.invalid/\nDescription-md5: %032x\nSection: libs\nPriority: optional\n", i, i)
		fmt.Fprintf(&b, "Filename: pool/main/p/pkg%d/pkg%d_%d.0-1_arm64.deb\nSize: %d\nSHA256: %064x\n\n", i, i, i, 1000+i, i)
	}
	return b.Bytes()
}

func BenchmarkParseCachedIndex(b *testing.B) {
	idx := syntheticIndex(20000)
	for _, bc := range []struct {
		name  string
		parse func([]byte) error
	}{
		{"serial", func(x []byte) error { _, err := parsePackages(bytes.NewReader(x), nil, nil, nil); return err }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(idx)))
			for b.Loop() {
				if err := bc.parse(idx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
