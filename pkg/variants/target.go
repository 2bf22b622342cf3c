package variants

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Stage is one group of packages installed together; each becomes its own
// layers, shared by every target whose stages start the same way.
type Stage struct {
	Name     string // the type that adds it, or "extra"
	Packages []string
}

// Target is one image to build: one index over Platforms.
type Target struct {
	Name         string // postgresql-17-minimal-bookworm
	Version      Version
	Type         string
	Base         Base
	Platforms    []string
	Stages       []Stage
	Pins         []Pin // version pins on the server package
	User         string
	PathDir      string   // appended to the base's PATH
	Env          []string // further KEY=VALUE set by the type
	Repositories []Repository
	Replay       Replay
	Meta         Meta
	Rolling      bool // also tag <version> and <major>
	// FixedTags, when set, replace the computed tags (bake's --set
	// TARGET.tags=...).
	FixedTags []string `json:",omitempty"`
}

var platformRE = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$`)

// WithPlatforms returns t restricted to the given platforms
// ("linux/amd64"); each must be well-formed.
func (t Target) WithPlatforms(platforms []string) (Target, error) {
	if len(platforms) == 0 {
		return Target{}, fmt.Errorf("%w: empty platform list", ErrBadPlatform)
	}
	for _, p := range platforms {
		if !platformRE.MatchString(p) {
			return Target{}, fmt.Errorf("%w %q (want os/arch[/variant], e.g. linux/arm64)", ErrBadPlatform, p)
		}
	}
	t.Platforms = slices.Clone(platforms)
	return t, nil
}

// Packages lists every stage's packages in order.
func (t Target) Packages() []string {
	var out []string
	for _, s := range t.Stages {
		out = append(out, s.Packages...)
	}
	return out
}

// PGDGSuite and PGDGComponents are the PGDG repository for this target.
func (t Target) PGDGSuite() string        { return PGDGSuite(t.Base.Codename) }
func (t Target) PGDGComponents() []string { return PGDGComponents(t.Version.Major) }

// resolvedVersion is the upstream version the tags and labels carry:
// the resolved package version if known, else the pin.
func (t Target) resolvedVersion(resolved string) string {
	if resolved != "" {
		return UpstreamVersion(resolved)
	}
	return t.Version.Pin
}

// Tags are the tags upstream gives the image, without repository:
// 17-minimal-trixie, 17.12-minimal-trixie, 17.12-202601020304-minimal-trixie
// (and the rolling 17.12 and 17 where Rolling is set). resolved is the
// server package's version as installed (17.12-1.pgdg130+1 or 17.12); the
// timestamp is built's UTC minute. Without a resolved version or a pin,
// only the first tag can be formed. FixedTags replace them all.
func (t Target) Tags(resolved string, built time.Time) []string {
	if len(t.FixedTags) > 0 {
		return slices.Clone(t.FixedTags)
	}
	suffix := "-" + t.Type + "-" + t.Base.Codename
	tags := []string{t.Version.NamePart() + suffix}
	full := t.resolvedVersion(resolved)
	if full != "" {
		clean := CleanVersion(full)
		tags = append(tags,
			clean+suffix,
			clean+"-"+built.UTC().Format("200601021504")+suffix)
		if t.Rolling {
			tags = append(tags, full, t.Version.MajorString())
		}
	}
	// A preview's first two tags coincide (19beta3-minimal-trixie).
	out := tags[:0]
	for _, tag := range tags {
		if !slices.Contains(out, tag) {
			out = append(out, tag)
		}
	}
	return out
}

// References are the full tag references <registry>/<repository>:<tag>.
func (t Target) References(registry string, env Environment, resolved string, built time.Time) []string {
	tags := t.Tags(resolved, built)
	out := make([]string, len(tags))
	for i, tag := range tags {
		out[i] = registry + "/" + env.Repository() + ":" + tag
	}
	return out
}

// EnvFrom returns the image environment: the base's, with PathDir appended to
// PATH (upstream: ENV PATH=$PATH:/usr/lib/postgresql/MM/bin) and the type's
// variables set.
func (t Target) EnvFrom(base []string) []string {
	out := slices.Clone(base)
	found := false
	for i, kv := range out {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			out[i] = "PATH=" + v + ":" + t.PathDir
			found = true
		}
	}
	if !found {
		out = append(out, "PATH="+DefaultPath+":"+t.PathDir)
	}
	for _, kv := range t.Env {
		k, _, _ := strings.Cut(kv, "=")
		out = slices.DeleteFunc(out, func(e string) bool { return strings.HasPrefix(e, k+"=") })
		out = append(out, kv)
	}
	return out
}

// Facts are what is known only at build time.
type Facts struct {
	Created    time.Time
	Version    string // resolved server package version (Debian or upstream form)
	Revision   string // revision of the build recipe (git commit)
	BaseDigest string // digest of the base index actually used
}

// BaseName is the org.opencontainers.image.base.name value: the base's
// repository as a fully qualified name plus its tag, without digest,
// matching upstream's "<default registry>/library/debian:<tag>".
func (b Base) BaseName() string {
	ref := b.Image
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		return b.Image
	}
	repo := tag.Context().Name()
	// go-containerregistry names the default registry by its API host;
	// labels carry the short alias upstream writes.
	if rest, ok := strings.CutPrefix(repo, name.DefaultRegistry+"/"); ok {
		repo = strings.TrimPrefix(name.DefaultRegistry, "index.") + "/" + rest
	}
	return repo + ":" + tag.TagStr()
}

// Labels returns the org.opencontainers.image.* labels upstream sets,
// used as config labels and as annotations on manifests and index.
func (t Target) Labels(f Facts) map[string]string {
	version := t.resolvedVersion(f.Version)
	if version == "" {
		version = t.Version.String()
	}
	digest := f.BaseDigest
	if digest == "" {
		digest = t.Base.Digest
	}
	l := map[string]string{
		specs.AnnotationCreated:         f.Created.UTC().Format(time.RFC3339),
		specs.AnnotationURL:             t.Meta.URL,
		specs.AnnotationSource:          t.Meta.URL,
		specs.AnnotationDocumentation:   t.Meta.URL,
		specs.AnnotationVersion:         version,
		specs.AnnotationRevision:        f.Revision,
		specs.AnnotationVendor:          t.Meta.Authors,
		specs.AnnotationAuthors:         t.Meta.Authors,
		specs.AnnotationTitle:           "CloudNativePG PostgreSQL " + version + " " + t.Type,
		specs.AnnotationDescription:     "A " + t.Type + " PostgreSQL " + version + " container image",
		specs.AnnotationLicenses:        t.Meta.Licenses,
		specs.AnnotationBaseImageName:   t.Base.BaseName(),
		specs.AnnotationBaseImageDigest: digest,
	}
	for k, v := range t.Meta.Labels {
		l[k] = v
	}
	return l
}
