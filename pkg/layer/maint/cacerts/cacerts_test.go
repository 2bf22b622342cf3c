package cacerts

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func hostCerts(t *testing.T) []string {
	t.Helper()
	certs, _ := filepath.Glob("/usr/share/ca-certificates/mozilla/*.crt")
	if len(certs) == 0 {
		t.Skip("no /usr/share/ca-certificates/mozilla/*.crt on this host (package ca-certificates)")
	}
	return certs
}

// TestSubjectHashMatchesOpenSSL compares SubjectHash with
// `openssl x509 -hash` for every certificate of the host.
func TestSubjectHashMatchesOpenSSL(t *testing.T) {
	certs := hostCerts(t)
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed")
	}
	for _, c := range certs {
		out, err := exec.Command("openssl", "x509", "-hash", "-noout", "-in", c).Output()
		if err != nil {
			t.Fatalf("openssl %s: %v", c, err)
		}
		body, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		der, err := SingleCertDER(body)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		h, err := SubjectHash(der)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if got, want := fmt.Sprintf("%08x", h), strings.TrimSpace(string(out)); got != want {
			t.Errorf("%s: hash %s, openssl says %s", filepath.Base(c), got, want)
		}
	}
}

func TestCanonicalString(t *testing.T) {
	tests := map[string]string{
		"  Foo   Bar\tBaz  ": "foo bar baz",
		"ÉCOLE  Été":         "École Été", // only ASCII is lowercased
		"":                   "",
		"A\n\nB":             "a b",
	}
	for in, want := range tests {
		if got := string(canonString([]byte(in))); got != want {
			t.Errorf("canonString(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzCanonicalName(f *testing.F) {
	if b, err := os.ReadFile("/usr/share/ca-certificates/mozilla/ISRG_Root_X1.crt"); err == nil {
		if der, err := SingleCertDER(b); err == nil {
			if s, err := rawSubject(der); err == nil {
				f.Add(s)
			}
		}
	}
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{0x30, 0x0b, 0x31, 0x09, 0x30, 0x07, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = CanonicalName(b)
		_, _ = SubjectHash(b)
	})
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
		der, err := SingleCertDER(body)
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
