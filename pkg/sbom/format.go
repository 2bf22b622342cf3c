package sbom

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"
)

// Format is an SBOM document format.
type Format string

// The formats Write produces, with the media types OCI artifacts carry them
// under (the IANA ones, as referrers and cosign's attestation types use).
const (
	SPDX      Format = "spdx"
	CycloneDX Format = "cyclonedx"

	MediaTypeSPDX      = "application/spdx+json"
	MediaTypeCycloneDX = "application/vnd.cyclonedx+json"
)

// ParseFormat accepts "spdx" and "cyclonedx" (the --sbom-format values).
func ParseFormat(s string) (Format, error) {
	switch Format(strings.ToLower(s)) {
	case SPDX, "spdx-json", "spdxjson":
		return SPDX, nil
	case CycloneDX, "cyclonedx-json", "cdx":
		return CycloneDX, nil
	}
	return "", fmt.Errorf("sbom format %q: want spdx or cyclonedx", s)
}

// MediaType is the format's media type.
func (f Format) MediaType() string {
	if f == CycloneDX {
		return MediaTypeCycloneDX
	}
	return MediaTypeSPDX
}

// Subject is the image an SBOM describes.
type Subject struct {
	// Name is the image's repository name without registry ("postgresql").
	Name string
	// Digest is the platform manifest's digest ("sha256:…").
	Digest string
	// Platform, e.g. "linux/amd64".
	Platform string
	// Target is the pgassemble target ("17-standard-trixie"); may be empty.
	Target string
}

// Tool names the generator.
type Tool struct{ Name, Version string }

// Write renders inv as an SBOM of the given format. The output depends on
// its arguments only: the creation time is created (the build's
// SOURCE_DATE_EPOCH time), and the document identifiers are derived from
// the content, so the same image gives the same bytes.
func Write(f Format, inv *Inventory, subj Subject, tool Tool, created time.Time) ([]byte, error) {
	switch f {
	case SPDX:
		return writeSPDX(inv, subj, tool, created)
	case CycloneDX:
		return writeCycloneDX(inv, subj, tool, created)
	}
	return nil, fmt.Errorf("sbom: unknown format %q", f)
}

// imagePurl is the purl of the image itself: pkg:oci/NAME@DIGEST?arch=….
func imagePurl(subj Subject) string {
	p := "pkg:oci/" + purlEscape(subj.Name) + "@" + purlEscape(subj.Digest)
	if _, arch, ok := strings.Cut(subj.Platform, "/"); ok {
		p += "?arch=" + purlEscape(arch)
	}
	return p
}

// contentID is a stable hash of what the document says, for its namespace
// and serial number.
func contentID(inv *Inventory, subj Subject) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00", subj.Name, subj.Digest, subj.Platform, inv.DistroID, inv.DistroVersion)
	for _, p := range inv.Packages {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00", p.Name, p.Version, p.Arch, p.License)
	}
	return hex.EncodeToString(h.Sum(nil))
}

var spdxIDChars = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

func spdxID(kind string, parts ...string) common.ElementID {
	return common.ElementID(kind + "-" + spdxIDChars.ReplaceAllString(strings.Join(parts, "-"), "-"))
}

func writeSPDX(inv *Inventory, subj Subject, tool Tool, created time.Time) ([]byte, error) {
	cid := contentID(inv, subj)
	docName := subj.Name
	if subj.Target != "" {
		docName += ":" + subj.Target
	}
	if subj.Platform != "" {
		docName += " " + subj.Platform
	}
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      docName,
		DocumentNamespace: "https://spdx.org/spdxdocs/" + url.PathEscape(tool.Name) + "/" + url.PathEscape(subj.Name) + "-" + cid,
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: tool.Name + "-" + tool.Version}},
			Created:  created.UTC().Format(time.RFC3339),
		},
	}
	imageID := spdxID("SPDXRef-Image", subj.Name)
	image := &spdx.Package{
		PackageName:             subj.Name,
		PackageSPDXIdentifier:   imageID,
		PackageVersion:          subj.Digest,
		PackageDownloadLocation: "NOASSERTION",
		PrimaryPackagePurpose:   "CONTAINER",
		PackageLicenseConcluded: "NOASSERTION",
		PackageLicenseDeclared:  "NOASSERTION",
		PackageCopyrightText:    "NOASSERTION",
		PackageExternalReferences: []*spdx.PackageExternalReference{
			{Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL, Locator: imagePurl(subj)},
		},
	}
	if d, ok := strings.CutPrefix(subj.Digest, "sha256:"); ok {
		image.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: d}}
	}
	doc.Packages = append(doc.Packages, image)
	doc.Relationships = append(doc.Relationships, &spdx.Relationship{
		RefA: common.MakeDocElementID("", "DOCUMENT"), RefB: common.MakeDocElementID("", string(imageID)), Relationship: common.TypeRelationshipDescribe,
	})
	sources := map[common.ElementID]bool{}
	for _, p := range inv.Packages {
		id := spdxID("SPDXRef-Package-deb", p.Name, p.Arch, p.Version)
		license := p.License
		if license == "" {
			license = "NOASSERTION"
		}
		sp := &spdx.Package{
			PackageName:             p.Name,
			PackageSPDXIdentifier:   id,
			PackageVersion:          p.Version,
			PackageDownloadLocation: "NOASSERTION",
			PrimaryPackagePurpose:   "LIBRARY",
			PackageLicenseConcluded: "NOASSERTION",
			PackageLicenseDeclared:  license,
			PackageCopyrightText:    "NOASSERTION",
			PackageHomePage:         p.Homepage,
			PackageSummary:          p.Summary,
			PackageSourceInfo:       "built from source package " + p.Source + " " + p.SourceVersion,
			PackageExternalReferences: []*spdx.PackageExternalReference{
				{Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL, Locator: inv.Purl(p)},
			},
		}
		if p.Maintainer != "" {
			sp.PackageSupplier = &common.Supplier{SupplierType: "Person", Supplier: p.Maintainer}
		}
		if p.Origin != nil {
			sp.PackageDownloadLocation = p.Origin.URL
			sp.PackageFileName = path.Base(p.Origin.URL)
			sp.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: p.Origin.SHA256}}
		}
		doc.Packages = append(doc.Packages, sp)
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", string(imageID)), RefB: common.MakeDocElementID("", string(id)), Relationship: common.TypeRelationshipContains,
		})
		srcID := spdxID("SPDXRef-Source-deb", p.Source, p.SourceVersion)
		if !sources[srcID] {
			sources[srcID] = true
			doc.Packages = append(doc.Packages, &spdx.Package{
				PackageName:             p.Source,
				PackageSPDXIdentifier:   srcID,
				PackageVersion:          p.SourceVersion,
				PackageDownloadLocation: "NOASSERTION",
				PrimaryPackagePurpose:   "SOURCE",
				PackageLicenseConcluded: "NOASSERTION",
				PackageLicenseDeclared:  "NOASSERTION",
				PackageCopyrightText:    "NOASSERTION",
				PackageExternalReferences: []*spdx.PackageExternalReference{
					{Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL, Locator: inv.SourcePurl(p)},
				},
			})
		}
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", string(id)), RefB: common.MakeDocElementID("", string(srcID)), Relationship: common.TypeRelationshipGeneratedFrom,
		})
	}
	refs := make([]string, 0, len(inv.LicenseTexts))
	for ref := range inv.LicenseTexts {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	for _, ref := range refs {
		if !licenseUsed(inv, ref) {
			continue
		}
		doc.OtherLicenses = append(doc.OtherLicenses, &spdx.OtherLicense{
			LicenseIdentifier: ref, ExtractedText: inv.LicenseTexts[ref], LicenseName: strings.TrimPrefix(ref, "LicenseRef-"),
		})
	}
	var buf bytes.Buffer
	if err := spdxjson.Write(doc, &buf, spdxjson.Indent(" "), spdxjson.EscapeHTML(false)); err != nil {
		return nil, fmt.Errorf("sbom: write SPDX: %w", err)
	}
	return buf.Bytes(), nil
}

