package apt

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Package is one binary package as described by a Packages index stanza or a
// dpkg status stanza. Relation fields are parsed; Paragraph keeps the stanza
// as read, in its field order, for writers (dpkg status) that must reproduce it.
type Package struct {
	Name          string
	Version       string
	Architecture  string // "amd64", "arm64", "all"
	MultiArch     string // "", "same", "foreign", "allowed"
	Essential     bool
	Protected     bool // "Protected: yes" (or the older "Important: yes")
	Priority      string
	Section       string
	Source        string // source package name, without version
	SourceVersion string // version in "Source: name (version)", when it differs
	InstalledSize int64  // KiB

	PreDepends Relations
	Depends    Relations
	Recommends Relations
	Provides   Relations
	Conflicts  Relations
	Breaks     Relations
	Replaces   Relations

	// Index-only fields.
	Filename string // path relative to the repository URI
	Size     int64
	SHA256   string

	// Status-only field, e.g. "install ok installed".
	Status string

	// Repository the package was read from; nil for installed packages.
	Repository *Repository

	Paragraph Paragraph

	// Raw Suggests and Enhances: not followed, but their names count for
	// the apt-like cache order (see NewUniverse).
	suggests, enhances string
}

// Repository identifies where a package index came from. It is filled in by
// pkg/apt/archive; the resolver uses it only to break ties and report.
type Repository struct {
	URI        string   // base URI, e.g. "http://mirror/debian"
	Suite      string   // e.g. "trixie", "trixie-pgdg"
	Components []string // e.g. ["main", "17"]
	Keyrings   []string // paths of keyring files trusted for this repository
	// Origin/Label/Codename as read from the verified Release file.
	Origin, Label, Codename string
	// ReleaseSHA256 is the SHA256 of the InRelease (or Release) file the
	// index was verified through, for provenance and lock files.
	ReleaseSHA256 string
	// Priority as apt-cache policy would show it (500 by default).
	Priority int
}

// ID returns "name=version:arch", a stable identity for maps and logs.
func (p *Package) ID() string { return p.Name + "=" + p.Version + ":" + p.Architecture }

// String returns "name version arch".
func (p *Package) String() string { return p.Name + " " + p.Version + " " + p.Architecture }

// StatusWord returns the third word of the dpkg Status field ("installed",
// "unpacked", "half-configured", "config-files", ...), or "" without one.
func (p *Package) StatusWord() string {
	f := strings.Fields(p.Status)
	if len(f) != 3 {
		return ""
	}
	return f[2]
}

// field identifiers for PackageFromParagraph
const (
	fUnknown = iota
	fPackage
	fVersion
	fArchitecture
	fMultiArch
	fEssential
	fPriority
	fSection
	fSource
	fInstalledSize
	fPreDepends
	fDepends
	fRecommends
	fProvides
	fConflicts
	fBreaks
	fReplaces
	fFilename
	fSize
	fSHA256
	fStatus
	fProtected
	fImportant
	fSuggests
	fEnhances
)

var knownFields = [...]string{
	fPackage: "Package", fVersion: "Version", fArchitecture: "Architecture",
	fMultiArch: "Multi-Arch", fEssential: "Essential", fPriority: "Priority",
	fSection: "Section", fSource: "Source", fInstalledSize: "Installed-Size",
	fPreDepends: "Pre-Depends", fDepends: "Depends", fRecommends: "Recommends",
	fProvides: "Provides", fConflicts: "Conflicts", fBreaks: "Breaks",
	fReplaces: "Replaces", fFilename: "Filename", fSize: "Size",
	fSHA256: "SHA256", fStatus: "Status", fProtected: "Protected", fImportant: "Important",
	fSuggests: "Suggests", fEnhances: "Enhances",
}

// fieldID maps a field name to its identifier. The exact spelling is
// matched first because it is what every index uses; other spellings fall
// back to a case-insensitive comparison.
func fieldID(name string) int {
	switch name {
	case "Package":
		return fPackage
	case "Version":
		return fVersion
	case "Architecture":
		return fArchitecture
	case "Multi-Arch":
		return fMultiArch
	case "Essential":
		return fEssential
	case "Priority":
		return fPriority
	case "Section":
		return fSection
	case "Source":
		return fSource
	case "Installed-Size":
		return fInstalledSize
	case "Pre-Depends":
		return fPreDepends
	case "Depends":
		return fDepends
	case "Recommends":
		return fRecommends
	case "Provides":
		return fProvides
	case "Conflicts":
		return fConflicts
	case "Breaks":
		return fBreaks
	case "Replaces":
		return fReplaces
	case "Filename":
		return fFilename
	case "Size":
		return fSize
	case "SHA256":
		return fSHA256
	case "Status":
		return fStatus
	case "Protected":
		return fProtected
	case "Suggests":
		return fSuggests
	case "Enhances":
		return fEnhances
	case "Description", "Maintainer", "MD5sum", "Homepage", "Tag", "Description-md5", "Built-Using":
		return fUnknown
	}
	for id, k := range knownFields {
		if len(k) == len(name) && strings.EqualFold(k, name) {
			return id
		}
	}
	return fUnknown
}

