package apt

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Package is one binary package as described by a Packages index stanza or a
// dpkg status stanza. Relation fields are parsed; Paragraph keeps the stanza
// as read, in its field order, for writers (dpkg status) that must reproduce
// it — except for packages read by ParsePackages (see there), which is how
// indexes are read: nothing reads an index stanza beyond these fields (the
// dpkg status of an installed package comes from its .deb's control file).
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

// SameFields reports whether p and q hold the same values in every field
// the resolver and the downloads read: all of them but Paragraph and
// Repository. An index lists an "Architecture: all" package in each
// architecture's Packages; pkg/apt/archive keeps one of two such packages
// when SameFields holds, so the universes of two architectures share them.
func (p *Package) SameFields(q *Package) bool {
	return p.Name == q.Name && p.Version == q.Version && p.Architecture == q.Architecture &&
		p.MultiArch == q.MultiArch && p.Essential == q.Essential && p.Protected == q.Protected &&
		p.Priority == q.Priority && p.Section == q.Section && p.Source == q.Source &&
		p.SourceVersion == q.SourceVersion && p.InstalledSize == q.InstalledSize &&
		p.Filename == q.Filename && p.Size == q.Size && p.SHA256 == q.SHA256 && p.Status == q.Status &&
		p.suggests == q.suggests && p.enhances == q.enhances &&
		sameRelations(p.PreDepends, q.PreDepends) && sameRelations(p.Depends, q.Depends) &&
		sameRelations(p.Recommends, q.Recommends) && sameRelations(p.Provides, q.Provides) &&
		sameRelations(p.Conflicts, q.Conflicts) && sameRelations(p.Breaks, q.Breaks) &&
		sameRelations(p.Replaces, q.Replaces)
}

func sameRelations(a, b Relations) bool {
	return slices.EqualFunc(a, b, func(x, y Alternatives) bool {
		return slices.EqualFunc(x, y, func(r, s Relation) bool {
			return r.Name == s.Name && r.ArchQ == s.ArchQ && r.Op == s.Op && r.Version == s.Version && slices.Equal(r.Archs, s.Archs)
		})
	})
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
	return packageFrom(p, nil)
}

