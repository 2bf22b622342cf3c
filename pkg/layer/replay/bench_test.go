package replay

import (
	"archive/tar"
	"fmt"
	"os"
	"strings"
	"testing"
)

func BenchmarkParseScript(b *testing.B) {
	src := pgCommonPostinst + sslCertPostinst
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		ParseScript(src)
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

// BenchmarkObserve: the per-entry cost the layer pays on every stage
// (also on cache hits), for a stage of 10,000 entries.
func BenchmarkObserve(b *testing.B) {
	var pkgs []Package
	for i := range 70 {
		pkgs = append(pkgs, pkg(fmt.Sprintf("pkg%d", i), "", nil))
	}
	pkgs = append(pkgs, pkg("postgresql-common", "", map[string]string{"postinst": pgCommonPostinst, "triggers": "interest-noawait /usr/share/postgresql\n"}))
	hdrs := make([]*tar.Header, 10000)
	for i := range hdrs {
		hdrs[i] = &tar.Header{Name: fmt.Sprintf("usr/share/locale/l%d/LC_MESSAGES/x%d.mo", i%300, i), Typeflag: tar.TypeReg, Size: 3}
	}
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		p, _ := New(debianBase(), Options{Arch: "amd64"})
		_ = p.AddPackages(pkgs)
		b.StartTimer()
		for _, h := range hdrs {
			if err := p.Observe("pkg1", h, strings.NewReader("abc")); err != nil {
				b.Fatal(err)
			}
		}
	}
}
