package archive

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func testKey(t testing.TB, name string) (*openpgp.Entity, []byte, []byte) {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var bin, arm bytes.Buffer
	if err := e.Serialize(&bin); err != nil {
		t.Fatal(err)
	}
	w, _ := armor.Encode(&arm, openpgp.PublicKeyType, nil)
	e.Serialize(w)
	w.Close()
	arm.WriteByte('\n')
	return e, bin.Bytes(), arm.Bytes()
}

// deb822Inline turns an armored key into a deb822 multi-line value.
func deb822Inline(armored []byte) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(string(armored), "\n"), "\n") {
		if l == "" {
			l = "."
		}
		b.WriteString("\n " + l)
	}
	return b.String()
}

func TestReadSources(t *testing.T) {
	_, bin, arm := testKey(t, "archive")
	_, bin2, _ := testKey(t, "other")
	fsys := fstest.MapFS{
		"etc/apt/sources.list": {Data: []byte(`# a comment
deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/a.gpg] http://mirror.example/debian bookworm main contrib # trailing
deb-src http://mirror.example/debian bookworm main

deb [trusted=yes] file:/srv/repo ./
`)},
		"etc/apt/sources.list.d/b.sources": {Data: []byte(`Types: deb
URIs: http://mirror.example/debian http://mirror2.example/debian/
Suites: trixie trixie-updates
Components: main
Signed-By: /usr/share/keyrings/a.gpg

# disabled stanza
Types: deb
URIs: http://off.example/debian
Suites: trixie
Components: main
Enabled: no

Types: deb deb-src
URIs: http://pgdg.example/pub/repos/apt
Suites: trixie-pgdg
Components: main 17
Signed-By:` + deb822Inline(arm) + "\n")},
		"etc/apt/sources.list.d/c.list":           {Data: []byte("deb [arch-=i386] http://plain.example/debian trixie main\ndeb http://plain.example/debian/ trixie contrib main\n")},
		"etc/apt/sources.list.d/ignored.list.bak": {Data: []byte("garbage")},
		"usr/share/keyrings/a.gpg":                {Data: bin},
		"etc/apt/trusted.gpg.d/x.gpg":             {Data: bin2},
		"etc/apt/trusted.gpg.d/y.asc":             {Data: arm},
	}
	srcs, err := ReadSources(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) != 8 {
		t.Fatalf("%d sources, want 8: %+v", len(srcs), srcs)
	}
	first := srcs[0]
	if !reflect.DeepEqual(first.Architectures, []string{"amd64", "arm64"}) ||
		!reflect.DeepEqual(first.SignedBy, []string{"/usr/share/keyrings/a.gpg"}) ||
		!reflect.DeepEqual(first.Components, []string{"main", "contrib"}) || first.Origin != "/etc/apt/sources.list:2" {
		t.Errorf("first source = %+v", first)
	}
	if srcs[2].Trusted != true || srcs[2].Suites[0] != "./" {
		t.Errorf("trusted flat source = %+v", srcs[2])
	}
	if srcs[4].Enabled {
		t.Errorf("Enabled: no not honoured: %+v", srcs[4])
	}
	if !bytes.Contains(srcs[5].SignedByKey, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n")) {
		t.Errorf("inline key not restored:\n%s", srcs[5].SignedByKey)
	}

	// The flat repository cannot be expanded.
	if _, err := Repos(fsys, srcs); !errors.Is(err, ErrFlatRepository) {
		t.Fatalf("Repos with a flat source: %v, want ErrFlatRepository", err)
	}
	srcs = append(srcs[:2], srcs[3:]...)
	repos, err := Repos(fsys, srcs)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range repos {
		got = append(got, r.String()+" keys="+strings.Join(r.Keyring.Files, ","))
	}
	want := []string{
		"http://mirror.example/debian bookworm main contrib keys=/usr/share/keyrings/a.gpg",
		"http://mirror.example/debian trixie main keys=/usr/share/keyrings/a.gpg",
		"http://mirror.example/debian trixie-updates main keys=/usr/share/keyrings/a.gpg",
		"http://mirror2.example/debian trixie main keys=/usr/share/keyrings/a.gpg",
		"http://mirror2.example/debian trixie-updates main keys=/usr/share/keyrings/a.gpg",
		"http://pgdg.example/pub/repos/apt trixie-pgdg main 17 keys=/etc/apt/sources.list.d/b.sources stanza 3 Signed-By",
		"http://plain.example/debian trixie main contrib keys=/etc/apt/trusted.gpg.d/x.gpg,/etc/apt/trusted.gpg.d/y.asc",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("repos:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(repos[6].Architectures) != 0 {
		t.Errorf("arch-= added architectures: %v", repos[6].Architectures)
	}
	if n := len(repos[6].Keyring.Entities); n != 2 {
		t.Errorf("default keyring has %d keys, want 2", n)
	}
}

func TestParseSourceLine(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Source
		wantErr string
	}{
		{in: "http://m.example/debian trixie main", want: Source{URIs: []string{"http://m.example/debian"}, Suites: []string{"trixie"}, Components: []string{"main"}}},
		{in: "deb [signed-by=/k.gpg] http://m.example/pgdg trixie-pgdg main 17", want: Source{URIs: []string{"http://m.example/pgdg"}, Suites: []string{"trixie-pgdg"}, Components: []string{"main", "17"}, SignedBy: []string{"/k.gpg"}}},
		{in: "http://m.example/debian trixie", wantErr: "needs at least one component"},
		{in: "http://m.example/debian", wantErr: "want URI SUITE"},
		{in: "m.example/debian trixie main", wantErr: "no scheme"},
		{in: "[arch=amd64 http://m.example/debian trixie main", wantErr: "unterminated"},
		{in: "[trusted=maybe] http://m.example/debian trixie main", wantErr: "not yes or no"},
	} {
		got, err := ParseSourceLine(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got.URIs, tc.want.URIs) || !reflect.DeepEqual(got.Suites, tc.want.Suites) ||
			!reflect.DeepEqual(got.Components, tc.want.Components) || !reflect.DeepEqual(got.SignedBy, tc.want.SignedBy) || !got.Enabled {
			t.Errorf("%q: got %+v", tc.in, got)
		}
	}
}

