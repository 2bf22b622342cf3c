package layer

import (
	"archive/tar"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/pgassemble/pgassemble/pkg/apt"
)

// ErrFileConflict is wrapped by errors about a package shipping a file
// another package has, without the Replaces that allows it (dpkg's
// "trying to overwrite").
var ErrFileConflict = errors.New("file conflict")

type conflictAction int

const (
	unpack conflictAction = iota
	keepExisting
	existingDir
)

// owner is a package that lists a path: installed, or unpacked earlier in
// the same stage (dpkg sees both the same way).
type owner struct {
	name, version, ma string
	stanza            apt.Paragraph
	stage             int       // index in the stage, -1 for an installed package
	pkg               *pkgState // the installed package
}

func (o owner) describe() string { return fmt.Sprintf("%s (%s)", o.name, o.version) }

// owners lists the packages other than the one being unpacked (self, by
// installed key) that list abs.
func (s *stage) owners(abs, self string) ([]owner, error) {
	idx, err := s.b.pathIndex()
	if err != nil {
		return nil, err
	}
	var out []owner
	for _, k := range idx[abs] {
		if k == self || s.upgraded[k] {
			continue
		}
		p := s.b.pkgs[k].stanza
		out = append(out, owner{name: p.Get("Package"), version: p.Get("Version"), ma: p.Get("Multi-Arch"), stanza: p, stage: -1, pkg: s.b.pkgs[k]})
	}
	for _, i := range s.shipped[abs] {
		p := s.infos[i].Paragraph
		out = append(out, owner{name: p.Get("Package"), version: p.Get("Version"), ma: p.Get("Multi-Arch"), stanza: p, stage: i})
	}
	return out, nil
}

// conflict applies dpkg's file-conflict rules (tarobject in dpkg's
// archives.c) to entry e of the package being unpacked, shipped at abs and
// unpacked at target (after diversions). They apply before path filters,
// as in dpkg.
//
// keepExisting: an installed package which Replaces this one keeps its
// file; the entry is then neither unpacked nor listed. existingDir: what
// is there is a directory, or a symlink to the directory a new symlink
// names; it stays as it is.
func (s *stage) conflict(d *decodedDeb, e *rawEntry, abs, target string) (conflictAction, error) {
	keep := false
	self := d.info.Paragraph
	selfName, selfVer, selfMA := self.Get("Package"), self.Get("Version"), self.Get("Multi-Arch")
	q, rerr := s.tree.resolveParent(target)
	if rerr != nil || q == "" {
		return unpack, nil // unsafe or the root: refused or skipped by the caller
	}
	ex := s.tree.lookup(q)
	exists := ex.kind != 0
	isDir := func(p string) bool {
		n := s.tree.lookup(p)
		return n.kind == 'd' || n.kind == 'l' && s.tree.isDirAt(p)
	}
	// An existing directory (or a symlink to one) is kept as it is: no
	// conflict for a directory, nor for a symlink over a directory or
	// over a symlink to the same directory.
	switch e.typ {
	case tar.TypeDir:
		if exists && isDir(q) {
			return existingDir, nil
		}
		if ex.kind == 'l' {
			if _, err := s.tree.resolveFull(q); err != nil {
				return unpack, nil // unsafe: refused by the caller
			}
		}
	case tar.TypeSymlink:
		if ex.kind == 'd' {
			return existingDir, nil
		}
		if ex.kind == 'l' && s.tree.isDirAt(q) {
			cur, err1 := s.tree.resolveFull(q)
			dst := path.Join(path.Dir(q), e.link)
			if strings.HasPrefix(e.link, "/") {
				dst = path.Clean(e.link)
			}
			next, err2 := s.tree.resolveFull(strings.TrimPrefix(dst, "/"))
			if err1 == nil && err2 == nil && cur == next {
				return existingDir, nil
			}
		}
	}
	if from, pkg, ok := s.b.divertedFrom(abs); ok {
		return unpack, fmt.Errorf("%s: trying to overwrite '%s', which is the diverted version of '%s' (package: %s): %w",
			selfName, abs, from, pkg, ErrFileConflict)
	}
	others, err := s.owners(abs, s.selfKey)
	if err != nil {
		return unpack, err
	}
	if len(others) == 0 {
		return unpack, nil
	}
	selfRepl, _ := apt.ParseRelations(self.Get("Replaces"))
	newConff := false
	for _, c := range d.info.Conffiles {
		if path.Clean("/"+c) == abs {
			newConff = true
		}
	}
	for _, o := range others {
		// Instances of one Multi-Arch: same package share their files;
		// at one version they must be identical.
		if o.name == selfName && o.ma == "same" && selfMA == "same" {
			if o.version == selfVer && !s.sameAsInstance(o, abs, d, e) {
				return unpack, fmt.Errorf("%s: trying to overwrite shared '%s', which is different from other instances of package %s: %w",
					selfName, abs, selfName, ErrFileConflict)
			}
			continue
		}
		if dv, ok := s.b.diversion(abs); ok && (dv.Package == o.name || dv.Package == selfName) {
			continue
		}
		if e.typ == tar.TypeDir && !exists {
			continue // assumed to be a shared directory, as dpkg does
		}
		if strings.HasSuffix(o.stanza.Get("Status"), " config-files") {
			continue
		}
		if newConff && ex.kind == 'f' && obsoleteConffile(o.stanza, abs) {
			continue
		}
		if selfRepl.Matches(o.name, o.version) {
			continue // taken over: o's list loses abs (elide)
		}
		oRepl, _ := apt.ParseRelations(o.stanza.Get("Replaces"))
		if oRepl.Matches(selfName, selfVer) {
			keep = true
			continue
		}
		if exists && ex.kind == 'd' {
			return unpack, fmt.Errorf("%s: trying to overwrite directory '%s' in package %s with nondirectory: %w",
				selfName, abs, o.describe(), ErrFileConflict)
		}
		return unpack, fmt.Errorf("%s: trying to overwrite '%s', which is also in package %s: %w",
			selfName, abs, o.describe(), ErrFileConflict)
	}
	if keep {
		return keepExisting, nil
	}
	return unpack, nil
}

