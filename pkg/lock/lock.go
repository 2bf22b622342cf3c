// Package lock records what a build resolved — per target and platform the
// base image digest, every package of every stage (name, version,
// architecture, SHA256, size, pool path, repository) and each repository's
// InRelease digest — in pgassemble.lock, and holds a later build to it:
// Check names every package whose version moved or that vanished; Apply
// rewrites a fresh plan into exactly the locked set, fetching what the
// archive no longer serves from a snapshot-style mirror.
//
// The file is JSON with a stable order: targets by name, platforms by
// name, repositories by URI and suite; packages in install order within
// their stage (the order the plan unpacks them, itself deterministic).
package lock

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/pgassemble/pgassemble/internal/atomicfile"
	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/assemble"
)

// FileName is the lock file's default name.
const FileName = "pgassemble.lock"

// Version is the lock file format version.
const Version = 1

// Sentinel errors.
var (
	// ErrDrift: the archive or the base moved away from the lock.
	ErrDrift = errors.New("the build no longer matches the lock file")
	// ErrNotLocked: the target is not in the lock file.
	ErrNotLocked = errors.New("target not in the lock file")
	// ErrFormat: the file is not a lock file this version reads.
	ErrFormat = errors.New("not a pgassemble lock file")
	// ErrSnapshotRelease: the snapshot mirror does not serve the release
	// file (InRelease, or Release) the lock recorded for a repository.
	ErrSnapshotRelease = errors.New("the snapshot mirror does not serve the locked release file")
)

// File is the whole lock file.
type File struct {
	LockVersion int      `json:"lockVersion"`
	Targets     []Target `json:"targets"`
}

// Target is one locked target.
type Target struct {
	Name      string     `json:"name"`
	Version   string     `json:"version"` // the server package's version
	Platforms []Platform `json:"platforms"`
}

// Platform is one platform of a target.
type Platform struct {
	Platform     string       `json:"platform"`
	Base         Base         `json:"base"`
	Repositories []Repository `json:"repositories"`
	Stages       []Stage      `json:"stages"`
}

// Base is the base image as pulled.
type Base struct {
	Ref    string `json:"ref"`
	Digest string `json:"digest"`
}

// Repository is one repository packages came from.
type Repository struct {
	URI             string `json:"uri"`
	Suite           string `json:"suite"`
	InReleaseSHA256 string `json:"inReleaseSHA256"`
}

// Stage is one stage's packages, in install order.
type Stage struct {
	Name     string    `json:"name"`
	Packages []Package `json:"packages"`
}

// Package is one locked package.
type Package struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	Arch       string `json:"arch"`
	SHA256     string `json:"sha256"`
	Size       int64  `json:"size"`
	Filename   string `json:"filename"`   // pool path, relative to the repository URI
	Repository string `json:"repository"` // "URI SUITE"
	Reason     string `json:"reason"`
}

func repoKey(r *apt.Repository) string { return strings.TrimSuffix(r.URI, "/") + " " + r.Suite }

// FromPlan records a resolved target.
func FromPlan(tp *assemble.TargetPlan) Target {
	t := Target{Name: tp.Target.Name, Version: tp.Version}
	for _, pp := range tp.Platforms {
		p := Platform{Platform: pp.Platform.String(), Base: Base{Ref: pp.Base.Ref, Digest: pp.Base.Digest.String()}}
		repos := map[string]Repository{}
		for _, st := range pp.Stages {
			s := Stage{Name: st.Name, Packages: []Package{}}
			for _, pk := range st.Packages {
				lp := Package{Name: pk.Name, Version: pk.Version, Arch: pk.Architecture, SHA256: pk.SHA256, Size: pk.Size, Filename: pk.Filename, Reason: pk.Reason}
				if r := pk.Repository; r != nil {
					lp.Repository = repoKey(r)
					repos[lp.Repository] = Repository{URI: strings.TrimSuffix(r.URI, "/"), Suite: r.Suite, InReleaseSHA256: r.ReleaseSHA256}
				}
				s.Packages = append(s.Packages, lp)
			}
			p.Stages = append(p.Stages, s)
		}
		keys := make([]string, 0, len(repos))
		for k := range repos {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		p.Repositories = []Repository{}
		for _, k := range keys {
			p.Repositories = append(p.Repositories, repos[k])
		}
		t.Platforms = append(t.Platforms, p)
	}
	sort.Slice(t.Platforms, func(i, j int) bool { return t.Platforms[i].Platform < t.Platforms[j].Platform })
	return t
}

// Put adds or replaces a target, keeping targets sorted by name.
func (f *File) Put(t Target) {
	f.LockVersion = Version
	for i := range f.Targets {
		if f.Targets[i].Name == t.Name {
			f.Targets[i] = t
			return
		}
	}
	f.Targets = append(f.Targets, t)
	sort.Slice(f.Targets, func(i, j int) bool { return f.Targets[i].Name < f.Targets[j].Name })
}

// Target finds a locked target.
func (f *File) Target(name string) (*Target, error) {
	for i := range f.Targets {
		if f.Targets[i].Name == name {
			return &f.Targets[i], nil
		}
	}
	return nil, fmt.Errorf("%w: %s (run pgassemble lock %s)", ErrNotLocked, name, name)
}

// Marshal renders the file: indented JSON, stable order, final newline.
func (f *File) Marshal() ([]byte, error) {
	f.LockVersion = Version
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Read reads a lock file; a missing file is an empty lock when allowMissing.
func Read(path string, allowMissing bool) (*File, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && allowMissing {
		return &File{LockVersion: Version}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	var f File
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, path, err)
	}
	if f.LockVersion != Version {
		return nil, fmt.Errorf("%w: %s: lockVersion %d, this pgassemble reads %d", ErrFormat, path, f.LockVersion, Version)
	}
	return &f, nil
}

// Write writes the file whole or not at all (internal/atomicfile).
func (f *File) Write(path string) error {
	data, err := f.Marshal()
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, data); err != nil {
		return fmt.Errorf("lock file: %w", err)
	}
	return nil
}

