package layer

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pgassemble/pgassemble/pkg/apt"
)

// outEntry is one entry of the layer being written.
type outEntry struct {
	hdr  tar.Header // Name relative; directories end with "/"
	pkg  string     // owning package (fed to the replay), "" for dpkg db files
	src  *decodedDeb
	raw  *rawEntry
	data []byte
}

func (e *outEntry) body() io.Reader {
	if e.src != nil {
		return e.src.body(e.raw)
	}
	return bytes.NewReader(e.data)
}

func (e *outEntry) bodyAt() io.ReaderAt {
	if e.src != nil {
		return e.src.body(e.raw).(io.ReaderAt)
	}
	return bytes.NewReader(e.data)
}

func (e *outEntry) path() string { return strings.TrimSuffix(e.hdr.Name, "/") }

// stage accumulates one layer.
type stage struct {
	b       *Builder
	tree    *tree
	entries map[string]*outEntry // by resolved path
	meta    *stageMeta
	// per package of the stage, in order
	lists   [][]string        // shipped paths, "/." first
	conff   [][]Conffile      // conffiles with md5
	isDir   []map[string]bool // shipped paths that are directories
	written []map[string]bool // resolved paths written for the package
	placed  []map[string]bool // shipped paths the package put on disk
	genSums [][]byte          // md5sums dpkg would generate (packages without one)
	whited  map[string]bool
	// for dpkg's file-conflict rules (conflict.go)
	decoded  []*decodedDeb
	infos    []*ControlInfo
	shipped  map[string][]int // listed path -> stage packages listing it
	selfKey  string           // installed key of the package being added
	upgraded map[string]bool  // installed keys this stage upgrades
}

func (b *Builder) newStage() *stage {
	ov := make(map[string]node, len(b.overlay))
	for k, v := range b.overlay {
		ov[k] = v
	}
	return &stage{
		b:       b,
		tree:    &tree{base: b.base, overlay: ov},
		entries: map[string]*outEntry{},
		meta:    newStageMeta(),
		whited:  map[string]bool{},
		shipped: map[string][]int{},
	}
}

// stageKeyOf is the installed key a package of the stage gets.
func (s *stage) stageKeyOf(p apt.Paragraph) string {
	name, parch, ma := p.Get("Package"), p.Get("Architecture"), p.Get("Multi-Arch")
	if parch == "all" && ma == "same" && s.b.opts.Arch != "" {
		parch = s.b.opts.Arch
	}
	return installedKey(name, parch, ma)
}

func (s *stage) uid(name string, fallback int) int {
	if name == "" {
		return fallback
	}
	id, ok := s.b.lookupUser(name)
	if !ok {
		s.meta.Users[name] = -1
		return fallback
	}
	s.meta.Users[name] = id
	return id
}

func (s *stage) gid(name string, fallback int) int {
	if name == "" {
		return fallback
	}
	id, ok := s.b.lookupGroup(name)
	if !ok {
		s.meta.Groups[name] = -1
		return fallback
	}
	s.meta.Groups[name] = id
	return id
}

// clamp bounds an mtime by the epoch (SOURCE_DATE_EPOCH semantics).
func (s *stage) clamp(e *rawEntry) time.Time {
	if e.mtime.IsZero() || e.mtime.After(s.b.epoch) {
		return s.b.epoch
	}
	return e.mtime.UTC().Truncate(time.Second)
}

