package maint

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// update-alternatives as dpkg's (1.21/1.22) behaves for every action but the
// interactive --config/--all: the administrative files under
// /var/lib/dpkg/alternatives, the links in /etc/alternatives and the generic
// links, auto mode picking the highest priority (the first by path on a
// tie), manual mode kept, slaves whose file is missing skipped with dpkg's
// warning, a real file where a link should be left alone unless --force, and
// /var/log/alternatives.log stamped with SOURCE_DATE_EPOCH (UTC).

func alternativesCommands() []Spec {
	return []Spec{{
		Name:  "update-alternatives",
		Run:   runUpdateAlternatives,
		Kind:  Exact,
		Paths: []string{"/usr/bin/update-alternatives", "/usr/sbin/update-alternatives"},
	}}
}

const uaProg = "update-alternatives"

type altSlave struct{ name, link string }

type altChoice struct {
	path   string
	prio   int
	slaves map[string]string // slave name -> file
}

type altGroup struct {
	name, status, link string
	slaves             []altSlave
	choices            []*altChoice
}

func (g *altGroup) choice(p string) *altChoice {
	for _, c := range g.choices {
		if c.path == p {
			return c
		}
	}
	return nil
}

func (g *altGroup) slave(name string) *altSlave {
	for i := range g.slaves {
		if g.slaves[i].name == name {
			return &g.slaves[i]
		}
	}
	return nil
}

// best is the highest priority; on a tie the first in the (path-sorted) list.
func (g *altGroup) best() string {
	var b *altChoice
	for _, c := range g.choices {
		if b == nil || c.prio > b.prio {
			b = c
		}
	}
	if b == nil {
		return ""
	}
	return b.path
}

// parseAltGroup reads an administrative file: status, master link, the
// slave (name, link) pairs up to an empty line, then per choice its path,
// priority and one line per slave (empty when the choice lacks it), ended by
// an empty line.
func parseAltGroup(name string, data []byte) (*altGroup, error) {
	lines := strings.Split(string(data), "\n")
	i := 0
	next := func() (string, bool) {
		if i >= len(lines) {
			return "", false
		}
		i++
		return lines[i-1], true
	}
	bad := func(what string) error { return fmt.Errorf("alternatives file %s: %s", name, what) }
	g := &altGroup{name: name}
	var ok bool
	if g.status, ok = next(); !ok || (g.status != "auto" && g.status != "manual") {
		return nil, bad("invalid status line")
	}
	if g.link, ok = next(); !ok || g.link == "" {
		return nil, bad("missing master link")
	}
	for {
		sn, ok := next()
		if !ok {
			return nil, bad("unexpected end of file in slaves")
		}
		if sn == "" {
			break
		}
		sl, ok := next()
		if !ok || sl == "" {
			return nil, bad("missing slave link")
		}
		g.slaves = append(g.slaves, altSlave{sn, sl})
	}
	for {
		p, ok := next()
		if !ok {
			return nil, bad("unexpected end of file in choices")
		}
		if p == "" {
			break
		}
		ps, ok := next()
		if !ok {
			return nil, bad("missing priority of " + p)
		}
		prio, err := strconv.Atoi(ps)
		if err != nil {
			return nil, bad("invalid priority of " + p)
		}
		c := &altChoice{path: p, prio: prio, slaves: map[string]string{}}
		for _, s := range g.slaves {
			f, ok := next()
			if !ok {
				return nil, bad("missing slave file of " + p)
			}
			if f != "" {
				c.slaves[s.name] = f
			}
		}
		g.choices = append(g.choices, c)
	}
	return g, nil
}

