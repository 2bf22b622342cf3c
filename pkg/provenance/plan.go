package provenance

import (
	"sort"
	"strings"
	"time"

	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/assemble"
)

// Params is what a build's provenance says beyond its plan.
type Params struct {
	// External are the command's parameters (flags set, the config
	// file's digest...); FromPlan adds the target and the platform.
	External                  map[string]any
	BuilderID, BuilderVersion string
	Started, Finished         time.Time
}

// FromPlan describes the build of platform pp of tp: the external
// parameters with the target and platform added; the base image by digest;
// every package of every stage that came from a repository, with its URL,
// SHA256, version, architecture and stage; and the release file each
// repository's indexes were verified through, named as it was read:
// dists/SUITE/InRelease (clearsigned), or dists/SUITE/Release for a
// repository without one, whose signature, Release.gpg, is then named in
// the "signature" annotation.
func FromPlan(tp *assemble.TargetPlan, pp *assemble.PlatformPlan, p Params) Build {
	plat := pp.Platform.String()
	ext := map[string]any{"target": tp.Target.Name, "platform": plat}
	for k, v := range p.External {
		ext[k] = v
	}
	b := Build{
		External: ext, BuilderID: p.BuilderID, BuilderVersion: p.BuilderVersion,
		Started: p.Started, Finished: p.Finished,
	}
	if pp.Base != nil {
		b.Base = Dependency{Name: "base", URI: "oci://" + pp.Base.Ref, SHA256: pp.Base.Digest.Hex,
			Annotations: map[string]string{"platform": plat}}
	}
	for _, st := range pp.Stages {
		for _, pk := range st.Packages {
			if pk.Repository == nil {
				continue
			}
			b.Debs = append(b.Debs, Dependency{Name: pk.Name, URI: DebURL(pk.Package), SHA256: pk.SHA256,
				Annotations: map[string]string{"version": pk.Version, "arch": pk.Architecture, "stage": st.Name}})
		}
	}
	seen := map[string]bool{}
	for _, r := range pp.Releases {
		if r.SHA256 == "" || seen[r.URL] {
			continue
		}
		seen[r.URL] = true
		d := Dependency{Name: releaseSuite(r.URL), URI: r.URL, SHA256: r.SHA256}
		if strings.HasSuffix(r.URL, "/Release") {
			d.Annotations = map[string]string{"signature": r.URL + ".gpg"}
		}
		b.Releases = append(b.Releases, d)
	}
	sort.Slice(b.Releases, func(i, j int) bool { return b.Releases[i].URI < b.Releases[j].URI })
	return b
}

// DebURL is where a package's .deb is fetched: its repository's URI and
// its pool path.
func DebURL(pk *apt.Package) string {
	if pk.Repository == nil {
		return ""
	}
	return strings.TrimSuffix(pk.Repository.URI, "/") + "/" + strings.TrimPrefix(pk.Filename, "/")
}

// releaseSuite is SUITE in ".../dists/SUITE/InRelease".
func releaseSuite(url string) string {
	i := strings.LastIndex(url, "/dists/")
	if i < 0 {
		return url
	}
	rest := url[i+len("/dists/"):]
	if j := strings.LastIndex(rest, "/"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}
