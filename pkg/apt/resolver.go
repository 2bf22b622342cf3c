package apt

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// Sentinel errors of Resolve; test with errors.Is.
var (
	// ErrUnsatisfiable: a request or a dependency cannot be met.
	ErrUnsatisfiable = errors.New("unsatisfiable")
	// ErrConflict: two packages of the result would conflict or break each other.
	ErrConflict = errors.New("conflict")
)

// ResolveError explains why resolution failed: the chain of relations that
// led from a request to the problem, and the problem itself.
type ResolveError struct {
	Err     error    // ErrUnsatisfiable or ErrConflict
	Chain   []string // e.g. "requested postgresql-17", "postgresql-17 17.12-1 Depends: postgresql-common (>= 252)"
	Problem string   // e.g. "libpq5 ... Depends: libc6 (>= 2.41) but only 2.36-9 is available"
}

func (e *ResolveError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	b.WriteString(": ")
	for _, c := range e.Chain {
		b.WriteString(c)
		b.WriteString(" -> ")
	}
	b.WriteString(e.Problem)
	return b.String()
}

func (e *ResolveError) Unwrap() error { return e.Err }

// prepend adds a link at the front of the chain and returns e.
func (e *ResolveError) prepend(link string) *ResolveError {
	e.Chain = append([]string{link}, e.Chain...)
	return e
}

// ResolveOptions tunes Resolve.
type ResolveOptions struct {
	// Logger receives a debug trace of the resolver's decisions; nil for none.
	Logger *slog.Logger
}

// Planned is one package of an install set.
type Planned struct {
	*Package
	// Reason says why the package is in: "requested", or the relation that
	// pulled it in, e.g. "postgresql-17 Depends: libpq5 (>= 17.12)".
	Reason string
	// Upgrade is the installed version this one replaces, or nil for a new
	// package.
	Upgrade *Package
}

// InstallSet is the result of Resolve: packages to unpack, dependencies
// before their dependents.
type InstallSet struct {
	Packages []Planned
}

// Resolve computes what `apt-get install --no-install-recommends REQUESTS`
// would install on a system where installed is the dpkg status (see
// ParseStatus), choosing from u.
//
// Requests are "name", "name=version", "name=glob" ('*' and '?' wildcards
// matched against the whole version string; the highest match wins, as in
// apt) or "name:arch[=version]". A virtual name is accepted when exactly one
// package provides it.
//
// The algorithm follows apt's classic depcache: requested packages are
// marked first, then their Pre-Depends and Depends are followed
// depth-first. An or-group already satisfied by an installed or marked
// package is left alone; otherwise the candidates of its alternatives (real
// packages and providers) are tried, those of installed packages first,
// each sorted like apt's CompareProviders (installed, same name, Essential,
// Protected, Priority field, then apt's cache order, which NewUniverse
// reproduces from the order of the packages it is given), and one whose own
// dependencies fail is rolled back for the next. Installed packages are kept
// unless a relation needs a newer version, they conflict with a new
// package, or they are requested and a newer candidate exists; then they
// are upgraded, with the installed binaries of the same source. A marked
// package that a later one conflicts with loses its mark, as in apt, and
// whatever needed it is satisfied again. Packages are never removed: where
// apt would remove something the result is an ErrConflict error.
func Resolve(u *Universe, installed []*Package, requests []string, opts ResolveOptions) (*InstallSet, error) {
	r := newResolver(u, installed, opts)
	return r.run(requests)
}

type undoEntry struct {
	name   string
	prev   *Package
	reason string
}

type resolver struct {
	u    *Universe
	arch string
	log  *slog.Logger

	inst         map[string]*Package     // installed, by name
	instProv     map[string][]providedBy // virtual name -> installed providers
	instRDep     map[string][]*Package   // name -> installed packages whose (Pre-)Depends mention it
	instBySource map[string][]*Package   // source name -> installed binaries, by name
	sel          map[string]*Package     // marked for install (new or upgrade)
	selProv      map[string][]providedBy // virtual name -> marked providers (may hold stale entries)
	reason       map[string]string       // why sel[name] was marked
	override     map[string]*Package     // candidate chosen by a request's version or glob
	undo         []undoEntry
}

func newResolver(u *Universe, installed []*Package, opts ResolveOptions) *resolver {
	r := &resolver{
		u:            u,
		arch:         u.arch,
		log:          opts.Logger,
		inst:         make(map[string]*Package, len(installed)),
		instProv:     make(map[string][]providedBy),
		instRDep:     make(map[string][]*Package),
		instBySource: make(map[string][]*Package),
		sel:          make(map[string]*Package),
		selProv:      make(map[string][]providedBy),
		reason:       make(map[string]string),
		override:     make(map[string]*Package),
	}
	for _, p := range installed {
		if p.Architecture != r.arch && p.Architecture != "all" && p.Architecture != "" {
			continue // a foreign-architecture package: not ours to satisfy anything
		}
		switch p.StatusWord() {
		case "not-installed", "config-files":
			continue
		}
		r.inst[p.Name] = p
	}
	for _, name := range sortedKeys(r.inst) {
		p := r.inst[name]
		r.instBySource[p.Source] = append(r.instBySource[p.Source], p)
		for _, alt := range p.Provides {
			for i := range alt {
				r.instProv[alt[i].Name] = append(r.instProv[alt[i].Name], providedBy{pkg: p, rel: &alt[i]})
			}
		}
		for _, f := range [2]Relations{p.PreDepends, p.Depends} {
			for _, g := range f {
				for _, a := range g {
					r.instRDep[a.Name] = append(r.instRDep[a.Name], p)
				}
			}
		}
	}
	return r
}