// bytes writes the administrative file; slaves no choice provides are
// dropped, slaves are sorted by name and choices by path, as dpkg saves.
func (g *altGroup) bytes() []byte {
	kept := g.slaves[:0:0]
	for _, s := range g.slaves {
		for _, c := range g.choices {
			if _, ok := c.slaves[s.name]; ok {
				kept = append(kept, s)
				break
			}
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].name < kept[j].name })
	sort.Slice(g.choices, func(i, j int) bool { return g.choices[i].path < g.choices[j].path })
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n%s\n", g.status, g.link)
	for _, s := range kept {
		fmt.Fprintf(&b, "%s\n%s\n", s.name, s.link)
	}
	b.WriteByte('\n')
	for _, c := range g.choices {
		fmt.Fprintf(&b, "%s\n%d\n", c.path, c.prio)
		for _, s := range kept {
			fmt.Fprintf(&b, "%s\n", c.slaves[s.name])
		}
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// uaRun is one update-alternatives invocation.
type uaRun struct {
	c                     *Call
	altdir, admindir, log string
	quiet, verbose, force bool
	argv                  string
}

func (u *uaRun) info(format string, args ...any) {
	if !u.quiet {
		fmt.Fprintf(u.c.Stdout, "%s: %s\n", uaProg, fmt.Sprintf(format, args...))
	}
}

func (u *uaRun) verb(format string, args ...any) {
	if u.verbose {
		u.info(format, args...)
	}
}

func (u *uaRun) warn(format string, args ...any) {
	if !u.quiet {
		warnf(u.c, uaProg, format, args...)
	}
}

func (u *uaRun) logMsg(format string, args ...any) error {
	ts := epochOf(u.c).Format("2006-01-02 15:04:05")
	line := fmt.Sprintf("%s %s: %s\n", uaProg, ts, fmt.Sprintf(format, args...))
	return appendImageFile(u.c.FS, u.log, []byte(line), 0o644)
}

func uaUsage(c *Call, format string, args ...any) error {
	fmt.Fprintf(c.Stderr, "%s: %s\n\nUse '%s --help' for program usage information.\n", uaProg, fmt.Sprintf(format, args...), uaProg)
	return ExitStatus(2)
}

func runUpdateAlternatives(c *Call) error {
	u := &uaRun{c: c, altdir: "/etc/alternatives", admindir: "/var/lib/dpkg/alternatives",
		log: "/var/log/alternatives.log", argv: strings.Join(c.Args, " ")}
	var action string
	var params []string
	var slaves [][3]string
	args := c.Args
	need := func(i, n int, opt string) error {
		if i+n >= len(args) {
			return uaUsage(c, "--%s needs %s", opt, map[int]string{1: "<name>", 2: "<name> <path>", 4: "<link> <name> <path> <priority>", 3: "<link> <name> <path>"}[n])
		}
		return nil
	}
	setAction := func(a string) error {
		if action != "" {
			return uaUsage(c, "two commands specified: --%s and --%s", action, a)
		}
		action = a
		return nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch a {
		case "--quiet":
			u.quiet, u.verbose = true, false
		case "--verbose", "--debug":
			u.verbose, u.quiet = true, false
		case "--force":
			u.force = true
		case "--skip-auto":
		case "--altdir", "--admindir", "--log", "--root", "--instdir":
			if i+1 >= len(args) {
				return uaUsage(c, "%s needs a <directory> argument", a)
			}
			i++
			switch a {
			case "--altdir":
				u.altdir = cleanAbs(args[i])
			case "--admindir":
				u.admindir = cleanAbs(args[i])
			case "--log":
				u.log = cleanAbs(args[i])
			default:
				if cleanAbs(args[i]) != "/" {
					return Refuse(uaProg+" "+a, "another root than the image's is not supported")
				}
			}
		case "--install":
			if err := setAction("install"); err != nil {
				return err
			}
			if err := need(i, 4, "install"); err != nil {
				return err
			}
			params = args[i+1 : i+5]
			i += 4
		case "--slave":
			if action != "install" {
				return uaUsage(c, "--slave only allowed with --install")
			}
			if err := need(i, 3, "slave"); err != nil {
				return err
			}
			slaves = append(slaves, [3]string{args[i+1], args[i+2], args[i+3]})
			i += 3
		case "--remove", "--set":
			if err := setAction(a[2:]); err != nil {
				return err
			}
			if err := need(i, 2, a[2:]); err != nil {
				return err
			}
			params = args[i+1 : i+3]
			i += 2
		case "--remove-all", "--auto", "--display", "--query", "--list":
			if err := setAction(a[2:]); err != nil {
				return err
			}
			if err := need(i, 1, a[2:]); err != nil {
				return err
			}
			params = args[i+1 : i+2]
			i++
		case "--get-selections", "--set-selections":
			if err := setAction(a[2:]); err != nil {
				return err
			}
		case "--config", "--all":
			return Refuse(uaProg+" "+a, "interactive selection has no answer in an image build")
		case "--help", "--version":
			return Refuse(uaProg+" "+a, "not a form maintainer scripts use")
		default:
			return uaUsage(c, "unknown argument '%s'", a)
		}
	}
	if action == "" {
		return uaUsage(c, "need --display, --query, --list, --get-selections, --config, --set, --set-selections, --install, --remove, --all, --remove-all or --auto")
	}
	switch action {
	case "display", "query", "list":
		g, err := u.load(params[0], false)
		if err != nil {
			return err
		}
		if g == nil {
			return failf(c, uaProg, "no alternatives for %s", params[0])
		}
		return u.show(action, g)
	case "get-selections":
		return u.getSelections()
	}
	switch action {
	case "install":
		return u.install(params, slaves)
	case "set-selections":
		return u.setSelections()
	}
	return u.modify(action, params)
}

// load reads a link group; nil when it does not exist. With prune, choices
// whose file vanished are dropped with dpkg's warning (the file is then
// rewritten by the action).
func (u *uaRun) load(name string, prune bool) (*altGroup, error) {
	b, err := readImageFileOpt(u.c.FS, u.admindir+"/"+name)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, nil
	}
	g, err := parseAltGroup(name, b)
	if err != nil {
		return nil, failf(u.c, uaProg, "%v", err)
	}
	if prune {
		kept := g.choices[:0]
		for _, ch := range g.choices {
			if _, err := u.c.FS.Stat(ch.path); err != nil {
				u.warn("alternative %s (part of link group %s) doesn't exist; removing from list of alternatives", ch.path, name)
				continue
			}
			kept = append(kept, ch)
		}
		g.choices = kept
	}
	return g, nil
}

