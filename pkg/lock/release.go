package lock

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/apt/archive"
	"github.com/pgassemble/pgassemble/pkg/assemble"
)

// The release files in a locked build. The lock records, per repository,
// the SHA256 of the release file its indexes were verified through
// (InRelease, or Release for a repository without one). What a --locked
// build does with it depends on where the packages come from:
//
//   - With a snapshot mirror (a fixed point in an archive's history), the
//     snapshot must serve exactly the locked file for every repository it
//     serves packages of, that is every repository of a locked package
//     that moved or vanished from the live archive (SnapshotRepositories):
//     CheckReleases fails with a *ReleaseError (ErrSnapshotRelease) naming
//     each such repository and both digests. A snapshot that does not is
//     not the archive state the lock was taken from (another date, another
//     archive, a mirror that was rewritten). Repositories whose locked
//     packages the live archive still serves are not asked of the
//     snapshot: real snapshot services keep the security archive and
//     third-party repositories elsewhere or not at all. The snapshot's
//     file need not be verified with OpenPGP: its digest is the one of a
//     file that was verified when locking.
//   - From the live archive, whose InRelease is republished every few
//     hours without the packages changing, the file moving is no error:
//     ReleaseDrift lists it for the caller to report, and the packages
//     stay held to the lock by version and SHA256 (Check, Apply).

// ReleaseDrift is one repository whose release file is not the locked one.
type ReleaseDrift struct {
	Repository string // "URI SUITE"
	URL        string // the file compared; "" when the plan no longer reads the repository
	Locked     string // hex SHA256 in the lock
	Now        string // hex SHA256 of what is served now; "" = none
}

func (d ReleaseDrift) String() string {
	now := "sha256:" + d.Now
	if d.Now == "" {
		now = "none"
	}
	where := d.Repository
	if d.URL != "" {
		where += " (" + d.URL + ")"
	}
	return fmt.Sprintf("%s: locked sha256:%s, now %s", where, d.Locked, now)
}

// ReleaseError lists the repositories whose snapshot release file is not
// the locked one.
type ReleaseError struct {
	Target   string
	Snapshot string
	Drift    []ReleaseDrift
}

func (e *ReleaseError) Error() string {
	lines := make([]string, len(e.Drift))
	for i, d := range e.Drift {
		lines[i] = "  " + d.String()
	}
	return fmt.Sprintf("%s: %v (--snapshot %s):\n%s", e.Target, ErrSnapshotRelease, e.Snapshot, strings.Join(lines, "\n"))
}

func (e *ReleaseError) Unwrap() error { return ErrSnapshotRelease }

// lockedRelease is one locked repository and the digest of its release
// file: distinct pairs over every platform, sorted.
func (t *Target) lockedReleases() []Repository {
	seen := map[Repository]bool{}
	var out []Repository
	for _, p := range t.Platforms {
		for _, r := range p.Repositories {
			if r.InReleaseSHA256 == "" || seen[r] {
				continue
			}
			seen[r] = true
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].URI != out[j].URI {
			return out[i].URI < out[j].URI
		}
		if out[i].Suite != out[j].Suite {
			return out[i].Suite < out[j].Suite
		}
		return out[i].InReleaseSHA256 < out[j].InReleaseSHA256
	})
	return out
}

// ReleaseDrift compares the release files a fresh plan of the live archive
// was resolved through with the locked ones: one ReleaseDrift per locked
// repository whose file moved, whatever the number of platforms that read
// it. It is a report, not an error (see above).
func (t *Target) ReleaseDrift(tp *assemble.TargetPlan) []ReleaseDrift {
	type now struct{ url, sum string }
	read := map[string]now{} // "URI SUITE" -> the file the plan read
	for _, pp := range tp.Platforms {
		for _, r := range pp.Releases {
			if k, ok := releaseRepo(r.URL); ok {
				read[k] = now{r.URL, r.SHA256}
			}
		}
	}
	var out []ReleaseDrift
	done := map[string]bool{}
	for _, r := range t.lockedReleases() {
		k := r.URI + " " + r.Suite
		n := read[k]
		if n.sum == r.InReleaseSHA256 || done[k] {
			continue
		}
		done[k] = true
		out = append(out, ReleaseDrift{Repository: k, URL: n.url, Locked: r.InReleaseSHA256, Now: n.sum})
	}
	return out
}

