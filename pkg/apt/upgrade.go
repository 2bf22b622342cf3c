package apt

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// UpgradeResult is what `apt-get upgrade` would do: the upgrades, and the
// upgradable packages it keeps back, each with the reason.
type UpgradeResult struct {
	// Set holds the upgrades, dependencies before dependents; each Planned
	// has Reason "upgrade" and Upgrade set to the installed version.
	Set *InstallSet
	// Kept are the installed packages that have a newer candidate but are
	// not upgraded, by name.
	Kept []KeptBack
}

// KeptBack is an installed package apt-get upgrade leaves as it is.
type KeptBack struct {
	Installed, Candidate *Package
	// Reason names the relation or selection that keeps it, e.g.
	// "held (dpkg selection hold)" or "libfoo 2 Depends: libbar (>= 2):
	// libbar is not installed and apt-get upgrade installs no new package".
	Reason string
}

// Upgrade computes what `apt-get upgrade` would do on a system whose dpkg
// status is installed, choosing from u: every installed package whose
// candidate is newer is upgraded, except that no package is installed new
// and none is removed. Following apt's pkgAllUpgradeNoNewPackages and
// pkgProblemResolver::ResolveByKeep, every upgradable package (not on hold)
// is marked, then the breakage is undone by keeping packages back, until the
// system is consistent:
//   - a marked package whose Pre-Depends or Depends the system would not
//     meet (a new package, or a version kept back) is kept;
//   - a marked package whose Conflicts or Breaks hit the system is kept;
//   - an installed package left as it is whose dependency an upgrade would
//     break keeps the upgraded package back (apt keeps the dependency's
//     target), and so does one whose Conflicts or Breaks hit an upgrade.
//
// A candidate of a repository pinned below 100 does not replace the
// installed version, as apt's policy gives the installed version 100.
func Upgrade(u *Universe, installed []*Package, opts ResolveOptions) *UpgradeResult {
	r := newResolver(u, installed, opts)
	res := &UpgradeResult{}
	cands := map[string]*Package{}
	reasons := map[string]string{}
	for _, name := range sortedKeys(r.inst) {
		p := r.inst[name]
		c := u.Candidate(name)
		if c == nil || priorityOf(c) < 100 || CompareVersions(c.Version, p.Version) <= 0 {
			continue
		}
		if p.StatusWord() != "installed" {
			continue // half-installed or unpacked: apt-get upgrade would ask for -f first
		}
		switch want(p) {
		case "hold":
			res.Kept = append(res.Kept, KeptBack{Installed: p, Candidate: c, Reason: "held (dpkg selection hold)"})
			continue
		case "deinstall", "purge":
			continue
		}
		cands[name] = c
		r.mark(c, "upgrade")
	}
	keep := func(name, why string) {
		r.unmark(name)
		if reasons[name] == "" {
			reasons[name] = why
		}
		r.debug("keep back", "package", name, "reason", why)
	}
	// ResolveByKeep: broken packages in score order; a fix restarts the walk.
	order := r.keepOrder()
	lastStop := -1
	for k := 0; k < len(order); k++ {
		name := order[k]
		p := r.state(name)
		why := r.brokenBy(p)
		if why == "" {
			continue
		}
		if r.sel[name] == p {
			keep(name, why)
			if r.brokenBy(r.state(name)) == "" {
				k = -1
				continue
			}
		}
		q := r.state(name)
		r.keepTargets(q, keep)
		if r.brokenBy(q) == "" {
			continue
		}
		if k == lastStop {
			break // apt stops here too ("ResolveByKeep is looping"); what is kept stays kept
		}
		lastStop, k = k, -1
	}
	for _, name := range sortedKeys(cands) {
		if r.sel[name] == nil {
			res.Kept = append(res.Kept, KeptBack{Installed: r.inst[name], Candidate: cands[name], Reason: reasons[name]})
		}
	}
	sortKept(res.Kept)
	res.Set = r.installSet()
	return res
}