// Drift is one difference between the lock and a fresh plan.
type Drift struct {
	Platform string
	What     string // package name, or "base image"
	Arch     string
	Locked   string // locked version or digest
	Now      string // what the plan has; "" = vanished
}

func (d Drift) String() string {
	now := d.Now
	if now == "" {
		now = "vanished"
	}
	what := d.What
	if d.Arch != "" {
		what += ":" + d.Arch
	}
	return fmt.Sprintf("%s %s locked %s, now %s", d.Platform, what, d.Locked, now)
}

// DriftError lists every difference.
type DriftError struct {
	Target string
	Drift  []Drift
}

func (e *DriftError) Error() string {
	lines := make([]string, len(e.Drift))
	for i, d := range e.Drift {
		lines[i] = "  " + d.String()
	}
	return fmt.Sprintf("%s: %d locked packages moved or vanished:\n%s", e.Target, len(e.Drift), strings.Join(lines, "\n"))
}

func (e *DriftError) Unwrap() error { return ErrDrift }

// Check compares a fresh plan with the lock: the base digest of every
// platform and every locked package's version and SHA256. It returns a *DriftError
// naming every package that moved or vanished (and packages the plan adds
// that the lock lacks).
func (t *Target) Check(tp *assemble.TargetPlan) error {
	var drift []Drift
	for _, pp := range tp.Platforms {
		plat := pp.Platform.String()
		lp := t.platform(plat)
		if lp == nil {
			drift = append(drift, Drift{Platform: plat, What: "platform", Locked: "not locked", Now: "planned"})
			continue
		}
		if lp.Base.Digest != pp.Base.Digest.String() {
			drift = append(drift, Drift{Platform: plat, What: "base image", Locked: lp.Base.Digest, Now: pp.Base.Digest.String()})
		}
		now := map[string]apt.Planned{}
		for _, pk := range pp.Planned() {
			now[pk.Name+":"+pk.Architecture] = pk
		}
		locked := map[string]bool{}
		for _, st := range lp.Stages {
			for _, pk := range st.Packages {
				k := pk.Name + ":" + pk.Arch
				locked[k] = true
				cur, ok := now[k]
				switch {
				case !ok:
					drift = append(drift, Drift{Platform: plat, What: pk.Name, Arch: pk.Arch, Locked: pk.Version})
				case cur.Version != pk.Version:
					drift = append(drift, Drift{Platform: plat, What: pk.Name, Arch: pk.Arch, Locked: pk.Version, Now: cur.Version})
				case pk.SHA256 != "" && cur.SHA256 != "" && cur.SHA256 != pk.SHA256:
					// The same version with other bytes: the lock
					// pins the .deb, not only its version.
					drift = append(drift, Drift{Platform: plat, What: pk.Name, Arch: pk.Arch,
						Locked: pk.Version + " sha256:" + pk.SHA256, Now: cur.Version + " sha256:" + cur.SHA256})
				}
			}
		}
		for _, pk := range pp.Planned() {
			if !locked[pk.Name+":"+pk.Architecture] {
				drift = append(drift, Drift{Platform: plat, What: pk.Name, Arch: pk.Architecture, Locked: "not locked", Now: pk.Version})
			}
		}
	}
	if len(drift) > 0 {
		return &DriftError{Target: t.Name, Drift: drift}
	}
	return nil
}

