package apt

// Package is one binary package as described by a Packages index stanza or a
// dpkg status stanza. Relation fields are parsed; Paragraph keeps the stanza
// as read, in its field order, for writers (dpkg status) that must reproduce it.
type Package struct {
	Name          string
	Version       string
	Architecture  string // "amd64", "arm64", "all"
	MultiArch     string // "", "same", "foreign", "allowed"
	Essential     bool
	Priority      string
	Section       string
	Source        string // source package name, without version
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
	// Priority as apt-cache policy would show it (500 by default).
	Priority int
}

// ID returns "name=version:arch", a stable identity for maps and logs.
func (p *Package) ID() string { return p.Name + "=" + p.Version + ":" + p.Architecture }