// loadAll reads every link group (for the conflict checks of --install and
// --get-selections), sorted by name.
func (u *uaRun) loadAll() ([]*altGroup, error) {
	ents, err := u.c.FS.ReadDir(u.admindir)
	if err != nil {
		return nil, nil //nolint:nilerr // no database yet: no groups
	}
	var out []*altGroup
	for _, e := range ents {
		if e.IsDir() || strings.HasPrefix(e.Name, ".") || strings.HasSuffix(e.Name, ".dpkg-tmp") {
			continue
		}
		g, err := u.load(e.Name, false)
		if err != nil {
			return nil, err
		}
		if g != nil {
			out = append(out, g)
		}
	}
	return out, nil
}

func (u *uaRun) current(g *altGroup) string {
	t, err := u.c.FS.Readlink(u.altdir + "/" + g.name)
	if err != nil {
		return ""
	}
	return t
}

func (u *uaRun) show(action string, g *altGroup) error {
	w := u.c.Stdout
	cur := u.current(g)
	sort.Slice(g.slaves, func(i, j int) bool { return g.slaves[i].name < g.slaves[j].name })
	sort.Slice(g.choices, func(i, j int) bool { return g.choices[i].path < g.choices[j].path })
	switch action {
	case "list":
		for _, ch := range g.choices {
			fmt.Fprintln(w, ch.path)
		}
	case "query":
		fmt.Fprintf(w, "Name: %s\nLink: %s\n", g.name, g.link)
		if len(g.slaves) > 0 {
			fmt.Fprintln(w, "Slaves:")
			for _, s := range g.slaves {
				fmt.Fprintf(w, " %s %s\n", s.name, s.link)
			}
		}
		value := cur
		if value == "" {
			value = "none"
		}
		best := g.best()
		if best == "" {
			best = "none"
		}
		fmt.Fprintf(w, "Status: %s\nBest: %s\nValue: %s\n", g.status, best, value)
		for _, ch := range g.choices {
			fmt.Fprintf(w, "\nAlternative: %s\nPriority: %d\n", ch.path, ch.prio)
			if len(ch.slaves) > 0 {
				fmt.Fprintln(w, "Slaves:")
				for _, s := range g.slaves {
					if f, ok := ch.slaves[s.name]; ok {
						fmt.Fprintf(w, " %s %s\n", s.name, f)
					}
				}
			}
		}
	case "display":
		fmt.Fprintf(w, "%s - %s mode\n", g.name, g.status)
		if b := g.best(); b != "" {
			fmt.Fprintf(w, "  link best version is %s\n", b)
		} else {
			fmt.Fprintln(w, "  link best version not available")
		}
		if cur != "" {
			fmt.Fprintf(w, "  link currently points to %s\n", cur)
		} else {
			fmt.Fprintln(w, "  link currently absent")
		}
		fmt.Fprintf(w, "  link %s is %s\n", g.name, g.link)
		for _, s := range g.slaves {
			fmt.Fprintf(w, "  slave %s is %s\n", s.name, s.link)
		}
		for _, ch := range g.choices {
			fmt.Fprintf(w, "%s - priority %d\n", ch.path, ch.prio)
			for _, s := range g.slaves {
				if f, ok := ch.slaves[s.name]; ok {
					fmt.Fprintf(w, "  slave %s: %s\n", s.name, f)
				}
			}
		}
	}
	return nil
}

