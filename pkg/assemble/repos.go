package assemble

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/apt/archive"
	"github.com/pgassemble/pgassemble/pkg/layer"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

// debianRepos returns the base image's own apt repositories, with mirrors
// replaced when the user gave --debian-mirror / --debian-security-mirror and
// the extra --keyring files trusted on top of the base's keyrings.
func (b *Builder) debianRepos(root Root) ([]archive.Repo, error) {
	where := root.String()
	sources, err := archive.ReadSources(root.FS)
	if err != nil {
		return nil, fmt.Errorf("%s: read apt sources: %w", where, err)
	}
	repos, err := archive.Repos(root.FS, sources)
	if err != nil {
		return nil, fmt.Errorf("%s: apt sources: %w", where, err)
	}
	if len(repos) == 0 {
		if b.opts.DebianMirror == "" {
			return nil, fmt.Errorf("%s has no apt sources (etc/apt/sources.list{,.d}); give --debian-mirror", where)
		}
		codename, err := osCodename(root.FS)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		kr, err := archive.LoadKeyrings(root.FS, "/usr/share/keyrings/debian-archive-keyring.gpg")
		if err != nil {
			return nil, fmt.Errorf("%s: no apt sources and no Debian keyring: %w", where, err)
		}
		repos = []archive.Repo{
			{URI: b.opts.DebianMirror, Suite: codename, Components: []string{"main"}, Keyring: kr},
			{URI: b.opts.DebianMirror, Suite: codename + "-updates", Components: []string{"main"}, Keyring: kr},
		}
	}
	for i := range repos {
		security := strings.HasSuffix(repos[i].Suite, "-security")
		switch {
		case security && b.opts.DebianSecurityMirror != "":
			repos[i].URI = strings.TrimRight(b.opts.DebianSecurityMirror, "/")
		case !security && b.opts.DebianMirror != "":
			repos[i].URI = strings.TrimRight(b.opts.DebianMirror, "/")
		}
		repos[i].Keyring = b.withExtraKeys(repos[i].Keyring)
	}
	return repos, nil
}

func (b *Builder) withExtraKeys(k *archive.Keyring) *archive.Keyring {
	if b.extraKeys == nil {
		return k
	}
	return archive.MergeKeyrings(k, b.extraKeys)
}

// readKeyrings reads keyring files on this machine into one keyring.
func readKeyrings(files []string) (*archive.Keyring, error) {
	kfs, err := readKeyFiles(files)
	if err != nil {
		return nil, err
	}
	return mergeKeyFiles(kfs), nil
}

// mergeKeyFiles is one keyring of the keys of kfs.
func mergeKeyFiles(kfs []keyFile) *archive.Keyring {
	ks := make([]*archive.Keyring, len(kfs))
	for i, kf := range kfs {
		ks[i] = kf.Keys
	}
	return archive.MergeKeyrings(ks...)
}

// configRepos are the extra repositories of a --config file.
func (b *Builder) configRepos(t variants.Target) ([]archive.Repo, error) {
	var out []archive.Repo
	for _, r := range t.Repositories {
		suite := strings.ReplaceAll(r.Suite, "{{codename}}", t.Base.Codename)
		repo := archive.Repo{URI: strings.TrimRight(r.URI, "/"), Suite: suite, Components: r.Components}
		if r.Keyring != "" {
			kr, err := readKeyrings([]string{r.Keyring})
			if err != nil {
				return nil, fmt.Errorf("repository %s: %w", r.Name, err)
			}
			repo.Keyring = kr
		}
		repo.Keyring = b.withExtraKeys(repo.Keyring)
		out = append(out, repo)
	}
	return out, nil
}

func osCodename(fsys fs.FS) (string, error) {
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VERSION_CODENAME="); ok && v != "" {
				return strings.Trim(v, `"'`), nil
			}
		}
	}
	return "", errors.New("cannot tell the Debian codename: no VERSION_CODENAME in etc/os-release")
}

// pgdgDir is where Debian ships the PGDG repository's signing key and the
// script that configures it (postgresql-client-common in trixie,
// postgresql-common before); upstream's Dockerfile runs that script, we read
// the same two facts from the verified package.
const pgdgDir = "usr/share/postgresql-common/pgdg/"

var (
	pgdgHostRE = regexp.MustCompile(`(?m)^\s*HOST="([^"$]+)"`)
	pgdgURIsRE = regexp.MustCompile(`(?m)^\s*URIs:\s*(https?://)\$HOST(\S*)`)
)