// PackageFromParagraph builds a Package from a Packages or status stanza.
// Relation fields are parsed (strings share memory with the paragraph). The
// paragraph is kept in Package.Paragraph.
func PackageFromParagraph(p Paragraph) (*Package, error) {
	pkg := &Package{Paragraph: p}
	for _, f := range p {
		var err error
		var rel *Relations
		switch fieldID(f.Name) {
		case fPackage:
			pkg.Name = f.Value
		case fVersion:
			pkg.Version = f.Value
		case fArchitecture:
			pkg.Architecture = f.Value
		case fMultiArch:
			pkg.MultiArch = f.Value
		case fEssential:
			pkg.Essential = f.Value == "yes"
		case fPriority:
			pkg.Priority = f.Value
		case fSection:
			pkg.Section = f.Value
		case fSource:
			pkg.Source = f.Value
			if i := strings.IndexByte(f.Value, '('); i >= 0 {
				pkg.Source = strings.TrimSpace(f.Value[:i])
				pkg.SourceVersion = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(f.Value[i+1:]), ")"))
			}
		case fInstalledSize:
			pkg.InstalledSize, err = strconv.ParseInt(f.Value, 10, 64)
		case fPreDepends:
			rel = &pkg.PreDepends
		case fDepends:
			rel = &pkg.Depends
		case fRecommends:
			rel = &pkg.Recommends
		case fProvides:
			rel = &pkg.Provides
		case fConflicts:
			rel = &pkg.Conflicts
		case fBreaks:
			rel = &pkg.Breaks
		case fReplaces:
			rel = &pkg.Replaces
		case fFilename:
			pkg.Filename = f.Value
		case fSize:
			pkg.Size, err = strconv.ParseInt(f.Value, 10, 64)
		case fSHA256:
			pkg.SHA256 = f.Value
		case fStatus:
			pkg.Status = f.Value
		case fProtected, fImportant:
			pkg.Protected = f.Value == "yes"
		case fSuggests:
			pkg.suggests = f.Value
		case fEnhances:
			pkg.enhances = f.Value
		}
		if rel != nil {
			*rel, err = ParseRelations(f.Value)
		}
		if err != nil {
			return nil, fmt.Errorf("package %s: field %s: %w", Excerpt(pkg.Name), f.Name, err)
		}
	}
	if pkg.Name == "" {
		return nil, fmt.Errorf("paragraph without a Package field")
	}
	if pkg.Source == "" {
		pkg.Source = pkg.Name
	}
	return pkg, nil
}

// ParsePackages reads a Packages index and calls fn for each package.
// Every stanza must name a package, a version and an architecture.
func ParsePackages(r io.Reader, fn func(*Package) error) error {
	return ParseParagraphs(r, func(p Paragraph) error {
		pkg, err := PackageFromParagraph(p)
		if err != nil {
			return err
		}
		if pkg.Version == "" || pkg.Architecture == "" {
			return fmt.Errorf("package %s: missing Version or Architecture", Excerpt(pkg.Name))
		}
		return fn(pkg)
	})
}

// ParseStatus reads a dpkg status file and returns the packages present on
// the system, in file order. Like apt, it keeps every stanza whose status
// word is not "not-installed" or "config-files": "installed" ones, and also
// half-installed, unpacked, half-configured and triggers-* ones (present
// but not fully configured; see Package.StatusWord), because their files
// are on disk and apt counts them as the current version.
func ParseStatus(r io.Reader) ([]*Package, error) {
	var out []*Package
	err := ParseParagraphs(r, func(p Paragraph) error {
		pkg, err := PackageFromParagraph(p)
		if err != nil {
			return err
		}
		switch pkg.StatusWord() {
		case "not-installed", "config-files", "":
			return nil
		}
		out = append(out, pkg)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("parse dpkg status: %w", err)
	}
	return out, nil
}