// addPackage places one package's data entries.
func (s *stage) addPackage(d *decodedDeb) error {
	pkg := d.name()
	// dpkg lists symlinks after everything else, each group in archive
	// order (verified with dpkg 1.21; dpkg-deb also archives them last).
	list := []string{"/."}
	var links []string
	seen := map[string]bool{}
	dirs := map[string]bool{}
	conffMD5 := map[string]string{}
	written := map[string]bool{}
	placed := map[string]bool{} // shipped paths this package put on disk
	genSums := d.info.Member("md5sums") == nil
	var sums strings.Builder // dpkg's own md5sums when the package has none
	idx := len(s.decoded)
	s.selfKey = s.stageKeyOf(d.info.Paragraph)
	kept := map[string]bool{} // paths an installed package keeps (it Replaces this one)
	for i := range d.entries {
		e := &d.entries[i]
		if e.name == "" {
			continue
		}
		abs := "/" + e.name
		ctarget := e.name
		if dv, ok := s.b.diversion(abs); ok && dv.Package != pkg {
			ctarget = strings.TrimPrefix(path.Clean(dv.To), "/")
		}
		act, err := s.conflict(d, e, abs, ctarget)
		if err != nil {
			return err
		}
		if act == keepExisting {
			kept[abs] = true
			continue
		}
		if !seen[abs] {
			seen[abs] = true
			if e.typ == tar.TypeSymlink {
				links = append(links, abs)
			} else {
				list = append(list, abs)
			}
		}
		if e.typ == tar.TypeDir {
			dirs[abs] = true
		}
		if e.md5 != "" {
			conffMD5[abs] = e.md5
		}
		sumOf := func() string {
			if e.typ == tar.TypeLink {
				return conffMD5["/"+e.link]
			}
			return e.md5
		}
		if s.b.base.filters.Skip(abs, e.typ == tar.TypeDir || e.typ == tar.TypeSymlink) {
			continue
		}
		target := e.name
		if dv, ok := s.b.diversion(abs); ok && dv.Package != pkg {
			s.meta.Diverted[abs] = dv.To + " " + dv.Package
			// dpkg-divert: unpacked at the diverted name; .list keeps abs.
			if target, err = cleanName(strings.TrimPrefix(dv.To, "/")); err != nil {
				return fmt.Errorf("%s: %s: diversion: %w", pkg, abs, err)
			}
		}
		q, err := s.tree.resolveParent(target)
		if err != nil {
			return fmt.Errorf("%s: %s: %v: %w", pkg, abs, err, ErrUnsafePath)
		}
		if q == "" {
			continue
		}
		ex := s.tree.lookup(q)
		if e.typ == tar.TypeDir {
			// dpkg keeps what is on disk: a directory, or a symlink to one.
			if ex.kind == 'd' {
				continue
			}
			if ex.kind == 'l' {
				r, err := s.tree.resolveFull(q)
				if err != nil {
					return fmt.Errorf("%s: %s: %v: %w", pkg, abs, err, ErrUnsafePath)
				}
				if s.tree.lookup(r).kind == 'd' {
					continue
				}
			}
		} else {
			if !strings.Contains(q, "/") && s.b.base.protected[q] {
				if e.typ == tar.TypeSymlink && ex.kind == 'l' && rootLink(e.link) == rootLink(ex.link) {
					// The same link (trixie's base-files ships the merged-/usr
					// links itself): dpkg's rename leaves it as it was.
					continue
				}
				return fmt.Errorf("%s: %s would replace the merged-/usr symlink /%s: %w", pkg, abs, q, ErrUnsafePath)
			}
			if act == existingDir {
				continue // dpkg keeps the directory or the symlink to it (verified)
			}
			if ex.kind == 'd' {
				return fmt.Errorf("%s: %s: would replace directory /%s with a non-directory: %w", pkg, abs, q, ErrUnsafePath)
			}
		}
		h := tar.Header{
			Name:     q,
			Typeflag: e.typ,
			Mode:     e.mode,
			Uid:      s.uid(e.uname, e.uid),
			Gid:      s.gid(e.gname, e.gid),
			ModTime:  s.clamp(e),
		}
		if so, ok := s.b.base.overrides[abs]; ok && e.typ != tar.TypeSymlink && e.typ != tar.TypeLink {
			h.Mode = so.Mode
			h.Uid = s.overrideID(so.User, h.Uid, s.uid)
			h.Gid = s.overrideID(so.Group, h.Gid, s.gid)
		}
		out := &outEntry{pkg: pkg}
		switch e.typ {
		case tar.TypeDir:
			h.Name += "/"
		case tar.TypeReg:
			h.Size = e.size
			out.src, out.raw = d, e
		case tar.TypeSymlink:
			h.Linkname = e.link
		case tar.TypeLink:
			t, err := s.tree.resolveParent(e.link)
			if err != nil {
				return fmt.Errorf("%s: %s: hardlink target %s: %v: %w", pkg, abs, e.link, err, ErrUnsafePath)
			}
			if t == q {
				// dpkg fails on it ("error creating hard link"), after
				// removing the file: refused, never a layer without it.
				return fmt.Errorf("%s: %s: hardlink to itself: %w", pkg, abs, ErrBadDeb)
			}
			te := s.entries[t]
			for te != nil && te.hdr.Typeflag == tar.TypeLink {
				te = s.entries[te.hdr.Linkname]
			}
			if te == nil || te.hdr.Typeflag != tar.TypeReg {
				return fmt.Errorf("%s: %s: hardlink to /%s, which is not a file unpacked before it", pkg, abs, e.link)
			}
			h.Linkname = te.path()
		case tar.TypeChar, tar.TypeBlock:
			h.Devmajor, h.Devminor = e.devmajor, e.devminor
		}
		out.hdr = h
		s.keepHardlinks(q)
		s.entries[q] = out
		written[q] = true
		placed[abs] = true
		if genSums && (e.typ == tar.TypeReg || e.typ == tar.TypeLink) {
			fmt.Fprintf(&sums, "%s  %s\n", sumOf(), e.name)
		}
		k := byte('f')
		switch e.typ {
		case tar.TypeDir:
			k = 'd'
		case tar.TypeSymlink:
			k = 'l'
		}
		s.tree.overlay[q] = node{kind: k, link: h.Linkname}
	}
	list = append(list, links...)
	if len(kept) > 0 {
		list = slicesDelete(list, kept)
	}
	// Paths this package placed leave the lists of the stage's earlier
	// packages that had them (it Replaces them: conflict checked that),
	// as they leave installed packages' lists in elide.
	for abs := range placed {
		for _, i := range s.shipped[abs] {
			if other := s.infos[i].Paragraph.Get("Package"); other != pkg && !s.divertedBetween(abs, pkg, other) {
				s.lists[i] = slicesDelete(s.lists[i], map[string]bool{abs: true})
			}
		}
	}
	for _, l := range list {
		if l != "/." {
			s.shipped[l] = append(s.shipped[l], idx)
		}
	}
	s.decoded = append(s.decoded, d)
	s.infos = append(s.infos, d.info)
	var conff []Conffile
	flags := conffileFlags(d.info.Member("conffiles"))
	for _, c := range d.info.Conffiles {
		p := path.Clean("/" + c)
		m := conffMD5[p]
		if m == "" {
			m = md5FromSums(d.info.Member("md5sums"), p)
		}
		conff = append(conff, Conffile{Path: c, MD5: m, RemoveOnUpgrade: flags[c]["remove-on-upgrade"]})
	}
	s.lists = append(s.lists, list)
	s.conff = append(s.conff, conff)
	s.isDir = append(s.isDir, dirs)
	s.written = append(s.written, written)
	s.placed = append(s.placed, placed)
	s.genSums = append(s.genSums, []byte(sums.String()))
	return nil
}

