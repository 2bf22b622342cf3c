package variants

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Errors callers tell apart. Every error this package returns is about the
// caller's input (flags or the config file), so the CLI maps them all to
// "bad usage".
var (
	ErrUnknownVersion = errors.New("unknown PostgreSQL version")
	ErrBadVersion     = errors.New("malformed PostgreSQL version")
	ErrUnknownType    = errors.New("unknown image type")
	ErrUnknownBase    = errors.New("unknown base")
	ErrBadTargetName  = errors.New("malformed target name")
	ErrBadPlatform    = errors.New("malformed platform")
	ErrBadConfig      = errors.New("invalid configuration")
)

// Constants shared with upstream's bake file.
const (
	DefaultRegistry = "localhost:5000"
	// PostgresUID is the uid CloudNativePG requires for the postgres user.
	PostgresUID = 26
	// DefaultPath is Debian's PATH, used when the base image sets none.
	DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// Package is one package of a stage. Name is a template: "{{MM}}" becomes
// the major. In YAML a plain string is accepted for {name: ...}.
type Package struct {
	Name string `json:"name"`
	// MinMajor and MaxMajor, when not zero, limit the majors that get the
	// package (postgresql-{{MM}}-jit exists from 18 on).
	MinMajor int `json:"minMajor,omitempty"`
	MaxMajor int `json:"maxMajor,omitempty"`
	// Extension packages are left out of previews, as upstream does.
	Extension bool `json:"extension,omitempty"`
}

// UnmarshalJSON accepts "name" or the object form, strictly.
func (p *Package) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*p = Package{Name: s}
		return nil
	}
	type plain Package
	var q plain
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		return fmt.Errorf("package: %w", err)
	}
	*p = Package(q)
	return nil
}

// For reports whether the package belongs in an image of version v.
func (p Package) For(v Version) bool {
	if p.Extension && v.Preview() {
		return false
	}
	if p.MinMajor != 0 && v.Major < p.MinMajor {
		return false
	}
	if p.MaxMajor != 0 && v.Major > p.MaxMajor {
		return false
	}
	return true
}

// Expand substitutes the template for version v.
func (p Package) Expand(v Version) string {
	return strings.ReplaceAll(p.Name, "{{MM}}", v.MajorString())
}

// Type is an image type. Its stages are its parent's stages plus one stage
// of its own packages, so a type's layers are a prefix of its children's.
type Type struct {
	Name       string
	Parent     string
	Packages   []Package
	Env        []string // extra KEY=VALUE for the image config
	Deprecated bool
}

// Base is a Debian base image. Image carries no registry host so that
// go-containerregistry's default applies.
type Base struct {
	Codename string // bookworm, trixie
	Image    string // debian:trixie-slim
	Digest   string // optional sha256:... pin
}

// Reference is the image reference to pull, digest-pinned when Digest is set.
func (b Base) Reference() string {
	if b.Digest != "" {
		return b.Image + "@" + b.Digest
	}
	return b.Image
}

// Repository is an extra apt repository from the config file. Suite may
// contain "{{codename}}".
type Repository struct {
	Name       string   `json:"name"`
	URI        string   `json:"uri"`
	Suite      string   `json:"suite"`
	Components []string `json:"components,omitempty"`
	Keyring    string   `json:"keyring,omitempty"`
}

// Edit is a regular-expression replacement in a file a package installs,
// the declarative form of a sed in upstream's Dockerfile. Regexp uses Go
// syntax; Replacement may use ${1}.
type Edit struct {
	Package     string `json:"package,omitempty"`
	Path        string `json:"path"` // relative to the image root
	Regexp      string `json:"regexp"`
	Replacement string `json:"replacement"`
}

// Apply performs the edit on the file's content.
func (e Edit) Apply(content []byte) ([]byte, error) {
	re, err := regexp.Compile(e.Regexp)
	if err != nil {
		return nil, fmt.Errorf("edit %s: %w", e.Path, err)
	}
	return re.ReplaceAll(content, []byte(e.Replacement)), nil
}

