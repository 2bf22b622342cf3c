package variants

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Version is a PostgreSQL version as a catalog entry or as requested:
// a major alone (take the newest the repositories offer), a pinned minor
// (17.12) or a preview (19~beta3, always pinned).
type Version struct {
	Major int
	// Pin is the upstream version the server package must have, such as
	// "17.12" or "19~beta3"; empty means the newest available.
	Pin string
}

var (
	stableRE  = regexp.MustCompile(`^([0-9]{1,3})(?:\.([0-9]{1,3}))?$`)
	previewRE = regexp.MustCompile(`^([0-9]{1,3})~?((?:alpha|beta|rc)[0-9]{0,3})$`)
)

// ParseVersion parses "17", "17.12", "19~beta3" or the tag form "19beta3".
func ParseVersion(s string) (Version, error) {
	if m := stableRE.FindStringSubmatch(s); m != nil {
		major, _ := strconv.Atoi(m[1])
		if major == 0 {
			return Version{}, fmt.Errorf("%w %q: major must be positive", ErrBadVersion, s)
		}
		v := Version{Major: major}
		if m[2] != "" {
			v.Pin = s
		}
		return v, nil
	}
	if m := previewRE.FindStringSubmatch(s); m != nil {
		major, _ := strconv.Atoi(m[1])
		if major == 0 {
			return Version{}, fmt.Errorf("%w %q: major must be positive", ErrBadVersion, s)
		}
		return Version{Major: major, Pin: m[1] + "~" + m[2]}, nil
	}
	return Version{}, fmt.Errorf("%w %q (want MAJOR, MAJOR.MINOR or MAJOR~betaN)", ErrBadVersion, s)
}

// Preview reports whether v is an alpha, beta or release candidate.
func (v Version) Preview() bool { return strings.Contains(v.Pin, "~") }

// String is the version as written in the catalog: "17", "17.12", "19~beta3".
func (v Version) String() string {
	if v.Pin != "" {
		return v.Pin
	}
	return strconv.Itoa(v.Major)
}

// NamePart is the version as it appears in target names and in the first
// tag: the major for a stable version, the preview without "~" (upstream's
// cleanVersion then split on ".").
func (v Version) NamePart() string {
	if v.Preview() {
		return CleanVersion(v.Pin)
	}
	return strconv.Itoa(v.Major)
}

// MajorString is the major as used in package names and paths.
func (v Version) MajorString() string { return strconv.Itoa(v.Major) }

// CleanVersion removes "~" the way upstream's tags do: 19~beta3 -> 19beta3.
func CleanVersion(v string) string { return strings.ReplaceAll(v, "~", "") }

// UpstreamVersion strips a Debian epoch and revision: 17.12-1.pgdg130+1 ->
// 17.12, 17.12-0+deb13u1 -> 17.12, 19~beta3-1.pgdg130+1 -> 19~beta3. A
// string without revision is returned without its epoch only.
func UpstreamVersion(debVersion string) string {
	v := debVersion
	if i := strings.IndexByte(v, ':'); i >= 0 {
		v = v[i+1:]
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		v = v[:i]
	}
	return v
}

// Pin restricts a package to versions whose upstream part is Version. It
// is stricter than upstream's apt glob "postgresql-17=17.1*", which would
// also accept 17.10 to 17.19; Glob gives that form for display.
type Pin struct {
	Package string
	Version string
}

// Matches reports whether a Debian version satisfies the pin.
func (p Pin) Matches(debVersion string) bool { return UpstreamVersion(debVersion) == p.Version }

// Glob is the apt-get form of the pin, "postgresql-17=17.12*".
func (p Pin) Glob() string { return p.Package + "=" + p.Version + "*" }
