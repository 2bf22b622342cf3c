package sbom

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pgassemble/pgassemble/internal/layerio"
	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/rootfs"
)

// ErrNoDpkgDatabase is returned when the filesystem has no dpkg status file:
// the image is not a Debian image, or its package database was removed.
var ErrNoDpkgDatabase = errors.New("no dpkg database (var/lib/dpkg/status)")

// StatusPath is where dpkg keeps its database of installed packages.
const StatusPath = "var/lib/dpkg/status"

// Inventory is what an image says about itself: its distribution and the
// packages its dpkg database lists as present.
type Inventory struct {
	// DistroID and DistroVersion come from os-release ("debian", "13").
	DistroID, DistroVersion string
	// Packages in stable order: name, architecture, version.
	Packages []Package
	// LicenseTexts maps each LicenseRef-… identifier used by a package to the
	// text of its stand-alone License paragraph (or the name Debian used).
	LicenseTexts map[string]string
}

// Package is one installed binary package.
type Package struct {
	Name, Version, Arch   string
	Source, SourceVersion string // source package; SourceVersion = Version when the status does not say
	Maintainer, Homepage  string
	Summary               string // first line of Description
	InstalledSizeKiB      int64
	// License is an SPDX license expression built from the machine-readable
	// copyright file; empty when the package has none (or none is readable).
	License string
	// Origin is where pgassemble fetched the .deb; nil for packages of the
	// base image (their .deb is not known).
	Origin *Origin
}

// Origin is the archive file a package was installed from.
type Origin struct {
	URL    string // full URL of the .deb
	SHA256 string // hex
	Size   int64
}

// Key identifies a package in an image: name and architecture (dpkg allows one
// version of each).
type Key struct{ Name, Arch string }

// keep retains the files ReadImage reads: the dpkg database, os-release and
// the copyright files.
func keep(name string, size int64) bool {
	switch {
	case name == StatusPath, name == "etc/os-release", name == "usr/lib/os-release":
		return true
	case strings.HasPrefix(name, "usr/share/doc/") && strings.HasSuffix(name, "/copyright"):
		return size <= 4<<20
	}
	return false
}

// ReadImage reads the inventory of an image from its own layers: it applies
// every layer (whiteouts included) and reads the resulting dpkg database,
// os-release and copyright files. Only those files are held in memory.
func ReadImage(ctx context.Context, img v1.Image) (*Inventory, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("sbom: layers: %w", err)
	}
	t := rootfs.New(keep)
	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rc, err := layerio.Uncompressed(l)
		if err != nil {
			return nil, fmt.Errorf("sbom: layer %d: %w", i, err)
		}
		err = t.Apply(rc)
		// Close reads the compressed stream to its end, where the
		// layer's digest is checked: its error counts.
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("sbom: layer %d: %w", i, err)
		}
	}
	return Read(t)
}

// Read reads the inventory from an image filesystem.
func Read(fsys fs.FS) (*Inventory, error) {
	status, err := fs.ReadFile(fsys, StatusPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoDpkgDatabase
	}
	if err != nil {
		return nil, fmt.Errorf("sbom: %s: %w", StatusPath, err)
	}
	pkgs, err := apt.ParseStatus(bytes.NewReader(status))
	if err != nil {
		return nil, fmt.Errorf("sbom: %s: %w", StatusPath, err)
	}
	inv := &Inventory{LicenseTexts: map[string]string{}}
	inv.DistroID, inv.DistroVersion = osRelease(fsys)
	for _, p := range pkgs {
		src, srcVer := p.Source, p.SourceVersion
		if src == "" {
			src = p.Name
		}
		if srcVer == "" {
			srcVer = p.Version
		}
		desc := p.Paragraph.Get("Description")
		if i := strings.IndexByte(desc, '\n'); i >= 0 {
			desc = desc[:i]
		}
		pkg := Package{
			Name: p.Name, Version: p.Version, Arch: p.Architecture,
			Source: src, SourceVersion: srcVer,
			Maintainer: p.Paragraph.Get("Maintainer"), Homepage: p.Paragraph.Get("Homepage"),
			Summary: strings.TrimSpace(desc), InstalledSizeKiB: p.InstalledSize,
		}
		if data, err := fs.ReadFile(fsys, "usr/share/doc/"+p.Name+"/copyright"); err == nil {
			pkg.License = licenseOf(data, inv.LicenseTexts)
		}
		inv.Packages = append(inv.Packages, pkg)
	}
	sort.Slice(inv.Packages, func(i, j int) bool {
		a, b := inv.Packages[i], inv.Packages[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Arch != b.Arch {
			return a.Arch < b.Arch
		}
		return a.Version < b.Version
	})
	return inv, nil
}

// SetOrigins records where packages came from; packages not in the map keep
// a nil Origin. A package matches only with the same version.
func (inv *Inventory) SetOrigins(origins map[Key]OriginOf) {
	for i := range inv.Packages {
		p := &inv.Packages[i]
		if o, ok := origins[Key{p.Name, p.Arch}]; ok && o.Version == p.Version {
			p.Origin = &Origin{URL: o.URL, SHA256: o.SHA256, Size: o.Size}
		}
	}
}

// OriginOf is an Origin for one version of a package.
type OriginOf struct {
	Version string
	Origin
}

// osRelease reads ID and VERSION_ID from etc/os-release (or its usual
// target, usr/lib/os-release).
func osRelease(fsys fs.FS) (id, version string) {
	data, err := fs.ReadFile(fsys, "etc/os-release")
	if err != nil {
		if data, err = fs.ReadFile(fsys, "usr/lib/os-release"); err != nil {
			return "", ""
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		switch k {
		case "ID":
			id = v
		case "VERSION_ID":
			version = v
		}
	}
	return id, version
}

// Purl is the package URL of a Debian binary package:
// pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=debian-NN.
func (inv *Inventory) Purl(p Package) string {
	return inv.purl(p.Name, p.Version, p.Arch)
}

// SourcePurl is the package URL of the package's source package
// (arch=source, as the purl specification's Debian examples use).
func (inv *Inventory) SourcePurl(p Package) string {
	return inv.purl(p.Source, p.SourceVersion, "source")
}

func (inv *Inventory) purl(name, version, arch string) string {
	ns := inv.DistroID
	if ns == "" {
		ns = "debian"
	}
	s := "pkg:deb/" + ns + "/" + purlEscape(name) + "@" + purlEscape(version) + "?arch=" + purlEscape(arch)
	if inv.DistroVersion != "" {
		s += "&distro=" + ns + "-" + purlEscape(inv.DistroVersion)
	}
	return s
}

// purlEscape percent-encodes what the purl specification does not allow
// unencoded in a name, version or qualifier value (Debian versions may hold
// ':' and '+', which are encoded; '~' and '.' are kept).
func purlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_', c == '~':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