// Replay holds what the layer builder must reproduce of the Dockerfile's
// own commands (not the packages' maintainer scripts).
type Replay struct {
	// FixedUIDs are users whose uid is forced (upstream: usermod -u 26
	// postgres; the group keeps the gid it was given): adduser/useradd
	// allocate these ids when the scripts create the accounts.
	FixedUIDs map[string]int
	// FixedGIDs are groups whose gid is forced.
	FixedGIDs map[string]int
	// Debconf answers questions before the templates' defaults, as a
	// preseed would ("question": "value").
	Debconf map[string]string
	// Edits apply when a maintainer script writes the file (upstream's
	// sed after the install), or at the end to a file of a package.
	Edits []Edit
	// Deviations are script commands deliberately not run: a Go regexp
	// over the command line, and the reason reported by explain.
	Deviations []Deviation
	// Prune are globs (relative to the root) upstream deletes after each
	// install: apt lists, caches and logs.
	Prune []string
}

// Deviation is a command of a maintainer script deliberately not run.
type Deviation struct {
	Match  string `json:"match"`  // Go regexp over the command as run
	Reason string `json:"reason"` // why, for explain and the README
}

// Meta is the fixed part of the labels.
type Meta struct {
	URL      string
	Authors  string
	Licenses string
	// Labels override or add labels after the computed ones.
	Labels map[string]string
}

// Catalog is the whole matrix. Build it with Default and Apply.
type Catalog struct {
	Versions     []Version
	Types        []Type
	Bases        []Base
	Platforms    []string
	Packages     []Package // config-wide extras: a final "extra" stage
	Repositories []Repository
	Meta         Meta
	// Scripts is the policy every target's maintainer scripts run with.
	Scripts Scripts
	// RollingType and RollingBase select the targets that also get the
	// bare <version> and <major> tags (upstream: system on bullseye).
	RollingType, RollingBase string
}

// Scripts is what CloudNativePG (or a --config) decides about the
// maintainer scripts, as data: preset ids, debconf answers, edits of the
// files they generate, and deliberate deviations.
type Scripts struct {
	FixedUIDs  map[string]int    `json:"uids,omitempty"`
	FixedGIDs  map[string]int    `json:"gids,omitempty"`
	Debconf    map[string]string `json:"debconf,omitempty"`
	Edits      []Edit            `json:"edits,omitempty"`
	Deviations []Deviation       `json:"deviations,omitempty"`
}

// DefaultScripts is upstream's Dockerfile as policy: postgres gets uid 26
// (usermod -u 26 postgres), no cluster is created when a server package is
// configured (the sed of createcluster.conf), and no snakeoil key pair is
// generated (a private key shared by every container of the image).
func DefaultScripts() Scripts {
	return Scripts{
		FixedUIDs: map[string]int{"postgres": PostgresUID},
		Edits: []Edit{{
			Package:     "postgresql-common",
			Path:        "etc/postgresql-common/createcluster.conf",
			Regexp:      `(?m)#(create_main_cluster) .*$`,
			Replacement: "${1} = false",
		}},
		Deviations: []Deviation{{
			Match:  `^make-ssl-cert generate-default-snakeoil`,
			Reason: "no image ships a private key shared by every container started from it (ssl-cert's snakeoil pair is generated per host)",
		}},
	}
}

func pkgs(names ...string) []Package {
	out := make([]Package, len(names))
	for i, n := range names {
		out[i] = Package{Name: n}
	}
	return out
}

