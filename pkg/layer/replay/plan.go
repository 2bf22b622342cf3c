package replay

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
	"syscall"

	"pault.ag/go/debian/version"

	"github.com/pgassemble/pgassemble/pkg/apt"
)

// maxCapture bounds the body of a file captured for generation (templates,
// certificates, scripts). Libraries are parsed without this limit.
const maxCapture = 4 << 20

// Plan accumulates the effects of the packages added to one base root.
// It is not safe for concurrent use.
type Plan struct {
	base fs.FS
	opts Options

	acct    *accounts
	adduser string // adduser version (base or installed), for its gecos format

	pkgs    []*pkgState
	byName  map[string]*pkgState
	classes []Classification
	mainOn  bool // create_main_cluster left enabled by the variant
	// installed are the packages of the base (name -> version); a package
	// of the base that a stage installs again is an upgrade.
	installed map[string]string
	observed  map[string]entry
	captured  map[string][]byte // bodies of wanted files, by relative path
	ld        *ldState
	// file-trigger interests (base and added) and those observed files
	// activate, with the first path that did.
	interests []fileInterest
	activated map[fileInterest]string
	// sources are the files the table copies (ucf templates, defaults).
	sources map[string]bool
}

type pkgState struct {
	Package
	effects *Effects
	// manPages are observed paths of this package under
	// usr/share/postgresql/<v>/man (what `dpkg -L` would list).
	manPages []string
}

type entry struct {
	typ      byte
	mode     int64
	linkname string
	pkg      string
}

// New reads the base root's state (accounts, ld.so.cache, alternatives,
// ca-certificates.conf...). base should also implement fs.ReadLinkFS
// (os.DirFS does); paths are relative ("etc/passwd").
func New(base fs.FS, opts Options) (*Plan, error) {
	if opts.Arch == "" {
		return nil, errors.New("replay: Options.Arch is required")
	}
	for _, e := range opts.Edits {
		if _, err := regexp.Compile(e.Pattern); err != nil {
			return nil, fmt.Errorf("replay: edit of %s: %w", e.Path, err)
		}
	}
	days := int64(0)
	if !opts.Epoch.IsZero() {
		days = opts.Epoch.Unix() / 86400
	}
	acct, err := readAccounts(base, days)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	p := &Plan{
		base:     base,
		opts:     opts,
		acct:     acct,
		byName:   map[string]*pkgState{},
		observed: map[string]entry{},
		captured: map[string][]byte{},
		sources:  map[string]bool{},
		mainOn:   true,
	}
	// postgresql-common's template ships "#create_main_cluster = true";
	// the variant's edits decide whether a server's configure would
	// create a cluster.
	line := []byte("#create_main_cluster = true\n")
	for _, e := range opts.Edits {
		if strings.HasSuffix(e.Path, "createcluster.conf") {
			line = editLines(line, e)
		}
	}
	if regexp.MustCompile(`^\s*create_main_cluster\s*=\s*(false|off|no|0)\s*$`).Match(bytes.TrimSpace(line)) {
		p.mainOn = false
	}
	p.installed = baseInstalled(base)
	p.interests = readFileInterests(base)
	p.adduser = p.installed["adduser"]
	if p.ld, err = newLdState(base, opts.Arch); err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	return p, nil
}

// baseInstalled returns the installed packages of the base and their versions.
func baseInstalled(base fs.FS) map[string]string {
	m := map[string]string{}
	f, err := base.Open("var/lib/dpkg/status")
	if err != nil {
		return m
	}
	defer f.Close()
	_ = apt.ParseParagraphs(f, func(p apt.Paragraph) error {
		if strings.HasSuffix(p.Get("Status"), " installed") {
			m[p.Get("Package")] = p.Get("Version")
		}
		return nil
	})
	return m
}