func licenseUsed(inv *Inventory, ref string) bool {
	for _, p := range inv.Packages {
		for _, tok := range strings.Fields(strings.NewReplacer("(", " ", ")", " ").Replace(p.License)) {
			if tok == ref {
				return true
			}
		}
	}
	return false
}

// uuidV5 is an RFC 4122 name-based (SHA-1) UUID, for the CycloneDX serial
// number, which must be a UUID and should be stable for the same content.
func uuidV5(name string) string {
	// The RFC's URL namespace, 6ba7b811-9dad-11d1-80b4-00c04fd430c8.
	ns := []byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	h := sha1.Sum(append(ns, name...))
	u := h[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	x := hex.EncodeToString(u)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

func writeCycloneDX(inv *Inventory, subj Subject, tool Tool, created time.Time) ([]byte, error) {
	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:" + uuidV5("pgassemble-sbom:"+contentID(inv, subj))
	imageRef := imagePurl(subj)
	bom.Metadata = &cdx.Metadata{
		Timestamp: created.UTC().Format(time.RFC3339),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{
			{Type: cdx.ComponentTypeApplication, Name: tool.Name, Version: tool.Version},
		}},
		Component: &cdx.Component{
			BOMRef: imageRef, Type: cdx.ComponentTypeContainer, Name: subj.Name, Version: subj.Digest, PackageURL: imageRef,
		},
	}
	comps := make([]cdx.Component, 0, len(inv.Packages))
	deps := make([]string, 0, len(inv.Packages))
	for _, p := range inv.Packages {
		purl := inv.Purl(p)
		c := cdx.Component{
			BOMRef: purl, Type: cdx.ComponentTypeLibrary, Name: p.Name, Version: p.Version,
			Description: p.Summary, PackageURL: purl,
		}
		if p.Maintainer != "" {
			c.Supplier = &cdx.OrganizationalEntity{Name: p.Maintainer}
		}
		if p.License != "" {
			c.Licenses = &cdx.Licenses{{Expression: p.License}}
		}
		if p.Origin != nil {
			c.Hashes = &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: p.Origin.SHA256}}
			c.ExternalReferences = &[]cdx.ExternalReference{{Type: cdx.ERTypeDistribution, URL: p.Origin.URL}}
		}
		props := []cdx.Property{
			{Name: "debian:arch", Value: p.Arch},
			{Name: "debian:source", Value: p.Source},
			{Name: "debian:source-version", Value: p.SourceVersion},
		}
		c.Properties = &props
		c.Pedigree = &cdx.Pedigree{Ancestors: &[]cdx.Component{{
			Type: cdx.ComponentTypeLibrary, Name: p.Source, Version: p.SourceVersion, PackageURL: inv.SourcePurl(p),
		}}}
		comps = append(comps, c)
		deps = append(deps, purl)
	}
	bom.Components = &comps
	bom.Dependencies = &[]cdx.Dependency{{Ref: imageRef, Dependencies: &deps}}
	var buf bytes.Buffer
	enc := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON).SetPretty(true).SetEscapeHTML(false)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		return nil, fmt.Errorf("sbom: write CycloneDX: %w", err)
	}
	return buf.Bytes(), nil
}