// divertedBetween reports whether abs is diverted by placer or by other:
// dpkg then leaves other's list as it is (each has its own copy).
func (s *stage) divertedBetween(abs, placer, other string) bool {
	dv, ok := s.b.diversion(abs)
	return ok && (dv.Package == placer || dv.Package == other)
}

// slicesDelete returns list without the paths in drop.
func slicesDelete(list []string, drop map[string]bool) []string {
	out := list[:0:0]
	for _, l := range list {
		if !drop[l] {
			out = append(out, l)
		}
	}
	return out
}

// overrideID resolves a statoverride owner: "#123" or a name.
func (s *stage) overrideID(v string, cur int, byName func(string, int) int) int {
	if n, ok := strings.CutPrefix(v, "#"); ok {
		if id, err := strconv.Atoi(n); err == nil {
			return id
		}
		return cur
	}
	return byName(v, cur)
}

// conffileFlags reads the flags before each path of a conffiles member
// ("remove-on-upgrade /etc/x", dpkg >= 1.20).
func conffileFlags(member []byte) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, l := range strings.Split(string(member), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		m := map[string]bool{}
		for _, flag := range f[:len(f)-1] {
			m[flag] = true
		}
		out[f[len(f)-1]] = m
	}
	return out
}

// md5FromSums finds a path's sum in an md5sums member ("sum  path").
func md5FromSums(sums []byte, abs string) string {
	rel := strings.TrimPrefix(abs, "/")
	for _, l := range strings.Split(string(sums), "\n") {
		if f := strings.Fields(l); len(f) == 2 && strings.TrimPrefix(f[1], "/") == rel {
			return f[0]
		}
	}
	return ""
}

const infoDir = "var/lib/dpkg/info"