func (u *uaRun) getSelections() error {
	groups, err := u.loadAll()
	if err != nil {
		return err
	}
	for _, g := range groups {
		fmt.Fprintf(u.c.Stdout, "%-30s %-8s %s\n", g.name, g.status, u.current(g))
	}
	return nil
}

func (u *uaRun) setSelections() error {
	if err := u.logMsg("run with %s", u.argv); err != nil {
		return err
	}
	sc := bufio.NewScanner(u.c.Stdin)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || (f[1] != "auto" && f[1] != "manual") {
			u.warn("skip invalid selection line: %s", line)
			continue
		}
		g, err := u.load(f[0], false)
		if err != nil {
			return err
		}
		if g == nil {
			u.warn("skip unknown alternative %s", f[0])
			continue
		}
		var err2 error
		if f[1] == "auto" {
			err2 = u.modify("auto", []string{f[0]})
		} else {
			err2 = u.modify("set", []string{f[0], f[2]})
		}
		if err2 != nil {
			return err2
		}
	}
	return sc.Err()
}

func (u *uaRun) setStatus(g *altGroup, status string) error {
	if g.status == status {
		return nil
	}
	g.status = status
	return u.logMsg("status of link group %s set to %s", g.link, status)
}

// modify runs --remove, --remove-all, --auto and --set.
func (u *uaRun) modify(action string, params []string) error {
	g, err := u.load(params[0], true)
	if err != nil {
		return err
	}
	if g == nil {
		if action == "remove" {
			u.verb("no alternatives for %s", params[0])
			return nil
		}
		return failf(u.c, uaProg, "no alternatives for %s", params[0])
	}
	if err := u.logMsg("run with %s", u.argv); err != nil {
		return err
	}
	cur := u.current(g)
	newChoice := ""
	switch action {
	case "set":
		if g.choice(params[1]) == nil {
			return failf(u.c, uaProg, "alternative %s for %s not registered; not setting", params[1], g.name)
		}
		if err := u.setStatus(g, "manual"); err != nil {
			return err
		}
		newChoice = params[1]
	case "auto":
		if err := u.setStatus(g, "auto"); err != nil {
			return err
		}
		newChoice = g.best()
	case "remove-all":
		g.choices = nil
	case "remove":
		p := params[1]
		if g.choice(p) == nil {
			u.verb("alternative %s for %s not registered; not removing", p, g.name)
			return nil
		}
		kept := g.choices[:0]
		for _, ch := range g.choices {
			if ch.path != p {
				kept = append(kept, ch)
			}
		}
		g.choices = kept
		if cur == p {
			if g.status == "manual" {
				u.info("removing manually selected alternative - switching %s to auto mode", g.name)
				if err := u.setStatus(g, "auto"); err != nil {
					return err
				}
			}
			newChoice = g.best()
		}
	}
	return u.update(g, cur, newChoice)
}

