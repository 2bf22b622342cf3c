package maint

import (
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// dpkg-divert and dpkg-statoverride over /var/lib/dpkg/diversions and
// /var/lib/dpkg/statoverride, written in the order dpkg writes them (its
// file name hash table), with the previous content kept as NAME-old. The
// runner reads the diversions file when it unpacks a package, so a
// diversion a preinst adds applies to the files unpacked after it, as with
// dpkg.

const (
	diversionsFile   = "/var/lib/dpkg/diversions"
	statoverrideFile = "/var/lib/dpkg/statoverride"
)

type diversion struct {
	from, to, pkg string // pkg ":" for a local diversion
}

func (d diversion) pkgLabel() string {
	if d.pkg == ":" {
		return "LOCAL"
	}
	return d.pkg
}

func (d diversion) describe() string {
	return describeDiversion(d.pkg, d.from, d.to)
}

func describeDiversion(pkg, from, to string) string {
	if pkg == ":" {
		if to == "" {
			return "local diversion of " + from
		}
		return fmt.Sprintf("local diversion of %s to %s", from, to)
	}
	if to == "" {
		return fmt.Sprintf("diversion of %s by %s", from, pkg)
	}
	return fmt.Sprintf("diversion of %s to %s by %s", from, to, pkg)
}

func readDiversions(fsys FS, name string) ([]diversion, error) {
	b, err := readImageFileOpt(fsys, name)
	if err != nil {
		return nil, err
	}
	lines := splitLines(b)
	if len(lines)%3 != 0 {
		return nil, fmt.Errorf("%s: %d lines, not a multiple of 3", name, len(lines))
	}
	out := make([]diversion, 0, len(lines)/3)
	for i := 0; i < len(lines); i += 3 {
		out = append(out, diversion{lines[i], lines[i+1], lines[i+2]})
	}
	return out, nil
}

// hashOrder sorts entries the way dpkg's fsys hash iteration visits them;
// within a bin, the order they were entered (the file's, then new ones).
func hashOrder[T any](items []T, key func(T) string) {
	sort.SliceStable(items, func(i, j int) bool { return dpkgHashBin(key(items[i])) < dpkgHashBin(key(items[j])) })
}

func writeDiversions(fsys FS, name string, divs []diversion) error {
	hashOrder(divs, func(d diversion) string { return d.from })
	var b strings.Builder
	for _, d := range divs {
		fmt.Fprintf(&b, "%s\n%s\n%s\n", d.from, d.to, d.pkg)
	}
	if err := atomicBackup(fsys, name); err != nil {
		return err
	}
	return writeImageFile(fsys, name, []byte(b.String()), 0o644)
}

// packageOwns reports whether a package's file list has a path.
func packageOwns(c *Call, pkg, file string) bool {
	p, ok := dpkgPackage(c, pkg)
	if !ok {
		return false
	}
	b, _ := readImageFileOpt(c.FS, listFileOf(c, p))
	for _, l := range splitLines(b) {
		if l == file {
			return true
		}
	}
	return false
}

func runDpkgDivert(c *Call) error {
	const prog = "dpkg-divert"
	action, pkg, to := "", "", ""
	anyPkg := true
	rename := -1
	quiet, test := false, false
	admindir := "/var/lib/dpkg"
	var args []string
	usage := func(format string, a ...any) error {
		fmt.Fprintf(c.Stderr, "%s: error: %s\n\nUse --help for help about diverting files.\n", prog, fmt.Sprintf(format, a...))
		return ExitStatus(2)
	}
	value := func(i *int, opt string) (string, error) {
		a := c.Args[*i]
		if j := strings.IndexByte(a, '='); j >= 0 {
			return a[j+1:], nil
		}
		if *i+1 >= len(c.Args) {
			return "", usage("--%s needs a value", opt)
		}
		*i++
		return c.Args[*i], nil
	}
	for i := 0; i < len(c.Args); i++ {
		a := c.Args[i]
		name, _, _ := strings.Cut(a, "=")
		switch name {
		case "--add", "--remove", "--list", "--listpackage", "--truename":
			if action != "" {
				return usage("conflicting actions --%s and %s", action, a)
			}
			action = a[2:]
		case "--package":
			v, err := value(&i, "package")
			if err != nil {
				return err
			}
			pkg, anyPkg = v, false
		case "--local":
			pkg, anyPkg = ":", false
		case "--divert":
			v, err := value(&i, "divert")
			if err != nil {
				return err
			}
			if !strings.HasPrefix(v, "/") {
				return usage("filename \"%s\" is not absolute", v)
			}
			to = v
		case "--rename":
			rename = 1
		case "--no-rename":
			rename = 0
		case "--quiet":
			quiet = true
		case "--test":
			test = true
		case "--admindir", "--instdir", "--root":
			v, err := value(&i, name[2:])
			if err != nil {
				return err
			}
			if name == "--admindir" {
				admindir = cleanAbs(v)
			} else if cleanAbs(v) != "/" {
				return Refuse(prog+" "+name, "another root than the image's is not supported")
			}
		case "--help", "--version":
			return Refuse(prog+" "+a, "not a form maintainer scripts use")
		case "--":
			args = append(args, c.Args[i+1:]...)
			i = len(c.Args)
		default:
			if strings.HasPrefix(a, "-") {
				return usage("unknown option %s", a)
			}
			args = append(args, a)
		}
	}
	if anyPkg {
		if env := c.Env("DPKG_MAINTSCRIPT_PACKAGE"); env != "" {
			pkg, anyPkg = env, false
		}
	}
	if action == "" {
		action = "add"
	}
	dbFile := admindir + "/diversions"
	divs, err := readDiversions(c.FS, dbFile)
	if err != nil {
		return failf(c, prog, "%v", err)
	}
	say := func(format string, a ...any) {
		if !quiet {
			fmt.Fprintf(c.Stdout, format, a...)
		}
	}
	renameSetup := func() {
		if rename < 0 {
			rename = 0
			if !quiet {
				warnf(c, prog, "please specify --no-rename explicitly, the default will change to --rename in 1.20.x")
			}
		}
	}
	single := func() (string, error) {
		if len(args) != 1 {
			return "", usage("--%s needs a single argument", action)
		}
		f := args[0]
		if !strings.HasPrefix(f, "/") {
			return "", usage("filename \"%s\" is not absolute", f)
		}
		return f, nil
	}
	find := func(from string) int {
		for i, d := range divs {
			if d.from == from {
				return i
			}
		}
		return -1
	}
	switch action {
	case "list":
		globs := args
		if len(globs) == 0 {
			globs = []string{"*"}
		}
		hashOrder(divs, func(d diversion) string { return d.from })
		for _, d := range divs {
			for _, g := range globs {
				if fnmatch(g, d.pkg) || fnmatch(g, d.to) || fnmatch(g, d.from) {
					fmt.Fprintln(c.Stdout, d.describe())
					break
				}
			}
		}
		return nil
	case "truename":
		f, err := single()
		if err != nil {
			return err
		}
		if i := find(f); i >= 0 {
			f = divs[i].to
		}
		fmt.Fprintln(c.Stdout, f)
		return nil
	case "listpackage":
		f, err := single()
		if err != nil {
			return err
		}
		for _, d := range divs {
			if d.from == f || d.to == f {
				fmt.Fprintln(c.Stdout, d.pkgLabel())
				break
			}
		}
		return nil
	case "add":
		renameSetup()
		f, err := single()
		if err != nil {
			return err
		}
		if pkg == "" {
			pkg = ":"
		}
		if i, err := c.FS.Lstat(f); err == nil && i.IsDir() {
			return usage("cannot divert directories")
		}
		if to == "" {
			to = f + ".distrib"
		}
		if f == to {
			return usage("cannot divert file '%s' to itself", f)
		}
		var clash *diversion
		for i := range divs {
			d := &divs[i]
			if d.from == f || d.to == to || d.from == to || d.to == f {
				if d.from == f && d.to == to && d.pkg == pkg {
					say("Leaving '%s'\n", d.describe())
					return nil
				}
				if clash == nil || d.from == f {
					clash = d
				}
			}
		}
		if clash != nil {
			return failf(c, prog, "'%s' clashes with '%s'", describeDiversion(pkg, f, to), clash.describe())
		}
		nd := diversion{f, to, pkg}
		say("Adding '%s'\n", nd.describe())
		doRename := false
		if rename == 1 {
			if doRename, err = checkDivertRename(c, f, to); err != nil {
				return err
			}
		}
		if doRename && pkg != ":" && packageOwns(c, pkg, f) {
			say("Ignoring request to rename file '%s' owned by diverting package '%s'\n", f, pkg)
			doRename = false
		}
		if doRename && ownedByEssential(c, f) {
			warnf(c, prog, "diverting file '%s' from an Essential package with rename is dangerous, use --no-rename", f)
		}
		if test {
			return nil
		}
		if err := writeDiversions(c.FS, dbFile, append(divs, nd)); err != nil {
			return err
		}
		effect(c, "added %s", nd.describe())
		if doRename {
			return divertRename(c, f, to)
		}
		return nil
	case "remove":
		renameSetup()
		f, err := single()
		if err != nil {
			return err
		}
		current := func() string {
			if anyPkg {
				if to == "" {
					return "any diversion of " + f
				}
				return fmt.Sprintf("any diversion of %s to %s", f, to)
			}
			return describeDiversion(pkg, f, to)
		}
		i := find(f)
		if i < 0 {
			say("No diversion '%s', none removed.\n", current())
			return nil
		}
		d := divs[i]
		if to != "" && to != d.to {
			return failf(c, prog, "mismatch on divert-to\n  when removing '%s'\n  found '%s'", current(), d.describe())
		}
		if !anyPkg && pkg != d.pkg {
			return failf(c, prog, "mismatch on package\n  when removing '%s'\n  found '%s'", current(), d.describe())
		}
		say("Removing '%s'\n", d.describe())
		doRename := false
		if rename == 1 {
			if doRename, err = checkDivertRename(c, d.to, d.from); err != nil {
				return err
			}
		}
		if test {
			return nil
		}
		if doRename {
			if err := divertRename(c, d.to, d.from); err != nil {
				return err
			}
		}
		if err := writeDiversions(c.FS, dbFile, append(divs[:i:i], divs[i+1:]...)); err != nil {
			return err
		}
		effect(c, "removed %s", d.describe())
		return nil
	}
	return usage("unknown action %s", action)
}

// checkDivertRename is dpkg's check_rename: nothing to do when the source
// is absent, an error when both exist as different files.
func checkDivertRename(c *Call, src, dst string) (bool, error) {
	if !existsImage(c.FS, src) {
		return false, nil
	}
	if existsImage(c.FS, dst) {
		return false, failf(c, "dpkg-divert", "rename involves overwriting '%s' with\n  different file '%s', not allowed", dst, src)
	}
	return true, nil
}

func divertRename(c *Call, src, dst string) error {
	if err := c.FS.Rename(src, dst); err != nil {
		return fmt.Errorf("dpkg-divert: rename %s to %s: %w", src, dst, err)
	}
	effect(c, "renamed %s to %s", src, dst)
	return nil
}

func ownedByEssential(c *Call, file string) bool {
	for _, n := range c.Host.Packages() {
		if p, ok := dpkgPackage(c, n); ok && p["Essential"] == "yes" && packageOwns(c, n, file) {
			return true
		}
	}
	return false
}

type statOverride struct {
	user, group string
	mode        fs.FileMode
	path        string
}

func readStatOverrides(fsys FS, name string) ([]statOverride, error) {
	b, err := readImageFileOpt(fsys, name)
	if err != nil {
		return nil, err
	}
	var out []statOverride
	for _, l := range splitLines(b) {
		f := strings.SplitN(l, " ", 4)
		if len(f) != 4 {
			return nil, fmt.Errorf("%s: syntax error in line %q", name, l)
		}
		m, err := strconv.ParseUint(f[2], 8, 32)
		if err != nil {
			return nil, fmt.Errorf("%s: bad mode in line %q", name, l)
		}
		out = append(out, statOverride{f[0], f[1], unixToFileMode(m), f[3]})
	}
	return out, nil
}

// unixMode converts permission bits with setuid/setgid/sticky as C's
// st_mode to fs.FileMode and back.
func unixToFileMode(m uint64) fs.FileMode {
	fm := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		fm |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		fm |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		fm |= fs.ModeSticky
	}
	return fm
}