// finishDB adds dpkg's database files, upgrade and Replaces effects, and
// the implicit parent directories.
func (s *stage) finishDB(decoded []*decodedDeb) error {
	b := s.b
	arch := b.opts.Arch
	stageKeys := map[string]bool{}
	for _, d := range decoded {
		p := d.info.Paragraph
		stageKeys[installedKey(p.Get("Package"), p.Get("Architecture"), p.Get("Multi-Arch"))] = true
	}
	for i, d := range decoded {
		p := d.info.Paragraph
		name, parch, ma := p.Get("Package"), p.Get("Architecture"), p.Get("Multi-Arch")
		if parch == "all" && ma == "same" && arch != "" {
			parch = arch
		}
		key := installedKey(name, parch, ma)
		stem := infoName(name, parch, ma)
		list := s.lists[i]
		newSet := map[string]bool{}
		for _, l := range list {
			newSet[l] = true
		}
		if old, ok := b.pkgs[key]; ok {
			obsolete, err := s.upgrade(old, newSet, d)
			if err != nil {
				return err
			}
			// dpkg keeps conffiles the new version dropped: on disk, at the
			// end of the .list, and as "obsolete" in the status stanza.
			for _, c := range obsolete {
				if !newSet[c.Path] {
					list = append(list, c.Path)
				}
				s.conff[i] = append(s.conff[i], c)
			}
		}
		if err := s.replaces(d, key, list, s.isDir[i], stageKeys); err != nil {
			return err
		}
		pm := pkgMeta{Key: key, Stem: stem, Stanza: StatusStanza(p, s.conff[i]), List: list}
		s.addDB(stem+".list", 0o644, listFile(list))
		for _, m := range d.info.Members {
			s.addDB(stem+"."+m.Name, m.Mode, m.Data)
			pm.Members = append(pm.Members, m.Name)
		}
		if d.info.Member("md5sums") == nil { // dpkg writes one, empty without files
			s.addDB(stem+".md5sums", 0o644, s.genSums[i])
			pm.Members = append(pm.Members, "md5sums")
		}
		if ma == "same" {
			pm.Sums = string(d.info.Member("md5sums"))
			if pm.Sums == "" {
				pm.Sums = string(s.genSums[i])
			}
		}
		pm.Written = sortedKeys(s.written[i])
		s.meta.Packages = append(s.meta.Packages, pm)
	}
	if err := s.elide(stageKeys); err != nil {
		return err
	}
	// Parents that exist nowhere yet (e.g. usr/bin after bin/x moved there
	// on a base without usr/bin) become plain directories.
	for _, q := range sortedKeys(s.entries) {
		for p := path.Dir(q); p != "." && p != "/"; p = path.Dir(p) {
			if _, ok := s.entries[p]; ok {
				break
			}
			if n := s.tree.lookup(p); n.kind == 'd' || (n.kind == 'l' && s.tree.isDirAt(p)) {
				break
			}
			s.entries[p] = &outEntry{hdr: tar.Header{Name: p + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: s.b.epoch}}
			s.tree.overlay[p] = node{kind: 'd'}
		}
	}
	for _, q := range sortedKeys(s.tree.overlay) {
		n := s.tree.overlay[q]
		if old, ok := b.overlay[q]; ok && old == n {
			continue
		}
		if n.kind == 'd' || n.kind == 'l' || n.kind == 0 {
			s.meta.Overlay = append(s.meta.Overlay, overlayNode{Path: q, Kind: n.kind, Link: n.link})
		}
	}
	return nil
}

func (s *stage) addDB(name string, mode int64, data []byte) {
	p := infoDir + "/" + name
	q, err := s.tree.resolveParent(p)
	if err != nil {
		q = p
	}
	s.entries[q] = &outEntry{data: data, hdr: tar.Header{Name: q, Typeflag: tar.TypeReg, Mode: mode,
		Size: int64(len(data)), ModTime: s.b.epoch}}
	if s.whited[q] {
		delete(s.entries, path.Join(path.Dir(q), ".wh."+path.Base(q)))
		delete(s.whited, q)
	}
}

// whiteout hides a non-directory of a lower layer, unless this layer
// writes it.
func (s *stage) whiteout(abs string) {
	q, err := s.tree.resolveParent(strings.TrimPrefix(abs, "/"))
	if err != nil || q == "" {
		return
	}
	if _, ok := s.entries[q]; ok {
		return
	}
	n := s.tree.lookup(q)
	if n.kind == 0 || n.kind == 'd' {
		return
	}
	s.addWhiteout(q)
}