// AddPackages classifies every maintainer script command of pkgs (in
// install order) and allocates their accounts. It returns an
// *UnhandledError naming each unknown command unless Options.AllowUnhandled.
func (p *Plan) AddPackages(pkgs []Package) error {
	var unhandled []Classification
	for _, pk := range configureOrder(pkgs) {
		ps := &pkgState{Package: pk, effects: EffectsFor(pk.Name)}
		p.pkgs = append(p.pkgs, ps)
		p.byName[pk.Name] = ps
		if pk.Name == "adduser" {
			p.adduser = pk.Version
		}
		_, upgrade := p.installed[pk.Name]
		for _, name := range sortedScripts(pk.Scripts) {
			cls := ClassifyScript(pk.Name, name, pk.Scripts[name], ps.effects, p.mainOn)
			if upgrade {
				cls = reclassifyUpgrade(cls, pk.Scripts[name])
			}
			p.classes = append(p.classes, cls...)
			for _, c := range cls {
				if c.Verdict == Unhandled {
					unhandled = append(unhandled, c)
				}
			}
		}
		if t, ok := pk.Scripts["triggers"]; ok {
			p.classes = append(p.classes, classifyTriggers(pk.Name, t)...)
		}
		p.addFileInterests(pk)
		if e := ps.effects; e != nil {
			for _, u := range e.Ucf {
				p.sources[rel(u.Source)] = true
			}
			for _, c := range e.Copies {
				p.sources[rel(c.Source)] = true
			}
		}
		if err := p.allocate(ps); err != nil {
			return fmt.Errorf("replay %s: %w", pk.Name, err)
		}
	}
	if len(unhandled) > 0 && !p.opts.AllowUnhandled {
		return &UnhandledError{Commands: unhandled}
	}
	return nil
}

// classifyTriggers reads a triggers control file: interests are recorded
// in var/lib/dpkg/triggers; activations of ldconfig are replayed; other
// activations run the interested package's postinst, classified there.
func classifyTriggers(pkg string, src []byte) []Classification {
	var out []Classification
	for _, line := range strings.Split(string(src), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c := Classification{Package: pkg, Script: "triggers", Command: line}
		kw, arg, _ := strings.Cut(line, " ")
		switch {
		case strings.HasPrefix(kw, "interest"):
			c.Verdict, c.Reason = Handled, "recorded in var/lib/dpkg/triggers"
		case strings.HasPrefix(kw, "activate") && strings.TrimSpace(arg) == "ldconfig":
			c.Verdict, c.Reason = Handled, whyLdconfig
		case strings.HasPrefix(kw, "activate"):
			c.Verdict, c.Reason = NoOp, "runs the interested package's postinst \"triggered\", classified with that package"
		default:
			c.Verdict, c.Reason = Unhandled, "unknown triggers directive"
		}
		out = append(out, c)
	}
	return out
}

// configureOrder sorts packages so that each comes after the packages of
// the same batch it depends on, as dpkg configures them; otherwise the
// given order is kept. Accounts are allocated in this order.
func configureOrder(pkgs []Package) []Package {
	idx := map[string]int{}
	for i, pk := range pkgs {
		idx[pk.Name] = i
	}
	deps := make([][]int, len(pkgs))
	for i, pk := range pkgs {
		for _, field := range []string{"Pre-Depends", "Depends"} {
			rels, err := apt.ParseRelations(pk.Control.Get(field))
			if err != nil {
				continue
			}
			for _, alts := range rels {
				for _, r := range alts {
					if j, ok := idx[r.Name]; ok && j != i {
						deps[i] = append(deps[i], j)
					}
				}
			}
		}
	}
	state := make([]int, len(pkgs)) // 0 new, 1 visiting, 2 done
	var out []Package
	var visit func(i int)
	visit = func(i int) {
		if state[i] != 0 {
			return // done, or a dependency cycle: keep the given order
		}
		state[i] = 1
		for _, j := range deps[i] {
			visit(j)
		}
		state[i] = 2
		out = append(out, pkgs[i])
	}
	for i := range pkgs {
		visit(i)
	}
	return out
}

func (p *Plan) allocate(ps *pkgState) error {
	e := ps.effects
	if e == nil {
		return nil
	}
	sysusers := usesSysusers(ps.Scripts["postinst"])
	for _, g := range e.Groups {
		fixed, has := p.opts.FixedGroupIDs[g.Name]
		if _, err := p.acct.addGroup(g.Name, fixed, has, sysusers); err != nil {
			return err
		}
	}
	for _, u := range e.Users {
		if p.adduserCommas() {
			u.Gecos += ",,,"
		}
		fixedUID, hasUID := p.opts.FixedIDs[u.Name]
		fixedGID, hasGID := p.opts.FixedGroupIDs[u.Name]
		if err := p.acct.addUser(u, fixedUID, hasUID, fixedGID, hasGID); err != nil {
			return err
		}
	}
	for _, m := range e.Members {
		p.acct.addMember(m.User, m.Group)
	}
	// A fixed id also applies to an account the base already had, as
	// `usermod -u` would.
	for name, uid := range p.opts.FixedIDs {
		if err := p.acct.setUID(name, uid); err != nil {
			return err
		}
	}
	return nil
}

