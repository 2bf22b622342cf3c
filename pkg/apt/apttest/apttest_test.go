package apttest_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"

	"github.com/pgassemble/pgassemble/internal/debtest"
	"github.com/pgassemble/pgassemble/pkg/apt/apttest"
)

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestRepoIsSignedAndConsistent(t *testing.T) {
	r := apttest.NewRepo(t,
		apttest.Config{Suite: "trixie", Packages: map[string][]debtest.Deb{"main": {
			{Control: debtest.Control("Package", "a", "Version", "1:1.0", "Architecture", "amd64")},
		}}},
		apttest.Config{Suite: "trixie-pgdg", Components: []string{"main", "17"}, Packages: map[string][]debtest.Deb{
			"17": {{Control: debtest.Control("Package", "b", "Version", "17.1", "Architecture", "all")}},
		}},
	)
	if !strings.HasPrefix(r.URL, "http://127.0.0.1:") {
		t.Fatalf("URL %s is not on loopback", r.URL)
	}
	if got := r.SourceLine("trixie-pgdg"); got != r.URL+" trixie-pgdg main 17" {
		t.Errorf("SourceLine = %q", got)
	}
	kb, err := os.ReadFile(r.ArmoredKeyringFile)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(kb))
	if err != nil {
		t.Fatal(err)
	}
	_, inrel := get(t, r.URL+"/dists/trixie-pgdg/InRelease")
	block, _ := clearsign.Decode(inrel)
	if block == nil {
		t.Fatal("InRelease is not clearsigned")
	}
	if _, err := block.VerifySignature(keys, nil); err != nil {
		t.Fatalf("InRelease does not verify with the published key: %v", err)
	}
	// Every SHA256 line matches the file and its by-hash copy.
	text := string(block.Plaintext)
	n := 0
	for _, line := range strings.Split(text[strings.Index(text, "SHA256:\n")+8:], "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		n++
		_, body := get(t, r.URL+"/dists/trixie-pgdg/"+f[2])
		sum := sha256.Sum256(body)
		if hex.EncodeToString(sum[:]) != f[0] {
			t.Errorf("%s: hash differs from the Release", f[2])
		}
		if strings.Contains(f[2], "/Packages") {
			dir := f[2][:strings.LastIndex(f[2], "/")]
			if code, _ := get(t, r.URL+"/dists/trixie-pgdg/"+dir+"/by-hash/SHA256/"+f[0]); code != 200 {
				t.Errorf("%s: no by-hash copy (%d)", f[2], code)
			}
		}
	}
	if n != 8 { // 2 components x (3 Packages + Release)
		t.Errorf("%d SHA256 entries, want 8", n)
	}
	// The epoch is not part of the pool file name; the .deb is served.
	a := r.Deb("a", "1:1.0", "amd64")
	if !strings.HasSuffix(a.Path, "/a_1.0_amd64.deb") {
		t.Errorf("pool path %s", a.Path)
	}
	if code, body := get(t, r.URL+"/"+a.Path); code != 200 || int64(len(body)) != a.Size {
		t.Errorf("GET %s: %d, %d bytes", a.Path, code, len(body))
	}
	// Faults apply the given number of times, and requests are counted.
	r.SetFault("/dists/trixie/InRelease", apttest.Fault{Status: 503, Times: 1})
	if code, _ := get(t, r.URL+"/dists/trixie/InRelease"); code != 503 {
		t.Errorf("fault not applied: %d", code)
	}
	if code, _ := get(t, r.URL+"/dists/trixie/InRelease"); code != 200 {
		t.Errorf("fault applied twice: %d", code)
	}
	if n := r.Hits("/dists/trixie/InRelease"); n != 2 {
		t.Errorf("Hits = %d, want 2", n)
	}
}