func fileModeToUnix(fm fs.FileMode) uint64 {
	m := uint64(fm.Perm())
	if fm&fs.ModeSetuid != 0 {
		m |= 0o4000
	}
	if fm&fs.ModeSetgid != 0 {
		m |= 0o2000
	}
	if fm&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	return m
}

func runDpkgStatoverride(c *Call) error {
	const prog = "dpkg-statoverride"
	action := ""
	update, quiet, force := false, false, false
	admindir := "/var/lib/dpkg"
	var args []string
	usage := func(format string, a ...any) error {
		fmt.Fprintf(c.Stderr, "%s: error: %s\n\nUse --help for help about overriding file stat information.\n", prog, fmt.Sprintf(format, a...))
		return ExitStatus(2)
	}
	for i := 0; i < len(c.Args); i++ {
		a := c.Args[i]
		name, val, hasVal := strings.Cut(a, "=")
		switch {
		case name == "--add" || name == "--remove" || name == "--list":
			action = name[2:]
		case name == "--update":
			update = true
		case name == "--quiet":
			quiet = true
		case name == "--force":
			warnf(c, prog, "deprecated --force option; use --force-all instead")
			force = true
		case name == "--force-all" || strings.HasPrefix(name, "--force-statoverride"):
			force = true
		case name == "--admindir" || name == "--root" || name == "--instdir":
			if !hasVal {
				if i+1 >= len(c.Args) {
					return usage("%s needs a value", name)
				}
				i++
				val = c.Args[i]
			}
			if name == "--admindir" {
				admindir = cleanAbs(val)
			} else if cleanAbs(val) != "/" {
				return Refuse(prog+" "+name, "another root than the image's is not supported")
			}
		case strings.HasPrefix(a, "--force-") || strings.HasPrefix(a, "--no-force-") || strings.HasPrefix(a, "--refuse-"):
		case a == "--":
			args = append(args, c.Args[i+1:]...)
			i = len(c.Args)
		case strings.HasPrefix(a, "-"):
			return Refuse(prog+" "+a, "not a form maintainer scripts use")
		default:
			args = append(args, a)
		}
	}
	dbFile := admindir + "/statoverride"
	ovs, err := readStatOverrides(c.FS, dbFile)
	if err != nil {
		return failf(c, prog, "%v", err)
	}
	line := func(o statOverride) string {
		return fmt.Sprintf("%s %s %o %s\n", o.user, o.group, fileModeToUnix(o.mode), o.path)
	}
	write := func(list []statOverride) error {
		hashOrder(list, func(o statOverride) string { return o.path })
		var b strings.Builder
		for _, o := range list {
			b.WriteString(line(o))
		}
		if err := atomicBackup(c.FS, dbFile); err != nil {
			return err
		}
		return writeImageFile(c.FS, dbFile, []byte(b.String()), 0o644)
	}
	switch action {
	case "list":
		globs := args
		if len(globs) == 0 {
			globs = []string{"*"}
		}
		hashOrder(ovs, func(o statOverride) string { return o.path })
		status := error(ExitStatus(1))
		for _, o := range ovs {
			for _, g := range globs {
				if fnmatch(cleanAbs(g), o.path) || g == "*" {
					fmt.Fprint(c.Stdout, line(o))
					status = nil
					break
				}
			}
		}
		return status
	case "add":
		if len(args) != 4 {
			return usage("--add needs four arguments")
		}
		p := cleanAbs(args[3])
		resolve := func(db, what, v string) (string, int, error) {
			if strings.HasPrefix(v, "#") {
				id, err := strconv.Atoi(v[1:])
				if err != nil || id < 0 {
					return "", 0, usage("invalid %s ID '%s'", what, v)
				}
				if n, ok := accountName(c.FS, db, id); ok {
					return n, id, nil
				}
				return v, id, nil
			}
			id, ok := lookupAccount(c.FS, db, v)
			if !ok {
				return "", 0, failf(c, prog, "%s '%s' does not exist", what, v)
			}
			return v, id, nil
		}
		user, uid, err := resolve("/etc/passwd", "user", args[0])
		if err != nil {
			return err
		}
		group, gid, err := resolve("/etc/group", "group", args[1])
		if err != nil {
			return err
		}
		m, err := strconv.ParseUint(args[2], 8, 32)
		if err != nil || m > 0o7777 {
			return failf(c, prog, "illegal mode '%s'", args[2])
		}
		mode := unixToFileMode(m)
		kept := ovs[:0:0]
		for _, o := range ovs {
			if o.path == p {
				if !force {
					return failf(c, prog, "an override for '%s' already exists; aborting", p)
				}
				warnf(c, prog, "an override for '%s' already exists, but --force specified so will be ignored", p)
				continue
			}
			kept = append(kept, o)
		}
		o := statOverride{user, group, mode, p}
		if update {
			if _, err := c.FS.Stat(p); err == nil {
				if err := c.FS.Chown(p, uid, gid); err != nil {
					return err
				}
				if err := c.FS.Chmod(p, mode); err != nil {
					return err
				}
				effect(c, "%s now %s:%s %o", p, user, group, m)
			} else if !quiet {
				warnf(c, prog, "--update given but %s does not exist", p)
			}
		}
		if err := write(append(kept, o)); err != nil {
			return err
		}
		effect(c, "added stat override %s", strings.TrimSuffix(line(o), "\n"))
		return nil
	case "remove":
		if len(args) != 1 {
			return usage("--remove needs a single argument")
		}
		p := cleanAbs(args[0])
		kept := ovs[:0:0]
		for _, o := range ovs {
			if o.path != p {
				kept = append(kept, o)
			}
		}
		if len(kept) == len(ovs) {
			if !quiet {
				warnf(c, prog, "no override present")
			}
			if force {
				return nil
			}
			return ExitStatus(2)
		}
		if update && !quiet {
			warnf(c, prog, "--update is useless for --remove")
		}
		if err := write(kept); err != nil {
			return err
		}
		effect(c, "removed stat override of %s", p)
		return nil
	}
	return usage("need an action option")
}