// Default returns upstream's catalog with Debian bookworm and trixie.
func Default() *Catalog {
	versions := make([]Version, 0, 6)
	for m := 14; m <= 18; m++ {
		versions = append(versions, Version{Major: m})
	}
	versions = append(versions, Version{Major: 19, Pin: "19~beta3"})
	standard := pkgs("locales-all")
	standard = append(standard,
		Package{Name: "postgresql-{{MM}}-jit", MinMajor: 18},
		Package{Name: "postgresql-{{MM}}-pgaudit", Extension: true},
		Package{Name: "postgresql-{{MM}}-pgvector", Extension: true},
		Package{Name: "postgresql-{{MM}}-pg-failover-slots", Extension: true},
	)
	return &Catalog{
		Scripts:  DefaultScripts(),
		Versions: versions,
		Types: []Type{
			{Name: "minimal", Packages: pkgs("postgresql-common", "ca-certificates", "gnupg",
				"libsasl2-modules", "libldap-common", "postgresql-{{MM}}")},
			{Name: "standard", Parent: "minimal", Packages: standard},
			// Upstream installs Barman Cloud with pip (barman[cloud,azure,
			// snappy,google,zstandard,lz4]) and sets this variable for it;
			// the variable is kept so the config matches. From the
			// repositories: barman-cli-cloud (S3 through python3-boto3) and
			// the compression modules; Azure (python3-azure, 0.5 GB) and
			// Google Cloud Storage (not in Debian) are left out, see README.
			{Name: "system", Parent: "standard", Packages: pkgs("barman-cli-cloud", "python3-snappy", "python3-zstandard", "python3-lz4"),
				Env: []string{"PIP_BREAK_SYSTEM_PACKAGES=1"}, Deprecated: true},
		},
		Bases: []Base{
			{Codename: "trixie", Image: "debian:trixie-slim"},
			{Codename: "bookworm", Image: "debian:bookworm-slim"},
		},
		Platforms: []string{"linux/amd64", "linux/arm64"},
		Meta: Meta{
			URL:      "https://github.com/cloudnative-pg/postgres-containers",
			Authors:  "The CloudNativePG Contributors",
			Licenses: "Apache-2.0",
		},
		RollingType: "system",
		RollingBase: "bullseye",
	}
}

func (c *Catalog) typeByName(name string) (Type, bool) {
	for _, t := range c.Types {
		if t.Name == name {
			return t, true
		}
	}
	return Type{}, false
}

func (c *Catalog) baseByName(codename string) (Base, bool) {
	for _, b := range c.Bases {
		if b.Codename == codename {
			return b, true
		}
	}
	return Base{}, false
}

func (c *Catalog) typeNames() string {
	names := make([]string, len(c.Types))
	for i, t := range c.Types {
		names[i] = t.Name
	}
	return strings.Join(names, ", ")
}

func (c *Catalog) baseNames() string {
	names := make([]string, len(c.Bases))
	for i, b := range c.Bases {
		names[i] = b.Codename
	}
	return strings.Join(names, ", ")
}

func (c *Catalog) versionNames() string {
	names := make([]string, len(c.Versions))
	for i, v := range c.Versions {
		names[i] = v.String()
	}
	return strings.Join(names, ", ")
}

// Version resolves a requested version against the catalog: a bare major
// takes the catalog's entry (which may be pinned or a preview); a minor or
// a preview must belong to a major the catalog has.
func (c *Catalog) Version(s string) (Version, error) {
	v, err := ParseVersion(s)
	if err != nil {
		return Version{}, err
	}
	for _, cv := range c.Versions {
		if cv.Major != v.Major {
			continue
		}
		if v.Pin == "" {
			return cv, nil
		}
		return v, nil
	}
	return Version{}, fmt.Errorf("%w %q (valid: %s)", ErrUnknownVersion, s, c.versionNames())
}

// Stages returns the package stages of a type for version v, parents first.
// Each stage is named after the type that adds it; empty stages are left
// out; the config's global packages form a final "extra" stage.
func (c *Catalog) stages(typ Type, v Version) []Stage {
	var chain []Type
	for t, seen := typ, map[string]bool{}; ; {
		if seen[t.Name] {
			break // Apply refuses cycles; this only guards the loop
		}
		seen[t.Name] = true
		chain = append(chain, t)
		if t.Parent == "" {
			break
		}
		p, ok := c.typeByName(t.Parent)
		if !ok {
			break
		}
		t = p
	}
	slices.Reverse(chain)
	var out []Stage
	add := func(name string, ps []Package) {
		var names []string
		for _, p := range ps {
			if p.For(v) {
				names = append(names, p.Expand(v))
			}
		}
		if len(names) > 0 {
			out = append(out, Stage{Name: name, Packages: names})
		}
	}
	for _, t := range chain {
		add(t.Name, t.Packages)
	}
	add("extra", c.Packages)
	return out
}

