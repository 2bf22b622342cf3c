package variants

import (
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"sigs.k8s.io/yaml"
)

// Config is the --config YAML document. Every field is optional.
//
//	versions: ["13", "17.12", "20~beta1"]   # add a major, pin a minor, a preview
//	bases:
//	  - {codename: bullseye, image: debian:bullseye-slim, digest: "sha256:..."}
//	types:
//	  - {name: postgis, parent: standard, packages: ["postgresql-{{MM}}-postgis-3"]}
//	  - {name: standard, addPackages: [postgresql-{{MM}}-cron]}
//	packages: [less]                        # a final "extra" stage on every target
//	repositories:
//	  - {name: internal, uri: "http://mirror.example/internal", suite: "{{codename}}", components: [main], keyring: /etc/keys/internal.gpg}
//	labels: {org.opencontainers.image.vendor: Example}
//	platforms: [linux/amd64]
//	scripts:                                # maintainer-script policy, added to the defaults
//	  uids: {postgres: 26}
//	  debconf: {"tzdata/Areas": "Etc"}
//	  edits: [{path: etc/foo.conf, regexp: "^#(opt) .*$", replacement: "${1} = off"}]
//	  deviations: [{match: "^some-helper --generate-key", reason: "no shared private keys"}]
type Config struct {
	Versions     []string          `json:"versions,omitempty"`
	Bases        []BaseConfig      `json:"bases,omitempty"`
	Types        []TypeConfig      `json:"types,omitempty"`
	Packages     []Package         `json:"packages,omitempty"`
	Repositories []Repository      `json:"repositories,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	Platforms    []string          `json:"platforms,omitempty"`
	// Scripts extends the maintainer-script policy: uids/gids preset for
	// accounts the scripts create, debconf answers, edits of generated
	// files, deliberate deviations (see Scripts).
	Scripts *Scripts `json:"scripts,omitempty"`
}

// BaseConfig adds a base or overrides an existing one's image or digest.
type BaseConfig struct {
	Codename string `json:"codename"`
	Image    string `json:"image,omitempty"`
	Digest   string `json:"digest,omitempty"`
}

// TypeConfig adds a type (Parent and Packages) or changes an existing one:
// Packages replaces its own stage, AddPackages appends to it, Parent
// re-parents it, Env adds variables.
type TypeConfig struct {
	Name        string    `json:"name"`
	Parent      *string   `json:"parent,omitempty"`
	Packages    []Package `json:"packages,omitempty"`
	AddPackages []Package `json:"addPackages,omitempty"`
	Env         []string  `json:"env,omitempty"`
}

// LoadConfig reads a YAML config strictly: unknown fields and duplicate
// keys are errors. The caller adds the file name to the error.
func LoadConfig(r io.Reader) (*Config, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var c Config
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	return &c, nil
}

var (
	identRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	codenameRE = regexp.MustCompile(`^[a-z][a-z0-9]*$`)
	debNameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	digestRE   = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	envRE      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
	placeRE    = regexp.MustCompile(`\{\{[^}]*\}\}`)
)

func badf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBadConfig, fmt.Sprintf(format, a...))
}

func checkPackages(where string, ps []Package) error {
	for i, p := range ps {
		for _, m := range placeRE.FindAllString(p.Name, -1) {
			if m != "{{MM}}" {
				return badf("%s[%d]: %q: unknown placeholder %s (only {{MM}})", where, i, p.Name, m)
			}
		}
		n := p.Expand(Version{Major: 17})
		if !debNameRE.MatchString(n) {
			return badf("%s[%d]: %q is not a Debian package name (lowercase; write the major as {{MM}})", where, i, p.Name)
		}
		if p.MinMajor < 0 || p.MaxMajor < 0 || (p.MaxMajor != 0 && p.MaxMajor < p.MinMajor) {
			return badf("%s[%d]: %q: bad minMajor/maxMajor", where, i, p.Name)
		}
	}
	return nil
}

func checkEnv(where string, env []string) error {
	for i, kv := range env {
		if !envRE.MatchString(kv) {
			return badf("%s[%d]: %q is not KEY=VALUE", where, i, kv)
		}
		if strings.HasPrefix(kv, "PATH=") {
			return badf("%s[%d]: PATH is derived from the base and the major", where, i)
		}
	}
	return nil
}

// Apply merges cfg into the catalog. On error the catalog is unchanged.
func (c *Catalog) Apply(cfg *Config) error {
	if cfg == nil {
		return nil
	}
	n := c.clone()
	for i, s := range cfg.Versions {
		v, err := ParseVersion(s)
		if err != nil {
			return fmt.Errorf("%w: versions[%d]: %w", ErrBadConfig, i, err)
		}
		if j := slices.IndexFunc(n.Versions, func(x Version) bool { return x.Major == v.Major }); j >= 0 {
			n.Versions[j] = v
		} else {
			n.Versions = append(n.Versions, v)
		}
	}
	slices.SortStableFunc(n.Versions, func(a, b Version) int { return a.Major - b.Major })

	for i, bc := range cfg.Bases {
		where := fmt.Sprintf("bases[%d]", i)
		if !codenameRE.MatchString(bc.Codename) {
			return badf("%s: codename %q must be lowercase letters and digits", where, bc.Codename)
		}
		if bc.Digest != "" && !digestRE.MatchString(bc.Digest) {
			return badf("%s: digest %q is not sha256:<64 hex>", where, bc.Digest)
		}
		if bc.Image != "" {
			if strings.Contains(bc.Image, "@") {
				return badf("%s: image %q: give the digest in the digest field", where, bc.Image)
			}
			if _, err := name.NewTag(bc.Image); err != nil {
				return badf("%s: image %q: %v", where, bc.Image, err)
			}
		}
		j := slices.IndexFunc(n.Bases, func(b Base) bool { return b.Codename == bc.Codename })
		if j < 0 {
			if bc.Image == "" {
				return badf("%s: new base %q needs an image", where, bc.Codename)
			}
			n.Bases = append(n.Bases, Base(bc))
			continue
		}
		if bc.Image != "" {
			n.Bases[j].Image = bc.Image
			n.Bases[j].Digest = "" // a digest belongs to the image it was taken from
		}
		if bc.Digest != "" {
			n.Bases[j].Digest = bc.Digest
		}
	}

	for i, tc := range cfg.Types {
		where := fmt.Sprintf("types[%d]", i)
		if !identRE.MatchString(tc.Name) || tc.Name == "extra" {
			return badf("%s: type name %q must be lowercase letters, digits and dashes, and not \"extra\"", where, tc.Name)
		}
		if err := checkPackages(where+".packages", tc.Packages); err != nil {
			return err
		}
		if err := checkPackages(where+".addPackages", tc.AddPackages); err != nil {
			return err
		}
		if err := checkEnv(where+".env", tc.Env); err != nil {
			return err
		}
		j := slices.IndexFunc(n.Types, func(t Type) bool { return t.Name == tc.Name })
		if j < 0 {
			if len(tc.Packages)+len(tc.AddPackages) == 0 {
				return badf("%s: new type %q needs packages", where, tc.Name)
			}
			n.Types = append(n.Types, Type{Name: tc.Name})
			j = len(n.Types) - 1
		}
		t := &n.Types[j]
		if tc.Parent != nil {
			t.Parent = *tc.Parent
		}
		if tc.Packages != nil {
			t.Packages = slices.Clone(tc.Packages)
		}
		t.Packages = append(t.Packages, tc.AddPackages...)
		t.Env = append(t.Env, tc.Env...)
	}
	for i, t := range n.Types {
		if t.Parent != "" {
			if _, ok := n.typeByName(t.Parent); !ok {
				return badf("type %q: %v %q (valid: %s)", t.Name, ErrUnknownType, t.Parent, n.typeNames())
			}
		}
		seen := map[string]bool{}
		for cur := n.Types[i]; cur.Parent != ""; {
			if seen[cur.Name] {
				return badf("type %q: parent cycle", t.Name)
			}
			seen[cur.Name] = true
			cur, _ = n.typeByName(cur.Parent)
		}
	}

	if err := checkPackages("packages", cfg.Packages); err != nil {
		return err
	}
	n.Packages = append(n.Packages, cfg.Packages...)

	for i, r := range cfg.Repositories {
		where := fmt.Sprintf("repositories[%d]", i)
		if !identRE.MatchString(r.Name) {
			return badf("%s: name %q must be lowercase letters, digits and dashes", where, r.Name)
		}
		u, err := url.Parse(r.URI)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") || (u.Scheme != "file" && u.Host == "") {
			return badf("%s: uri %q must be an http, https or file URL", where, r.URI)
		}
		if r.Suite == "" {
			return badf("%s: suite is required", where)
		}
		if m := placeRE.FindAllString(r.Suite, -1); len(m) > 0 && slices.ContainsFunc(m, func(s string) bool { return s != "{{codename}}" }) {
			return badf("%s: suite %q: only {{codename}} may be substituted", where, r.Suite)
		}
		flat := strings.HasSuffix(r.Suite, "/")
		if flat != (len(r.Components) == 0) {
			return badf("%s: a suite ending in / takes no components, any other needs some", where)
		}
		if slices.ContainsFunc(n.Repositories, func(x Repository) bool { return x.Name == r.Name }) {
			return badf("%s: repository %q given twice", where, r.Name)
		}
		r.Components = slices.Clone(r.Components)
		n.Repositories = append(n.Repositories, r)
	}

	for k := range cfg.Labels {
		if k == "" || strings.ContainsAny(k, " \t\n=") {
			return badf("labels: bad key %q", k)
		}
		if n.Meta.Labels == nil {
			n.Meta.Labels = map[string]string{}
		}
		n.Meta.Labels[k] = cfg.Labels[k]
	}

	if sc := cfg.Scripts; sc != nil {
		for k, v := range sc.FixedUIDs {
			if n.Scripts.FixedUIDs == nil {
				n.Scripts.FixedUIDs = map[string]int{}
			}
			n.Scripts.FixedUIDs[k] = v
		}
		for k, v := range sc.FixedGIDs {
			if n.Scripts.FixedGIDs == nil {
				n.Scripts.FixedGIDs = map[string]int{}
			}
			n.Scripts.FixedGIDs[k] = v
		}
		for k, v := range sc.Debconf {
			if n.Scripts.Debconf == nil {
				n.Scripts.Debconf = map[string]string{}
			}
			n.Scripts.Debconf[k] = v
		}
		for i, e := range sc.Edits {
			if _, err := regexp.Compile(e.Regexp); err != nil || e.Path == "" {
				return badf("scripts.edits[%d]: want a path and a Go regexp (%v)", i, err)
			}
			n.Scripts.Edits = append(n.Scripts.Edits, e)
		}
		for i, d := range sc.Deviations {
			if _, err := regexp.Compile(d.Match); err != nil || d.Reason == "" {
				return badf("scripts.deviations[%d]: want a Go regexp and a reason (%v)", i, err)
			}
			n.Scripts.Deviations = append(n.Scripts.Deviations, d)
		}
	}

	if cfg.Platforms != nil {
		if _, err := (Target{}).WithPlatforms(cfg.Platforms); err != nil {
			return fmt.Errorf("%w: platforms: %w", ErrBadConfig, err)
		}
		n.Platforms = slices.Clone(cfg.Platforms)
	}
	*c = *n
	return nil
}

func (c *Catalog) clone() *Catalog {
	n := *c
	n.Versions = slices.Clone(c.Versions)
	n.Bases = slices.Clone(c.Bases)
	n.Types = make([]Type, len(c.Types))
	for i, t := range c.Types {
		t.Packages = slices.Clone(t.Packages)
		t.Env = slices.Clone(t.Env)
		n.Types[i] = t
	}
	n.Platforms = slices.Clone(c.Platforms)
	n.Packages = slices.Clone(c.Packages)
	n.Repositories = slices.Clone(c.Repositories)
	n.Meta.Labels = cloneMap(c.Meta.Labels)
	n.Scripts = Scripts{FixedUIDs: cloneMap(c.Scripts.FixedUIDs), FixedGIDs: cloneMap(c.Scripts.FixedGIDs),
		Debconf: cloneMap(c.Scripts.Debconf), Edits: slices.Clone(c.Scripts.Edits), Deviations: slices.Clone(c.Scripts.Deviations)}
	return &n
}
