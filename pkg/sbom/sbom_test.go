package sbom

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"
)

const status = `Package: libpq5
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 900
Maintainer: Debian PostgreSQL Maintainers <team+postgresql@tracker.debian.org>
Architecture: amd64
Multi-Arch: same
Source: postgresql-17 (17.5-1)
Version: 17.5-1+b1
Depends: libc6 (>= 2.38)
Description: PostgreSQL C client library
 libpq is a C library.
Homepage: https://www.postgresql.org/

Package: base-files
Essential: yes
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 400
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Version: 13.8
Description: Debian base system miscellaneous files

Package: gone
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0
Description: removed, config files only

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2025b-4
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Description: time zone and daylight-saving time data
`

const dep5 = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: PostgreSQL

Files: *
Copyright: 1996-2025, The PostgreSQL Global Development Group
License: PostgreSQL

Files: src/port/snprintf.c
Copyright: 1983, Regents of the University of California
License: BSD-3-clause

Files: contrib/odd/*
Copyright: someone
License: GPL-2+ or Artistic

Files: contrib/strange/*
Copyright: someone else
License: Custom-Thing

License: Custom-Thing
 Permission is granted.
 .
 Second paragraph.
`

func fixtureFS() fstest.MapFS {
	return fstest.MapFS{
		"var/lib/dpkg/status":                {Data: []byte(status)},
		"usr/lib/os-release":                 {Data: []byte("PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nID=debian\nVERSION_ID=\"13\"\n")},
		"usr/share/doc/libpq5/copyright":     {Data: []byte(dep5)},
		"usr/share/doc/base-files/copyright": {Data: []byte("This is the Debian prepackaged version of the base files.\nSee /usr/share/common-licenses/GPL.\n")},
	}
}

func TestRead(t *testing.T) {
	inv, err := Read(fixtureFS())
	if err != nil {
		t.Fatal(err)
	}
	if inv.DistroID != "debian" || inv.DistroVersion != "13" {
		t.Errorf("distro = %q %q", inv.DistroID, inv.DistroVersion)
	}
	var names []string
	for _, p := range inv.Packages {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, " "); got != "base-files libpq5 tzdata" {
		t.Fatalf("packages = %s (config-files only must be left out, order by name)", got)
	}
	pq := inv.Packages[1]
	if pq.Source != "postgresql-17" || pq.SourceVersion != "17.5-1" {
		t.Errorf("source = %q %q", pq.Source, pq.SourceVersion)
	}
	if want := "BSD-3-Clause AND (GPL-2.0-or-later OR Artistic-1.0) AND LicenseRef-Custom-Thing AND PostgreSQL"; pq.License != want {
		t.Errorf("license = %q, want %q", pq.License, want)
	}
	if got := inv.LicenseTexts["LicenseRef-Custom-Thing"]; got != "Permission is granted.\n\nSecond paragraph." {
		t.Errorf("license text = %q", got)
	}
	if inv.Packages[0].License != "" {
		t.Errorf("a copyright file that is not machine-readable gave license %q", inv.Packages[0].License)
	}
	if got, want := inv.Purl(pq), "pkg:deb/debian/libpq5@17.5-1%2Bb1?arch=amd64&distro=debian-13"; got != want {
		t.Errorf("purl = %s, want %s", got, want)
	}
	if got, want := inv.SourcePurl(pq), "pkg:deb/debian/postgresql-17@17.5-1?arch=source&distro=debian-13"; got != want {
		t.Errorf("source purl = %s, want %s", got, want)
	}
	if tz := inv.Packages[2]; tz.Source != "tzdata" || tz.SourceVersion != "2025b-4" {
		t.Errorf("a package without Source: names itself: %q %q", tz.Source, tz.SourceVersion)
	}
}

func TestReadNoDatabase(t *testing.T) {
	_, err := Read(fstest.MapFS{"etc/os-release": {Data: []byte("ID=alpine\n")}})
	if !errors.Is(err, ErrNoDpkgDatabase) {
		t.Fatalf("err = %v, want ErrNoDpkgDatabase", err)
	}
}

func TestLicenseExpressions(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"GPL-2", "GPL-2.0-only"},
		{"LGPL-2.1+", "LGPL-2.1-or-later"},
		{"GPL-3.0+", "GPL-3.0-or-later"},
		{"Expat", "MIT"},
		{"GPL-2+ with OpenSSL exception", "LicenseRef-GPL-2-with-OpenSSL-exception"},
		{"BSD-2-clause and ISC", "BSD-2-Clause AND ISC"},
		{"public-domain", "LicenseRef-public-domain"},
		{"or MIT and", "MIT"},
	} {
		if got := spdxExpression(tc.in, nil, map[string]string{}); got != tc.want {
			t.Errorf("%q -> %q, want %q", tc.in, got, tc.want)
		}
	}
}

var (
	subj    = Subject{Name: "postgresql", Digest: "sha256:" + strings.Repeat("ab", 32), Platform: "linux/amd64", Target: "17-standard-trixie"}
	tool    = Tool{Name: "pgassemble", Version: "test"}
	created = time.Unix(1700000000, 0)
)

func inventory(t *testing.T) *Inventory {
	t.Helper()
	inv, err := Read(fixtureFS())
	if err != nil {
		t.Fatal(err)
	}
	inv.SetOrigins(map[Key]OriginOf{
		{"libpq5", "amd64"}: {Version: "17.5-1+b1", Origin: Origin{URL: "http://mirror.invalid/pool/libpq5_17.5-1+b1_amd64.deb", SHA256: strings.Repeat("01", 32), Size: 12}},
		{"tzdata", "all"}:   {Version: "older", Origin: Origin{URL: "http://mirror.invalid/tzdata.deb", SHA256: strings.Repeat("02", 32)}},
	})
	return inv
}

func TestSPDXValidates(t *testing.T) {
	inv := inventory(t)
	out, err := Write(SPDX, inv, subj, tool, created)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := spdxjson.Read(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("the SPDX library cannot read our document: %v", err)
	}
	if err := spdxlib.ValidateDocument(doc); err != nil {
		t.Fatalf("SPDX validation: %v", err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || doc.CreationInfo.Created != "2023-11-14T22:13:20Z" {
		t.Errorf("version %s created %s", doc.SPDXVersion, doc.CreationInfo.Created)
	}
	byName := map[string]int{}
	for i, p := range doc.Packages {
		byName[p.PackageName+"/"+p.PrimaryPackagePurpose] = i
	}
	pq, ok := byName["libpq5/LIBRARY"]
	if !ok {
		t.Fatalf("no libpq5 package: %v", byName)
	}
	p := doc.Packages[pq]
	if len(p.PackageChecksums) != 1 || p.PackageChecksums[0].Value != strings.Repeat("01", 32) || p.PackageFileName != "libpq5_17.5-1+b1_amd64.deb" {
		t.Errorf("libpq5 checksum/file: %+v %q", p.PackageChecksums, p.PackageFileName)
	}
	if p.PackageExternalReferences[0].Locator != "pkg:deb/debian/libpq5@17.5-1%2Bb1?arch=amd64&distro=debian-13" {
		t.Errorf("purl %s", p.PackageExternalReferences[0].Locator)
	}
	tz := doc.Packages[byName["tzdata/LIBRARY"]]
	if len(tz.PackageChecksums) != 0 || tz.PackageDownloadLocation != "NOASSERTION" {
		t.Errorf("an origin for another version was applied to tzdata: %+v", tz)
	}
	if _, ok := byName["postgresql-17/SOURCE"]; !ok {
		t.Errorf("no source package postgresql-17")
	}
	if len(doc.OtherLicenses) != 1 || doc.OtherLicenses[0].LicenseIdentifier != "LicenseRef-Custom-Thing" {
		t.Errorf("other licenses: %+v", doc.OtherLicenses)
	}
	// Same input, same bytes; another image digest, another namespace.
	again, _ := Write(SPDX, inventory(t), subj, tool, created)
	if !bytes.Equal(out, again) {
		t.Error("SPDX output differs between two runs on the same input")
	}
	s2 := subj
	s2.Digest = "sha256:" + strings.Repeat("cd", 32)
	other, _ := Write(SPDX, inventory(t), s2, tool, created)
	doc2, _ := spdxjson.Read(bytes.NewReader(other))
	if doc2.DocumentNamespace == doc.DocumentNamespace {
		t.Error("two images share a document namespace")
	}
}

func TestCycloneDX(t *testing.T) {
	out, err := Write(CycloneDX, inventory(t), subj, tool, created)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["specVersion"] != "1.6" || raw["bomFormat"] != "CycloneDX" {
		t.Errorf("spec %v format %v", raw["specVersion"], raw["bomFormat"])
	}
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(out), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(bom.SerialNumber, "urn:uuid:") || len(bom.SerialNumber) != 45 || bom.SerialNumber[23] != '5' {
		t.Errorf("serial %q is not a v5 UUID URN", bom.SerialNumber)
	}
	if len(*bom.Components) != 3 {
		t.Fatalf("%d components", len(*bom.Components))
	}
	pq := (*bom.Components)[1]
	if pq.Name != "libpq5" || (*pq.Licenses)[0].Expression == "" || (*pq.Hashes)[0].Value != strings.Repeat("01", 32) {
		t.Errorf("libpq5 component: %+v", pq)
	}
	if (*pq.Pedigree.Ancestors)[0].Name != "postgresql-17" {
		t.Errorf("source: %+v", pq.Pedigree)
	}
	again, _ := Write(CycloneDX, inventory(t), subj, tool, created)
	if !bytes.Equal(out, again) {
		t.Error("CycloneDX output differs between two runs on the same input")
	}
}

// TestReadImage reads the database through layers: a later layer replaces
// the status file and deletes a copyright file with a whiteout.
func TestReadImage(t *testing.T) {
	l1 := layerOf(t, map[string]string{
		"var/lib/dpkg/status":               "Package: old\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n",
		"etc/os-release":                    "ID=debian\nVERSION_ID=12\n",
		"usr/share/doc/libpq5/copyright":    dep5,
		"usr/share/doc/libpq5/changelog.gz": "not kept",
	})
	l2 := layerOf(t, map[string]string{
		"var/lib/dpkg/status":                status,
		"usr/share/doc/libpq5/.wh.copyright": "",
	})
	img, err := mutate.AppendLayers(empty.Image, l1, l2)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := ReadImage(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Packages) != 3 || inv.DistroVersion != "12" {
		t.Fatalf("packages %d distro %s", len(inv.Packages), inv.DistroVersion)
	}
	if inv.Packages[1].License != "" {
		t.Errorf("whited-out copyright still read: %q", inv.Packages[1].License)
	}
}

func layerOf(t *testing.T, files map[string]string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(data))
	}
	tw.Close()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// A layer whose compressed stream fails its digest check at the end (as
// go-containerregistry's verifying reader does, after the tar stream
// already ended) is an error, not an SBOM of unverified bytes.
func TestReadImageLayerDigestChecked(t *testing.T) {
	l := layerOf(t, map[string]string{"var/lib/dpkg/status": status, "etc/os-release": "ID=debian\nVERSION_ID=12\n"})
	img, err := mutate.AppendLayers(empty.Image, badTailLayer{l})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadImage(context.Background(), img); !errors.Is(err, errBadTail) {
		t.Errorf("err = %v, want the digest error at the end of the compressed stream", err)
	}
}

var errBadTail = errors.New("digest mismatch at the end of the stream")

// badTailLayer's compressed stream gives l's bytes, then errBadTail where
// it would end.
type badTailLayer struct{ v1.Layer }

func (b badTailLayer) Compressed() (io.ReadCloser, error) {
	rc, err := b.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	return io.NopCloser(io.MultiReader(bytes.NewReader(data), errReader{errBadTail})), nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