func (r *resolver) debug(msg string, args ...any) {
	if r.log != nil {
		r.log.Debug(msg, args...)
	}
}

// state returns the version of name that will be on the system: marked, or installed.
func (r *resolver) state(name string) *Package {
	if p, ok := r.sel[name]; ok {
		return p
	}
	return r.inst[name]
}

// candidate returns the version apt would install for name: the request's
// choice, else the universe's candidate unless the installed version is at
// least as new (apt never downgrades on its own).
func (r *resolver) candidate(name string) *Package {
	if p := r.override[name]; p != nil {
		return p
	}
	c := r.u.Candidate(name)
	if i := r.inst[name]; i != nil && (c == nil || CompareVersions(i.Version, c.Version) >= 0) {
		return i
	}
	return c
}

func (r *resolver) mark(p *Package, reason string) {
	r.undo = append(r.undo, undoEntry{name: p.Name, prev: r.sel[p.Name], reason: r.reason[p.Name]})
	r.sel[p.Name] = p
	r.reason[p.Name] = reason
	for _, alt := range p.Provides {
		for i := range alt {
			r.selProv[alt[i].Name] = append(r.selProv[alt[i].Name], providedBy{pkg: p, rel: &alt[i]})
		}
	}
}

// unmark takes back the mark on name: the installed version, if any, stays.
func (r *resolver) unmark(name string) {
	r.undo = append(r.undo, undoEntry{name: name, prev: r.sel[name], reason: r.reason[name]})
	delete(r.sel, name)
	delete(r.reason, name)
}

func (r *resolver) rollback(to int) {
	for len(r.undo) > to {
		e := r.undo[len(r.undo)-1]
		r.undo = r.undo[:len(r.undo)-1]
		if e.prev == nil {
			delete(r.sel, e.name)
			delete(r.reason, e.name)
		} else {
			r.sel[e.name] = e.prev
			r.reason[e.name] = e.reason
		}
	}
}

// archOK reports whether package p can satisfy a relation with rel's
// architecture qualifier. This resolver is single-architecture: ":any" and
// ":native" mean the native architecture, as does no qualifier.
func (r *resolver) archOK(p *Package, rel Relation) bool {
	switch rel.ArchQ {
	case "", "any", "native":
		return true
	}
	return rel.ArchQ == r.arch || p.Architecture == "all" && rel.ArchQ == r.arch
}

// provideSatisfies: an unversioned relation is met by any Provides of the
// name; a versioned one only by a "Provides: name (= version)" that
// satisfies it (Debian policy 7.5).
func provideSatisfies(pr, rel Relation) bool {
	if rel.Op == OpNone {
		return true
	}
	return pr.Op == OpEQ && Satisfies(pr.Version, rel.Op, rel.Version)
}

// satisfies reports whether p, by name or by Provides, meets rel.
func (r *resolver) satisfies(p *Package, rel Relation) bool {
	if !r.archOK(p, rel) {
		return false
	}
	if p.Name == rel.Name && Satisfies(p.Version, rel.Op, rel.Version) {
		return true
	}
	for _, alt := range p.Provides {
		for _, pr := range alt {
			if pr.Name == rel.Name && provideSatisfies(pr, rel) {
				return true
			}
		}
	}
	return false
}

// current reports whether p is the version of its name on the system.
func (r *resolver) current(p *Package) bool { return r.state(p.Name) == p }

// relSatisfied reports whether something on the system meets rel.
func (r *resolver) relSatisfied(rel Relation) bool {
	if p := r.state(rel.Name); p != nil && r.satisfies(p, rel) {
		return true
	}
	for _, m := range [2]map[string][]providedBy{r.instProv, r.selProv} {
		for _, pb := range m[rel.Name] {
			if r.current(pb.pkg) && r.archOK(pb.pkg, rel) && provideSatisfies(*pb.rel, rel) {
				return true
			}
		}
	}
	return false
}

// applicable returns the alternatives of g that apply to the architecture;
// ok is false when none do (the group is then ignored, like dpkg does).
func (r *resolver) applicable(g Alternatives) (Alternatives, bool) {
	for _, a := range g {
		if len(a.Archs) > 0 {
			out := make(Alternatives, 0, len(g))
			for _, a := range g {
				if a.AppliesTo(r.arch) {
					out = append(out, a)
				}
			}
			return out, len(out) > 0
		}
	}
	return g, len(g) > 0
}