func (c *Catalog) env(typ Type) []string {
	var env []string
	for t, n := typ, 0; n < len(c.Types)+1; n++ {
		env = append(slices.Clone(t.Env), env...)
		p, ok := c.typeByName(t.Parent)
		if t.Parent == "" || !ok {
			break
		}
		t = p
	}
	return env
}

// Target expands one build: pg is "17", "17.12" or "19~beta3", typ a type
// name, base a codename. Platforms are the catalog's; see WithPlatforms.
func (c *Catalog) Target(pg, typ, base string) (Target, error) {
	v, err := c.Version(pg)
	if err != nil {
		return Target{}, err
	}
	return c.target(v, typ, base)
}

func (c *Catalog) target(v Version, typ, base string) (Target, error) {
	t, ok := c.typeByName(typ)
	if !ok {
		return Target{}, fmt.Errorf("%w %q (valid: %s)", ErrUnknownType, typ, c.typeNames())
	}
	b, ok := c.baseByName(base)
	if !ok {
		return Target{}, fmt.Errorf("%w %q (valid: %s)", ErrUnknownBase, base, c.baseNames())
	}
	tg := Target{
		Name:      "postgresql-" + v.NamePart() + "-" + t.Name + "-" + b.Codename,
		Version:   v,
		Type:      t.Name,
		Base:      b,
		Platforms: slices.Clone(c.Platforms),
		Stages:    c.stages(t, v),
		User:      strconv.Itoa(PostgresUID),
		PathDir:   "/usr/lib/postgresql/" + v.MajorString() + "/bin",
		Env:       c.env(t),
		Replay: Replay{
			FixedUIDs:  cloneMap(c.Scripts.FixedUIDs),
			FixedGIDs:  cloneMap(c.Scripts.FixedGIDs),
			Debconf:    cloneMap(c.Scripts.Debconf),
			Edits:      slices.Clone(c.Scripts.Edits),
			Deviations: slices.Clone(c.Scripts.Deviations),
			Prune:      []string{"var/lib/apt/lists/*", "var/cache/*", "var/log/*"},
		},
		Meta:    c.Meta,
		Rolling: t.Name == c.RollingType && b.Codename == c.RollingBase && !v.Preview(),
	}
	if v.Pin != "" {
		tg.Pins = []Pin{{Package: "postgresql-" + v.MajorString(), Version: v.Pin}}
	}
	for _, r := range c.Repositories {
		r.Suite = strings.ReplaceAll(r.Suite, "{{codename}}", b.Codename)
		r.Components = slices.Clone(r.Components)
		tg.Repositories = append(tg.Repositories, r)
	}
	tg.Meta.Labels = cloneMap(c.Meta.Labels)
	return tg, nil
}

func cloneMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return nil
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

var namePrefix = "postgresql-"

// TargetByName expands a target name such as postgresql-17-minimal-bookworm
// or postgresql-19beta3-standard-trixie. Type names may contain dashes;
// the base is matched as a suffix.
func (c *Catalog) TargetByName(name string) (Target, error) {
	rest, ok := strings.CutPrefix(name, namePrefix)
	if !ok {
		return Target{}, fmt.Errorf("%w %q: want postgresql-<version>-<type>-<base>", ErrBadTargetName, name)
	}
	ver, rest, ok := strings.Cut(rest, "-")
	if !ok {
		return Target{}, fmt.Errorf("%w %q: want postgresql-<version>-<type>-<base>", ErrBadTargetName, name)
	}
	v, err := ParseVersion(ver)
	if err != nil {
		return Target{}, fmt.Errorf("target %q: %w", name, err)
	}
	if v.Pin != "" && !v.Preview() {
		return Target{}, fmt.Errorf("%w %q: names carry the major only", ErrBadTargetName, name)
	}
	for _, b := range c.Bases {
		typ, ok := strings.CutSuffix(rest, "-"+b.Codename)
		if !ok || typ == "" {
			continue
		}
		v, err := c.Version(v.String())
		if err != nil {
			return Target{}, fmt.Errorf("target %q: %w", name, err)
		}
		return c.target(v, typ, b.Codename)
	}
	return Target{}, fmt.Errorf("target %q: %w (valid: %s)", name, ErrUnknownBase, c.baseNames())
}