// packageFrom builds a Package from p. With an interner, the Package keeps
// no part of p: every string is copied (the small, repeated ones shared
// through in) and Paragraph is nil, so the stanza's text (descriptions are
// most of an index) can be freed. Without one, strings are substrings of
// p's and Paragraph is p.
func packageFrom(p Paragraph, in *interner) (*Package, error) {
	pkg := &Package{}
	if in == nil {
		pkg.Paragraph = p
	}
	str, uniq := in.intern, in.clone
	for _, f := range p {
		var err error
		var rel *Relations
		switch fieldID(f.Name) {
		case fPackage:
			pkg.Name = str(f.Value)
		case fVersion:
			pkg.Version = str(f.Value)
		case fArchitecture:
			pkg.Architecture = str(f.Value)
		case fMultiArch:
			pkg.MultiArch = str(f.Value)
		case fEssential:
			pkg.Essential = f.Value == "yes"
		case fPriority:
			pkg.Priority = str(f.Value)
		case fSection:
			pkg.Section = str(f.Value)
		case fSource:
			pkg.Source = str(f.Value)
			if i := strings.IndexByte(f.Value, '('); i >= 0 {
				pkg.Source = str(strings.TrimSpace(f.Value[:i]))
				pkg.SourceVersion = str(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(f.Value[i+1:]), ")")))
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
			pkg.Filename = uniq(f.Value)
		case fSize:
			pkg.Size, err = strconv.ParseInt(f.Value, 10, 64)
		case fSHA256:
			pkg.SHA256 = uniq(f.Value)
		case fStatus:
			pkg.Status = str(f.Value)
		case fProtected, fImportant:
			pkg.Protected = f.Value == "yes"
		case fSuggests:
			pkg.suggests = uniq(f.Value)
		case fEnhances:
			pkg.enhances = uniq(f.Value)
		}
		if rel != nil {
			if in != nil {
				*rel, err = in.parseRelations(f.Value)
			} else {
				*rel, err = ParseRelations(f.Value)
			}
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
//
// The packages are compact, because a build holds every package of every
// index for each architecture: they keep no Paragraph (a Packages stanza
// is about three times the size of what is parsed from it, descriptions
// first) and share no memory with the index text; the strings that repeat
// (names, versions, sections, architectures, relation names) and the
// relation or-groups are shared between the packages of one call.
func ParsePackages(r io.Reader, fn func(*Package) error) error {
	return ParsePackagesWith(r, nil, fn)
}

// Pool shares the strings and relation groups of the packages read by
// several ParsePackagesWith calls: the indexes of two architectures, or of
// a suite and its updates, name mostly the same packages, versions and
// dependencies. It is safe for concurrent use and holds what it shares
// until dropped.
type Pool struct{ in *interner }

// NewPool returns an empty Pool.
func NewPool() *Pool { return &Pool{in: newInterner()} }

// ParsePackagesWith is ParsePackages sharing through pool (nil: a pool of
// its own for this call).
func ParsePackagesWith(r io.Reader, pool *Pool, fn func(*Package) error) error {
	if pool == nil {
		pool = NewPool()
	}
	in := pool.in
	return parseParagraphs(r, false, func(p Paragraph) error {
		pkg, err := packageFrom(p, in)
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

// interner copies strings out of the text they were read from, so that the
// text can be freed, and shares the copies of equal strings and of equal
// relation groups (an index repeats "libc6 (>= 2.34)" thousands of times:
// shared, the parsed relations of trixie main take a fraction of the
// memory, and a repeated group is parsed once). Relations are read-only,
// so sharing them is safe. It lives as long as its Pool. A nil *interner
// copies nothing.
type interner struct {
	mu     sync.Mutex
	m      map[string]string
	groups map[string]Alternatives
}

func newInterner() *interner {
	return &interner{m: make(map[string]string, 1<<14), groups: make(map[string]Alternatives, 1<<14)}
}

// parseRelations is ParseRelations(s) with every or-group shared with the
// equal groups already read. A group's text never holds a comma (not in
// names, versions, architecture or profile lists), so s is cut at commas;
// anything unusual (an error) is left to ParseRelations, whose result and
// error are the reference.
func (in *interner) parseRelations(s string) (Relations, error) {
	if isBlank(s) {
		return nil, nil
	}
	out := make(Relations, 0, 1+strings.Count(s, ","))
	for rest := s; ; {
		g, tail, more := strings.Cut(rest, ",")
		g = strings.Trim(g, " \t\n\r")
		if g != "" {
			in.mu.Lock()
			alt, ok := in.groups[g]
			in.mu.Unlock()
			if !ok {
				var ok bool
				if alt, ok = parseGroup(g); !ok {
					return in.fallbackRelations(s)
				}
				in.relations(Relations{alt})
				in.mu.Lock()
				if have, ok := in.groups[g]; ok {
					alt = have // another parse added it meanwhile
				} else {
					in.groups[strings.Clone(g)] = alt
				}
				in.mu.Unlock()
			}
			out = append(out, alt)
		}
		if !more {
			break
		}
		rest = tail
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// fallbackRelations parses s without sharing (its strings copied).
func (in *interner) fallbackRelations(s string) (Relations, error) {
	rs, err := ParseRelations(s)
	if err != nil {
		return nil, err
	}
	in.relations(rs)
	return rs, nil
}

// intern returns s, copied once per distinct value.
func (in *interner) intern(s string) string {
	if in == nil || s == "" {
		return s
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if c, ok := in.m[s]; ok {
		return c
	}
	c := strings.Clone(s)
	in.m[c] = c
	return c
}

// clone returns a copy of s, for strings that do not repeat (Filename, SHA256).
func (in *interner) clone(s string) string {
	if in == nil {
		return s
	}
	return strings.Clone(s)
}

// relations interns the strings of rs in place.
func (in *interner) relations(rs Relations) {
	for _, alt := range rs {
		for i := range alt {
			r := &alt[i]
			r.Name = in.intern(r.Name)
			r.ArchQ = in.intern(r.ArchQ)
			r.Version = in.intern(r.Version)
			for j := range r.Archs {
				r.Archs[j] = in.intern(r.Archs[j])
			}
		}
	}
}