func (u *uaRun) install(p []string, slaveArgs [][3]string) error {
	link, name, file := p[0], p[1], p[2]
	prio, err := strconv.Atoi(p[3])
	if err != nil {
		return uaUsage(u.c, "priority '%s' must be an integer", p[3])
	}
	inst := &altGroup{name: name, status: "auto", link: link}
	ch := &altChoice{path: file, prio: prio, slaves: map[string]string{}}
	for _, s := range slaveArgs {
		inst.slaves = append(inst.slaves, altSlave{s[1], s[0]})
		ch.slaves[s[1]] = s[2]
	}
	inst.choices = []*altChoice{ch}
	if err := u.checkInstall(inst); err != nil {
		return err
	}
	if err := u.logMsg("run with %s", u.argv); err != nil {
		return err
	}
	g, err := u.load(name, true)
	if err != nil {
		return err
	}
	cur := ""
	if g == nil {
		g = inst
	} else {
		cur = u.current(g)
		if g.link != link {
			u.info("renaming %s link from %s to %s", g.name, g.link, link)
			if err := u.renameLink(g.link, link); err != nil {
				return err
			}
			g.link = link
		}
		for _, s := range inst.slaves {
			old := g.slave(s.name)
			switch {
			case old == nil:
				g.slaves = append(g.slaves, s)
			case old.link != s.link:
				u.info("renaming %s slave link from %s to %s", s.name, old.link, s.link)
				if err := u.renameLink(old.link, s.link); err != nil {
					return err
				}
				old.link = s.link
			}
		}
		if old := g.choice(file); old != nil {
			*old = *ch
		} else {
			g.choices = append(g.choices, ch)
		}
	}
	newChoice := ""
	if g.status == "auto" {
		newChoice = g.best()
	} else {
		u.verb("automatic updates of %s/%s are disabled; leaving it alone", u.altdir, g.name)
	}
	return u.update(g, cur, newChoice)
}

// renameLink moves a generic link to its new name as dpkg does when a
// package changes it: a link is moved unless something is already there,
// then it is dropped; a real file is left alone.
func (u *uaRun) renameLink(from, to string) error {
	if u.classify(from) != "symlink" {
		return nil
	}
	if existsImage(u.c.FS, to) {
		return u.c.FS.Remove(from)
	}
	return u.c.FS.Rename(from, to)
}

// checkInstall validates --install's arguments as dpkg does, against the
// whole database.
func (u *uaRun) checkInstall(inst *altGroup) error {
	ch := inst.choices[0]
	bad := func(format string, args ...any) error { return failf(u.c, uaProg, format, args...) }
	if strings.ContainsAny(inst.name, "/ \t") {
		return bad("alternative name (%s) must not contain '/' and spaces", inst.name)
	}
	if !strings.HasPrefix(inst.link, "/") {
		return bad("alternative link is not absolute as it should be: %s", inst.link)
	}
	if !strings.HasPrefix(ch.path, "/") {
		return bad("alternative path is not absolute as it should be: %s", ch.path)
	}
	if inst.link == ch.path {
		return bad("alternative link %s and path %s can't be the same", inst.link, ch.path)
	}
	if _, err := u.c.FS.Stat(ch.path); err != nil {
		return bad("alternative path %s doesn't exist", ch.path)
	}
	seenName := map[string]bool{inst.name: true}
	seenLink := map[string]bool{inst.link: true}
	for _, s := range inst.slaves {
		if strings.ContainsAny(s.name, "/ \t") {
			return bad("alternative name (%s) must not contain '/' and spaces", s.name)
		}
		if !strings.HasPrefix(s.link, "/") {
			return bad("alternative link is not absolute as it should be: %s", s.link)
		}
		if !strings.HasPrefix(ch.slaves[s.name], "/") {
			return bad("alternative path is not absolute as it should be: %s", ch.slaves[s.name])
		}
		if seenName[s.name] {
			return bad("name %s is both primary and secondary", s.name)
		}
		if seenLink[s.link] {
			return bad("link %s is both primary and secondary", s.link)
		}
		seenName[s.name], seenLink[s.link] = true, true
	}
	groups, err := u.loadAll()
	if err != nil {
		return err
	}
	for _, g := range groups {
		if g.name == inst.name {
			continue
		}
		if g.link == inst.link {
			return bad("alternative link %s is already managed by %s", inst.link, g.name)
		}
		for _, s := range g.slaves {
			if s.name == inst.name {
				return bad("alternative %s can't be master: it is a slave of %s", inst.name, g.name)
			}
			if s.link == inst.link {
				return bad("alternative link %s is already managed by %s (slave of %s)", inst.link, s.name, g.name)
			}
		}
		for _, is := range inst.slaves {
			if is.name == g.name {
				return bad("alternative %s can't be slave of %s: it is a master alternative", is.name, inst.name)
			}
			if is.link == g.link {
				return bad("alternative link %s is already managed by %s", is.link, g.name)
			}
			for _, s := range g.slaves {
				if s.name == is.name {
					return bad("alternative %s can't be slave of %s: it is a slave of %s", is.name, inst.name, g.name)
				}
				if s.link == is.link {
					return bad("alternative link %s is already managed by %s (slave of %s)", is.link, s.name, g.name)
				}
			}
		}
	}
	return nil
}

