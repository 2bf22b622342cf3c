package replay

import (
	"archive/tar"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// altGroup is one link group of update-alternatives, as stored in
// var/lib/dpkg/alternatives/<name>.
type altGroup struct {
	Mode    string // "auto" or "manual"
	Link    string
	Slaves  []Slave // Name and Link; Path unused
	Choices []altChoice
}

type altChoice struct {
	Path       string
	Priority   int
	SlavePaths map[string]string // slave name -> path
}

// parseAltGroup reads update-alternatives' administrative file: mode, master
// link, (slave name, slave link)*, blank line, then per choice: path,
// priority, one line per slave (its path or empty), and a final blank line.
func parseAltGroup(data string) (*altGroup, error) {
	lines := strings.Split(data, "\n")
	next := func() (string, error) {
		if len(lines) == 0 {
			return "", fmt.Errorf("truncated")
		}
		l := lines[0]
		lines = lines[1:]
		return l, nil
	}
	g := &altGroup{}
	var err error
	if g.Mode, err = next(); err != nil {
		return nil, err
	}
	if g.Link, err = next(); err != nil {
		return nil, err
	}
	for {
		name, err := next()
		if err != nil {
			return nil, err
		}
		if name == "" {
			break
		}
		link, err := next()
		if err != nil {
			return nil, err
		}
		g.Slaves = append(g.Slaves, Slave{Name: name, Link: link})
	}
	for {
		p, err := next()
		if err != nil || p == "" {
			break
		}
		prio, err := next()
		if err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(prio)
		if err != nil {
			return nil, fmt.Errorf("priority %q: %w", prio, err)
		}
		c := altChoice{Path: p, Priority: n, SlavePaths: map[string]string{}}
		for _, s := range g.Slaves {
			sp, err := next()
			if err != nil {
				return nil, err
			}
			if sp != "" {
				c.SlavePaths[s.Name] = sp
			}
		}
		g.Choices = append(g.Choices, c)
	}
	return g, nil
}

// install adds or replaces a choice, like update-alternatives --install.
// New slaves are appended to the group's slave list.
func (g *altGroup) install(a Alternative) {
	if g.Mode == "" {
		g.Mode = "auto"
	}
	g.Link = a.Link
	c := altChoice{Path: a.Path, Priority: a.Priority, SlavePaths: map[string]string{}}
	for _, s := range a.Slaves {
		found := false
		for i := range g.Slaves {
			if g.Slaves[i].Name == s.Name {
				g.Slaves[i].Link = s.Link
				found = true
			}
		}
		if !found {
			g.Slaves = append(g.Slaves, Slave{Name: s.Name, Link: s.Link})
		}
		c.SlavePaths[s.Name] = s.Path
	}
	for i := range g.Choices {
		if g.Choices[i].Path == a.Path {
			g.Choices[i] = c
			return
		}
	}
	g.Choices = append(g.Choices, c)
}

// best returns the choice auto mode selects: the highest priority, the
// first listed on a tie.
func (g *altGroup) best() *altChoice {
	var b *altChoice
	for i := range g.Choices {
		if b == nil || g.Choices[i].Priority > b.Priority {
			b = &g.Choices[i]
		}
	}
	return b
}

// String writes the administrative file; update-alternatives keeps the
// slaves sorted by name.
func (g *altGroup) String() string {
	sort.SliceStable(g.Slaves, func(i, j int) bool { return g.Slaves[i].Name < g.Slaves[j].Name })
	var b strings.Builder
	b.WriteString(g.Mode + "\n" + g.Link + "\n")
	for _, s := range g.Slaves {
		b.WriteString(s.Name + "\n" + s.Link + "\n")
	}
	b.WriteString("\n")
	for _, c := range g.Choices {
		fmt.Fprintf(&b, "%s\n%d\n", c.Path, c.Priority)
		for _, s := range g.Slaves {
			b.WriteString(c.SlavePaths[s.Name] + "\n")
		}
	}
	b.WriteString("\n")
	return b.String()
}

// pgManAlternative is what postgresql-common's _link_manpages installs
// for major version v when the package pkg is configured. Since
// postgresql-common 248 (trixie) the client and server pages form one
// psql.1.gz group, in `dpkg -L` order of client, server, contrib; before
// (bookworm) the client has psql.1.gz and the server postmaster.1.gz with
// its and contrib's pages. Pages removed by dpkg path filters are not
// listed by dpkg -L, so they are not slaves either.
func (p *Plan) pgManAlternative(v, pkg string) (Alternative, bool) {
	name, pkgs := "psql.1.gz", []string{"postgresql-client-" + v, "postgresql-" + v, "postgresql-contrib-" + v}
	if !p.pgMergedManPages() {
		if pkg == "postgresql-client-"+v {
			pkgs = pkgs[:1]
		} else {
			name, pkgs = "postmaster.1.gz", pkgs[1:]
		}
	}
	var mans []string
	for _, pk := range pkgs {
		if ps := p.byName[pk]; ps != nil {
			for _, m := range ps.manPages {
				if strings.HasPrefix(m, "usr/share/postgresql/"+v+"/man/") && !strings.Contains(m, name) {
					mans = append(mans, m)
				}
			}
		}
	}
	if len(mans) == 0 {
		return Alternative{}, false
	}
	prio := v + "0"
	if strings.HasPrefix(v, "8") || strings.HasPrefix(v, "9") {
		prio = strings.ReplaceAll(v, ".", "")
	}
	n, err := strconv.Atoi(prio)
	if err != nil {
		return Alternative{}, false
	}
	a := Alternative{Link: "/usr/share/man/man1/" + name, Name: name,
		Path: "/usr/share/postgresql/" + v + "/man/man1/" + name, Priority: n}
	for _, m := range mans {
		a.Slaves = append(a.Slaves, Slave{
			Link: "/" + strings.Replace(m, "postgresql/"+v+"/man", "man", 1),
			Name: path.Base(m),
			Path: "/" + m,
		})
	}
	return a, true
}

// pgMergedManPages tells which _link_manpages scheme the installed
// postgresql-common uses (see pgManAlternative).
func (p *Plan) pgMergedManPages() bool {
	b, ok := p.readFile("usr/share/postgresql-common/maintscripts-functions")
	if !ok {
		return true
	}
	return !strings.Contains(string(b), `_link_manpages "$VERSION" postmaster.1.gz`)
}

var pgMajorRE = regexp.MustCompile(`^postgresql-(?:client-)?([0-9]+(?:\.[0-9]+)?)$`)

// alternativeFiles writes the links and administrative files of every
// alternative the packages install.
func (p *Plan) alternativeFiles(out files) error {
	groups := map[string]*altGroup{}
	var order []string
	install := func(a Alternative) error {
		g, ok := groups[a.Name]
		if !ok {
			g = &altGroup{}
			if b, err := fs.ReadFile(p.base, "var/lib/dpkg/alternatives/"+a.Name); err == nil {
				if g, err = parseAltGroup(string(b)); err != nil {
					return fmt.Errorf("alternatives %s of the base: %w", a.Name, err)
				}
			}
			groups[a.Name] = g
			order = append(order, a.Name)
		}
		g.install(a)
		return nil
	}
	for _, ps := range p.pkgs {
		if e := ps.effects; e != nil {
			for _, a := range e.Alternatives {
				if err := install(a); err != nil {
					return err
				}
			}
		}
		if m := pgMajorRE.FindStringSubmatch(ps.Name); m != nil {
			if a, ok := p.pgManAlternative(m[1], ps.Name); ok {
				if err := install(a); err != nil {
					return err
				}
				// _link_manpages: "mkdir -p /usr/share/man/man1 /usr/share/man/man3 /usr/share/man/man7"
				for _, d := range []string{"man1", "man3", "man7"} {
					dir := p.canonical("/usr/share/man/" + d)
					if !p.exists(dir) {
						p.addDirParents(out, dir)
						out.add(File{Path: dir, Type: tar.TypeDir, Mode: 0o755})
					}
				}
			}
		}
	}
	sort.Strings(order)
	for _, name := range order {
		g := groups[name]
		out.reg("var/lib/dpkg/alternatives/"+name, 0o644, 0, 0, []byte(g.String()))
		c := g.best()
		if c == nil {
			continue
		}
		if !p.exists(rel(c.Path)) {
			return fmt.Errorf("alternative %s: %s is not installed", name, c.Path)
		}
		p.altLink(out, g.Link, name, c.Path)
		for _, s := range g.Slaves {
			sp, ok := c.SlavePaths[s.Name]
			// update-alternatives skips slaves whose file is missing
			// (e.g. man pages removed by dpkg path filters).
			if !ok || !p.exists(p.canonical(sp)) {
				continue
			}
			p.altLink(out, s.Link, s.Name, sp)
		}
	}
	return nil
}

func (p *Plan) altLink(out files, link, name, target string) {
	out.add(File{Path: "etc/alternatives/" + name, Type: tar.TypeSymlink, Mode: 0o777, Linkname: target})
	l := p.canonical(link)
	p.addDirParents(out, l)
	out.add(File{Path: l, Type: tar.TypeSymlink, Mode: 0o777, Linkname: "/etc/alternatives/" + name})
}