// keepOrder lists the packages on the system (installed or marked) in the
// order apt's problem resolver visits them: highest score first (see
// upgradeScores), ties by name, as apt's cache numbers a repository's
// packages in index order.
func (r *resolver) keepOrder() []string {
	onSys := r.onSystem()
	scores := r.upgradeScores(onSys)
	names := sortedKeys(onSys)
	slices.SortStableFunc(names, func(a, b string) int { return cmp.Compare(scores[b], scores[a]) })
	return names
}

// onSystem maps each package name on the system to its version there:
// installed, or marked.
func (r *resolver) onSystem() map[string]*Package {
	out := make(map[string]*Package, len(r.inst)+len(r.sel))
	for n := range r.inst {
		if p := r.state(n); p != nil {
			out[n] = p
		}
	}
	for n, p := range r.sel {
		out[n] = p
	}
	return out
}

// upgradeScores are apt's pkgProblemResolver::MakeScores with its default
// weights (apt 2.6), for the packages on the system: the Priority field
// of a downloadable version (required 3, important 2, standard 1,
// optional -1, extra -2; not downloadable counts as extra), +100 when
// Essential or Protected, +1 when installed with a candidate available; +1
// for each Pre-Depends, Depends or Recommends and -1 for each Conflicts or
// Breaks on the system naming the package (a versioned one only when its
// version meets it) or provided by it; then, one level deep, the score of
// each package on the system that depends on or recommends it (when
// positive), passed on to the providers of a name as it changes; and
// +5000 for Essential or Protected.
func (r *resolver) upgradeScores(onSys map[string]*Package) map[string]int {
	prio := map[string]int{"required": 3, "important": 2, "standard": 1, "optional": -1, "extra": -2}
	scores := map[string]int{} // real and virtual names
	downloadable := func(p *Package) bool {
		for _, v := range r.u.Versions(p.Name) {
			if v.Version == p.Version {
				return true
			}
		}
		return false
	}
	type weighted struct {
		w        int
		rels     Relations
		negative bool
	}
	fields := func(p *Package) []weighted {
		return []weighted{{1, p.PreDepends, false}, {1, p.Depends, false}, {1, p.Recommends, false}, {-1, p.Conflicts, true}, {-1, p.Breaks, true}}
	}
	// providersOf lists the packages on the system whose version provides
	// name (and meets rel when given).
	providersOf := func(name string, rel *Relation) []string {
		var out []string
		for _, q := range sortedKeys(onSys) {
			for _, alt := range onSys[q].Provides {
				for _, pr := range alt {
					if pr.Name == name && (rel == nil || provideSatisfies(pr, *rel)) && !slices.Contains(out, q) {
						out = append(out, q)
					}
				}
			}
		}
		return out
	}
	// apt's Essential and Important flags are the package's: set when any
	// version it read (the status's included) has them.
	essential := func(n string) bool {
		vs := append([]*Package{onSys[n], r.inst[n]}, r.u.Versions(n)...)
		for _, v := range vs {
			if v != nil && (v.Essential || v.Protected) {
				return true
			}
		}
		return false
	}
	names := sortedKeys(onSys)
	for _, n := range names {
		p := onSys[n]
		s := prio["extra"]
		if downloadable(p) {
			s = prio[p.Priority]
		}
		if essential(n) {
			s += 100
		}
		if r.inst[n] != nil && r.u.Candidate(n) != nil {
			s++
		}
		scores[n] += s
		for _, f := range fields(p) {
			for _, g := range f.rels {
				for _, a := range g {
					if t := onSys[a.Name]; a.Op == OpNone || t != nil && Satisfies(t.Version, a.Op, a.Version) {
						scores[a.Name] += f.w
					}
					for _, q := range providersOf(a.Name, &a) {
						if f.negative && q == n {
							continue // a package does not conflict with itself through what it provides
						}
						scores[q] += f.w
					}
				}
			}
		}
	}
	old := maps.Clone(scores)
	for _, n := range names {
		if old[n] <= 0 {
			continue
		}
		for _, f := range fields(onSys[n])[:3] {
			for _, g := range f.rels {
				for _, a := range g {
					if onSys[a.Name] != nil {
						scores[a.Name] += old[n]
					}
				}
			}
		}
	}
	for _, n := range sortedKeys(scores) {
		transfer := scores[n] - old[n]
		if transfer < 0 {
			transfer = -transfer
		}
		if transfer == 0 {
			continue
		}
		for _, q := range providersOf(n, nil) {
			scores[q] += transfer
		}
	}
	for _, n := range names {
		if essential(n) {
			scores[n] += 5000
		}
	}
	return scores
}