// Filter selects targets of the matrix; an empty field selects all.
type Filter struct {
	Versions []string // "17", "17.12", "19~beta3"
	Types    []string
	Bases    []string
}

// Targets expands the matrix, ordered by version, type and base as listed
// in the catalog. Unknown filter values are errors.
func (c *Catalog) Targets(f Filter) ([]Target, error) {
	versions := c.Versions
	if len(f.Versions) > 0 {
		versions = nil
		for _, s := range f.Versions {
			v, err := c.Version(s)
			if err != nil {
				return nil, err
			}
			versions = append(versions, v)
		}
	}
	types := c.typeList()
	if len(f.Types) > 0 {
		for _, s := range f.Types {
			if _, ok := c.typeByName(s); !ok {
				return nil, fmt.Errorf("%w %q (valid: %s)", ErrUnknownType, s, c.typeNames())
			}
		}
		types = f.Types
	}
	bases := c.baseList()
	if len(f.Bases) > 0 {
		for _, s := range f.Bases {
			if _, ok := c.baseByName(s); !ok {
				return nil, fmt.Errorf("%w %q (valid: %s)", ErrUnknownBase, s, c.baseNames())
			}
		}
		bases = f.Bases
	}
	var out []Target
	seen := map[string]bool{}
	for _, v := range versions {
		for _, t := range types {
			for _, b := range bases {
				tg, err := c.target(v, t, b)
				if err != nil {
					return nil, err
				}
				if !seen[tg.Name] {
					seen[tg.Name] = true
					out = append(out, tg)
				}
			}
		}
	}
	return out, nil
}

func (c *Catalog) typeList() []string {
	out := make([]string, len(c.Types))
	for i, t := range c.Types {
		out[i] = t.Name
	}
	return out
}

func (c *Catalog) baseList() []string {
	out := make([]string, len(c.Bases))
	for i, b := range c.Bases {
		out[i] = b.Codename
	}
	return out
}

// PGDGSuite is the PGDG apt suite for a Debian codename.
func PGDGSuite(codename string) string { return codename + "-pgdg" }

// PGDGComponents are the PGDG components for a major: "main" and the
// per-major component, as PGDG's own setup script (-c MAJOR) configures.
func PGDGComponents(major int) []string { return []string{"main", strconv.Itoa(major)} }

// PGSource is where the PostgreSQL packages come from.
type PGSource string

const (
	PGSourcePGDG   PGSource = "pgdg"
	PGSourceDebian PGSource = "debian"
)

// ParsePGSource validates --pg-source.
func ParsePGSource(s string) (PGSource, error) {
	switch PGSource(s) {
	case PGSourcePGDG, PGSourceDebian:
		return PGSource(s), nil
	}
	return "", fmt.Errorf("%w: pg-source %q (valid: pgdg, debian)", ErrBadConfig, s)
}

// Environment selects the repository name, as upstream's bake variable.
type Environment string

const (
	Testing    Environment = "testing"
	Production Environment = "production"
)

// ParseEnvironment validates --environment.
func ParseEnvironment(s string) (Environment, error) {
	switch Environment(s) {
	case Testing, Production:
		return Environment(s), nil
	}
	return "", fmt.Errorf("%w: environment %q (valid: testing, production)", ErrBadConfig, s)
}

// Repository is the image repository for the environment.
func (e Environment) Repository() string {
	if e == Production {
		return "postgresql"
	}
	return "postgresql-testing"
}
