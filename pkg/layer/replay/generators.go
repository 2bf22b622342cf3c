package replay

import (
	"archive/tar"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
)

// Effects computed by code; named in Effects.Generators.
const (
	genPgAptConfig       = "pg_updateaptconfig"
	genPgManAlternatives = "postgresql man-page alternatives"
	genCACertificates    = "update-ca-certificates"
	genLocales           = "locales"
	genLoopDiversions    = "dpkg-divert in a for loop"
	genTzdata            = "tzdata"
)

func (p *Plan) generate(out files, ps *pkgState, name string) error {
	switch name {
	case genPgAptConfig:
		return p.genAptConfig(out)
	case genPgManAlternatives:
		return nil // alternativeFiles reads the observed man pages
	case genCACertificates:
		return nil // caFiles
	case genLocales:
		return p.genLocaleFiles(out)
	case genLoopDiversions:
		return nil // dpkgStateFiles
	case genTzdata:
		lt := p.canonical("/etc/localtime")
		if _, ok := p.readlink(lt); ok {
			return nil // the zone debconf derives from the link is kept
		}
		if !p.exists(lt) {
			out.add(File{Path: lt, Type: tar.TypeSymlink, Mode: 0o777, Linkname: "/usr/share/zoneinfo/Etc/UTC"})
		}
		return nil
	}
	return fmt.Errorf("unknown generator %q", name)
}

// genAptConfig writes what pg_updateaptconfig writes when no cluster
// exists: its two here-documents, mode 0444. The text is read from the
// installed script, so it follows the package version.
func (p *Plan) genAptConfig(out files) error {
	src, ok := p.readFile("usr/share/postgresql-common/pg_updateaptconfig")
	if !ok {
		return nil // not installed in this form; nothing the table can say
	}
	s := ParseScript(string(src))
	var body strings.Builder
	for _, h := range s.Heredocs {
		if h.Command.Base() == "cat" && h.Target != "" {
			body.WriteString(h.Body)
		}
	}
	if body.Len() == 0 {
		return fmt.Errorf("pg_updateaptconfig: no here-document found")
	}
	dst := p.canonical("/etc/apt/apt.conf.d/02autoremove-postgresql")
	out.reg(dst, 0o444, 0, 0, []byte(body.String()))
	return nil
}

// ucfFile replays `ucf --debconf-ok TMP DEST` of a new file: DEST gets the
// template after the script's own sed, ucf records its md5 in hashfile,
// the owning package in registry, and a pristine copy in its cache. The
// hashfile.N/registry.N backups are what ucf leaves after its first run
// (observed on bookworm and trixie).
func (p *Plan) ucfFile(out files, ps *pkgState, u UcfFile) error {
	src := rel(u.Source)
	tmpl, ok := p.readFile(src)
	if !ok {
		return fmt.Errorf("replay %s: ucf template %s was not installed", ps.Name, u.Source)
	}
	data := tmpl
	for _, ed := range u.Sed {
		data = editLines(data, ed)
	}
	dst := p.canonical(u.Dest)
	out.reg(dst, 0o644, 0, 0, data)
	sum := md5.Sum(data)
	hashLine := hex.EncodeToString(sum[:]) + "  " + u.Dest + "\n"
	regLine := ps.Name + " \t " + u.Dest + "\n"
	state := p.canonical("/var/lib/ucf")
	appendReg := func(name, line string) {
		old := []byte{}
		if f, ok := out[path.Join(state, name)]; ok {
			old = f.Data
		} else if b, err := fs.ReadFile(p.base, path.Join(state, name)); err == nil {
			old = b
		}
		out.reg(path.Join(state, name), 0o644, 0, 0, append(append([]byte(nil), old...), line...))
	}
	first := true
	if _, ok := out[path.Join(state, "hashfile")]; ok {
		first = false
	} else if _, err := fs.Stat(p.base, path.Join(state, "hashfile")); err == nil {
		first = false
	}
	appendReg("hashfile", hashLine)
	appendReg("registry", regLine)
	if first {
		out.reg(path.Join(state, "hashfile.0"), 0o644, 0, 0, []byte(hashLine))
		out.reg(path.Join(state, "hashfile.1"), 0o644, 0, 0, nil)
		out.reg(path.Join(state, "registry.0"), 0o644, 0, 0, nil)
	}
	cache := path.Join(state, "cache")
	p.addDirParents(out, cache)
	if !p.exists(cache) {
		out.add(File{Path: cache, Type: tar.TypeDir, Mode: 0o755})
	}
	out.reg(path.Join(cache, strings.ReplaceAll(u.Dest, "/", ":")), 0o644, 0, 0, data)
	return nil
}

