package maint

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// ucf, ucfr and ucfq as ucf 3.0x behaves: the hashfile (md5sum lines of
// the files ucf installed, rotated to hashfile.0..7 before each change),
// the cache of pristine copies (/var/lib/ucf/cache/:etc:...), the registry
// (PACKAGE<space><tab><space>FILE, rotated to registry.0..7) and the
// noninteractive answer to a conflict (keep the current file, install the
// new one as FILE.ucf-dist), asked through debconf as ucf does. The
// runner applies Policy.Edits to the files a script wrote when the script
// ends, so a file ucf installs is edited right after its creation.

func ucfCommands() []Spec {
	return []Spec{
		{Name: "ucf", Run: runUcf, Kind: Exact, Paths: []string{"/usr/bin/ucf"}},
		{Name: "ucfr", Run: runUcfr, Kind: Exact, Paths: []string{"/usr/bin/ucfr"}},
		{Name: "ucfq", Run: runUcfq, Kind: Exact, Paths: []string{"/usr/bin/ucfq"}},
	}
}

const ucfStateDir = "/var/lib/ucf"

// ucfArgs parses getopt -a style options: long options with one or two
// dashes, "--opt=value" or "--opt value", short options grouped.
func ucfArgs(prog string, args []string, long map[string]bool, short string) (map[string]string, []string, error) {
	opts := map[string]string{}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			rest = append(rest, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if takes, ok := long[name]; ok && (strings.HasPrefix(a, "--") || len(name) > 1) {
			if takes && !hasVal {
				if i+1 >= len(args) {
					return nil, nil, fmt.Errorf("%s: option '--%s' requires an argument", prog, name)
				}
				i++
				val = args[i]
			}
			opts[name] = val
			if !takes {
				opts[name] = "1"
			}
			continue
		}
		for j := 1; j < len(a); j++ {
			k := strings.IndexByte(short, a[j])
			if k < 0 {
				return nil, nil, fmt.Errorf("%s: invalid option -- '%c'", prog, a[j])
			}
			if k+1 < len(short) && short[k+1] == ':' {
				optional := k+2 < len(short) && short[k+2] == ':'
				v := a[j+1:]
				if v == "" && !optional {
					if i+1 >= len(args) {
						return nil, nil, fmt.Errorf("%s: option requires an argument -- '%c'", prog, a[j])
					}
					i++
					v = args[i]
				}
				opts[string(a[j])] = v
				break
			}
			opts[string(a[j])] = "1"
		}
	}
	return opts, rest, nil
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// rotate copies NAME.6..NAME.0 one up and NAME to NAME.0, as ucf and ucfr
// do before changing their databases.
func ucfRotate(fsys FS, name string) error {
	for i := 6; i >= 0; i-- {
		src := fmt.Sprintf("%s.%d", name, i)
		if b, err := readImageFileOpt(fsys, src); err != nil {
			return err
		} else if b != nil || existsImage(fsys, src) {
			if err := copyImageFile(fsys, src, fmt.Sprintf("%s.%d", name, i+1)); err != nil {
				return err
			}
		}
	}
	if existsImage(fsys, name) {
		return copyImageFile(fsys, name, name+".0")
	}
	return nil
}

// copyImageFile is cp -pf: content, mode and owner.
func copyImageFile(fsys FS, src, dst string) error {
	b, err := readImageFile(fsys, src)
	if err != nil {
		return err
	}
	info, err := fsys.Stat(src)
	if err != nil {
		return err
	}
	if existsImage(fsys, dst) {
		if li, _ := fsys.Lstat(dst); li.Mode&fs.ModeSymlink != 0 {
			if err := fsys.Remove(dst); err != nil {
				return err
			}
		}
	}
	if err := writeImageFile(fsys, dst, b, info.Mode.Perm()); err != nil {
		return err
	}
	if err := fsys.Chmod(dst, info.Mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return err
	}
	return fsys.Chown(dst, info.Uid, info.Gid)
}

// dbLinesWithout returns a database's lines minus those ending in
// whitespace + name (ucf's "[[:space:]]FILE$" grep -v).
func dbLinesWithout(b []byte, name string) []string {
	var out []string
	for _, l := range splitLines(b) {
		if strings.HasSuffix(l, name) && len(l) > len(name) {
			c := l[len(l)-len(name)-1]
			if c == ' ' || c == '\t' {
				continue
			}
		}
		out = append(out, l)
	}
	return out
}

func dbLookup(b []byte, name string) []string {
	var out []string
	for _, l := range splitLines(b) {
		if strings.HasSuffix(l, name) && len(l) > len(name) {
			if c := l[len(l)-len(name)-1]; c == ' ' || c == '\t' {
				out = append(out, l)
			}
		}
	}
	return out
}

type ucfRun struct {
	c                    *Call
	state, newFile, dest string
	threeway, debconfOK  bool
	verbose              bool
	forceConff           string // from DPKG_FORCE / UCF_FORCE_CONFF*: "new", "old", "ask"
	forceConffmiss       bool
}

func runUcf(c *Call) error {
	const prog = "ucf"
	opts, rest, err := ucfArgs(prog, c.Args, map[string]bool{"help": false, "src-dir": true, "sum-file": true, "dest-dir": true,
		"debug": false, "DEBUG": false, "no-action": false, "package": true, "purge": false, "verbose": false,
		"three-way": false, "debconf-ok": false, "debconf-template": true, "state-dir": true}, "hs:d::D::npP:Zv")
	if err != nil {
		fmt.Fprintln(c.Stderr, err)
		return ExitStatus(2)
	}
	if opts["n"] != "" || opts["no-action"] != "" || opts["h"] != "" || opts["help"] != "" {
		return Refuse("ucf --no-action/--help", "not a form maintainer scripts use")
	}
	u := &ucfRun{c: c, state: ucfStateDir, threeway: opts["three-way"] != "", verbose: opts["v"] != "" || opts["verbose"] != ""}
	if d := firstNonEmpty(opts["state-dir"], c.Env("UCF_STATE_DIR")); d != "" {
		u.state = cleanAbs(d)
	}
	if opts["debconf-template"] != "" {
		return Refuse("ucf --debconf-template", "a package's own conflict template is not supported")
	}
	purge := opts["p"] != "" || opts["purge"] != ""
	pkg := firstNonEmpty(opts["P"], opts["package"])
	if purge {
		if len(rest) != 1 {
			fmt.Fprintf(c.Stderr, "%s: *** ERROR: Need exactly one argument with --purge\n", prog)
			return ExitStatus(2)
		}
		u.dest = c.Abs(rest[0])
	} else {
		if len(rest) != 2 {
			fmt.Fprintf(c.Stderr, "%s: *** ERROR: Need exactly two arguments, got %d\n", prog, len(rest))
			return ExitStatus(2)
		}
		u.newFile, u.dest = c.Abs(rest[0]), c.Abs(rest[1])
		if !existsImage(c.FS, u.newFile) {
			fmt.Fprintf(c.Stderr, "Error: The new file %s does not exist!\n", u.newFile)
			return ExitStatus(1)
		}
	}
	// Follow a diversion by another package, as if installed by pkg.
	if pkg != "" {
		if divs, err := readDiversions(c.FS, diversionsFile); err == nil {
			for _, d := range divs {
				if d.from == u.dest && d.pkg != pkg {
					u.dest = d.to
				}
			}
		}
	}
	u.forceConff = ucfForceConff(c)
	u.forceConffmiss = strings.Contains(","+c.Env("DPKG_FORCE")+",", ",confmiss,") || c.Env("UCF_FORCE_CONFFMISS") != ""
	if err := mkdirAllImage(c.FS, u.state+"/cache", 0o755); err != nil {
		return err
	}
	hashfile := u.state + "/hashfile"
	hb, err := readImageFileOpt(c.FS, hashfile)
	if err != nil {
		return err
	}
	lastsum := ""
	if m := dbLookup(hb, u.dest); len(m) > 0 {
		lastsum = strings.Fields(m[0])[0]
	}
	if purge {
		return u.purge()
	}
	if err := u.debconfSetup(opts["debconf-ok"] != ""); err != nil {
		return err
	}
	nb, err := readImageFile(c.FS, u.newFile)
	if err != nil {
		return err
	}
	newsum := md5Hex(nb)
	destsum := ""
	doReplaceSum := false
	if existsImage(c.FS, u.dest) {
		db, err := readImageFile(c.FS, u.dest)
		if err != nil {
			return err
		}
		destsum = md5Hex(db)
		if lastsum == "" {
			// Historical md5sums next to the new file.
			src := firstNonEmpty(opts["s"], opts["src-dir"])
			if src == "" {
				src = path.Dir(u.newFile)
			}
			sumFile := firstNonEmpty(opts["sum-file"], c.Env("UCF_OLD_MDSUM_FILE"), src+"/"+path.Base(u.newFile)+".md5sum")
			sumDir := src + "/" + path.Base(u.newFile) + ".md5sum.d"
			if existsImage(c.FS, sumDir) || existsImage(c.FS, sumFile) {
				return Refuse("ucf", "historical md5sums (%s) are not supported", sumFile)
			}
			lastsum = strings.Repeat("A", 32)
		}
	} else {
		switch {
		case lastsum == "":
			fmt.Fprintf(c.Stderr, "Creating config file %s with new version\n", u.dest)
			return u.replaceConfFile(false)
		case lastsum == newsum && !u.forceConffmiss:
			fmt.Fprintf(c.Stderr, "Not replacing deleted config file %s\n", u.dest)
		case u.forceConffmiss:
			fmt.Fprintf(c.Stderr, "Recreating deleted config file %s with new version, as asked\n", u.dest)
			return u.replaceConfFile(false)
		case u.forceConff == "old":
			return nil
		default:
			destsum = strings.Repeat("A", 32)
		}
	}
	if lastsum == newsum {
		if u.forceConff != "ask" {
			if doReplaceSum {
				return u.replaceMD5()
			}
			return nil
		}
		destsum = strings.Repeat("A", 32)
	}
	if destsum == lastsum {
		if u.forceConff != "old" {
			fmt.Fprintf(c.Stderr, "Replacing config file %s with new version\n", u.dest)
			return u.replaceConfFile(false)
		}
		return u.keepCurrent()
	}
	switch u.forceConff {
	case "new":
		fmt.Fprintf(c.Stderr, "Replacing config file %s with new version\nsince you asked for it.\n", u.dest)
		if destsum == newsum {
			fmt.Fprintln(c.Stderr, "The new and the old files are identical, AFAICS")
		} else {
			fmt.Fprintln(c.Stderr, "The new and the old files are different")
		}
		return u.replaceConfFile(false)
	case "old":
		return u.keepCurrent()
	}
	if newsum == destsum {
		return u.replaceMD5()
	}
	answer, err := u.ask()
	if err != nil {
		return err
	}
	switch answer {
	case "install_new", "y", "Y", "I", "i":
		fmt.Fprintf(c.Stderr, "Replacing config file %s with new version\n", u.dest)
		return u.replaceConfFile(true)
	case "keep_current", "n", "N", "o", "O", "":
		return u.keepCurrent()
	}
	return Refuse("ucf", "the answer %q to %s's conflict needs a merge or a shell", answer, u.dest)
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// ucfForceConff reads dpkg's --force-confnew/confold/confask (DPKG_FORCE)
// and UCF_FORCE_CONFFNEW/OLD as ucf does.
func ucfForceConff(c *Call) string {
	f := "," + c.Env("DPKG_FORCE") + ","
	switch {
	case c.Env("UCF_FORCE_CONFFNEW") != "" || strings.Contains(f, ",confnew,"):
		return "new"
	case c.Env("UCF_FORCE_CONFFOLD") != "" || strings.Contains(f, ",confold,"):
		return "old"
	case strings.Contains(f, ",confask,"):
		return "ask"
	}
	return ""
}

// debconfSetup is ucf's sourcing of the confmodule: with --debconf-ok (or
// debconf not yet running) ucf loads its own templates, owned by ucf.
func (u *ucfRun) debconfSetup(debconfOK bool) error {
	c := u.c
	if !existsImage(c.FS, "/usr/share/debconf/confmodule") {
		return nil
	}
	running := c.Env("DEBIAN_HAS_FRONTEND") != ""
	if !debconfOK && !running {
		debconfOK = true
	}
	if running && !debconfOK {
		fmt.Fprint(c.Stdout, "*** WARNING: ucf was run from a maintainer script that uses debconf, but\n"+
			"             the script did not pass --debconf-ok to ucf. The maintainer\n"+
			"             script should be fixed to not stop debconf before calling ucf,\n"+
			"             and pass it this parameter. For now, ucf will revert to using\n"+
			"             old-style, non-debconf prompting. Ugh!\n\n"+
			"             Please inform the package maintainer about this problem.\n")
	}
	u.debconfOK = debconfOK
	if !debconfOK {
		return nil
	}
	db, err := u.debconf()
	if err != nil {
		return err
	}
	tmpl := "/var/lib/dpkg/info/ucf.templates"
	if b, err := readImageFileOpt(c.FS, tmpl); err != nil {
		return err
	} else if b != nil {
		if err := db.loadTemplates(b, "ucf"); err != nil {
			return fmt.Errorf("ucf: %s: %w", tmpl, err)
		}
	}
	if !running {
		db.command("SETTITLE ucf/title")
		return db.finish()
	}
	return db.save()
}

// debconf is the frontend run ucf talks to: the calling script's when
// debconf is running, else ucf's own.
func (u *ucfRun) debconf() (*debconfDB, error) {
	if u.c.Env("DEBIAN_HAS_FRONTEND") != "" {
		return debconfState(u.c)
	}
	db, err := openDebconf(u.c)
	if err != nil {
		return nil, err
	}
	db.owner = ""
	return db, nil
}

// ask puts ucf's conflict question through debconf and returns the
// answer (the noninteractive frontend leaves the template's default).
func (u *ucfRun) ask() (string, error) {
	if !u.debconfOK || u.c.Env("DEBIAN_HAS_FRONTEND") == "" && !existsImage(u.c.FS, "/usr/share/debconf/confmodule") {
		fmt.Fprintln(u.c.Stderr, "Need debconf to interact")
		return "", ExitStatus(2)
	}
	db, err := u.debconf()
	if err != nil {
		return "", err
	}
	templ := "ucf/changeprompt"
	if u.threeway && existsImage(u.c.FS, u.state+"/cache/"+strings.ReplaceAll(u.dest, "/", ":")) {
		templ = "ucf/changeprompt_threeway"
	}
	for _, l := range []string{"FSET " + templ + " seen false", "RESET " + templ, "SUBST " + templ + " FILE " + u.dest,
		"SUBST " + templ + " NEW " + u.newFile, "SUBST " + templ + " BASENAME " + path.Base(u.dest), "INPUT critical " + templ, "GO"} {
		db.command(l)
	}
	_, answer := db.command("GET " + templ)
	if u.c.Env("DEBIAN_HAS_FRONTEND") == "" {
		err = db.finish()
	} else {
		err = db.save()
	}
	return answer, err
}

func (u *ucfRun) cachedFile() string {
	return u.state + "/cache/" + strings.ReplaceAll(u.dest, "/", ":")
}

// replaceMD5 records the new file's md5sum and caches a copy of it (for
// --three-way, or when smaller than 25600 bytes).
func (u *ucfRun) replaceMD5() error {
	fsys := u.c.FS
	hashfile := u.state + "/hashfile"
	old, err := readImageFileOpt(fsys, hashfile)
	if err != nil {
		return err
	}
	if err := ucfRotate(fsys, hashfile); err != nil {
		return err
	}
	nb, err := readImageFile(fsys, u.newFile)
	if err != nil {
		return err
	}
	lines := dbLinesWithout(old, u.dest)
	lines = append(lines, md5Hex(nb)+"  "+u.dest)
	if err := writeImageFile(fsys, hashfile, joinLines(lines), 0o644); err != nil {
		return err
	}
	effect(u.c, "recorded md5sum of %s in %s", u.dest, hashfile)
	if u.threeway || len(nb) < 25600 {
		if err := copyImageFile(fsys, u.newFile, u.cachedFile()); err != nil {
			return err
		}
	}
	return nil
}

func (u *ucfRun) replaceConfFile(retainOld bool) error {
	fsys := u.c.FS
	real := u.dest
	if li, err := fsys.Lstat(u.dest); err == nil && li.Mode&fs.ModeSymlink != 0 {
		if _, err := fsys.Stat(u.dest); err != nil {
			fmt.Fprintf(u.c.Stderr, "%s is a broken symlink!\n", u.dest)
			if err := fsys.Remove(u.dest); err != nil {
				return err
			}
		} else {
			real = resolveImageLink(fsys, u.dest)
		}
	}
	if existsImage(fsys, real) {
		if retainOld {
			if err := copyImageFile(fsys, real, real+".ucf-old"); err != nil {
				return err
			}
		}
		b, err := readImageFile(fsys, u.newFile)
		if err != nil {
			return err
		}
		if err := writeImageFile(fsys, real, b, 0o644); err != nil { // cp -f keeps the file's mode
			return err
		}
	} else if err := copyImageFile(fsys, u.newFile, real); err != nil {
		return err
	}
	effect(u.c, "installed %s from %s", real, u.newFile)
	return u.replaceMD5()
}

// resolveImageLink follows symlinks of a path inside the image.
func resolveImageLink(fsys FS, p string) string {
	for i := 0; i < 40; i++ {
		t, err := fsys.Readlink(p)
		if err != nil {
			return p
		}
		if !strings.HasPrefix(t, "/") {
			t = path.Join(path.Dir(p), t)
		}
		p = cleanAbs(t)
	}
	return p
}

func (u *ucfRun) keepCurrent() error {
	if err := u.replaceMD5(); err != nil {
		return err
	}
	if err := copyImageFile(u.c.FS, u.newFile, u.dest+".ucf-dist"); err != nil {
		return err
	}
	effect(u.c, "kept %s, new version as %s.ucf-dist", u.dest, u.dest)
	return nil
}

func (u *ucfRun) purge() error {
	fsys := u.c.FS
	hashfile := u.state + "/hashfile"
	if err := ucfRotate(fsys, hashfile); err != nil {
		return err
	}
	if existsImage(fsys, hashfile) {
		old, err := readImageFile(fsys, hashfile)
		if err != nil {
			return err
		}
		if err := writeImageFile(fsys, hashfile, joinLines(dbLinesWithout(old, u.dest)), 0o644); err != nil {
			return err
		}
	}
	if i, err := fsys.Stat(u.cachedFile()); err == nil && !i.IsDir() {
		if err := fsys.Remove(u.cachedFile()); err != nil {
			return err
		}
	}
	effect(u.c, "purged %s from ucf's records", u.dest)
	return nil
}

func runUcfr(c *Call) error {
	const prog = "ucfr"
	opts, rest, err := ucfArgs(prog, c.Args, map[string]bool{"help": false, "debug": false, "DEBUG": false, "force": false,
		"no-action": false, "purge": false, "verbose": false, "state-dir": true}, "hd::D::fnvp")
	if err != nil {
		fmt.Fprintln(c.Stderr, err)
		return ExitStatus(1)
	}
	if opts["n"] != "" || opts["no-action"] != "" || opts["h"] != "" || opts["help"] != "" {
		return Refuse("ucfr --no-action/--help", "not a form maintainer scripts use")
	}
	if len(rest) != 2 {
		fmt.Fprintf(c.Stderr, "%s: *** ERROR: Need exactly two arguments, got %d\n", prog, len(rest))
		return ExitStatus(3)
	}
	force := opts["f"] != "" || opts["force"] != ""
	verbose := opts["v"] != "" || opts["verbose"] != ""
	pkg, conf := rest[0], rest[1]
	if !strings.HasPrefix(conf, "/") {
		fmt.Fprintf(c.Stderr, "%s: Need a fully qualified path for the file \"%s\"\n", prog, conf)
		return nil
	}
	real := resolveImageLink(c.FS, cleanAbs(conf))
	state := ucfStateDir
	if d := firstNonEmpty(opts["state-dir"], c.Env("UCF_STATE_DIR")); d != "" {
		state = cleanAbs(d)
	}
	registry := state + "/registry"
	if err := mkdirAllImage(c.FS, state, 0o755); err != nil {
		return err
	}
	if !existsImage(c.FS, registry) {
		if err := writeImageFile(c.FS, registry, nil, 0o644); err != nil {
			return err
		}
	}
	rb, err := readImageFile(c.FS, registry)
	if err != nil {
		return err
	}
	found := dbLookup(rb, real)
	if len(found) >= 2 {
		fmt.Fprintf(c.Stderr, "%s: Corrupt registry: Duplicate entries for %s\n", prog, conf)
		fmt.Fprint(c.Stdout, string(joinLines(found)))
		return ExitStatus(uint8(len(found)))
	}
	oldPkg := ""
	if len(found) == 1 {
		oldPkg = strings.Fields(found[0])[0]
	}
	purge := opts["p"] != "" || opts["purge"] != ""
	if purge {
		if len(found) == 0 {
			if verbose {
				fmt.Fprintf(c.Stderr, "%s: Association already purged. No changes.\n", prog)
			}
			return nil
		}
		if pkg != oldPkg {
			fmt.Fprintf(c.Stderr, "ucfr: Association belongs to %s, not %s\n", oldPkg, pkg)
			if !force {
				fmt.Fprintln(c.Stderr, "ucfr: Aborting")
				return ExitStatus(5)
			}
		}
		if err := ucfRotate(c.FS, registry); err != nil {
			return err
		}
		if err := writeImageFile(c.FS, registry, joinLines(dbLinesWithout(rb, real)), 0o644); err != nil {
			return err
		}
		effect(c, "unregistered %s of %s", real, pkg)
		return nil
	}
	if len(found) == 1 {
		if pkg == oldPkg {
			if verbose {
				fmt.Fprintf(c.Stderr, "%s: Association already recorded. No changes.\n", prog)
			}
			return nil
		}
		if divs, err := readDiversions(c.FS, diversionsFile); err == nil {
			for _, d := range divs {
				if d.from == conf {
					return nil
				}
			}
		}
		if !force {
			fmt.Fprintf(c.Stderr, "%s: Attempt from package %s  to take %s away from package %s\nucfr: Aborting.\n", prog, pkg, real, oldPkg)
			return ExitStatus(4)
		}
	}
	if err := ucfRotate(c.FS, registry); err != nil {
		return err
	}
	lines := append(dbLinesWithout(rb, real), pkg+" \t "+real)
	if err := writeImageFile(c.FS, registry, joinLines(lines), 0o644); err != nil {
		return err
	}
	effect(c, "registered %s to %s", real, pkg)
	return nil
}

// runUcfq answers ucfq --with-colons (FILE:PACKAGE:EXISTS:CHANGED) for
// files or packages.
func runUcfq(c *Call) error {
	colons := false
	var args []string
	for _, a := range c.Args {
		switch a {
		case "-w", "--with-colons":
			colons = true
		case "--state-dir":
			return Refuse("ucfq --state-dir", "not a form maintainer scripts use")
		default:
			if strings.HasPrefix(a, "-") {
				return Refuse("ucfq "+a, "not a form maintainer scripts use")
			}
			args = append(args, a)
		}
	}
	if !colons {
		return Refuse("ucfq", "only --with-colons output is implemented; the table is for humans")
	}
	rb, _ := readImageFileOpt(c.FS, ucfStateDir+"/registry")
	hb, _ := readImageFileOpt(c.FS, ucfStateDir+"/hashfile")
	for _, a := range args {
		for _, l := range splitLines(rb) {
			f := strings.Fields(l)
			if len(f) != 2 || (f[0] != a && f[1] != a) {
				continue
			}
			exists, changed := "No", "No"
			if b, err := readImageFileOpt(c.FS, f[1]); err == nil && b != nil {
				exists = "Yes"
				if m := dbLookup(hb, f[1]); len(m) > 0 && strings.Fields(m[0])[0] != md5Hex(b) {
					changed = "Yes"
				}
			}
			fmt.Fprintf(c.Stdout, "%s:%s:%s:%s\n", f[1], f[0], exists, changed)
		}
	}
	return nil
}