func (s *stage) addWhiteout(q string) {
	wh := path.Join(path.Dir(q), ".wh."+path.Base(q))
	s.entries[wh] = &outEntry{hdr: tar.Header{Name: wh, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: s.b.epoch}}
	s.tree.overlay[q] = node{}
	s.whited[q] = true
}

// removeEmptyDirs removes, deepest first, the directories of dirs (shipped
// paths) that no other package lists and that are left empty, as dpkg does
// when a package is removed or an upgrade drops a directory.
func (s *stage) removeEmptyDirs(dirs []string, owners map[string]int) {
	sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
	for _, l := range dirs {
		if l == "/." || owners[l] > 1 {
			continue
		}
		q, err := s.tree.resolveParent(strings.TrimPrefix(l, "/"))
		if err != nil || q == "" || s.tree.lookup(q).kind != 'd' {
			continue
		}
		if !s.emptyDir(q) {
			continue
		}
		// The directory's whiteout covers those beneath it.
		for k := range s.entries {
			if strings.HasPrefix(k, q+"/") {
				delete(s.entries, k)
			}
		}
		s.addWhiteout(q)
	}
}

// emptyDir reports whether directory q holds nothing once this stage's
// whiteouts apply and nothing of this stage is written under it.
func (s *stage) emptyDir(q string) bool {
	prefix := q + "/"
	for k, e := range s.entries {
		if strings.HasPrefix(k, prefix) && (e.hdr.Typeflag != tar.TypeReg || e.hdr.Size != 0 || !strings.HasPrefix(path.Base(k), ".wh.")) {
			return false
		}
	}
	for k, n := range s.tree.overlay {
		if strings.HasPrefix(k, prefix) && n.kind != 0 {
			return false
		}
	}
	ents, err := fs.ReadDir(s.b.base.fsys, q)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if n, ok := s.tree.overlay[q+"/"+e.Name()]; ok && n.kind == 0 {
			continue
		}
		return false
	}
	return true
}

// upgrade whites out the old version's files that the new one does not
// ship (unless another package still lists them), and its info files.
func (s *stage) upgrade(old *pkgState, newSet map[string]bool, d *decodedDeb) ([]Conffile, error) {
	if err := s.b.loadList(old); err != nil {
		return nil, err
	}
	owners, err := s.b.ownerIndex()
	if err != nil {
		return nil, err
	}
	newConff := map[string]bool{}
	for _, c := range d.info.Conffiles {
		newConff[path.Clean("/"+c)] = true
	}
	var obsolete []Conffile
	keepConff := map[string]bool{}
	for _, c := range parseConffiles(old.stanza.Get("Conffiles")) {
		if !newConff[c.Path] {
			c.Obsolete = true
			obsolete = append(obsolete, c)
			keepConff[c.Path] = true
		}
	}
	var dropped []string
	for _, p := range old.list {
		if p == "/." || newSet[p] || owners[p] > 1 || keepConff[p] {
			continue
		}
		s.whiteout(p)
		dropped = append(dropped, p)
	}
	s.removeEmptyDirs(dropped, owners)
	keep := map[string]bool{"list": true}
	for _, m := range d.info.Members {
		keep[m.Name] = true
	}
	for _, m := range s.b.members(old) {
		if !keep[m] {
			s.whiteout("/" + infoDir + "/" + old.stem + "." + m)
		}
	}
	return obsolete, nil
}

// parseConffiles reads a status Conffiles field (" /path md5 [obsolete]").
func parseConffiles(v string) []Conffile {
	var out []Conffile
	for _, l := range strings.Split(v, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || !strings.HasPrefix(f[0], "/") {
			continue
		}
		c := Conffile{Path: f[0], MD5: f[1]}
		for _, flag := range f[2:] {
			switch flag {
			case "obsolete":
				c.Obsolete = true
			case "remove-on-upgrade":
				c.RemoveOnUpgrade = true
			}
		}
		out = append(out, c)
	}
	return out
}