func (r *resolver) groupSatisfied(g Alternatives) bool {
	for _, a := range g {
		if r.relSatisfied(a) {
			return true
		}
	}
	return false
}

// candidates returns, unsorted, the candidate versions that satisfy the
// alternative a: the candidate of the package named, and candidates of
// packages providing it.
func (r *resolver) candidates(a Relation) []*Package {
	var vl []*Package
	if c := r.candidate(a.Name); c != nil && r.satisfies(c, a) {
		vl = append(vl, c)
	}
	for _, pb := range r.u.providers[a.Name] {
		if pb.pkg.Name == a.Name {
			continue
		}
		if r.candidate(pb.pkg.Name) == pb.pkg && r.archOK(pb.pkg, a) && provideSatisfies(*pb.rel, a) && !slices.Contains(vl, pb.pkg) {
			vl = append(vl, pb.pkg)
		}
	}
	return vl
}

// hasSolution reports whether some candidate could satisfy g.
func (r *resolver) hasSolution(g Alternatives) bool {
	for _, a := range g {
		if len(r.candidates(a)) > 0 {
			return true
		}
	}
	return false
}

// trySolutions calls try with the candidate versions that could satisfy g,
// in the order apt tries them, until try returns true: those of installed
// packages (upgrades) before new packages, and within that alternative by
// alternative, each sorted by compareProviders. It reports whether a try
// succeeded. Sorting is done only as far as trying goes.
func (r *resolver) trySolutions(g Alternatives, try func(*Package) bool) bool {
	lists := make([][]*Package, len(g))
	for i, a := range g {
		lists[i] = r.candidates(a)
	}
	var seen, part []*Package
	for _, upgrades := range [2]bool{true, false} {
		for i, a := range g {
			part = part[:0]
			for _, v := range lists[i] {
				if (r.inst[v.Name] != nil) == upgrades && !slices.Contains(seen, v) {
					part = append(part, v)
				}
			}
			if len(part) > 1 {
				slices.SortStableFunc(part, func(x, y *Package) int { return r.compareProviders(x, y, a.Name) })
			}
			for _, v := range part {
				seen = append(seen, v)
				if try(v) {
					return true
				}
			}
		}
	}
	return false
}

// priorityRank orders the Priority field like apt: required first.
func priorityRank(p string) int {
	switch p {
	case "required":
		return 1
	case "important":
		return 2
	case "standard":
		return 3
	case "optional":
		return 4
	case "extra":
		return 5
	}
	return 6
}