// releaseRepo is "URI SUITE" of a release file's URL
// (URI/dists/SUITE/InRelease or .../Release).
func releaseRepo(url string) (string, bool) {
	i := strings.LastIndex(url, "/dists/")
	if i < 0 {
		return "", false
	}
	rest := url[i+len("/dists/"):]
	j := strings.LastIndex(rest, "/")
	if j < 0 {
		return "", false
	}
	return strings.TrimSuffix(url[:i], "/") + " " + rest[:j], true
}

// Fetcher GETs a small file and returns the hex SHA256 of its body,
// verifying nothing; a 404 wraps archive.ErrNotFound
// (archive.Client.SHA256 is one).
type Fetcher interface {
	SHA256(ctx context.Context, url string) (string, error)
}

// SnapshotRepositories lists ("URI SUITE", sorted) the locked
// repositories Apply would fetch packages of from a snapshot: those of the
// locked packages tp does not have at their locked version and SHA256.
func (t *Target) SnapshotRepositories(tp *assemble.TargetPlan) []string {
	seen := map[string]bool{}
	for _, pp := range tp.Platforms {
		lp := t.platform(pp.Platform.String())
		if lp == nil {
			continue // not locked: Check reports it
		}
		have := map[string]apt.Planned{}
		for _, pk := range pp.Planned() {
			have[pk.Name+":"+pk.Architecture] = pk
		}
		for _, ls := range lp.Stages {
			for _, lpk := range ls.Packages {
				if cur, ok := have[lpk.Name+":"+lpk.Arch]; !ok || cur.Version != lpk.Version || cur.SHA256 != lpk.SHA256 {
					seen[lpk.Repository] = true
				}
			}
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// CheckReleases fetches from the snapshot the release file of each locked
// repository named in repos ("URI SUITE", see SnapshotRepositories):
// URI-TEMPLATE with {path} = dists/SUITE/InRelease, or dists/SUITE/Release
// where the snapshot has no InRelease. It returns a *ReleaseError naming
// each repository whose file is not the locked one or is not served at
// all. Other failures (the network) are returned as they are, naming the
// URL. On success it returns the snapshot's files it compared, for the
// provenance to name beside the packages fetched from the snapshot.
func (s *Snapshot) CheckReleases(ctx context.Context, t *Target, repos []string, f Fetcher) ([]assemble.ReleaseRef, error) {
	want := map[string]bool{}
	for _, k := range repos {
		want[k] = true
	}
	var drift []ReleaseDrift
	var checked []assemble.ReleaseRef
	for _, r := range t.lockedReleases() {
		if !want[r.URI+" "+r.Suite] {
			continue
		}
		d := ReleaseDrift{Repository: r.URI + " " + r.Suite, Locked: r.InReleaseSHA256}
		for _, name := range []string{"InRelease", "Release"} {
			url := s.base(r.Suite) + "/dists/" + r.Suite + "/" + name
			sum, err := f.SHA256(ctx, url)
			if errors.Is(err, archive.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%s: snapshot release file of %s: %w", t.Name, d.Repository, err)
			}
			d.URL, d.Now = url, sum
			break
		}
		if d.Now != r.InReleaseSHA256 {
			if d.URL == "" {
				d.URL = s.base(r.Suite) + "/dists/" + r.Suite + "/{InRelease,Release}"
			}
			drift = append(drift, d)
			continue
		}
		checked = append(checked, assemble.ReleaseRef{URL: d.URL, SHA256: d.Now})
	}
	if len(drift) > 0 {
		return nil, &ReleaseError{Target: t.Name, Snapshot: s.Template, Drift: drift}
	}
	return checked, nil
}