func (t *Target) platform(name string) *Platform {
	for i := range t.Platforms {
		if t.Platforms[i].Platform == name {
			return &t.Platforms[i]
		}
	}
	return nil
}

// Apply makes tp exactly the locked set: every stage's packages become the
// locked ones, in the locked order. A package the plan has at the locked
// version keeps its index entry; one whose version moved or vanished is
// fetched from the snapshot mirror (its SHA256 and size from the lock, so
// the download is verified against what was verified when locking). With no
// snapshot, any drift is an error (Check's). The base image must not have
// moved: pin it with --base-image REF@DIGEST.
func (t *Target) Apply(tp *assemble.TargetPlan, snapshot *Snapshot) error {
	err := t.Check(tp)
	if err == nil {
		return nil
	}
	var de *DriftError
	if !errors.As(err, &de) || snapshot == nil {
		return err
	}
	for _, d := range de.Drift {
		if d.What == "base image" || d.What == "platform" {
			return fmt.Errorf("%w (a snapshot mirror serves packages, not images: give --base-image REF@%s)", err, d.Locked)
		}
	}
	for _, pp := range tp.Platforms {
		lp := t.platform(pp.Platform.String())
		have := map[string]apt.Planned{}
		for _, pk := range pp.Planned() {
			have[pk.Name+":"+pk.Architecture] = pk
		}
		stages := make([]assemble.StagePlan, 0, len(lp.Stages))
		for _, ls := range lp.Stages {
			st := assemble.StagePlan{Name: ls.Name}
			for _, lpk := range ls.Packages {
				cur, ok := have[lpk.Name+":"+lpk.Arch]
				if ok && cur.Version == lpk.Version && cur.SHA256 == lpk.SHA256 {
					st.Packages = append(st.Packages, cur)
					continue
				}
				pkg, err := snapshot.Package(lpk)
				if err != nil {
					return err
				}
				if ok {
					// Keep what the index said about the package's relations;
					// the .deb's own control is what the layer is made from.
					cp := *cur.Package
					cp.Version, cp.SHA256, cp.Size, cp.Filename, cp.Repository = pkg.Version, pkg.SHA256, pkg.Size, pkg.Filename, pkg.Repository
					cp.Paragraph = nil
					pkg = &cp
				}
				st.Packages = append(st.Packages, apt.Planned{Package: pkg, Reason: lpk.Reason})
			}
			stages = append(stages, st)
		}
		pp.Stages = stages
	}
	tp.Version = t.Version
	return nil
}

// Snapshot is a snapshot-style mirror: a URL template where "{path}" is a
// package's pool path ("pool/main/p/postgresql-17/libpq5_17.5-1_amd64.deb")
// and "{suite}" the suite it was locked from, e.g.
// "http://snapshot.example/archive/debian/20261101T000000Z/{path}".
type Snapshot struct{ Template string }

// ParseSnapshot checks a --snapshot template.
func ParseSnapshot(tmpl string) (*Snapshot, error) {
	if !strings.HasSuffix(tmpl, "{path}") {
		return nil, fmt.Errorf("--snapshot %q: the URL template must end with {path} (the package's pool path)", tmpl)
	}
	if !strings.HasPrefix(tmpl, "http://") && !strings.HasPrefix(tmpl, "https://") {
		return nil, fmt.Errorf("--snapshot %q: not an http(s) URL", tmpl)
	}
	return &Snapshot{Template: tmpl}, nil
}

// base is the snapshot's repository URI for suite: the template without
// {path}, {suite} replaced.
func (s *Snapshot) base(suite string) string {
	return strings.TrimSuffix(strings.ReplaceAll(strings.TrimSuffix(s.Template, "{path}"), "{suite}", suite), "/")
}

// Package is the locked package as served by the snapshot mirror.
func (s *Snapshot) Package(lp Package) (*apt.Package, error) {
	if lp.Filename == "" || lp.SHA256 == "" {
		return nil, fmt.Errorf("lock: %s %s has no pool path or SHA256 to fetch it by", lp.Name, lp.Version)
	}
	_, suite, _ := strings.Cut(lp.Repository, " ")
	base := s.base(suite)
	return &apt.Package{
		Name: lp.Name, Version: lp.Version, Architecture: lp.Arch, SHA256: lp.SHA256, Size: lp.Size, Filename: lp.Filename,
		Repository: &apt.Repository{URI: base, Suite: suite, Priority: 500},
	}, nil
}