// ReverseDiverter is optionally implemented by a Replayer whose packages
// divert files: it names the diversion whose target is abs.
type ReverseDiverter interface {
	DivertedFrom(abs string) (from, pkg string, ok bool)
}

// divertedFrom returns the path and package of the diversion whose target
// is abs: the base's, or one a script made.
func (b *Builder) divertedFrom(abs string) (string, string, bool) {
	if b.base.divertedTo == nil {
		b.base.divertedTo = map[string]string{}
		for from, dv := range b.base.diverted {
			b.base.divertedTo[dv.To] = from
		}
	}
	if from, ok := b.base.divertedTo[abs]; ok {
		return from, b.base.diverted[from].Package, true
	}
	if r, ok := b.rp.(ReverseDiverter); ok {
		return r.DivertedFrom(abs)
	}
	return "", "", false
}

func obsoleteConffile(p apt.Paragraph, abs string) bool {
	for _, c := range parseConffiles(p.Get("Conffiles")) {
		if c.Obsolete && c.Path == abs {
			return true
		}
	}
	return false
}

// sameAsInstance reports whether e of d is what the other instance o of
// the same Multi-Arch: same package has at abs. An installed instance is
// compared by its md5sums (regular files; other types are not recorded
// there and pass).
func (s *stage) sameAsInstance(o owner, abs string, d *decodedDeb, e *rawEntry) bool {
	if o.stage >= 0 {
		return s.sameObject(o.stage, abs, d, e)
	}
	if e.typ != tar.TypeReg || o.pkg == nil {
		return true
	}
	sums := []byte(o.pkg.sums)
	if o.pkg.fromBase {
		sums, _ = fs.ReadFile(s.b.base.fsys, infoDir+"/"+o.pkg.stem+".md5sums")
	}
	want := md5FromSums(sums, abs)
	if want == "" {
		return true // not recorded: nothing to compare with
	}
	h := md5.New()
	if _, err := io.Copy(h, d.body(e)); err != nil {
		return false
	}
	return hex.EncodeToString(h.Sum(nil)) == want
}

// sameObject reports whether the stage package i shipped abs as the same
// object as e of d (type, target, content).
func (s *stage) sameObject(i int, abs string, d *decodedDeb, e *rawEntry) bool {
	o := s.decoded[i]
	for j := range o.entries {
		oe := &o.entries[j]
		if "/"+oe.name != abs {
			continue
		}
		if oe.typ != e.typ || oe.link != e.link || oe.size != e.size {
			return false
		}
		if e.typ != tar.TypeReg {
			return true
		}
		a, err1 := io.ReadAll(o.body(oe))
		b, err2 := io.ReadAll(d.body(e))
		return err1 == nil && err2 == nil && bytes.Equal(a, b)
	}
	return false
}

// keepHardlinks is called before entry q of the stage is replaced by a
// later package: hardlinks of the stage to q keep the old content, as
// they keep the old inode on disk (dpkg renames the new file over the
// name, which does not touch the other names). The first link takes the
// body, the others link to it.
func (s *stage) keepHardlinks(q string) {
	old, ok := s.entries[q]
	if !ok || old.hdr.Typeflag != tar.TypeReg {
		return
	}
	var links []string
	for k, e := range s.entries {
		if e.hdr.Typeflag == tar.TypeLink && e.hdr.Linkname == q {
			links = append(links, k)
		}
	}
	if len(links) == 0 {
		return
	}
	sortPaths(links)
	first := s.entries[links[0]]
	moved := *old
	moved.hdr.Name = first.hdr.Name
	moved.hdr.Mode, moved.hdr.Uid, moved.hdr.Gid = first.hdr.Mode, first.hdr.Uid, first.hdr.Gid
	moved.pkg = first.pkg
	s.entries[links[0]] = &moved
	for _, k := range links[1:] {
		s.entries[k].hdr.Linkname = links[0]
	}
}

func sortPaths(ps []string) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && pathLess(ps[j], ps[j-1]); j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}
