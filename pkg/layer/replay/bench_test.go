package replay

import (
	"os"
	"path/filepath"
	"testing"
)

func BenchmarkParseScript(b *testing.B) {
	src := pgCommonPostinst + sslCertPostinst
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		ParseScript(src)
	}
}

func BenchmarkSubjectHash(b *testing.B) {
	certs, _ := filepath.Glob("/usr/share/ca-certificates/mozilla/*.crt")
	if len(certs) == 0 {
		b.Skip("no host certificates")
	}
	var ders [][]byte
	for _, c := range certs {
		body, err := os.ReadFile(c)
		if err != nil {
			b.Fatal(err)
		}
		der, err := singleCertDER(body)
		if err != nil {
			b.Fatal(err)
		}
		ders = append(ders, der)
	}
	b.ResetTimer()
	for b.Loop() {
		for _, d := range ders {
			if _, err := SubjectHash(d); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkWriteLdCache(b *testing.B) {
	raw, err := os.ReadFile("/etc/ld.so.cache")
	if err != nil {
		b.Skip("no host ld.so.cache")
	}
	c, err := ParseLdCache(raw)
	if err != nil {
		b.Skip(err)
	}
	for b.Loop() {
		WriteLdCache(c.Entries, c.Generator, c.BigEndian)
	}
}