// usesSysusers reports whether a postinst creates its accounts with
// systemd-sysusers (newer Debian packages) instead of adduser.
func usesSysusers(src []byte) bool {
	if !bytes.Contains(src, []byte("systemd-sysusers")) {
		return false
	}
	for _, c := range ParseScript(string(src)).Commands {
		if c.Base() == "systemd-sysusers" {
			return true
		}
	}
	return false
}

// adduserCommas reports whether adduser writes empty gecos sub-fields
// (",,," after the full name), as versions before 3.136 did.
func (p *Plan) adduserCommas() bool {
	if p.adduser == "" {
		return false
	}
	v, err := version.Parse(p.adduser)
	if err != nil {
		return false
	}
	return version.Compare(v, version.Version{Version: "3.136"}) < 0
}

// LookupUser returns the uid of a user of the base or created by the plan.
func (p *Plan) LookupUser(name string) (int, bool) { return p.acct.uid(name) }

// LookupGroup returns the gid of a group of the base or created by the plan.
func (p *Plan) LookupGroup(name string) (int, bool) { return p.acct.gid(name) }

// Explain returns the classification of every script command, per package
// in configure order.
func (p *Plan) Explain() []Classification {
	return append(append([]Classification(nil), p.classes...), p.fileTriggerClasses()...)
}

// Observe is called for every entry the layer writes for pkg (relative,
// normalized path, after dpkg path filters). r reads a regular file's body;
// Observe may read it partially or not at all.
func (p *Plan) Observe(pkg string, hdr *tar.Header, r io.Reader) error {
	name := strings.TrimSuffix(strings.TrimPrefix(hdr.Name, "./"), "/")
	e := entry{typ: hdr.Typeflag, mode: hdr.Mode & 0o7777, linkname: hdr.Linkname, pkg: pkg}
	if e.typ == 0 { // '\x00': old tar writers' regular file
		e.typ = tar.TypeReg
	}
	p.observed[name] = e
	p.noteFileTrigger(pkg, name)
	if ps := p.byName[pkg]; ps != nil && strings.HasPrefix(name, "usr/share/postgresql/") && manPageRE.MatchString(name) {
		ps.manPages = append(ps.manPages, name)
	}
	if e.typ != tar.TypeReg || r == nil {
		if e.typ == tar.TypeSymlink || e.typ == tar.TypeLink {
			p.ld.observeLink(name, e)
		}
		return nil
	}
	if p.wants(name) {
		b, err := io.ReadAll(io.LimitReader(r, maxCapture+1))
		if err != nil {
			return fmt.Errorf("replay: read %s of %s: %w", name, pkg, err)
		}
		if len(b) > maxCapture {
			return fmt.Errorf("replay: %s of %s is larger than %d bytes", name, pkg, maxCapture)
		}
		p.captured[name] = b
		return nil
	}
	if p.ld.isLibCandidate(name) {
		if err := p.ld.observeFile(name, hdr.Size, r); err != nil {
			return fmt.Errorf("replay: %s of %s: %w", name, pkg, err)
		}
	}
	return nil
}

var manPageRE = regexp.MustCompile(`^usr/share/postgresql/[0-9.]+/man/man[1-9]/[^/]+\.[1-9](\.gz)?$`)

// wants reports whether a file body is needed to generate the state layer.
func (p *Plan) wants(name string) bool {
	if strings.HasPrefix(name, "usr/share/ca-certificates/") && strings.HasSuffix(name, ".crt") {
		return true
	}
	if name == "etc/ld.so.conf" || strings.HasPrefix(name, "etc/ld.so.conf.d/") || strings.HasPrefix(name, "etc/init.d/") {
		return true
	}
	for _, d := range []string{"usr/lib/systemd/system/", "usr/lib/systemd/user/", "etc/systemd/system/", "etc/systemd/user/"} {
		if strings.HasPrefix(name, d) && !strings.Contains(name[len(d):], "/") {
			return true
		}
	}
	switch name {
	case "usr/share/postgresql-common/pg_updateaptconfig", "usr/share/i18n/SUPPORTED",
		"usr/share/postgresql-common/maintscripts-functions":
		return true
	}
	return p.sources[name]
}

func rel(abs string) string { return strings.TrimPrefix(path.Clean("/"+abs), "/") }

// exists reports whether a relative path exists in the result (observed or
// in the base).
func (p *Plan) exists(name string) bool {
	if _, ok := p.observed[name]; ok {
		return true
	}
	_, err := fs.Lstat(p.base, name)
	return err == nil
}