// brokenBy explains the first relation of p (on the system) that the
// system does not meet: a Pre-Depends or Depends, or a Conflicts or Breaks
// that hits; "" when none.
func (r *resolver) brokenBy(p *Package) string {
	if p == nil {
		return ""
	}
	if why := r.upgradeUnmet(p); why != "" {
		return why
	}
	var why string
	r.eachConflict(p, func(field string, rel Relation, t *Package) error {
		state := "is installed"
		if r.sel[t.Name] == t {
			state = "is to be upgraded"
		}
		why = fmt.Sprintf("%s %s %s: %s and %s %s %s", p.Name, p.Version, field, rel, t.Name, t.Version, state)
		return errStop
	})
	return why
}

// keepTargets keeps back the upgrades that break q: the targets of q's
// unmet dependencies whose installed version met them, and the upgrades
// q's Conflicts or Breaks hit.
func (r *resolver) keepTargets(q *Package, keep func(name, why string)) {
	what := fmt.Sprintf("%s %s", q.Name, q.Version)
	if r.sel[q.Name] != q {
		what += " (installed, not upgraded)"
	}
	for _, f := range depFields(q) {
		for _, g0 := range f.rels {
			g, ok := r.applicable(g0)
			if !ok || r.groupSatisfied(g) {
				continue
			}
			for _, a := range g {
				for _, m := range sortedKeys(r.sel) {
					if old := r.inst[m]; old != nil && r.satisfies(old, a) {
						keep(m, fmt.Sprintf("%s %s: %s, which %s %s meets and %s would not", what, f.name, g0, old.Name, old.Version, r.sel[m].Version))
					}
				}
				if r.groupSatisfied(g) {
					break
				}
			}
		}
	}
	r.eachConflict(q, func(field string, rel Relation, t *Package) error {
		if r.sel[t.Name] == t {
			keep(t.Name, fmt.Sprintf("%s %s: %s", what, field, rel))
		}
		return nil
	})
}

// upgradeUnmet explains the first Pre-Depends or Depends of the marked
// upgrade c that the system would not meet, or returns "".
func (r *resolver) upgradeUnmet(c *Package) string {
	for _, f := range depFields(c) {
		for _, g0 := range f.rels {
			g, ok := r.applicable(g0)
			if !ok || r.groupSatisfied(g) {
				continue
			}
			var why []string
			for _, a := range g {
				switch s := r.state(a.Name); {
				case s != nil:
					why = append(why, fmt.Sprintf("%s stays at %s", a.Name, s.Version))
				default:
					why = append(why, a.Name+" is not installed")
				}
			}
			return fmt.Sprintf("%s %s %s: %s: %s, and apt-get upgrade installs no new package", c.Name, c.Version, f.name, g0, strings.Join(why, ", "))
		}
	}
	return ""
}

// errStop ends an eachConflict walk at the first hit.
var errStop = fmt.Errorf("stop")

// want is the first word of the dpkg Status field: install, hold,
// deinstall, purge (or "" without one).
func want(p *Package) string {
	if f := strings.Fields(p.Status); len(f) == 3 {
		return f[0]
	}
	return ""
}

func sortKept(k []KeptBack) {
	slices.SortFunc(k, func(a, b KeptBack) int { return strings.Compare(a.Installed.Name, b.Installed.Name) })
}