// replaces applies the Replaces of a new package to installed packages:
// files it takes over leave their .list; a package left with no files, or
// one it also Conflicts with, is removed.
func (s *stage) replaces(d *decodedDeb, self string, list []string, dirs map[string]bool, stageKeys map[string]bool) error {
	p := d.info.Paragraph
	repl, err := apt.ParseRelations(p.Get("Replaces"))
	if err != nil || len(repl) == 0 {
		return nil
	}
	confl, _ := apt.ParseRelations(p.Get("Conflicts"))
	ships := map[string]bool{}
	for _, l := range list {
		if !dirs[l] && l != "/." {
			ships[l] = true
		}
	}
	for _, k := range sortedKeys(s.b.pkgs) {
		x := s.b.pkgs[k]
		if k == self || stageKeys[k] {
			continue
		}
		xname, xver := x.stanza.Get("Package"), x.stanza.Get("Version")
		if !repl.Matches(xname, xver) {
			continue
		}
		if err := s.b.loadList(x); err != nil {
			return err
		}
		if confl.Matches(xname, xver) {
			s.remove(x, ships)
			continue
		}
		var kept []string
		changed, files := false, 0
		for _, l := range s.listOf(x) {
			if ships[l] {
				changed = true
				continue
			}
			kept = append(kept, l)
			if l != "/." {
				q, err := s.tree.resolveFull(strings.TrimPrefix(l, "/"))
				if err != nil || s.tree.lookup(q).kind != 'd' {
					files++
				}
			}
		}
		if !changed {
			continue
		}
		if files == 0 { // dpkg: the package disappears
			s.remove(x, ships)
			continue
		}
		s.meta.Lists[x.key] = kept
	}
	return nil
}

// listOf is an installed package's .list as this stage has left it so far.
func (s *stage) listOf(x *pkgState) []string {
	if l, ok := s.meta.Lists[x.key]; ok {
		return l
	}
	return x.list
}

// elide removes from other installed packages' lists the paths a package
// of this stage put on disk: dpkg flags every object it places
// (FNNF_ELIDE_OTHER_LISTS) and rewrites the lists of the other packages
// that had them. Shared directories that already existed are not placed,
// so they stay listed everywhere; one that did not exist (e.g. removed by
// an image's slimming although its package still lists it) moves to the
// package that creates it, as with perl-base's /usr/share/doc/perl.
func (s *stage) elide(stageKeys map[string]bool) error {
	idx, err := s.b.pathIndex()
	if err != nil {
		return err
	}
	removed := map[string]bool{}
	for _, k := range s.meta.Removed {
		removed[k] = true
	}
	drop := map[string]map[string]bool{} // key -> paths
	for i, placed := range s.placed {
		name := s.infos[i].Paragraph.Get("Package")
		for p := range placed {
			for _, k := range idx[p] {
				if stageKeys[k] || removed[k] {
					continue
				}
				if x, ok := s.b.pkgs[k]; ok && (x.stanza.Get("Package") == name || s.divertedBetween(p, name, x.stanza.Get("Package"))) {
					continue // instances of one package share files (Multi-Arch: same); a diversion keeps both
				}
				if drop[k] == nil {
					drop[k] = map[string]bool{}
				}
				drop[k][p] = true
			}
		}
	}
	for _, k := range sortedKeys(drop) {
		x, ok := s.b.pkgs[k]
		if !ok {
			continue
		}
		var kept []string
		changed := false
		for _, l := range s.listOf(x) {
			if drop[k][l] {
				changed = true
				continue
			}
			kept = append(kept, l)
		}
		if changed {
			s.meta.Lists[k] = kept
		}
	}
	for _, k := range sortedKeys(s.meta.Lists) {
		if x, ok := s.b.pkgs[k]; ok && !removed[k] {
			s.addDB(x.stem+".list", 0o644, listFile(s.meta.Lists[k]))
		}
	}
	return nil
}

// pathIndex maps every path listed by an installed package to the keys of
// the packages listing it. Built on first need.
func (b *Builder) pathIndex() (map[string][]string, error) {
	if b.pathIdx != nil {
		return b.pathIdx, nil
	}
	idx := map[string][]string{}
	for _, k := range sortedKeys(b.pkgs) {
		p := b.pkgs[k]
		if err := b.loadList(p); err != nil {
			return nil, err
		}
		for _, l := range p.list {
			if l != "/." {
				idx[l] = append(idx[l], k)
			}
		}
	}
	b.pathIdx = idx
	return idx, nil
}