// compareProviders sorts the candidates for a relation on target the way
// apt's CompareProviders does, down to its last resort, the order of its
// cache (see NewUniverse); the name breaks what ties remain.
func (r *resolver) compareProviders(a, b *Package, target string) int {
	ai, bi := r.inst[a.Name] != nil, r.inst[b.Name] != nil
	if ai != bi {
		if ai {
			return -1
		}
		return 1
	}
	if (a.Name == target) != (b.Name == target) {
		if a.Name == target {
			return -1
		}
		return 1
	}
	if a.Essential != b.Essential {
		if a.Essential {
			return -1
		}
		return 1
	}
	if a.Protected != b.Protected {
		if a.Protected {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(priorityRank(a.Priority), priorityRank(b.Priority)); c != 0 {
		return c
	}
	// apt: "unable to decide…", the package its cache numbered last wins.
	if c := cmp.Compare(r.u.cacheOrder(b.Name), r.u.cacheOrder(a.Name)); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// depFields lists the relation fields the resolver follows, in apt's order.
func depFields(p *Package) [2]struct {
	name string
	rels Relations
} {
	return [2]struct {
		name string
		rels Relations
	}{{"Pre-Depends", p.PreDepends}, {"Depends", p.Depends}}
}

// satisfiableNow is apt's IsInstallOkDependenciesSatisfiableByCandidates:
// every dependency of p must be met by the system or by some candidate,
// looking one level deep only.
func (r *resolver) satisfiableNow(p *Package) *ResolveError {
	for _, f := range depFields(p) {
		for _, g0 := range f.rels {
			g, ok := r.applicable(g0)
			if !ok || r.groupSatisfied(g) {
				continue
			}
			if !r.hasSolution(g) {
				return r.unmet(p, f.name, g0, g)
			}
		}
	}
	return nil
}

// unmet describes why no alternative of g can be installed.
func (r *resolver) unmet(p *Package, field string, g0, g Alternatives) *ResolveError {
	var why []string
	for _, a := range g {
		switch c := r.candidate(a.Name); {
		case c != nil && r.inst[a.Name] == c:
			why = append(why, fmt.Sprintf("%s %s is installed and no newer version is available", a.Name, c.Version))
		case c != nil:
			why = append(why, fmt.Sprintf("only %s %s is available", a.Name, c.Version))
		case len(r.u.providers[a.Name]) > 0 || len(r.instProv[a.Name]) > 0:
			why = append(why, fmt.Sprintf("%s is a virtual package and no provider satisfies the relation", a.Name))
		default:
			why = append(why, fmt.Sprintf("%s is not available", a.Name))
		}
	}
	msg := fmt.Sprintf("%s %s %s: %s but ", p.Name, p.Version, field, g0)
	if len(why) == 1 && strings.HasPrefix(why[0], g[0].Name+" is not available") {
		msg += "it is not available"
	} else if len(why) == 1 && strings.HasPrefix(why[0], "only "+g[0].Name+" ") {
		msg += "only " + r.candidate(g[0].Name).Version + " is available"
	} else {
		msg += strings.Join(why, ", and ")
	}
	return &ResolveError{Err: ErrUnsatisfiable, Problem: msg}
}

// markInstall marks p (a candidate) for installation with its dependencies,
// or leaves the state untouched and explains why it cannot.
func (r *resolver) markInstall(p *Package, reason string, depth int) *ResolveError {
	if r.current(p) {
		return nil
	}
	if depth > 500 {
		return &ResolveError{Err: ErrUnsatisfiable, Problem: "dependency chain too deep at " + p.Name}
	}
	if e := r.satisfiableNow(p); e != nil {
		return e
	}
	start := len(r.undo)
	r.mark(p, reason)
	r.debug("mark", "package", p.Name, "version", p.Version, "reason", reason, "depth", depth)
	if e := r.process(p, depth); e != nil {
		r.rollback(start)
		return e
	}
	return nil
}

// process handles the consequences of marking p: upgrades its conflicts
// and broken reverse dependencies force, then its dependencies.
func (r *resolver) process(p *Package, depth int) *ResolveError {
	// Installed packages p conflicts with must be upgraded out of the way.
	var toUpgrade []*Package
	var because []string
	for _, f := range [2]struct {
		name string
		rels Relations
	}{{"Conflicts", p.Conflicts}, {"Breaks", p.Breaks}} {
		for _, g := range f.rels {
			for _, rel := range g {
				if !rel.AppliesTo(r.arch) {
					continue
				}
				for _, t := range r.conflictTargets(p, rel) {
					if r.inst[t.Name] != t {
						// t is only marked. Like apt (MarkKeep in
						// MarkInstall_RemoveConflictsIfNotUpgradeable) take the
						// mark back unless the user asked for t; what needed t
						// is looked at again once everything is marked.
						if r.reason[t.Name] == "requested" {
							return &ResolveError{Err: ErrConflict, Problem: fmt.Sprintf("%s %s %s: %s and %s %s is to be installed", p.Name, p.Version, f.name, rel, t.Name, t.Version)}
						}
						r.debug("unmark", "package", t.Name, "because", p.Name+" "+f.name+": "+rel.String())
						r.unmark(t.Name)
						if t = r.state(t.Name); t == nil || t.Name == p.Name || !r.satisfies(t, rel) {
							continue
						}
					}
					c := r.candidate(t.Name)
					if c == t || r.satisfies(c, rel) {
						return &ResolveError{Err: ErrConflict, Problem: fmt.Sprintf("%s %s %s: %s and %s %s is installed", p.Name, p.Version, f.name, rel, t.Name, t.Version)}
					}
					toUpgrade = append(toUpgrade, c)
					because = append(because, fmt.Sprintf("%s %s: %s", p.Name, f.name, rel))
				}
			}
		}
	}
	// Installed packages whose dependencies the old version met and the new
	// one does not must be upgraded too.
	if old := r.inst[p.Name]; old != nil {
		for _, q := range r.instRDep[p.Name] {
			if !r.current(q) {
				continue
			}
			for _, f := range depFields(q) {
				for _, g0 := range f.rels {
					g, ok := r.applicable(g0)
					if !ok || r.groupSatisfied(g) || !slices.ContainsFunc(g, func(a Relation) bool { return r.satisfies(old, a) }) {
						continue
					}
					c := r.candidate(q.Name)
					if c == q {
						return &ResolveError{Err: ErrUnsatisfiable, Problem: fmt.Sprintf("%s %s (installed) %s: %s but %s %s is to be installed and no newer %s is available", q.Name, q.Version, f.name, g0, p.Name, p.Version, q.Name)}
					}
					if !slices.Contains(toUpgrade, c) {
						toUpgrade = append(toUpgrade, c)
						because = append(because, fmt.Sprintf("%s %s: %s", q.Name, f.name, g0))
					}
				}
			}
		}
	}
	for i, c := range toUpgrade {
		if e := r.markInstall(c, "upgrade: "+because[i], depth+1); e != nil {
			return e.prepend(fmt.Sprintf("upgrade %s to %s because %s", c.Name, c.Version, because[i]))
		}
	}
	// apt (since 2.5.2) upgrades the installed binaries built from the same
	// source at the same source version along with p, so that libssl3t64
	// follows openssl. Unlike the upgrades above this is a courtesy: when
	// one cannot be done it is left out.
	for _, q := range r.instBySource[p.Source] {
		if q.Name == p.Name || !r.current(q) {
			continue
		}
		c := r.candidate(q.Name)
		if c == q || c.Source != p.Source || sourceVersion(c) != sourceVersion(p) {
			continue
		}
		if e := r.markInstall(c, fmt.Sprintf("upgrade: built from source %s %s like %s", p.Source, sourceVersion(p), p.Name), depth+1); e != nil {
			r.debug("same-source upgrade skipped", "package", c.Name, "err", e)
		}
	}
	for _, f := range depFields(p) {
		for _, g0 := range f.rels {
			g, ok := r.applicable(g0)
			if !ok || r.groupSatisfied(g) {
				continue
			}
			reason := fmt.Sprintf("%s %s: %s", p.Name, f.name, g0)
			var first *ResolveError
			done := r.trySolutions(g, func(s *Package) bool {
				e := r.markInstall(s, reason, depth+1)
				if e != nil && first == nil {
					first = e
				}
				return e == nil
			})
			if !done {
				if first == nil {
					return r.unmet(p, f.name, g0, g)
				}
				return first.prepend(fmt.Sprintf("%s %s %s: %s", p.Name, p.Version, f.name, g0))
			}
		}
	}
	return nil
}

// conflictTargets returns the packages on the system, other than p itself,
// that rel (a Conflicts or Breaks entry of p) hits. A package never
// conflicts with itself, nor through what it provides (policy 7.4, 7.6).
func (r *resolver) conflictTargets(p *Package, rel Relation) []*Package {
	var out []*Package
	if t := r.state(rel.Name); t != nil && t.Name != p.Name && r.archOK(t, rel) && Satisfies(t.Version, rel.Op, rel.Version) {
		out = append(out, t)
	}
	for _, m := range [2]map[string][]providedBy{r.instProv, r.selProv} {
		for _, pb := range m[rel.Name] {
			if pb.pkg.Name != p.Name && r.current(pb.pkg) && provideSatisfies(*pb.rel, rel) && !slices.Contains(out, pb.pkg) {
				out = append(out, pb.pkg)
			}
		}
	}
	return out
}

// request is one parsed command-line request.
type request struct {
	raw, name, arch, version string
}

func parseRequest(s string) (request, error) {
	q := request{raw: s, name: strings.TrimSpace(s)}
	if i := strings.IndexByte(q.name, '='); i >= 0 {
		q.name, q.version = q.name[:i], q.name[i+1:]
		if q.version == "" {
			return q, fmt.Errorf("%w: request %q: empty version", ErrUnsatisfiable, s)
		}
	}
	if i := strings.IndexByte(q.name, ':'); i >= 0 {
		q.name, q.arch = q.name[:i], q.name[i+1:]
	}
	if q.name == "" {
		return q, fmt.Errorf("%w: empty request %q", ErrUnsatisfiable, s)
	}
	return q, nil
}

// globMatch matches s against pattern where '*' is any run of characters and
// '?' any one character; nothing else is special.
func globMatch(pattern, s string) bool {
	px, sx := 0, 0
	nextPx, nextSx := -1, -1
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				nextPx, nextSx = px, sx+1
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx++
					continue
				}
			default:
				if sx < len(s) && s[sx] == c {
					px++
					sx++
					continue
				}
			}
		}
		if nextSx > 0 && nextSx <= len(s) {
			px, sx = nextPx, nextSx
			continue
		}
		return false
	}
	return true
}