// genLocaleFiles replays locales' postinst with debconf's defaults: no
// locale selected, so /etc/locale.gen is the script's header followed by
// every supported locale commented out (sorted, as `sort -u` in the C
// locale), and update-locale writes /etc/locale.conf with its header only.
func (p *Plan) genLocaleFiles(out files) error {
	lg := p.canonical("/etc/locale.gen")
	f, ok := out[lg]
	if !ok {
		return nil // the base has one: the script keeps it
	}
	sup, ok := p.readFile("usr/share/i18n/SUPPORTED")
	if !ok {
		return fmt.Errorf("usr/share/i18n/SUPPORTED was not installed")
	}
	seen := map[string]bool{}
	var locales []string
	for _, line := range strings.Split(string(sup), "\n") {
		if line == "" || !isASCIILetter(line[0]) {
			continue
		}
		line = strings.TrimRight(line, " ")
		if !seen[line] {
			seen[line] = true
			locales = append(locales, line)
		}
	}
	sort.Strings(locales)
	data := append([]byte(nil), f.Data...)
	// sed -i 's/^ *[a-zA-Z]/# &/' on the header: only comment lines there.
	data = editLines(data, Edit{Pattern: `^( *[a-zA-Z])`, Replace: "# $1"})
	for _, l := range locales {
		data = append(data, "# "+l+"\n"...)
	}
	// The selection loop runs once with an empty locale: its sed empties
	// the first line made only of '#' and spaces.
	lines := strings.SplitAfter(string(data), "\n")
	for i, l := range lines {
		if strings.Trim(strings.TrimSuffix(l, "\n"), "# ") == "" && strings.HasSuffix(l, "\n") {
			lines[i] = "\n"
			break
		}
	}
	data = []byte(strings.Join(lines, ""))
	f.Data = data
	out[lg] = f
	lc := p.canonical("/etc/locale.conf")
	if !p.exists(lc) {
		out.reg(lc, 0o644, 0, 0, []byte("#  File generated by update-locale\n"))
	}
	return nil
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

var (
	forLoopRE = regexp.MustCompile(`for (\w+) in ([^;\n]+)[;\n]`)
	divertRE  = regexp.MustCompile(`dpkg-divert --package (\S+) --no-rename --divert "([^"]+)" --add "([^"]+)"`)
)

// loopDiversions expands the DEP17 protective diversions that t64/merged-/usr
// transition packages add in a for loop:
//
//	for lib in A B; do dpkg-divert --package P --no-rename --divert "/lib/T/$lib.usr-is-merged" --add "/lib/T/$lib"; done
func loopDiversions(script []byte) []Diversion {
	s := string(script)
	m := forLoopRE.FindStringSubmatch(s)
	d := divertRE.FindStringSubmatch(s)
	if m == nil || d == nil {
		return nil
	}
	v := "$" + m[1]
	var out []Diversion
	for _, item := range strings.Fields(m[2]) {
		out = append(out, Diversion{
			From:    strings.ReplaceAll(d[3], v, item),
			To:      strings.ReplaceAll(d[2], v, item),
			Package: d[1],
		})
	}
	return out
}

// diversionsOf returns the diversions a package's scripts add.
func diversionsOf(ps *pkgState) []Diversion {
	e := ps.effects
	if e == nil {
		return nil
	}
	ds := append([]Diversion(nil), e.Diversions...)
	for _, g := range e.Generators {
		if g == genLoopDiversions {
			ds = append(ds, loopDiversions(ps.Scripts["preinst"])...)
		}
	}
	return ds
}

// Diverted reports a diversion that a package already added (AddPackages)
// made with dpkg-divert: files of other packages at abs ("/usr/bin/x") are
// unpacked at to. pkg is the diverting package, whose own file is not
// diverted. It implements pkg/layer's Diverter.
func (p *Plan) Diverted(abs string) (to, pkg string, ok bool) {
	for _, ps := range p.pkgs {
		for _, d := range diversionsOf(ps) {
			if d.From == abs {
				return d.To, d.Package, true
			}
		}
	}
	return "", "", false
}

// dpkgStateFiles writes dpkg's own state that scripts change:
// var/lib/dpkg/diversions, statoverride and the trigger interest files.
func (p *Plan) dpkgStateFiles(out files) error {
	var div, so strings.Builder
	var fileTrig strings.Builder
	named := map[string]*strings.Builder{}
	var namedOrder []string
	for _, ps := range p.pkgs {
		for _, d := range diversionsOf(ps) {
			fmt.Fprintf(&div, "%s\n%s\n%s\n", d.From, d.To, d.Package)
		}
		if e := ps.effects; e != nil {
			for _, s := range e.StatOverrides {
				fmt.Fprintf(&so, "%s %s %o %s\n", s.Owner, s.Group, s.Mode, s.Path)
			}
		}
		for _, line := range strings.Split(string(ps.Scripts["triggers"]), "\n") {
			f := strings.Fields(line)
			if len(f) != 2 || !strings.HasPrefix(f[0], "interest") {
				continue
			}
			who := ps.Name
			if f[0] == "interest-noawait" {
				who += "/noawait"
			}
			if strings.HasPrefix(f[1], "/") {
				fmt.Fprintf(&fileTrig, "%s %s\n", f[1], who)
				continue
			}
			b, ok := named[f[1]]
			if !ok {
				b = &strings.Builder{}
				named[f[1]] = b
				namedOrder = append(namedOrder, f[1])
			}
			b.WriteString(who + "\n")
		}
	}
	appendTo := func(name string, add string) {
		if add == "" {
			return
		}
		old, _ := fs.ReadFile(p.base, name)
		out.reg(name, 0o644, 0, 0, append(old, add...))
	}
	appendTo("var/lib/dpkg/diversions", div.String())
	appendTo("var/lib/dpkg/statoverride", so.String())
	appendTo("var/lib/dpkg/triggers/File", fileTrig.String())
	for _, n := range namedOrder {
		appendTo("var/lib/dpkg/triggers/"+n, named[n].String())
	}
	return nil
}