// canonical resolves symlinks of the parent directories of an absolute
// path through the observed entries and the base (e.g. var/run -> run,
// lib -> usr/lib), so generated files land where the link points.
func (p *Plan) canonical(abs string) string {
	parts := strings.Split(rel(abs), "/")
	cur := ""
	for i := 0; i < len(parts); i++ {
		next := path.Join(cur, parts[i])
		if i == len(parts)-1 {
			return next
		}
		target, ok := p.readlink(next)
		for hops := 0; ok && hops < 16; hops++ {
			if strings.HasPrefix(target, "/") {
				next = rel(target)
			} else {
				next = rel(path.Join(cur, target))
			}
			target, ok = p.readlink(next)
		}
		cur = next
	}
	return cur
}

func (p *Plan) readlink(name string) (string, bool) {
	if e, ok := p.observed[name]; ok {
		return e.linkname, e.typ == tar.TypeSymlink
	}
	t, err := fs.ReadLink(p.base, name)
	return t, err == nil
}

// readFile returns a captured body or the base's file.
func (p *Plan) readFile(name string) ([]byte, bool) {
	if b, ok := p.captured[name]; ok {
		return b, true
	}
	if _, ok := p.observed[name]; ok {
		return nil, false // observed but not captured
	}
	b, err := fs.ReadFile(p.base, name)
	return b, err == nil
}

// baseOwner returns the mode, uid and gid of a base path; ok is false when
// the path is missing or the FS cannot tell owners (os.DirFS gives a
// syscall.Stat_t, a tar-backed FS a *tar.Header).
func baseOwner(base fs.FS, name string) (mode int64, uid, gid int, ok bool) {
	fi, err := fs.Stat(base, name)
	if err != nil {
		return 0, 0, 0, false
	}
	mode = int64(fi.Mode().Perm())
	if fi.Mode()&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if fi.Mode()&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if fi.Mode()&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	switch s := fi.Sys().(type) {
	case *syscall.Stat_t:
		return mode, int(s.Uid), int(s.Gid), true
	case *tar.Header:
		return mode, s.Uid, s.Gid, true
	}
	return mode, 0, 0, false
}

// files is the state layer being built, by relative path.
type files map[string]File

func (fl files) add(f File) { fl[f.Path] = f }

func (fl files) reg(path string, mode int64, uid, gid int, data []byte) {
	fl.add(File{Path: path, Type: tar.TypeReg, Mode: mode, Uid: uid, Gid: gid, Data: data})
}

// Files returns what the final state layer must contain, sorted by path,
// parents before children.
func (p *Plan) Files() ([]File, error) {
	if !p.opts.AllowUnhandled {
		var bad []Classification
		for _, c := range p.fileTriggerClasses() {
			if c.Verdict == Unhandled {
				bad = append(bad, c)
			}
		}
		if len(bad) > 0 {
			return nil, &UnhandledError{Commands: bad}
		}
	}
	out := files{}
	p.accountFiles(out)
	if err := p.tableFiles(out); err != nil {
		return nil, err
	}
	p.initLinkFiles(out)
	if err := p.alternativeFiles(out); err != nil {
		return nil, err
	}
	if err := p.dpkgStateFiles(out); err != nil {
		return nil, err
	}
	if p.byName["ca-certificates"] != nil {
		if err := p.caFiles(out); err != nil {
			return nil, err
		}
	}
	if err := p.ldFiles(out); err != nil {
		return nil, err
	}
	if err := p.applyEdits(out); err != nil {
		return nil, err
	}
	list := make([]File, 0, len(out))
	for _, f := range out {
		list = append(list, f)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Path < list[j].Path })
	return list, nil
}

func (p *Plan) accountFiles(out files) {
	shadowGID, ok := p.acct.gid("shadow")
	if !ok {
		shadowGID = 0
	}
	for _, x := range []struct {
		d    *dbFile
		mode int64
		gid  int
	}{{p.acct.passwd, 0o644, 0}, {p.acct.group, 0o644, 0}, {p.acct.shadow, 0o640, shadowGID}, {p.acct.gshadow, 0o640, shadowGID}} {
		if !x.d.changed {
			continue
		}
		mode, uid, gid := x.mode, 0, x.gid
		if m, u, g, ok := baseOwner(p.base, x.d.name); ok {
			mode, uid, gid = m, u, g
		}
		out.reg(x.d.name, mode, uid, gid, x.d.bytes())
	}
}

func (p *Plan) uidOf(name string) int {
	if name == "" {
		return 0
	}
	id, _ := p.acct.uid(name)
	return id
}

func (p *Plan) gidOf(name string) int {
	if name == "" {
		return 0
	}
	id, _ := p.acct.gid(name)
	return id
}

