package apt

import (
	"cmp"
	"slices"
	"strings"
	"sync"
)

// DefaultPriority is apt's pin priority of a repository without preferences.
const DefaultPriority = 500

// Universe indexes the packages available for one architecture: every
// version of every real package, and who provides each virtual name.
// It is read-only once built and safe for concurrent use.
type Universe struct {
	arch      string
	byName    map[string][]*Package   // versions, best candidate first
	providers map[string][]providedBy // virtual name -> providing versions
	// order numbers providers the way apt's cache numbers its packages:
	// in the order they are first mentioned while reading the indexes.
	// apt's CompareProviders falls back on that number (higher first) when
	// it has no better reason to prefer one provider over another.
	// It is computed on first need, from pkgs, because few resolutions need it.
	orderOnce sync.Once
	order     map[string]int32
	pkgs      []*Package
}

// providedBy is one Provides entry of one package version.
type providedBy struct {
	pkg *Package
	rel *Relation // the Provides entry (Op is "=" or none), inside pkg.Provides
}

// NewUniverse indexes pkgs for arch. Only packages of that architecture and
// of "all" are kept: the resolver builds single-architecture systems, so
// foreign packages could never be installed. When the same name and version
// comes from several repositories, the one with the highest
// Repository.Priority is kept.
//
// pkgs should come in the order apt reads them (indexes in sources order,
// stanzas in file order): where apt has no reason to prefer one of several
// equally good providers of a virtual package, it takes the one its cache
// numbered last, and NewUniverse numbers names the same way.
func NewUniverse(arch string, pkgs []*Package) *Universe {
	u := &Universe{
		arch:      arch,
		byName:    make(map[string][]*Package, len(pkgs)),
		providers: make(map[string][]providedBy, len(pkgs)/8),
	}
	for _, p := range pkgs {
		if p.Architecture != arch && p.Architecture != "all" {
			continue
		}
		u.byName[p.Name] = append(u.byName[p.Name], p)
	}
	dropped := map[*Package]bool{}
	for name, vs := range u.byName {
		if len(vs) > 1 {
			// Stable so that among equal priority and version the first
			// index read wins, as apt's source order does.
			slices.SortStableFunc(vs, func(a, b *Package) int {
				if c := cmp.Compare(priorityOf(b), priorityOf(a)); c != 0 {
					return c
				}
				return CompareVersions(b.Version, a.Version)
			})
			out := vs[:1]
			for _, v := range vs[1:] {
				dup := false
				for _, o := range out {
					if o.Version == v.Version || CompareVersions(o.Version, v.Version) == 0 {
						dup = true
						break
					}
				}
				if dup {
					dropped[v] = true
				} else {
					out = append(out, v)
				}
			}
			u.byName[name] = out
		}
	}
	// Providers in input order, so that Providers lists them as read.
	for _, p := range pkgs {
		if p.Architecture != arch && p.Architecture != "all" || dropped[p] {
			continue
		}
		for _, alt := range p.Provides {
			for i := range alt {
				r := &alt[i]
				if r.ArchQ != "" && r.ArchQ != arch && r.ArchQ != "any" && r.ArchQ != "native" {
					continue
				}
				u.providers[r.Name] = append(u.providers[r.Name], providedBy{pkg: p, rel: r})
			}
		}
	}
	u.pkgs = pkgs
	return u
}

// priorityOf returns the pin priority of the repository p came from.
func priorityOf(p *Package) int {
	if p.Repository == nil {
		return DefaultPriority
	}
	if p.Repository.Priority == 0 {
		return DefaultPriority
	}
	return p.Repository.Priority
}

// Arch is the architecture the universe was built for.
func (u *Universe) Arch() string { return u.arch }

// Versions returns every available version of the real package name, the
// candidate first (highest priority, then highest version).
func (u *Universe) Versions(name string) []*Package { return u.byName[name] }

// Candidate returns the version apt would choose for name, ignoring what is
// installed, or nil when no real package has that name.
func (u *Universe) Candidate(name string) *Package {
	if vs := u.byName[name]; len(vs) > 0 {
		return vs[0]
	}
	return nil
}

// Providers returns the package versions whose Provides names name, in
// index order.
func (u *Universe) Providers(name string) []*Package {
	ps := u.providers[name]
	out := make([]*Package, len(ps))
	for i, p := range ps {
		out[i] = p.pkg
	}
	return out
}

// Repositories returns the distinct repositories the universe's packages
// came from, in index order (the ReleaseSHA256 each was verified through).
func (u *Universe) Repositories() []*Repository {
	var out []*Repository
	seen := map[*Repository]bool{}
	for _, p := range u.pkgs {
		if r := p.Repository; r != nil && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// Len returns the number of distinct real package names.
func (u *Universe) Len() int { return len(u.byName) }

// numberProviders fills u.order for the packages that may have to be told
// apart by it: providers of a virtual name with more than one provider.
// apt numbers packages in the order its cache generator first meets their
// names: a stanza's own name, then those in Pre-Depends, Depends,
// Conflicts, Breaks, Recommends, Suggests, Replaces, Enhances and
// Provides. Only the relative order matters, so the position of the first
// mention stands for apt's number.
func (u *Universe) numberProviders(pkgs []*Package) {
	u.order = make(map[string]int32)
	for _, pbs := range u.providers {
		if len(pbs) < 2 {
			continue
		}
		for _, pb := range pbs[1:] {
			if pb.pkg.Name != pbs[0].pkg.Name {
				for _, pb := range pbs {
					u.order[pb.pkg.Name] = -1
				}
				break
			}
		}
	}
	if len(u.order) == 0 {
		return
	}
	var pos int32
	mention := func(name string) {
		pos++
		if n, ok := u.order[name]; ok && n < 0 {
			u.order[name] = pos
		}
	}
	rels := func(rs Relations) {
		for _, g := range rs {
			for _, r := range g {
				mention(r.Name)
			}
		}
	}
	raw := func(s string) {
		for s != "" {
			i := strings.IndexAny(s, ",|")
			entry := s
			if i >= 0 {
				entry, s = s[:i], s[i+1:]
			} else {
				s = ""
			}
			entry = strings.TrimLeft(entry, " \t\n")
			if j := strings.IndexAny(entry, " \t\n(:[<"); j >= 0 {
				entry = entry[:j]
			}
			if entry != "" {
				mention(entry)
			}
		}
	}
	for _, p := range pkgs {
		if p.Architecture != u.arch && p.Architecture != "all" {
			continue
		}
		mention(p.Name)
		rels(p.PreDepends)
		rels(p.Depends)
		rels(p.Conflicts)
		rels(p.Breaks)
		rels(p.Recommends)
		raw(p.suggests)
		rels(p.Replaces)
		raw(p.enhances)
		rels(p.Provides)
	}
}

// cacheOrder returns the apt-like number of name, or a number after all of
// the universe's for names it did not number (apt reads the dpkg status
// last, so packages only installed come after the indexes' ones).
func (u *Universe) cacheOrder(name string) int32 {
	u.orderOnce.Do(func() { u.numberProviders(u.pkgs) })
	if n, ok := u.order[name]; ok && n >= 0 {
		return n
	}
	return 1<<31 - 1
}