// pgdgMirror reads the mirror the setup script would write for codename:
// its "URIs: scheme://$HOST/path" template, with HOST as the script picks it
// (the current host for the distributions of PG_REPOSITORY_DISTS, the
// archive host for those only in PG_ARCHIVE_DISTS).
func pgdgMirror(script []byte, codename string) string {
	uri := pgdgURIsRE.FindSubmatch(script)
	hosts := pgdgHostRE.FindAllSubmatch(script, -1)
	if uri == nil || len(hosts) == 0 {
		return ""
	}
	dists := func(name string) []string {
		m := regexp.MustCompile(`(?m)^` + name + `="([^"]*)"`).FindSubmatch(script)
		if m == nil {
			return nil
		}
		return strings.Fields(string(m[1]))
	}
	host := hosts[0][1]
	if !slices.Contains(dists("PG_REPOSITORY_DISTS"), codename) && slices.Contains(dists("PG_ARCHIVE_DISTS"), codename) && len(hosts) > 1 {
		host = hosts[1][1]
	}
	return strings.TrimRight(string(uri[1])+string(host)+string(uri[2]), "/")
}

// pgdgFiles is what the pgdg/ directory of postgresql-common's install set
// holds: the signing key, the mirror its setup script names for the
// codename, the script itself and every file shipped there (absolute paths).
type pgdgFiles struct {
	key     []byte
	mirror  string
	script  []byte
	shipped []string
}

// pgdgFacts reads the pgdg/ directory of whichever of the verified .debs
// ships it.
func pgdgFacts(debPaths []string, codename string) (*pgdgFiles, error) {
	out := &pgdgFiles{}
	for _, debPath := range debPaths {
		if err := pgdgFactsOf(debPath, codename, out); err != nil {
			return nil, err
		}
	}
	if out.key == nil {
		return nil, fmt.Errorf("no package of postgresql-common's install set ships a PGDG key under /%s", pgdgDir)
	}
	return out, nil
}

func pgdgFactsOf(debPath, codename string, out *pgdgFiles) error {
	f, err := os.Open(debPath)
	if err != nil {
		return err
	}
	defer f.Close()
	d, err := layer.OpenDeb(f, debPath)
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := d.Control(); err != nil {
		return err
	}
	tr, err := d.Data()
	if err != nil {
		return err
	}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", debPath, err)
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if h.Typeflag != tar.TypeReg || !strings.HasPrefix(name, pgdgDir) {
			continue
		}
		out.shipped = append(out.shipped, "/"+name)
		body, err := io.ReadAll(io.LimitReader(tr, 1<<20))
		if err != nil {
			return err
		}
		switch {
		case strings.HasSuffix(name, ".asc") || strings.HasSuffix(name, ".gpg"):
			out.key = body
		case strings.HasSuffix(name, ".sh") && out.script == nil:
			out.script = body
			out.mirror = pgdgMirror(body, codename)
		}
	}
	return nil
}

// pgdgRepo sets up the PGDG repository for t: postgresql-common is resolved
// and downloaded from the Debian repositories (verified like everything
// else), and its shipped key is what PGDG's Release must be signed with.
func (b *Builder) pgdgRepo(ctx context.Context, t variants.Target, u *apt.Universe) (archive.Repo, error) {
	repo := archive.Repo{URI: strings.TrimRight(b.opts.PGDGMirror, "/"), Suite: t.PGDGSuite(), Components: t.PGDGComponents()}
	if b.pgdgKeys != nil && repo.URI != "" {
		repo.Keyring = b.pgdgKeys
		return repo, nil
	}
	set, err := apt.Resolve(u, nil, []string{"postgresql-common"}, apt.ResolveOptions{})
	if err != nil {
		return repo, fmt.Errorf("PGDG: postgresql-common (which ships the PGDG key) from the Debian repositories: %w", err)
	}
	// The pgdg/ directory is in postgresql-common or, since trixie, in
	// postgresql-client-common, which it depends on: read the whole set.
	var pkgs []*apt.Package
	var pc *apt.Package
	for _, p := range set.Packages {
		if strings.HasPrefix(p.Name, "postgresql-") {
			pkgs = append(pkgs, p.Package)
		}
		if p.Name == "postgresql-common" {
			pc = p.Package
		}
	}
	if pc == nil {
		return repo, errors.New("PGDG: postgresql-common not in the Debian repositories")
	}
	paths, err := b.download(ctx, pkgs)
	if err != nil {
		return repo, fmt.Errorf("PGDG: %w", err)
	}
	facts, err := pgdgFacts(paths, t.Base.Codename)
	if err != nil {
		return repo, fmt.Errorf("PGDG: postgresql-common %s: %w", pc.Version, err)
	}
	key, mirror := facts.key, facts.mirror
	if repo.URI == "" {
		if mirror == "" {
			return repo, fmt.Errorf("PGDG: postgresql-common %s names no mirror; give --pgdg-mirror", pc.Version)
		}
		repo.URI = mirror
	}
	if b.pgdgKeys != nil {
		repo.Keyring = b.pgdgKeys
	} else {
		kr, err := archive.ParseKeyring(key, "postgresql-common "+pc.Version+" /"+pgdgDir)
		if err != nil {
			return repo, fmt.Errorf("PGDG key: %w", err)
		}
		repo.Keyring = kr
	}
	return repo, nil
}