// tableFiles writes what the table's entries state for each package.
func (p *Plan) tableFiles(out files) error {
	for _, ps := range p.pkgs {
		e := ps.effects
		if e == nil {
			continue
		}
		for _, d := range e.Dirs {
			f := File{Path: p.canonical(d.Path), Type: tar.TypeDir, Mode: d.Mode,
				Uid: p.uidOf(d.Owner), Gid: p.gidOf(d.Group)}
			if d.Mode < 0 { // like its parent's parent: ca-certificates copies /usr/local
				f.Mode, f.Uid, f.Gid = 0o755, 0, 0
				if m, _, g, ok := baseOwner(p.base, "usr/local"); ok {
					f.Mode, f.Gid = m, g
				}
			}
			p.addDirParents(out, f.Path)
			out.add(f)
		}
		for _, h := range e.Heredocs {
			dst := p.canonical(h.Path)
			if _, inBase := fs.Stat(p.base, dst); inBase == nil {
				continue // every such script writes only when the file is missing
			}
			body, ok := heredocBody(ps.Scripts[h.Script], h.Target)
			if !ok {
				continue // this version of the script does not write it
			}
			out.reg(dst, h.Mode, 0, 0, body)
		}
		for _, c := range e.Copies {
			dst := p.canonical(c.Dest)
			if p.exists(dst) {
				continue
			}
			src := rel(c.Source)
			b, ok := p.readFile(src)
			if !ok {
				continue // source excluded by dpkg filters: cp would fail, the script ignores it? no: report
			}
			mode := int64(0o644)
			if e, ok := p.observed[src]; ok {
				mode = e.mode
			}
			out.reg(dst, mode, 0, 0, b)
		}
		for _, s := range e.Symlinks {
			out.add(File{Path: p.canonical(s.Path), Type: tar.TypeSymlink, Mode: 0o777, Linkname: s.Target})
		}
		for _, u := range e.Ucf {
			if err := p.ucfFile(out, ps, u); err != nil {
				return err
			}
		}
		for _, g := range e.Generators {
			if err := p.generate(out, ps, g); err != nil {
				return fmt.Errorf("replay %s: %s: %w", ps.Name, g, err)
			}
		}
	}
	return nil
}

// addDirParents makes sure the parents of a generated path exist, as
// root-owned 0755 directories, when neither the base nor a package has them.
func (p *Plan) addDirParents(out files, name string) {
	for dir := path.Dir(name); dir != "." && dir != "/"; dir = path.Dir(dir) {
		if p.exists(dir) {
			return
		}
		if _, ok := out[dir]; ok {
			return
		}
		out.add(File{Path: dir, Type: tar.TypeDir, Mode: 0o755})
	}
}

// heredocBody returns the here-document of the command redirected to target.
func heredocBody(script []byte, target string) ([]byte, bool) {
	s := ParseScript(string(script))
	for _, h := range s.Heredocs {
		if h.Target == target {
			return []byte(h.Body), true
		}
	}
	return nil, false
}

// ErrEditTarget is returned by Files when an edit names a file the replay
// does not generate (a typo would otherwise go unnoticed).
var ErrEditTarget = errors.New("edited file is not generated by the replay")

// applyEdits applies Options.Edits to generated regular files.
func (p *Plan) applyEdits(out files) error {
	for _, ed := range p.opts.Edits {
		name := p.canonical("/" + ed.Path)
		f, ok := out[name]
		if !ok {
			// A file of the base (e.g. postgresql-common preinstalled):
			// edit it in the state layer.
			b, err := fs.ReadFile(p.base, name)
			if err != nil {
				return fmt.Errorf("edit of %s: %w", ed.Path, ErrEditTarget)
			}
			f = File{Path: name, Type: tar.TypeReg, Mode: 0o644, Data: b}
			if m, u, g, ok := baseOwner(p.base, name); ok {
				f.Mode, f.Uid, f.Gid = m, u, g
			}
		}
		if f.Type != tar.TypeReg {
			return fmt.Errorf("edit of %s: %w", ed.Path, ErrEditTarget)
		}
		f.Data = editLines(f.Data, ed)
		out[f.Path] = f
	}
	return nil
}

func editLines(data []byte, ed Edit) []byte {
	re := regexp.MustCompile(ed.Pattern)
	var b bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), maxCapture)
	for sc.Scan() {
		b.WriteString(re.ReplaceAllString(sc.Text(), ed.Replace))
		b.WriteByte('\n')
	}
	return b.Bytes()
}
