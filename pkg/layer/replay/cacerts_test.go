package replay

import (
	"archive/tar"
	"bytes"
	"encoding/pem"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// hostCerts returns the certificates of the host's ca-certificates package.
func hostCerts(t *testing.T) []string {
	t.Helper()
	certs, _ := filepath.Glob("/usr/share/ca-certificates/mozilla/*.crt")
	if len(certs) == 0 {
		t.Skip("no /usr/share/ca-certificates/mozilla/*.crt on this host (package ca-certificates)")
	}
	return certs
}

// TestCABundle builds the bundle from the host's certificates and compares
// it with what update-ca-certificates made on the host: the hash links of
// /etc/ssl/certs and the bundle's certificates.
func TestCABundle(t *testing.T) {
	certs := hostCerts(t)
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err != nil {
		t.Skip("no /etc/ssl/certs/ca-certificates.crt on this host")
	}
	post := "cat > /etc/ca-certificates.conf <<EOF\n# header\nEOF\nupdate-ca-certificates --hooksdir ''\n"
	p, err := New(debianBase(), Options{Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AddPackages([]Package{pkg("ca-certificates", "", map[string]string{"postinst": post})}); err != nil {
		t.Fatal(err)
	}
	for _, c := range certs {
		b, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		observe(t, p, "ca-certificates", strings.TrimPrefix(c, "/"), string(b))
	}
	files := fileMap(t, p)
	conf := string(files["etc/ca-certificates.conf"].Data)
	if !strings.HasPrefix(conf, "# header\nmozilla/") || strings.Count(conf, "\n") != len(certs)+1 {
		t.Errorf("ca-certificates.conf starts %q, has %d lines for %d certs", conf[:40], strings.Count(conf, "\n"), len(certs))
	}
	// Every hash link the host has for a mozilla certificate must be ours.
	hostLinks, _ := filepath.Glob("/etc/ssl/certs/*.[0-9]")
	n := 0
	for _, l := range hostLinks {
		target, err := os.Readlink(l)
		if err != nil {
			continue
		}
		pemTarget, err := os.Readlink(filepath.Join("/etc/ssl/certs", target))
		if err != nil || !strings.HasPrefix(pemTarget, "/usr/share/ca-certificates/mozilla/") {
			continue // a local certificate or snakeoil
		}
		n++
		f, ok := files["etc/ssl/certs/"+filepath.Base(l)]
		if !ok || f.Type != tar.TypeSymlink || f.Linkname != target {
			t.Errorf("hash link %s -> %s: ours %+v", filepath.Base(l), target, f)
		}
	}
	if n < len(certs)/2 {
		t.Errorf("only %d host hash links compared", n)
	}
	// The bundle holds the same certificates as the host's, in conf order.
	ours := pemBlocks(files["etc/ssl/certs/ca-certificates.crt"].Data)
	if len(ours) != len(certs) {
		t.Errorf("bundle has %d certificates, want %d", len(ours), len(certs))
	}
	host, _ := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	hb := pemBlocks(host)
	sort.Strings(hb)
	ob := append([]string(nil), ours...)
	sort.Strings(ob)
	if len(hb) == len(ob) && strings.Join(hb, "") != strings.Join(ob, "") {
		t.Error("bundle certificates differ from the host's")
	}
	if f := files["etc/ssl/certs/ACCVRAIZ1.pem"]; f.Linkname != "/usr/share/ca-certificates/mozilla/ACCVRAIZ1.crt" {
		t.Errorf("pem link %+v", f)
	}
}

func pemBlocks(b []byte) []string {
	var out []string
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out
		}
		out = append(out, string(blk.Bytes))
	}
}

func TestCAHashCollisionsAndDuplicates(t *testing.T) {
	certs := hostCerts(t)
	b, err := os.ReadFile(certs[0])
	if err != nil {
		t.Fatal(err)
	}
	p, _ := New(debianBase(), Options{Arch: "amd64"})
	post := "cat > /etc/ca-certificates.conf <<EOF\nEOF\n"
	_ = p.AddPackages([]Package{pkg("ca-certificates", "", map[string]string{"postinst": post})})
	// The same certificate twice: one hash link (openssl rehash skips
	// duplicates); a renamed copy with different bytes but the same
	// subject would get ".1".
	observe(t, p, "ca-certificates", "usr/share/ca-certificates/a/one.crt", string(b))
	observe(t, p, "ca-certificates", "usr/share/ca-certificates/b/two (x).crt", string(b))
	files := fileMap(t, p)
	var links []string
	for name, f := range files {
		if f.Type == tar.TypeSymlink && strings.HasPrefix(name, "etc/ssl/certs/") && !strings.HasSuffix(name, ".pem") {
			links = append(links, filepath.Base(name)+"->"+f.Linkname)
		}
	}
	if len(links) != 1 || !strings.HasSuffix(links[0], ".0->one.pem") {
		t.Errorf("hash links %v", links)
	}
	if _, ok := files["etc/ssl/certs/two_=x=.pem"]; !ok {
		t.Error("pem name not mangled like update-ca-certificates")
	}
	if !bytes.Contains(files["etc/ssl/certs/ca-certificates.crt"].Data, []byte("-----END CERTIFICATE-----\n-----BEGIN")) {
		t.Error("bundle not concatenated")
	}
}