// choose returns the version a request asks for.
func (r *resolver) choose(q request) (*Package, error) {
	if q.arch != "" && q.arch != r.arch && q.arch != "any" && q.arch != "native" && q.arch != "all" {
		return nil, &ResolveError{Err: ErrUnsatisfiable, Problem: fmt.Sprintf("request %q: architecture %s is not %s", q.raw, q.arch, r.arch)}
	}
	versions := r.u.Versions(q.name)
	inst := r.inst[q.name]
	if q.version == "" {
		if c := r.candidate(q.name); c != nil {
			return c, nil
		}
		// A virtual package: apt picks its provider when there is exactly one.
		var provs []*Package
		for _, pb := range r.u.providers[q.name] {
			if c := r.candidate(pb.pkg.Name); c == pb.pkg && !slices.Contains(provs, c) {
				provs = append(provs, c)
			}
		}
		// Like apt, an installed provider does not settle the choice when
		// there are several: the user must name one.
		for _, pb := range r.instProv[q.name] {
			if r.current(pb.pkg) && !slices.ContainsFunc(provs, func(p *Package) bool { return p.Name == pb.pkg.Name }) {
				provs = append(provs, pb.pkg)
			}
		}
		switch len(provs) {
		case 0:
			return nil, &ResolveError{Err: ErrUnsatisfiable, Problem: fmt.Sprintf("package %s is not available", q.name)}
		case 1:
			return provs[0], nil
		}
		names := make([]string, len(provs))
		for i, p := range provs {
			names[i] = p.Name
		}
		slices.Sort(names)
		return nil, &ResolveError{Err: ErrUnsatisfiable, Problem: fmt.Sprintf("%s is a virtual package provided by %s; select one to install", q.name, strings.Join(names, ", "))}
	}
	glob := strings.ContainsAny(q.version, "*?")
	match := func(v string) bool {
		if glob {
			return globMatch(q.version, v)
		}
		return v == q.version || CompareVersions(v, q.version) == 0
	}
	// Like apt's version match: the highest matching version, whatever
	// the priority of its repository.
	var best *Package
	for _, v := range versions {
		if match(v.Version) && (best == nil || CompareVersions(v.Version, best.Version) > 0) {
			best = v
		}
	}
	if best != nil && inst != nil && CompareVersions(best.Version, inst.Version) == 0 {
		best = inst
	}
	if best == nil && inst != nil && match(inst.Version) {
		best = inst
	}
	if best == nil {
		var avail []string
		for _, v := range versions {
			avail = append(avail, v.Version)
		}
		what := "no version is available"
		if len(avail) > 0 {
			what = "available: " + strings.Join(avail, ", ")
		}
		return nil, &ResolveError{Err: ErrUnsatisfiable, Problem: fmt.Sprintf("version %q of %s is not available (%s)", q.version, q.name, what)}
	}
	return best, nil
}

