package archive

import (
	"bytes"
	"fmt"
	"testing"
)

func TestParsePackagesParallelKeepsOrder(t *testing.T) {
	var b bytes.Buffer
	const n = 20000 // > 1 MiB, so the index is cut into chunks
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "Package: p%d\nVersion: 1.%d\nArchitecture: all\nDescription: package %d\n long text here\nSHA256: %064X\n\n", i, i, i, i)
	}
	if b.Len() < 1<<20 {
		t.Fatalf("test index too small: %d", b.Len())
	}
	serial, err := parsePackages(bytes.NewReader(b.Bytes()), nil)
	if err != nil {
		t.Fatal(err)
	}
	par, err := parsePackagesParallel(b.Bytes(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(par) != n || len(serial) != n {
		t.Fatalf("parallel %d, serial %d packages, want %d", len(par), len(serial), n)
	}
	for i := range par {
		if par[i].Name != serial[i].Name || par[i].Version != serial[i].Version || par[i].SHA256 != serial[i].SHA256 {
			t.Fatalf("package %d: parallel %s, serial %s", i, par[i].ID(), serial[i].ID())
		}
	}
	if par[5].SHA256 != fmt.Sprintf("%064x", 5) {
		t.Errorf("SHA256 not lower-cased: %s", par[5].SHA256)
	}
	// A malformed stanza in any chunk fails the whole parse.
	bad := append(bytes.Clone(b.Bytes()), []byte("Package: broken\n")...)
	if _, err := parsePackagesParallel(bad, nil); err == nil {
		t.Error("malformed last stanza accepted")
	}
}