// classify is dpkg's alternative_path_classify: missing, symlink or other.
func (u *uaRun) classify(p string) string {
	i, err := u.c.FS.Lstat(p)
	switch {
	case err != nil:
		return "missing"
	case i.Mode&fs.ModeSymlink != 0:
		return "symlink"
	}
	return "other"
}

func (u *uaRun) canRemove(p string) bool {
	return u.force || u.classify(p) != "other"
}

// linkNeedsUpdate says whether link must be (re)made pointing to target; a
// real file is left with a warning unless --force.
func (u *uaRun) linkNeedsUpdate(link, target string, warn bool) bool {
	switch u.classify(link) {
	case "symlink":
		t, _ := u.c.FS.Readlink(link)
		return t != target
	case "other":
		if u.force {
			return true
		}
		if warn {
			u.warn("not replacing %s with a link", link)
		}
		return false
	}
	return true
}

func (u *uaRun) slaveCanInstall(ch *altChoice, name string) (string, bool) {
	f, ok := ch.slaves[name]
	if !ok {
		return "", false
	}
	_, err := u.c.FS.Stat(f)
	return f, err == nil
}

// needsUpdate is dpkg's alternative_needs_update: "" (links are right),
// "broken" or "slaves".
func (u *uaRun) needsUpdate(g *altGroup, cur string) string {
	altLink := u.altdir + "/" + g.name
	if t, err := u.c.FS.Readlink(g.link); err != nil || t != altLink {
		return "broken"
	}
	if cur == "" {
		return "broken"
	}
	ch := g.choice(cur)
	if ch == nil {
		return ""
	}
	reason := ""
	for _, s := range g.slaves {
		sAlt := u.altdir + "/" + s.name
		f, can := u.slaveCanInstall(ch, s.name)
		if !can {
			if u.classify(s.link) == "symlink" {
				return "broken"
			}
			if existsImage(u.c.FS, sAlt) {
				reason = "slaves"
			}
			continue
		}
		if u.classify(s.link) != "other" && u.linkNeedsUpdate(s.link, sAlt, false) {
			return "broken"
		}
		if u.linkNeedsUpdate(sAlt, f, false) {
			reason = "slaves"
		}
	}
	return reason
}