func (r *resolver) run(requests []string) (*InstallSet, error) {
	// First pass, as apt-get does: mark every request without its
	// dependencies, so that requests can satisfy each other's alternatives.
	var marked []*Package
	for _, s := range requests {
		q, err := parseRequest(s)
		if err != nil {
			return nil, err
		}
		p, err := r.choose(q)
		if err != nil {
			return nil, err
		}
		if cur := r.sel[p.Name]; cur != nil && cur != p {
			return nil, &ResolveError{Err: ErrUnsatisfiable, Problem: fmt.Sprintf("%s requested at versions %s and %s", p.Name, cur.Version, p.Version)}
		}
		if q.version != "" {
			r.override[p.Name] = p
		}
		if r.current(p) {
			continue // installed at the wanted version already
		}
		r.mark(p, "requested")
		marked = append(marked, p)
	}
	// Second pass: dependencies, conflicts, forced upgrades.
	for _, p := range marked {
		if e := r.process(p, 0); e != nil {
			return nil, e.prepend("requested " + p.Name + " " + p.Version)
		}
	}
	if err := r.fixInstalledConflicts(); err != nil {
		return nil, err
	}
	if err := r.fixUnmet(); err != nil {
		return nil, err
	}
	if err := r.verify(); err != nil {
		return nil, err
	}
	return r.installSet(), nil
}

// fixUnmet satisfies again the dependencies of marked packages that a
// taken-back mark left unmet (see process), the way apt's problem resolver
// would install another alternative.
func (r *resolver) fixUnmet() error {
	for round := 0; round < 20; round++ {
		changed := false
		for _, name := range sortedKeys(r.sel) {
			p := r.sel[name]
			if p == nil || !r.current(p) {
				continue
			}
			for _, f := range depFields(p) {
				for _, g0 := range f.rels {
					g, ok := r.applicable(g0)
					if !ok || r.groupSatisfied(g) {
						continue
					}
					reason := fmt.Sprintf("%s %s: %s", p.Name, f.name, g0)
					var first *ResolveError
					if !r.trySolutions(g, func(s *Package) bool {
						e := r.markInstall(s, reason, 1)
						if e != nil && first == nil {
							first = e
						}
						return e == nil
					}) {
						if first == nil {
							return r.unmet(p, f.name, g0, g)
						}
						return first.prepend(fmt.Sprintf("%s %s %s: %s", p.Name, p.Version, f.name, g0))
					}
					changed = true
				}
			}
		}
		if !changed {
			return nil
		}
	}
	return &ResolveError{Err: ErrUnsatisfiable, Problem: "dependencies do not settle after 20 rounds"}
}

