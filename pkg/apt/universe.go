package apt

import (
	"cmp"
	"slices"
	"strings"
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
	// order numbers names the way apt's cache numbers its packages: in
	// the order they are first mentioned while reading the indexes. apt's
	// CompareProviders falls back on that number (higher first) when it
	// has no better reason to prefer one provider over another.
	order map[string]int32
}

// providedBy is one Provides entry of one package version.
type providedBy struct {
	pkg *Package
	rel Relation // the Provides entry (Op is "=" or none)
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
		order:     make(map[string]int32, len(pkgs)+len(pkgs)/2),
	}
	for _, p := range pkgs {
		if p.Architecture != arch && p.Architecture != "all" {
			continue
		}
		u.byName[p.Name] = append(u.byName[p.Name], p)
		u.number(p)
	}
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
				if !dup {
					out = append(out, v)
				}
			}
			u.byName[name] = out
			vs = out
		}
		for _, p := range vs {
			for _, alt := range p.Provides {
				for _, r := range alt {
					if r.ArchQ != "" && r.ArchQ != arch && r.ArchQ != "any" && r.ArchQ != "native" {
						continue
					}
					u.providers[r.Name] = append(u.providers[r.Name], providedBy{pkg: p, rel: r})
				}
			}
		}
	}
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

// Len returns the number of distinct real package names.
func (u *Universe) Len() int { return len(u.byName) }

// number gives p's name, and the names its relation fields mention, the
// next free numbers, in the order apt's cache generator creates packages:
// the stanza's own name, then Pre-Depends, Depends, Conflicts, Breaks,
// Recommends, Suggests, Replaces, Enhances, Provides.
func (u *Universe) number(p *Package) {
	u.numberName(p.Name)
	for _, rs := range [...]Relations{p.PreDepends, p.Depends, p.Conflicts, p.Breaks, p.Recommends} {
		u.numberRelations(rs)
	}
	u.numberRaw(p.suggests)
	u.numberRelations(p.Replaces)
	u.numberRaw(p.enhances)
	u.numberRelations(p.Provides)
}

func (u *Universe) numberName(name string) {
	if _, ok := u.order[name]; !ok {
		u.order[name] = int32(len(u.order))
	}
}

func (u *Universe) numberRelations(rs Relations) {
	for _, g := range rs {
		for _, r := range g {
			u.numberName(r.Name)
		}
	}
}

// numberRaw numbers the names of an unparsed relation field without
// parsing it fully: each name starts a ',' or '|' separated entry.
func (u *Universe) numberRaw(s string) {
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
			u.numberName(entry)
		}
	}
}

// cacheOrder returns the apt-like number of name, or a number after all of
// the universe's for names it does not know (apt reads the dpkg status last).
func (u *Universe) cacheOrder(name string) int32 {
	if n, ok := u.order[name]; ok {
		return n
	}
	return int32(len(u.order))
}