// remove takes an installed package out: its files not taken over and not
// listed by others are whited out, and so are its info files.
func (s *stage) remove(x *pkgState, takenOver map[string]bool) {
	owners, _ := s.b.ownerIndex()
	var gone []string
	for _, l := range x.list {
		if l == "/." || takenOver[l] || owners[l] > 1 {
			continue
		}
		s.whiteout(l)
		gone = append(gone, l)
	}
	s.removeEmptyDirs(gone, owners)
	for _, m := range append([]string{"list"}, s.b.members(x)...) {
		s.whiteout("/" + infoDir + "/" + x.stem + "." + m)
	}
	s.meta.Removed = append(s.meta.Removed, x.key)
}

// sorted returns the stage's entries in layer order, hardlinks fixed up.
func (s *stage) sorted() []*outEntry {
	list := make([]*outEntry, 0, len(s.entries))
	for _, e := range s.entries {
		list = append(list, e)
	}
	sortEntries(list)
	fixHardlinks(list)
	return list
}

func sortEntries(list []*outEntry) {
	sort.Slice(list, func(i, j int) bool { return pathLess(list[i].path(), list[j].path()) })
}

// fixHardlinks makes the first path of each hardlink group (in layer order)
// the one carrying the body, since a tar link must follow its target.
func fixHardlinks(list []*outEntry) {
	idx := map[string]int{}
	for i, e := range list {
		idx[e.path()] = i
	}
	groups := map[string][]int{}
	for i, e := range list {
		if e.hdr.Typeflag == tar.TypeLink {
			groups[e.hdr.Linkname] = append(groups[e.hdr.Linkname], i)
		}
	}
	for _, t := range sortedKeys(groups) {
		ti, ok := idx[t]
		if !ok {
			continue
		}
		first := ti
		for _, i := range groups[t] {
			first = min(first, i)
		}
		if first == ti {
			continue
		}
		target := list[ti]
		primary := list[first]
		name := primary.hdr.Name
		moved := *target
		moved.hdr.Name = name
		moved.pkg = primary.pkg
		list[first] = &moved
		linkTo := func(i int) {
			e := *list[i]
			e.hdr.Typeflag = tar.TypeLink
			e.hdr.Linkname = name
			e.hdr.Size = 0
			e.src, e.raw, e.data = nil, nil, nil
			list[i] = &e
		}
		linkTo(ti)
		for _, i := range groups[t] {
			if i != first {
				linkTo(i)
			}
		}
	}
}

// loadList reads a base package's info/<stem>.list once.
func (b *Builder) loadList(p *pkgState) error {
	if p.loaded || !p.fromBase {
		return nil
	}
	data, err := fs.ReadFile(b.base.fsys, infoDir+"/"+p.stem+".list")
	if err != nil && !isNotExist(err) {
		return fmt.Errorf("read base %s.list: %w", p.stem, err)
	}
	p.list, p.loaded = parseList(data), true
	return nil
}

// members lists a package's info files other than .list.
func (b *Builder) members(p *pkgState) []string {
	if !p.fromBase {
		return p.members
	}
	if b.baseInfo == nil {
		b.baseInfo = map[string][]string{}
		ents, _ := fs.ReadDir(b.base.fsys, infoDir)
		for _, e := range ents {
			n := e.Name()
			i := strings.LastIndexByte(n, '.')
			if i <= 0 || n[i+1:] == "list" {
				continue
			}
			b.baseInfo[n[:i]] = append(b.baseInfo[n[:i]], n[i+1:])
		}
	}
	return b.baseInfo[p.stem]
}

// ownerIndex counts, for every shipped path, the installed packages that
// list it. Built on first need (upgrades and Replaces only).
func (b *Builder) ownerIndex() (map[string]int, error) {
	if b.owners != nil {
		return b.owners, nil
	}
	b.owners = map[string]int{}
	for _, k := range sortedKeys(b.pkgs) {
		p := b.pkgs[k]
		if err := b.loadList(p); err != nil {
			return nil, err
		}
		for _, l := range p.list {
			b.owners[l]++
		}
	}
	return b.owners, nil
}

// rootLink normalizes the target of a top-level symlink ("/usr/bin",
// "usr/bin/" and "./usr/bin" are the same link).
func rootLink(target string) string {
	return strings.TrimPrefix(path.Clean("/"+target), "/")
}