// verify checks the final system for Conflicts and Breaks that involve a
// marked package; the marking steps avoid them, but a mark taken back and
// given again by fixUnmet could bring one back.
func (r *resolver) verify() error {
	names := sortedKeys(r.inst)
	for _, n := range sortedKeys(r.sel) {
		if r.inst[n] == nil {
			names = append(names, n)
		}
	}
	for _, n := range names {
		p := r.state(n)
		if p == nil {
			continue
		}
		err := r.eachConflict(p, func(field string, rel Relation, t *Package) error {
			if r.sel[p.Name] != p && r.sel[t.Name] != t {
				return nil // both installed already: not ours to judge
			}
			what := "is to be installed"
			if r.sel[t.Name] != t {
				what = "is installed"
			}
			return &ResolveError{Err: ErrConflict, Problem: fmt.Sprintf("%s %s %s: %s and %s %s %s", p.Name, p.Version, field, rel, t.Name, t.Version, what)}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// fixInstalledConflicts looks for installed packages whose own Conflicts or
// Breaks hit a marked package. Like apt's problem resolver it upgrades such a
// package when its candidate no longer conflicts; otherwise it fails.
func (r *resolver) fixInstalledConflicts() error {
	for round := 0; round < 100; round++ {
		changed := false
		for _, name := range sortedKeys(r.inst) {
			q := r.inst[name]
			if !r.current(q) {
				continue
			}
			err := r.eachConflict(q, func(field string, rel Relation, t *Package) error {
				if r.sel[t.Name] != t {
					return nil // installed vs installed: not ours to judge
				}
				c := r.candidate(q.Name)
				problem := fmt.Sprintf("%s %s (installed) %s: %s and %s %s is to be installed", q.Name, q.Version, field, rel, t.Name, t.Version)
				if c == q || c.hits(r, field, t) {
					return &ResolveError{Err: ErrConflict, Problem: problem + "; no version of " + q.Name + " without this relation is available"}
				}
				if e := r.markInstall(c, fmt.Sprintf("upgrade: %s %s: %s", q.Name, field, rel), 0); e != nil {
					return e.prepend(problem)
				}
				changed = true
				return nil
			})
			if err != nil {
				return err
			}
		}
		if !changed {
			return nil
		}
	}
	return &ResolveError{Err: ErrConflict, Problem: "conflicts do not settle after 100 rounds"}
}

// eachConflict calls fn for every package that one of p's Conflicts or
// Breaks relations (applying to the architecture) hits, and stops at the
// first error.
func (r *resolver) eachConflict(p *Package, fn func(field string, rel Relation, t *Package) error) error {
	for _, f := range [2]struct {
		name string
		rels Relations
	}{{"Conflicts", p.Conflicts}, {"Breaks", p.Breaks}} {
		for _, g := range f.rels {
			for _, rel := range g {
				if !rel.AppliesTo(r.arch) {
					continue
				}
				for _, t := range r.conflictTargets(p, rel) {
					if err := fn(f.name, rel, t); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// hits reports whether p's Conflicts or Breaks (per field name) matches t.
func (p *Package) hits(r *resolver, field string, t *Package) bool {
	rels := p.Conflicts
	if field == "Breaks" {
		rels = p.Breaks
	}
	for _, g := range rels {
		for _, rel := range g {
			if rel.AppliesTo(r.arch) && t.Name != p.Name && r.satisfies(t, rel) {
				return true
			}
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// installSet orders the marked packages: dependencies before dependents.
// Strongly connected components (dependency cycles) are kept together; inside
// one, Pre-Depends order strictly and the rest goes by name.
func (r *resolver) installSet() *InstallSet {
	names := sortedKeys(r.sel)
	idx := make(map[string]int, len(names))
	for i, n := range names {
		idx[n] = i
	}
	// edges[i] = marked packages that i needs (to be unpacked first).
	edges := make([][]int, len(names))
	pre := make([][]int, len(names))
	for i, n := range names {
		p := r.sel[n]
		for fi, f := range depFields(p) {
			for _, g0 := range f.rels {
				g, ok := r.applicable(g0)
				if !ok {
					continue
				}
				for _, t := range r.groupProviders(g) {
					j, ok := idx[t.Name]
					if !ok || j == i {
						continue
					}
					edges[i] = append(edges[i], j)
					if fi == 0 {
						pre[i] = append(pre[i], j)
					}
				}
			}
		}
	}
	order := topoOrder(len(names), edges, pre)
	set := &InstallSet{Packages: make([]Planned, 0, len(order))}
	for _, i := range order {
		n := names[i]
		pl := Planned{Package: r.sel[n], Reason: r.reason[n]}
		if old := r.inst[n]; old != nil {
			pl.Upgrade = old
		}
		set.Packages = append(set.Packages, pl)
	}
	return set
}

// groupProviders returns the marked packages that satisfy g: those of the
// first alternative that something satisfies.
func (r *resolver) groupProviders(g Alternatives) []*Package {
	for _, a := range g {
		var out []*Package
		if p := r.sel[a.Name]; p != nil && r.satisfies(p, a) {
			out = append(out, p)
		}
		for _, pb := range r.selProv[a.Name] {
			if r.current(pb.pkg) && provideSatisfies(*pb.rel, a) && !slices.Contains(out, pb.pkg) {
				out = append(out, pb.pkg)
			}
		}
		if len(out) > 0 {
			return out
		}
		if r.relSatisfied(a) {
			return nil // met by an installed package
		}
	}
	return nil
}

// topoOrder returns node indexes so that each node comes after what it
// needs. Nodes are numbered in name order, so picking the smallest ready
// index breaks ties by name. Cycles are collapsed with Tarjan's algorithm;
// inside a cycle the pre-edges are honoured where they do not cycle
// themselves.
func topoOrder(n int, edges, pre [][]int) []int {
	comp := tarjan(n, edges)
	ncomp := 0
	for _, c := range comp {
		ncomp = max(ncomp, c+1)
	}
	members := make([][]int, ncomp)
	for i := 0; i < n; i++ {
		members[comp[i]] = append(members[comp[i]], i) // ascending
	}
	// Component DAG: indeg counts needs not yet placed.
	needs := make([]map[int]bool, ncomp)
	users := make([][]int, ncomp)
	for i := 0; i < n; i++ {
		for _, j := range edges[i] {
			ci, cj := comp[i], comp[j]
			if ci == cj {
				continue
			}
			if needs[ci] == nil {
				needs[ci] = map[int]bool{}
			}
			if !needs[ci][cj] {
				needs[ci][cj] = true
				users[cj] = append(users[cj], ci)
			}
		}
	}
	indeg := make([]int, ncomp)
	for c := range needs {
		indeg[c] = len(needs[c])
	}
	key := func(c int) int { return members[c][0] }
	var ready []int
	for c := 0; c < ncomp; c++ {
		if indeg[c] == 0 {
			ready = append(ready, c)
		}
	}
	var out []int
	for len(ready) > 0 {
		// pick the ready component whose first member sorts first
		bi := 0
		for k := range ready {
			if key(ready[k]) < key(ready[bi]) {
				bi = k
			}
		}
		c := ready[bi]
		ready = append(ready[:bi], ready[bi+1:]...)
		out = append(out, orderCycle(members[c], pre)...)
		for _, u := range users[c] {
			indeg[u]--
			if indeg[u] == 0 {
				ready = append(ready, u)
			}
		}
	}
	return out
}

// orderCycle orders the members of one component by name, moving each
// after its Pre-Depends inside the component when possible.
func orderCycle(ms []int, pre [][]int) []int {
	if len(ms) == 1 {
		return ms
	}
	in := make(map[int]bool, len(ms))
	for _, m := range ms {
		in[m] = true
	}
	placed := make(map[int]bool, len(ms))
	out := make([]int, 0, len(ms))
	for len(out) < len(ms) {
		progress := false
		for _, m := range ms {
			if placed[m] {
				continue
			}
			ok := true
			for _, j := range pre[m] {
				if in[j] && !placed[j] {
					ok = false
					break
				}
			}
			if ok {
				placed[m] = true
				out = append(out, m)
				progress = true
				break
			}
		}
		if !progress {
			// A Pre-Depends cycle, which no order satisfies: break it at
			// the first member (by name) that is itself on the cycle
			// holding it back, so that packages merely waiting for the
			// cycle still come after it.
			pick := -1
			for _, m := range ms {
				if placed[m] {
					continue
				}
				if pick < 0 {
					pick = m
				}
				onCycle := true
				for _, j := range pre[m] {
					if in[j] && !placed[j] && !preReaches(j, m, pre, in, placed) {
						onCycle = false
						break
					}
				}
				if onCycle {
					pick = m
					break
				}
			}
			placed[pick] = true
			out = append(out, pick)
		}
	}
	return out
}

// preReaches reports whether to can be reached from from along pre-edges
// between unplaced members of a component.
func preReaches(from, to int, pre [][]int, in, placed map[int]bool) bool {
	seen := map[int]bool{}
	stack := []int{from}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n == to {
			return true
		}
		if seen[n] {
			continue
		}
		seen[n] = true
		for _, j := range pre[n] {
			if in[j] && !placed[j] {
				stack = append(stack, j)
			}
		}
	}
	return false
}

// tarjan returns the strongly connected component of each node.
func tarjan(n int, edges [][]int) []int {
	index := make([]int, n)
	low := make([]int, n)
	on := make([]bool, n)
	comp := make([]int, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	next, ncomp := 0, 0
	var visit func(v int)
	visit = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		on[v] = true
		for _, w := range edges[v] {
			if index[w] < 0 {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if on[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				on[w] = false
				comp[w] = ncomp
				if w == v {
					break
				}
			}
			ncomp++
		}
	}
	for v := 0; v < n; v++ {
		if index[v] < 0 {
			visit(v)
		}
	}
	return comp
}

// sourceVersion is the version of the source package p was built from.
func sourceVersion(p *Package) string {
	if p.SourceVersion != "" {
		return p.SourceVersion
	}
	return p.Version
}

// After returns the installed set once s is installed on top of installed:
// upgraded packages replace their old entry, new ones are appended, all
// marked "install ok installed". installed is not modified. Installing stages
// one after the other resolves each against the previous one's After.
func (s *InstallSet) After(installed []*Package) []*Package {
	byName := map[string]int{}
	out := append([]*Package(nil), installed...)
	for i, p := range out {
		byName[p.Name] = i
	}
	for _, p := range s.Packages {
		np := *p.Package
		np.Status = "install ok installed"
		if i, ok := byName[p.Name]; ok {
			out[i] = &np
			continue
		}
		byName[p.Name] = len(out)
		out = append(out, &np)
	}
	return out
}