func TestSourceErrors(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"sources.list", "deb-foo http://x trixie main\n", "not deb or deb-src"},
		{"x.sources", "Types: deb\nURIs: http://x\n", "Types, URIs and Suites are required"},
		{"x.sources", "Types: deb\nURIs: http://x\nSuites: a\nComponents: main\nEnabled: perhaps\n", "Enabled"},
	} {
		var err error
		if strings.HasSuffix(tc.name, ".sources") {
			_, err = ParseDeb822Sources(strings.NewReader(tc.text), tc.name)
		} else {
			_, err = ParseSourcesList(strings.NewReader(tc.text), tc.name)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%q: err %v, want mention of %q and the file", tc.text, err, tc.want)
		}
	}
}

func TestKeyringFingerprintFilter(t *testing.T) {
	e1, bin1, _ := testKey(t, "one")
	_, bin2, _ := testKey(t, "two")
	kr, err := ParseKeyring(append(bin1, bin2...), "both.gpg")
	if err != nil || len(kr.Entities) != 2 {
		t.Fatalf("keyring: %v, %d keys", err, len(kr.Entities))
	}
	fp := strings.ToLower(strings.ToUpper(string([]byte(fingerprint(e1)))))
	only := kr.Only([]string{fp})
	if len(only.Entities) != 1 || only.Entities[0] != kr.Entities[0] {
		t.Fatalf("Only(%s) kept %d keys", fp, len(only.Entities))
	}
	if _, err := ParseKeyring([]byte("not a key"), "junk"); err == nil || !strings.Contains(err.Error(), "junk") {
		t.Errorf("junk keyring: %v", err)
	}
}

func fingerprint(e *openpgp.Entity) string {
	const hexdigits = "0123456789ABCDEF"
	var b []byte
	for _, c := range e.PrimaryKey.Fingerprint {
		b = append(b, hexdigits[c>>4], hexdigits[c&15])
	}
	return string(b)
}