// update is dpkg's alternative_update: remove everything when no choice is
// left, point to a new choice, or repair the links of the current one; then
// save the administrative file.
func (u *uaRun) update(g *altGroup, cur, newChoice string) error {
	fsys := u.c.FS
	admin := u.admindir + "/" + g.name
	if len(g.choices) == 0 {
		if err := u.logMsg("link group %s fully removed", g.name); err != nil {
			return err
		}
		for _, p := range []string{g.link, u.altdir + "/" + g.name} {
			if p == g.link && !u.canRemove(p) {
				continue
			}
			if err := removeIfExists(fsys, p); err != nil {
				return err
			}
		}
		for _, s := range g.slaves {
			if u.canRemove(s.link) {
				if err := removeIfExists(fsys, s.link); err != nil {
					return err
				}
			}
			if err := removeIfExists(fsys, u.altdir+"/"+s.name); err != nil {
				return err
			}
		}
		if err := removeIfExists(fsys, admin); err != nil {
			return err
		}
		effect(u.c, "removed link group %s (%s)", g.name, g.link)
		return nil
	}
	target := ""
	switch {
	case newChoice != "" && newChoice != cur:
		if err := u.logMsg("link group %s updated to point to %s", g.name, newChoice); err != nil {
			return err
		}
		u.info("using %s to provide %s (%s) in %s mode", newChoice, g.link, g.name, g.status)
		target = newChoice
	default:
		switch u.needsUpdate(g, cur) {
		case "slaves":
			if err := u.logMsg("link group %s updated with changed slaves", g.name); err != nil {
				return err
			}
			u.info("updating alternative %s because link group %s has changed slave links", cur, g.name)
			target = cur
		case "broken":
			if err := u.logMsg("auto-repair link group %s", g.name); err != nil {
				return err
			}
			u.warn("forcing reinstallation of alternative %s because link group %s is broken", cur, g.name)
			target = cur
		}
		if target != "" && g.choice(target) == nil {
			best := g.best()
			u.warn("current alternative %s is unknown, switching to %s for link group %s", cur, best, g.name)
			if err := u.setStatus(g, "auto"); err != nil {
				return err
			}
			target = best
		}
	}
	if target != "" {
		if err := u.checkLinkDirs(g, g.choice(target)); err != nil {
			return err
		}
	}
	old, err := readImageFileOpt(fsys, admin)
	if err != nil {
		return err
	}
	if data := g.bytes(); !bytes.Equal(old, data) {
		if err := writeImageFile(fsys, admin, data, 0o644); err != nil {
			return err
		}
		effect(u.c, "wrote %s", admin)
	}
	if target == "" {
		return nil
	}
	return u.prepareInstall(g, g.choice(target))
}

// checkLinkDirs fails as dpkg does ("error creating symbolic link") before
// anything is changed when a link's directory is missing: update-alternatives
// never creates directories.
func (u *uaRun) checkLinkDirs(g *altGroup, ch *altChoice) error {
	check := func(link string) error {
		if i, err := u.c.FS.Stat(path.Dir(link)); err != nil || !i.IsDir() {
			return failf(u.c, uaProg, "error creating symbolic link '%s.dpkg-tmp': No such file or directory", link)
		}
		return nil
	}
	if err := check(u.altdir + "/" + g.name); err != nil {
		return err
	}
	if u.linkNeedsUpdate(g.link, u.altdir+"/"+g.name, false) {
		if err := check(g.link); err != nil {
			return err
		}
	}
	for _, s := range g.slaves {
		if _, can := u.slaveCanInstall(ch, s.name); can {
			if err := check(u.altdir + "/" + s.name); err != nil {
				return err
			}
			if u.linkNeedsUpdate(s.link, u.altdir+"/"+s.name, false) {
				if err := check(s.link); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// prepareInstall makes the links of one choice: /etc/alternatives/NAME and
// the generic link, and each slave's, dropping the slaves the choice lacks
// or whose file is missing.
func (u *uaRun) prepareInstall(g *altGroup, ch *altChoice) error {
	fsys := u.c.FS
	single := func(name, link, file string) error {
		alt := u.altdir + "/" + name
		if err := replaceSymlink(fsys, file, alt); err != nil {
			return err
		}
		effect(u.c, "%s -> %s", alt, file)
		if u.linkNeedsUpdate(link, alt, true) {
			if err := replaceSymlink(fsys, alt, link); err != nil {
				return err
			}
			effect(u.c, "%s -> %s", link, alt)
		}
		return nil
	}
	if err := single(g.name, g.link, ch.path); err != nil {
		return err
	}
	sort.Slice(g.slaves, func(i, j int) bool { return g.slaves[i].name < g.slaves[j].name })
	for _, s := range g.slaves {
		f, can := u.slaveCanInstall(ch, s.name)
		if can {
			if err := single(s.name, s.link, f); err != nil {
				return err
			}
			continue
		}
		if f != "" {
			u.warn("skip creation of %s because associated file %s (of link group %s) doesn't exist", s.link, f, g.name)
		}
		if u.canRemove(s.link) && existsImage(fsys, s.link) {
			if err := fsys.Remove(s.link); err != nil {
				return err
			}
			effect(u.c, "removed %s", s.link)
		}
		if err := removeIfExists(fsys, u.altdir+"/"+s.name); err != nil {
			return err
		}
	}
	return nil
}