func TestParseRelease(t *testing.T) {
	text := `Origin: Debian
Label: Debian
Suite: stable
Codename: trixie
Date: Sat, 8 Nov 2025 09:21:55 UTC
Valid-Until: Sat, 15 Nov 2025 09:21:55 UTC
Acquire-By-Hash: yes
No-Support-for-Architecture-all: Packages
Architectures: all amd64 arm64
Components: main contrib
Description: Debian 13
SHA256:
 0000000000000000000000000000000000000000000000000000000000000001   123 main/binary-amd64/Packages
 00000000000000000000000000000000000000000000000000000000000000AB 45 main/binary-amd64/Packages.xz
`
	r, err := ParseRelease([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if r.Codename != "trixie" || r.Suite != "stable" || !r.AcquireByHash || !r.NoAll ||
		!reflect.DeepEqual(r.Architectures, []string{"all", "amd64", "arm64"}) || len(r.Files) != 2 {
		t.Fatalf("release = %+v", r)
	}
	if fh := r.Files["main/binary-amd64/Packages.xz"]; fh.Size != 45 || !strings.HasSuffix(fh.SHA256, "ab") {
		t.Errorf("xz entry = %+v (hash must be lower-cased)", fh)
	}
	if want := time.Date(2025, 11, 15, 9, 21, 55, 0, time.UTC); !r.ValidUntil.Equal(want) {
		t.Errorf("Valid-Until = %v", r.ValidUntil)
	}
	if err := r.checkValid("u", r.ValidUntil.Add(time.Second)); !errors.Is(err, ErrExpired) {
		t.Errorf("after Valid-Until: %v", err)
	}
	if err := r.checkValid("u", r.ValidUntil.Add(-time.Second)); err != nil {
		t.Errorf("before Valid-Until: %v", err)
	}
	for _, bad := range []string{
		"Date: yesterday\n",
		"SHA256:\n abc 1 x\n",
		"SHA256:\n 0000000000000000000000000000000000000000000000000000000000000001 -5 x\n",
		"",
	} {
		if _, err := ParseRelease([]byte(bad)); err == nil {
			t.Errorf("ParseRelease(%q) accepted", bad)
		}
	}
}

// FuzzParseRelease feeds the Release parser arbitrary bytes, as a Release
// and, when they decode as one, as a clearsigned InRelease: no panic, and
// what it accepts holds only usable index entries. The seed corpus is in
// testdata/fuzz/FuzzParseRelease; `make fuzz` runs it.
func FuzzParseRelease(f *testing.F) {
	f.Add([]byte("Origin: Debian\nDate: Sat, 08 Nov 2025 09:21:55 UTC\nSHA256:\n 0000000000000000000000000000000000000000000000000000000000000001 1 main/binary-amd64/Packages\n"))
	f.Add([]byte("Valid-Until: Mon, 1 Jan 2024 00:00:00 +0000\nAcquire-By-Hash: yes\n"))
	f.Add([]byte("SHA256:\n x y z\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(text []byte) {
			r, err := ParseRelease(text)
			if err != nil {
				return
			}
			for name, fh := range r.Files {
				if name == "" || len(fh.SHA256) != 64 || !isHex(fh.SHA256) || fh.Size < 0 || fh.Size > maxDebSize {
					t.Fatalf("bad file entry %q %+v", name, fh)
				}
			}
		}
		check(b)
		if block, _ := clearsign.Decode(b); block != nil {
			check(block.Plaintext)
		}
	})
}

func FuzzParseSources(f *testing.F) {
	f.Add("deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian trixie main\n# c\n", false)
	f.Add("Types: deb\nURIs: http://m.example/debian\nSuites: trixie\nComponents: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n", true)
	f.Add("deb-src http://m.example/debian trixie main\n", false)
	f.Add("Types: deb\nURIs: a\nSuites: b/\nEnabled: no\n", true)
	f.Fuzz(func(t *testing.T, text string, deb822 bool) {
		var srcs []Source
		var err error
		if deb822 {
			srcs, err = ParseDeb822Sources(strings.NewReader(text), "fuzz.sources")
		} else {
			srcs, err = ParseSourcesList(strings.NewReader(text), "fuzz.list")
		}
		if err != nil {
			return
		}
		for _, s := range srcs {
			if len(s.URIs) == 0 || len(s.Suites) == 0 || len(s.Types) == 0 {
				t.Fatalf("accepted an incomplete source %+v", s)
			}
		}
		// Expansion must not panic whatever the sources say.
		Repos(fstest.MapFS{}, srcs)
		if !deb822 {
			line := strings.SplitN(text, "\n", 2)[0]
			ParseSourceLine(line)
		}
	})
}
