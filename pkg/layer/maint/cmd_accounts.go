package maint

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/pgassemble/pgassemble/pkg/apt"
)

// Account tools: adduser/addgroup/deluser/delgroup as Debian's adduser
// (3.15x) runs them, and the shadow tools they call (useradd, groupadd,
// usermod, gpasswd, userdel, groupdel), over the image's /etc/passwd,
// /etc/group, /etc/shadow and /etc/gshadow. Ids are allocated as the real
// tools do: adduser takes the first free id of its adduser.conf range and
// passes it to useradd/groupadd; shadow's tools, called directly, search
// system ids down from SYS_*_MAX and others up from the highest used
// (login.defs). Policy.UIDs/GIDs replace the allocation for a name (the
// postgres user's 26), never an id a script asks for explicitly. Like
// shadow's commonio, each database rewritten keeps its previous content as
// NAME- and /etc/.pwd.lock is created; adduser leaves its /run/adduser lock.
// Shadow entries are dated by SOURCE_DATE_EPOCH.

func accountsCommands() []Spec {
	return []Spec{
		{Name: "adduser", Run: runAdduser, Kind: Exact, Paths: []string{"/usr/sbin/adduser"}},
		{Name: "addgroup", Run: runAdduser, Kind: Exact, Paths: []string{"/usr/sbin/addgroup"}},
		{Name: "deluser", Run: runDeluser, Kind: Exact, Paths: []string{"/usr/sbin/deluser"}},
		{Name: "delgroup", Run: runDeluser, Kind: Exact, Paths: []string{"/usr/sbin/delgroup"}},
		{Name: "useradd", Run: runUseradd, Kind: Exact, Paths: []string{"/usr/sbin/useradd"}},
		{Name: "groupadd", Run: runGroupadd, Kind: Exact, Paths: []string{"/usr/sbin/groupadd"}},
		{Name: "usermod", Run: runUsermod, Kind: Exact, Paths: []string{"/usr/sbin/usermod"}},
		{Name: "gpasswd", Run: runGpasswd, Kind: Exact, Paths: []string{"/usr/bin/gpasswd"}},
		{Name: "userdel", Run: runUserdel, Kind: Exact, Paths: []string{"/usr/sbin/userdel"}},
		{Name: "groupdel", Run: runGroupdel, Kind: Exact, Paths: []string{"/usr/sbin/groupdel"}},
		{Name: "update-passwd", Run: runUpdatePasswd, Kind: Exact, Paths: []string{"/usr/sbin/update-passwd"}},
		{Name: "pwck", Run: runPwck, Kind: Exact, Paths: []string{"/usr/sbin/pwck"}},
		{Name: "grpck", Run: runGrpck, Kind: Exact, Paths: []string{"/usr/sbin/grpck"}},
		{Name: "pwconv", Run: func(c *Call) error { return convShadow(c, false) }, Kind: Exact, Paths: []string{"/usr/sbin/pwconv"}},
		{Name: "grpconv", Run: func(c *Call) error { return convShadow(c, true) }, Kind: Exact, Paths: []string{"/usr/sbin/grpconv"}},
	}
}

// acctDB is one colon-separated account database kept as lines.
type acctDB struct {
	path    string
	lines   []string
	exists  bool
	changed bool
	perm    fs.FileMode
}

func (d *acctDB) find(name string) int {
	for i, l := range d.lines {
		if n, _, _ := strings.Cut(l, ":"); n == name {
			return i
		}
	}
	return -1
}

// fields returns a line's fields, padded to n.
func (d *acctDB) fields(i, n int) []string {
	f := strings.Split(d.lines[i], ":")
	for len(f) < n {
		f = append(f, "")
	}
	return f
}

func (d *acctDB) set(i int, f []string) {
	if l := strings.Join(f, ":"); l != d.lines[i] {
		d.lines[i] = l
		d.changed = true
	}
}

func (d *acctDB) add(f ...string) {
	d.lines = append(d.lines, strings.Join(f, ":"))
	d.changed = true
}

func (d *acctDB) remove(name string) bool {
	i := d.find(name)
	if i < 0 {
		return false
	}
	d.lines = append(d.lines[:i], d.lines[i+1:]...)
	d.changed = true
	return true
}

// byID finds the line whose third field is id.
func (d *acctDB) byID(id int) int {
	s := strconv.Itoa(id)
	for i, l := range d.lines {
		f := strings.SplitN(l, ":", 4)
		if len(f) > 2 && f[2] == s {
			return i
		}
	}
	return -1
}

func (d *acctDB) id(name string) (int, bool) {
	i := d.find(name)
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(d.fields(i, 3)[2])
	return n, err == nil
}

func (d *acctDB) ids() map[int]bool {
	out := map[int]bool{}
	for i := range d.lines {
		if n, err := strconv.Atoi(d.fields(i, 3)[2]); err == nil {
			out[n] = true
		}
	}
	return out
}

// accounts is the image's four databases for one command.
type accounts struct {
	c                              *Call
	passwd, group, shadow, gshadow *acctDB
}

func loadAccounts(c *Call) (*accounts, error) {
	a := &accounts{c: c}
	for _, x := range []struct {
		p    **acctDB
		path string
		perm fs.FileMode
	}{{&a.passwd, "/etc/passwd", 0o644}, {&a.group, "/etc/group", 0o644}, {&a.shadow, "/etc/shadow", 0o640}, {&a.gshadow, "/etc/gshadow", 0o640}} {
		b, err := readImageFile(c.FS, x.path)
		d := &acctDB{path: x.path, perm: x.perm}
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("%s: %w", x.path, err)
		default:
			d.exists = true
			d.lines = splitLines(b)
		}
		*x.p = d
	}
	return a, nil
}

// save writes the changed databases as shadow's commonio does: the old
// content to NAME- (same mode and owner), then the new, under the
// /etc/.pwd.lock lock file.
func (a *accounts) save() error {
	fsys := a.c.FS
	wrote := false
	for _, d := range []*acctDB{a.passwd, a.group, a.shadow, a.gshadow} {
		if !d.changed || (!d.exists && (d == a.shadow || d == a.gshadow)) {
			continue
		}
		wrote = true
		if d.exists {
			info, err := fsys.Stat(d.path)
			if err != nil {
				return err
			}
			old, err := readImageFile(fsys, d.path)
			if err != nil {
				return err
			}
			if err := writeImageFile(fsys, d.path+"-", old, info.Mode.Perm()); err != nil {
				return err
			}
			if err := fsys.Chmod(d.path+"-", info.Mode.Perm()); err != nil {
				return err
			}
			if err := fsys.Chown(d.path+"-", info.Uid, info.Gid); err != nil {
				return err
			}
		}
		if err := writeImageFile(fsys, d.path, joinLines(d.lines), d.perm); err != nil {
			return err
		}
		effect(a.c, "wrote %s", d.path)
	}
	if wrote && !existsImage(fsys, "/etc/.pwd.lock") {
		f, err := fsys.OpenFile("/etc/.pwd.lock", os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		return f.Close()
	}
	return nil
}

func (a *accounts) days() string {
	return strconv.FormatInt(epochOf(a.c).Unix()/86400, 10)
}

// members lists a group's member field.
func (a *accounts) members(group string) []string {
	i := a.group.find(group)
	if i < 0 {
		return nil
	}
	m := a.group.fields(i, 4)[3]
	if m == "" {
		return nil
	}
	return strings.Split(m, ",")
}

// setMembers sets a group's members in /etc/group and /etc/gshadow.
func (a *accounts) setMembers(group string, members []string) {
	if i := a.group.find(group); i >= 0 {
		f := a.group.fields(i, 4)
		f[3] = strings.Join(members, ",")
		a.group.set(i, f)
	}
	if i := a.gshadow.find(group); i >= 0 {
		f := a.gshadow.fields(i, 4)
		f[3] = strings.Join(members, ",")
		a.gshadow.set(i, f)
	}
}

func (a *accounts) addMember(user, group string) {
	m := a.members(group)
	for _, x := range m {
		if x == user {
			return
		}
	}
	a.setMembers(group, append(m, user))
}

func (a *accounts) removeMember(user, group string) bool {
	m := a.members(group)
	kept := m[:0:0]
	for _, x := range m {
		if x != user {
			kept = append(kept, x)
		}
	}
	if len(kept) == len(m) {
		return false
	}
	a.setMembers(group, kept)
	return true
}

// newGroup appends a group as groupadd writes it.
func (a *accounts) newGroup(name string, gid int) {
	a.group.add(name, "x", strconv.Itoa(gid), "")
	if a.gshadow.exists {
		a.gshadow.add(name, "!", "", "")
	}
	effect(a.c, "group %s (gid %d)", name, gid)
}

// newUser appends a user as useradd writes it; system accounts get no
// password ageing.
func (a *accounts) newUser(name string, uid, gid int, gecos, home, shell string, system bool, defs map[string]string) {
	a.passwd.add(name, "x", strconv.Itoa(uid), strconv.Itoa(gid), gecos, home, shell)
	if a.shadow.exists {
		min, max, warn := "", "", ""
		if !system {
			min, max, warn = defs["PASS_MIN_DAYS"], defs["PASS_MAX_DAYS"], defs["PASS_WARN_AGE"]
		}
		a.shadow.add(name, "!", a.days(), min, max, warn, "", "", "")
	}
	effect(a.c, "user %s (uid %d, gid %d, home %s, shell %s)", name, uid, gid, home, shell)
}

// loginDefs reads /etc/login.defs with shadow's defaults for what it lacks.
func loginDefs(fsys FS) map[string]string {
	defs := map[string]string{
		"UID_MIN": "1000", "UID_MAX": "60000", "GID_MIN": "1000", "GID_MAX": "60000",
		"SYS_UID_MIN": "101", "SYS_GID_MIN": "101", "UMASK": "022",
	}
	b, _ := readImageFileOpt(fsys, "/etc/login.defs")
	for _, l := range splitLines(b) {
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' {
			continue
		}
		f := strings.Fields(l)
		if len(f) >= 2 {
			defs[f[0]] = strings.Trim(f[1], `"`)
		}
	}
	if _, ok := defs["SYS_UID_MAX"]; !ok {
		defs["SYS_UID_MAX"] = strconv.Itoa(atoiOr(defs["UID_MIN"], 1000) - 1)
	}
	if _, ok := defs["SYS_GID_MAX"]; !ok {
		defs["SYS_GID_MAX"] = strconv.Itoa(atoiOr(defs["GID_MIN"], 1000) - 1)
	}
	return defs
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		return n
	}
	return def
}

// shadowFindNew is shadow's find_new_uid/find_new_gid: system ids searched
// down from below the lowest used one in [min,max] (from max when min is
// taken), others up from above the highest used, then the whole range.
func shadowFindNew(used map[int]bool, min, max int, system bool) (int, bool) {
	if system {
		lowest := max
		for id := range used {
			if id >= min && id <= lowest {
				lowest = id - 1
			}
		}
		if lowest < min {
			lowest = max
		}
		for id := lowest; id >= min; id-- {
			if !used[id] {
				return id, true
			}
		}
		for id := max; id >= min; id-- {
			if !used[id] {
				return id, true
			}
		}
		return 0, false
	}
	highest := min
	for id := range used {
		if id <= max && id >= highest {
			highest = id + 1
		}
	}
	if highest > max {
		highest = min
	}
	for id := highest; id <= max; id++ {
		if !used[id] {
			return id, true
		}
	}
	for id := min; id <= max; id++ {
		if !used[id] {
			return id, true
		}
	}
	return 0, false
}

// ---- shadow's tools ----

// shadowArgs parses short and long options; flags without a value are
// listed in noValue.
func shadowArgs(prog string, args []string, noValue map[string]string, withValue map[string]string) (map[string]string, []string, error) {
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
		if strings.HasPrefix(a, "--") {
			name, val, hasVal := strings.Cut(a[2:], "=")
			if short, ok := noValue["--"+name]; ok {
				opts[short] = "1"
				continue
			}
			short, ok := withValue["--"+name]
			if !ok {
				return nil, nil, fmt.Errorf("%s: unrecognized option '%s'", prog, a)
			}
			if !hasVal {
				if i+1 >= len(args) {
					return nil, nil, fmt.Errorf("%s: option '%s' requires an argument", prog, a)
				}
				i++
				val = args[i]
			}
			if short == "-K" || short == "-G" && opts[short] != "" {
				opts[short] += "\n" + val
			} else {
				opts[short] = val
			}
			continue
		}
		// short options, possibly grouped ("-rM")
		for j := 1; j < len(a); j++ {
			o := "-" + a[j:j+1]
			if _, ok := noValue[o]; ok {
				opts[o] = "1"
				continue
			}
			if _, ok := withValue[o]; !ok {
				return nil, nil, fmt.Errorf("%s: invalid option -- '%c'", prog, a[j])
			}
			val := a[j+1:]
			if val == "" {
				if i+1 >= len(args) {
					return nil, nil, fmt.Errorf("%s: option requires an argument -- '%c'", prog, a[j])
				}
				i++
				val = args[i]
			}
			if o == "-K" && opts[o] != "" {
				opts[o] += "\n" + val
			} else {
				opts[o] = val
			}
			break
		}
	}
	return opts, rest, nil
}

// shadowMsg is a message printed as the tool prints it.
type shadowMsg string

func (m shadowMsg) Error() string { return string(m) }

// shadowUsage reports a usage error with shadow's status 2.
func shadowUsage(c *Call, err error) error {
	fmt.Fprintln(c.Stderr, err)
	return ExitStatus(2)
}

// applyK applies -K KEY=VALUE overrides of login.defs.
func applyK(defs map[string]string, k string) {
	for _, kv := range strings.Split(k, "\n") {
		if key, val, ok := strings.Cut(kv, "="); ok {
			defs[key] = val
		}
	}
}

var validAccountName = regexp.MustCompile(`^[a-z_][-a-z0-9_]*\$?$`)

func runGroupadd(c *Call) error {
	const prog = "groupadd"
	opts, rest, err := shadowArgs(prog, c.Args,
		map[string]string{"-r": "", "--system": "-r", "-f": "", "--force": "-f", "-o": "", "--non-unique": "-o", "-U": ""},
		map[string]string{"-g": "", "--gid": "-g", "-K": "", "--key": "-K", "-p": "", "--password": "-p", "-R": "", "--root": "-R", "-P": "", "--prefix": "-P", "--users": "-U"})
	if err != nil {
		return shadowUsage(c, err)
	}
	if opts["-R"] != "" || opts["-P"] != "" {
		return Refuse(prog+" --root/--prefix", "another root than the image's is not supported")
	}
	if len(rest) != 1 {
		return shadowUsage(c, shadowMsg("Usage: groupadd [options] GROUP"))
	}
	name := rest[0]
	a, err := loadAccounts(c)
	if err != nil {
		return err
	}
	if a.group.find(name) >= 0 {
		if opts["-f"] != "" {
			return nil
		}
		fmt.Fprintf(c.Stderr, "%s: group '%s' already exists\n", prog, name)
		return ExitStatus(9)
	}
	if !validAccountName.MatchString(name) {
		fmt.Fprintf(c.Stderr, "%s: '%s' is not a valid group name\n", prog, name)
		return ExitStatus(3)
	}
	defs := loginDefs(c.FS)
	applyK(defs, opts["-K"])
	gid := -1
	if g := opts["-g"]; g != "" {
		n, err := strconv.Atoi(g)
		if err != nil || n < 0 {
			fmt.Fprintf(c.Stderr, "%s: invalid group ID '%s'\n", prog, g)
			return ExitStatus(3)
		}
		if a.group.byID(n) >= 0 && opts["-o"] == "" {
			if opts["-f"] == "" {
				fmt.Fprintf(c.Stderr, "%s: GID '%d' already exists\n", prog, n)
				return ExitStatus(4)
			}
		} else {
			gid = n
		}
	}
	if gid < 0 {
		if preset, ok := c.Host.Policy().GIDs[name]; ok {
			gid = preset
		} else {
			sys := opts["-r"] != ""
			min, max := atoiOr(defs["GID_MIN"], 1000), atoiOr(defs["GID_MAX"], 60000)
			if sys {
				min, max = atoiOr(defs["SYS_GID_MIN"], 101), atoiOr(defs["SYS_GID_MAX"], 999)
			}
			id, ok := shadowFindNew(a.group.ids(), min, max, sys)
			if !ok {
				fmt.Fprintf(c.Stderr, "%s: Can't get unique GID (no more available GIDs)\n", prog)
				return ExitStatus(4)
			}
			gid = id
		}
	}
	a.newGroup(name, gid)
	if u := opts["-U"]; u != "" {
		for _, m := range strings.Split(u, ",") {
			a.addMember(m, name)
		}
	}
	return a.save()
}

func runUseradd(c *Call) error {
	const prog = "useradd"
	opts, rest, err := shadowArgs(prog, c.Args,
		map[string]string{"-r": "", "--system": "-r", "-m": "", "--create-home": "-m", "-M": "", "--no-create-home": "-M",
			"-N": "", "--no-user-group": "-N", "-U": "", "--user-group": "-U", "-o": "", "--non-unique": "-o",
			"-l": "", "--no-log-init": "-l", "-D": "", "--defaults": "-D"},
		map[string]string{"-u": "", "--uid": "-u", "-g": "", "--gid": "-g", "-G": "", "--groups": "-G", "-d": "", "--home-dir": "-d",
			"-s": "", "--shell": "-s", "-c": "", "--comment": "-c", "-K": "", "--key": "-K", "-p": "", "--password": "-p",
			"-k": "", "--skel": "-k", "-b": "", "--base-dir": "-b", "-e": "", "--expiredate": "-e", "-f": "", "--inactive": "-f",
			"-R": "", "--root": "-R", "-P": "", "--prefix": "-P"})
	if err != nil {
		return shadowUsage(c, err)
	}
	if opts["-R"] != "" || opts["-P"] != "" {
		return Refuse(prog+" --root/--prefix", "another root than the image's is not supported")
	}
	if opts["-D"] != "" {
		return Refuse(prog+" -D", "changing useradd's defaults is not supported")
	}
	if len(rest) != 1 {
		return shadowUsage(c, shadowMsg("Usage: useradd [options] LOGIN"))
	}
	name := rest[0]
	a, err := loadAccounts(c)
	if err != nil {
		return err
	}
	if a.passwd.find(name) >= 0 {
		fmt.Fprintf(c.Stderr, "%s: user '%s' already exists\n", prog, name)
		return ExitStatus(9)
	}
	if !validAccountName.MatchString(name) {
		fmt.Fprintf(c.Stderr, "%s: invalid user name '%s': use --badname to ignore\n", prog, name)
		return ExitStatus(19)
	}
	defs := loginDefs(c.FS)
	applyK(defs, opts["-K"])
	udefs := map[string]string{"SHELL": "/bin/sh", "HOME": "/home", "SKEL": "/etc/skel"}
	if b, _ := readImageFileOpt(c.FS, "/etc/default/useradd"); b != nil {
		for _, l := range splitLines(b) {
			if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok && !strings.HasPrefix(k, "#") {
				udefs[k] = v
			}
		}
	}
	sys := opts["-r"] != ""
	uid := -1
	if u := opts["-u"]; u != "" {
		n, err := strconv.Atoi(u)
		if err != nil || n < 0 {
			fmt.Fprintf(c.Stderr, "%s: invalid user ID '%s'\n", prog, u)
			return ExitStatus(3)
		}
		if a.passwd.byID(n) >= 0 && opts["-o"] == "" {
			fmt.Fprintf(c.Stderr, "%s: UID %d is not unique\n", prog, n)
			return ExitStatus(4)
		}
		uid = n
	} else if preset, ok := c.Host.Policy().UIDs[name]; ok {
		uid = preset
	} else {
		min, max := atoiOr(defs["UID_MIN"], 1000), atoiOr(defs["UID_MAX"], 60000)
		if sys {
			min, max = atoiOr(defs["SYS_UID_MIN"], 101), atoiOr(defs["SYS_UID_MAX"], 999)
		}
		id, ok := shadowFindNew(a.passwd.ids(), min, max, sys)
		if !ok {
			fmt.Fprintf(c.Stderr, "%s: Can't get unique UID (no more available UIDs)\n", prog)
			return ExitStatus(4)
		}
		uid = id
	}
	gid := -1
	userGroup := opts["-U"] != "" || opts["-N"] == "" && opts["-g"] == "" && !strings.EqualFold(defs["USERGROUPS_ENAB"], "no")
	switch g := opts["-g"]; {
	case g != "":
		if n, err := strconv.Atoi(g); err == nil {
			if a.group.byID(n) < 0 {
				fmt.Fprintf(c.Stderr, "%s: group '%s' does not exist\n", prog, g)
				return ExitStatus(6)
			}
			gid = n
		} else if n, ok := a.group.id(g); ok {
			gid = n
		} else {
			fmt.Fprintf(c.Stderr, "%s: group '%s' does not exist\n", prog, g)
			return ExitStatus(6)
		}
	case userGroup:
		if a.group.find(name) >= 0 {
			fmt.Fprintf(c.Stderr, "%s: group %s exists - if you want to add this user to that group, use -g.\n", prog, name)
			return ExitStatus(9)
		}
		if preset, ok := c.Host.Policy().GIDs[name]; ok {
			gid = preset
		} else if a.group.byID(uid) < 0 {
			gid = uid // find_new_gid prefers the uid
		} else {
			min, max := atoiOr(defs["GID_MIN"], 1000), atoiOr(defs["GID_MAX"], 60000)
			if sys {
				min, max = atoiOr(defs["SYS_GID_MIN"], 101), atoiOr(defs["SYS_GID_MAX"], 999)
			}
			id, ok := shadowFindNew(a.group.ids(), min, max, sys)
			if !ok {
				fmt.Fprintf(c.Stderr, "%s: can't create group\n", prog)
				return ExitStatus(4)
			}
			gid = id
		}
	default:
		gid = atoiOr(udefs["GROUP"], 100)
	}
	var groups []string
	if g := opts["-G"]; g != "" {
		for _, x := range strings.FieldsFunc(g, func(r rune) bool { return r == ',' || r == '\n' }) {
			if a.group.find(x) < 0 {
				if n, err := strconv.Atoi(x); err == nil && a.group.byID(n) >= 0 {
					x = a.group.fields(a.group.byID(n), 1)[0]
				} else {
					fmt.Fprintf(c.Stderr, "%s: group '%s' does not exist\n", prog, x)
					return ExitStatus(6)
				}
			}
			groups = append(groups, x)
		}
	}
	home := opts["-d"]
	if home == "" {
		base := opts["-b"]
		if base == "" {
			base = udefs["HOME"]
		}
		home = strings.TrimSuffix(base, "/") + "/" + name
	}
	shell := opts["-s"]
	if shell == "" {
		shell = udefs["SHELL"]
	}
	if userGroup && opts["-g"] == "" {
		a.newGroup(name, gid)
	}
	a.newUser(name, uid, gid, opts["-c"], home, shell, sys, defs)
	if p := opts["-p"]; p != "" {
		i := a.shadow.find(name)
		if i >= 0 {
			f := a.shadow.fields(i, 9)
			f[1] = p
			a.shadow.set(i, f)
		}
	}
	for _, g := range groups {
		a.addMember(name, g)
	}
	if err := a.save(); err != nil {
		return err
	}
	if opts["-m"] != "" || opts["-M"] == "" && strings.EqualFold(defs["CREATE_HOME"], "yes") && !sys {
		skel := opts["-k"]
		if skel == "" {
			skel = udefs["SKEL"]
		}
		mode := fs.FileMode(0o777 &^ atoiOctal(defs["UMASK"], 0o022))
		if m, ok := defs["HOME_MODE"]; ok {
			mode = fs.FileMode(atoiOctal(m, 0o755))
		}
		return makeHome(c, home, skel, uid, gid, mode)
	}
	return nil
}

func atoiOctal(s string, def int64) int64 {
	if n, err := strconv.ParseInt(strings.TrimSpace(s), 8, 32); err == nil {
		return n
	}
	return def
}

// makeHome creates a home directory (when absent) owned by the user, with
// the skeleton's files copied in when skel is set.
func makeHome(c *Call, home, skel string, uid, gid int, mode fs.FileMode) error {
	if existsImage(c.FS, home) {
		return nil
	}
	if err := mkdirAllImage(c.FS, home, 0o755); err != nil {
		return err
	}
	if err := c.FS.Chown(home, uid, gid); err != nil {
		return err
	}
	if err := c.FS.Chmod(home, mode); err != nil {
		return err
	}
	effect(c, "created home %s", home)
	if skel == "" {
		return nil
	}
	return copySkel(c, skel, home, uid, gid)
}

func copySkel(c *Call, from, to string, uid, gid int) error {
	ents, err := c.FS.ReadDir(from)
	if err != nil {
		return nil //nolint:nilerr // no skeleton: nothing to copy
	}
	for _, e := range ents {
		src, dst := from+"/"+e.Name, to+"/"+e.Name
		if regexp.MustCompile(`\.(dpkg|ucf)-(old|new|dist)$`).MatchString(e.Name) {
			continue
		}
		li, err := c.FS.Lstat(src)
		if err != nil {
			return err
		}
		switch {
		case li.Mode&fs.ModeSymlink != 0:
			if err := c.FS.Symlink(li.Target, dst); err != nil {
				return err
			}
		case li.IsDir():
			if err := c.FS.Mkdir(dst, li.Mode.Perm()); err != nil {
				return err
			}
			if err := copySkel(c, src, dst, uid, gid); err != nil {
				return err
			}
		default:
			b, err := readImageFile(c.FS, src)
			if err != nil {
				return err
			}
			if err := writeImageFile(c.FS, dst, b, li.Mode.Perm()); err != nil {
				return err
			}
		}
		if err := c.FS.Lchown(dst, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

func runUsermod(c *Call) error {
	const prog = "usermod"
	opts, rest, err := shadowArgs(prog, c.Args,
		map[string]string{"-a": "", "--append": "-a", "-L": "", "--lock": "-L", "-U": "", "--unlock": "-U", "-m": "", "--move-home": "-m", "-o": "", "--non-unique": "-o", "-r": "", "--remove": "-r"},
		map[string]string{"-u": "", "--uid": "-u", "-g": "", "--gid": "-g", "-G": "", "--groups": "-G", "-d": "", "--home": "-d",
			"-s": "", "--shell": "-s", "-c": "", "--comment": "-c", "-l": "", "--login": "-l", "-p": "", "--password": "-p",
			"-e": "", "--expiredate": "-e", "-f": "", "--inactive": "-f", "-R": "", "--root": "-R", "-P": "", "--prefix": "-P"})
	if err != nil {
		return shadowUsage(c, err)
	}
	if opts["-R"] != "" || opts["-P"] != "" {
		return Refuse(prog+" --root/--prefix", "another root than the image's is not supported")
	}
	if opts["-l"] != "" || opts["-m"] != "" || opts["-e"] != "" || opts["-f"] != "" {
		return Refuse(prog+" -l/-m/-e/-f", "renaming users, moving homes and expiry are not forms maintainer scripts use")
	}
	if len(rest) != 1 {
		return shadowUsage(c, shadowMsg("Usage: usermod [options] LOGIN"))
	}
	name := rest[0]
	a, err := loadAccounts(c)
	if err != nil {
		return err
	}
	i := a.passwd.find(name)
	if i < 0 {
		fmt.Fprintf(c.Stderr, "%s: user '%s' does not exist\n", prog, name)
		return ExitStatus(6)
	}
	f := a.passwd.fields(i, 7)
	oldUID := atoiOr(f[2], -1)
	if u := opts["-u"]; u != "" {
		n, err := strconv.Atoi(u)
		if err != nil || n < 0 {
			fmt.Fprintf(c.Stderr, "%s: invalid user ID '%s'\n", prog, u)
			return ExitStatus(3)
		}
		if j := a.passwd.byID(n); j >= 0 && j != i && opts["-o"] == "" {
			fmt.Fprintf(c.Stderr, "%s: UID '%d' already exists\n", prog, n)
			return ExitStatus(4)
		}
		f[2] = strconv.Itoa(n)
	}
	if g := opts["-g"]; g != "" {
		gid, ok := a.group.id(g)
		if n, err := strconv.Atoi(g); err == nil && a.group.byID(n) >= 0 {
			gid, ok = n, true
		}
		if !ok {
			fmt.Fprintf(c.Stderr, "%s: group '%s' does not exist\n", prog, g)
			return ExitStatus(6)
		}
		f[3] = strconv.Itoa(gid)
	}
	if v, ok := opts["-c"]; ok {
		f[4] = v
	}
	if v := opts["-d"]; v != "" {
		f[5] = v
	}
	if v := opts["-s"]; v != "" {
		f[6] = v
	}
	a.passwd.set(i, f)
	if j := a.shadow.find(name); j >= 0 {
		sf := a.shadow.fields(j, 9)
		switch {
		case opts["-p"] != "":
			sf[1] = opts["-p"]
		case opts["-L"] != "" && !strings.HasPrefix(sf[1], "!"):
			sf[1] = "!" + sf[1]
		case opts["-U"] != "" && strings.HasPrefix(sf[1], "!") && len(sf[1]) > 1:
			sf[1] = sf[1][1:]
		}
		a.shadow.set(j, sf)
	}
	if g := opts["-G"]; g != "" {
		want := map[string]bool{}
		for _, x := range strings.Split(g, ",") {
			if a.group.find(x) < 0 {
				fmt.Fprintf(c.Stderr, "%s: group '%s' does not exist\n", prog, x)
				return ExitStatus(6)
			}
			want[x] = true
			a.addMember(name, x)
		}
		if opts["-a"] == "" {
			for j := range a.group.lines {
				gname := a.group.fields(j, 4)[0]
				if !want[gname] {
					a.removeMember(name, gname)
				}
			}
		}
	}
	if err := a.save(); err != nil {
		return err
	}
	// usermod -u changes the owner of the home directory's files.
	if newUID := atoiOr(f[2], -1); newUID != oldUID && f[5] != "" {
		if err := chownTree(c, f[5], oldUID, newUID); err != nil {
			return err
		}
	}
	return nil
}

// chownTree gives files of a tree owned by from to to (usermod -u's home walk).
func chownTree(c *Call, root string, from, to int) error {
	li, err := c.FS.Lstat(root)
	if err != nil {
		return nil //nolint:nilerr // no home: nothing to change
	}
	if li.Uid == from {
		if err := c.FS.Lchown(root, to, -1); err != nil {
			return err
		}
	}
	if !li.IsDir() {
		return nil
	}
	ents, err := c.FS.ReadDir(root)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := chownTree(c, root+"/"+e.Name, from, to); err != nil {
			return err
		}
	}
	return nil
}

func runGpasswd(c *Call) error {
	const prog = "gpasswd"
	opts, rest, err := shadowArgs(prog, c.Args, map[string]string{},
		map[string]string{"-a": "", "--add": "-a", "-d": "", "--delete": "-d", "-M": "", "--members": "-M", "-A": "", "--administrators": "-A"})
	if err != nil {
		return shadowUsage(c, err)
	}
	if len(rest) != 1 {
		return shadowUsage(c, shadowMsg("Usage: gpasswd [option] GROUP"))
	}
	group := rest[0]
	a, err := loadAccounts(c)
	if err != nil {
		return err
	}
	if a.group.find(group) < 0 {
		fmt.Fprintf(c.Stderr, "%s: group '%s' does not exist in /etc/group\n", prog, group)
		return ExitStatus(3)
	}
	switch {
	case opts["-a"] != "":
		u := opts["-a"]
		if a.passwd.find(u) < 0 {
			fmt.Fprintf(c.Stderr, "%s: user '%s' does not exist\n", prog, u)
			return ExitStatus(3)
		}
		fmt.Fprintf(c.Stdout, "Adding user %s to group %s\n", u, group)
		a.addMember(u, group)
	case opts["-d"] != "":
		u := opts["-d"]
		fmt.Fprintf(c.Stdout, "Removing user %s from group %s\n", u, group)
		if !a.removeMember(u, group) {
			fmt.Fprintf(c.Stderr, "%s: user '%s' is not a member of '%s'\n", prog, u, group)
			return ExitStatus(3)
		}
	case opts["-M"] != "" || c.hasArg("-M"):
		var m []string
		if opts["-M"] != "" {
			m = strings.Split(opts["-M"], ",")
		}
		a.setMembers(group, m)
	default:
		return Refuse(prog, "setting a group password is interactive")
	}
	return a.save()
}

func (c *Call) hasArg(a string) bool {
	for _, x := range c.Args {
		if x == a {
			return true
		}
	}
	return false
}

func runUserdel(c *Call) error {
	const prog = "userdel"
	opts, rest, err := shadowArgs(prog, c.Args, map[string]string{"-r": "", "--remove": "-r", "-f": "", "--force": "-f"}, map[string]string{"-R": "", "--root": "-R"})
	if err != nil {
		return shadowUsage(c, err)
	}
	if opts["-R"] != "" {
		return Refuse(prog+" --root", "another root than the image's is not supported")
	}
	if len(rest) != 1 {
		return shadowUsage(c, shadowMsg("Usage: userdel [options] LOGIN"))
	}
	if opts["-r"] != "" {
		return Refuse(prog+" -r", "removing a home directory and mail spool is not supported")
	}
	return deleteUser(c, prog, rest[0], true)
}

// deleteUser removes a user, its memberships and its own group when no
// other user has it as primary group (userdel's USERGROUPS_ENAB rule).
func deleteUser(c *Call, prog, name string, dropGroup bool) error {
	a, err := loadAccounts(c)
	if err != nil {
		return err
	}
	i := a.passwd.find(name)
	if i < 0 {
		fmt.Fprintf(c.Stderr, "%s: user '%s' does not exist\n", prog, name)
		return ExitStatus(6)
	}
	gid := a.passwd.fields(i, 4)[3]
	a.passwd.remove(name)
	a.shadow.remove(name)
	for j := range a.group.lines {
		a.removeMember(name, a.group.fields(j, 4)[0])
	}
	if dropGroup {
		if gi := a.group.find(name); gi >= 0 && a.group.fields(gi, 3)[2] == gid {
			inUse := false
			for j := range a.passwd.lines {
				inUse = inUse || a.passwd.fields(j, 4)[3] == gid
			}
			if !inUse && len(a.members(name)) == 0 {
				a.group.remove(name)
				a.gshadow.remove(name)
			}
		}
	}
	effect(c, "removed user %s", name)
	return a.save()
}

func runGroupdel(c *Call) error {
	const prog = "groupdel"
	opts, rest, err := shadowArgs(prog, c.Args, map[string]string{"-f": "", "--force": "-f"}, map[string]string{"-R": "", "--root": "-R"})
	if err != nil {
		return shadowUsage(c, err)
	}
	if opts["-R"] != "" {
		return Refuse(prog+" --root", "another root than the image's is not supported")
	}
	if len(rest) != 1 {
		return shadowUsage(c, shadowMsg("Usage: groupdel [options] GROUP"))
	}
	return deleteGroup(c, prog, rest[0], opts["-f"] != "")
}

func deleteGroup(c *Call, prog, name string, force bool) error {
	a, err := loadAccounts(c)
	if err != nil {
		return err
	}
	gi := a.group.find(name)
	if gi < 0 {
		fmt.Fprintf(c.Stderr, "%s: group '%s' does not exist\n", prog, name)
		return ExitStatus(6)
	}
	gid := a.group.fields(gi, 3)[2]
	if !force {
		for j := range a.passwd.lines {
			if f := a.passwd.fields(j, 4); f[3] == gid {
				fmt.Fprintf(c.Stderr, "%s: cannot remove the primary group of user '%s'\n", prog, f[0])
				return ExitStatus(8)
			}
		}
	}
	a.group.remove(name)
	a.gshadow.remove(name)
	effect(c, "removed group %s", name)
	return a.save()
}

// ---- adduser ----

// adduserConf is /etc/adduser.conf over adduser's built-in defaults.
func adduserConf(fsys FS) map[string]string {
	conf := map[string]string{
		"dshell": "/bin/bash", "first_system_uid": "100", "last_system_uid": "999", "first_uid": "1000", "last_uid": "59999",
		"first_system_gid": "100", "last_system_gid": "999", "first_gid": "1000", "last_gid": "59999",
		"dhome": "/home", "skel": "/etc/skel", "usergroups": "yes", "grouphomes": "no", "letterhomes": "no",
		"dir_mode": "0700", "sys_dir_mode": "0755", "setgid_home": "no", "extra_groups": "users", "add_extra_groups": "0",
		"name_regex": `^[a-z][-a-z0-9_]*\$?$`, "sys_name_regex": `^[a-z_][-a-z0-9_]*\$?$`,
	}
	b, _ := readImageFileOpt(fsys, "/etc/adduser.conf")
	line := regexp.MustCompile(`^\s*([_a-zA-Z0-9]+)\s*=\s*(.*)$`)
	for _, l := range splitLines(b) {
		if strings.HasPrefix(l, "#") || strings.TrimSpace(l) == "" {
			continue
		}
		m := line.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		v := strings.TrimRight(m[2], " \t")
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		conf[strings.ToLower(m[1])] = v
	}
	return conf
}

// adduserFirstAvail is adduser's first_avail_uid/gid: the lowest id of
// [min,max] that no entry uses (both databases for a uid/gid pair).
func adduserFirstAvail(min, max int, used ...map[int]bool) int {
	for id := min; id <= max; id++ {
		free := true
		for _, u := range used {
			free = free && !u[id]
		}
		if free {
			return id
		}
	}
	return -1
}

// adduser's exit statuses (AdduserRetvalues.pm).
const (
	adduserObjectExists     = 11
	adduserObjectMissing    = 12
	adduserWrongProperties  = 13
	adduserIDInUse          = 21
	adduserNoIDInRange      = 22
	adduserInvalidName      = 31
	adduserInvalidHome      = 32
	adduserInvalidCall      = 51
	adduserExclusiveOptions = 54
)

type adduserRun struct {
	c                             *Call
	prog                          string
	verbose                       int // 0 quiet, 1 default (warnings), 2 --verbose
	conf                          map[string]string
	system, group, noCreateHome   bool
	badName, disabledPW, disabled bool
	home, shell, ingroup, comment string
	hasComment                    bool
	uid, gid                      int // -1: not given
	firstUID, lastUID             int
}

func (r *adduserRun) fatal(status int, format string, args ...any) error {
	fmt.Fprintf(r.c.Stderr, "fatal: %s\n", fmt.Sprintf(format, args...))
	// adduser before 3.135 (bookworm's 3.134) exits 1 on every error;
	// the distinct statuses came with AdduserRetvalues.
	if p, ok := r.c.Host.Package("adduser"); ok && p["Version"] != "" && apt.CompareVersions(p["Version"], "3.135") < 0 {
		return ExitStatus(1)
	}
	return ExitStatus(status)
}

func (r *adduserRun) warn(format string, args ...any) {
	if r.verbose > 0 {
		fmt.Fprintf(r.c.Stderr, "warn: %s\n", fmt.Sprintf(format, args...))
	}
}

func (r *adduserRun) info(format string, args ...any) {
	if r.verbose > 1 {
		fmt.Fprintf(r.c.Stdout, "info: %s\n", fmt.Sprintf(format, args...))
	}
}

func (r *adduserRun) lock() error {
	if existsImage(r.c.FS, "/run/adduser") {
		return nil
	}
	if err := mkdirAllImage(r.c.FS, "/run", 0o755); err != nil {
		return err
	}
	f, err := r.c.FS.OpenFile("/run/adduser", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

func runAdduser(c *Call) error {
	r := &adduserRun{c: c, prog: c.Name, verbose: 1, uid: -1, gid: -1, firstUID: -1, lastUID: -1}
	if r.prog != "addgroup" {
		r.prog = "adduser"
	}
	var names []string
	args := c.Args
	value := func(i *int, a string) (string, error) {
		if _, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(a, "--") {
			return v, nil
		}
		if *i+1 >= len(args) {
			return "", r.fatal(adduserInvalidCall, "option %s requires an argument", a)
		}
		*i++
		return args[*i], nil
	}
	number := func(i *int, a string) (int, error) {
		v, err := value(i, a)
		if err != nil {
			return 0, err
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, r.fatal(adduserInvalidCall, "option %s requires a number", a)
		}
		return n, nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(names) > 0 && strings.HasPrefix(a, "--") {
			return r.fatal(adduserInvalidCall, "No options allowed after names.")
		}
		opt, _, _ := strings.Cut(a, "=")
		var err error
		switch opt {
		case "--system":
			r.system = true
		case "--group":
			r.group = true
		case "--quiet", "-q":
			r.verbose = 0
		case "--verbose", "--debug":
			r.verbose = 2
		case "--no-create-home":
			r.noCreateHome = true
		case "--disabled-password":
			r.disabledPW = true
		case "--disabled-login":
			r.disabled, r.disabledPW = true, true
		case "--force-badname", "--allow-badname", "--allow-bad-names", "--allow-all-names":
			r.badName = true
		case "--home":
			r.home, err = value(&i, a)
		case "--shell":
			r.shell, err = value(&i, a)
		case "--ingroup":
			r.ingroup, err = value(&i, a)
		case "--gecos", "--comment":
			r.comment, err = value(&i, a)
			r.hasComment = true
		case "--uid":
			r.uid, err = number(&i, a)
		case "--gid":
			r.gid, err = number(&i, a)
		case "--firstuid":
			r.firstUID, err = number(&i, a)
		case "--lastuid":
			r.lastUID, err = number(&i, a)
		case "--add-extra-groups", "--add_extra_groups":
		case "--conf", "-c":
			return Refuse(r.prog+" "+a, "another configuration file than /etc/adduser.conf is not supported")
		case "--help", "--version", "-h", "-v":
			return Refuse(r.prog+" "+a, "not a form maintainer scripts use")
		default:
			if strings.HasPrefix(a, "-") {
				return r.fatal(adduserInvalidCall, "Unknown option: %s", strings.TrimLeft(a, "-"))
			}
			names = append(names, a)
		}
		if err != nil {
			return err
		}
	}
	r.conf = adduserConf(c.FS)
	if len(names) == 0 || len(names) > 2 || names[0] == "" {
		return r.fatal(adduserInvalidCall, "Only one or two names allowed.")
	}
	action := "adduser"
	if r.prog == "addgroup" {
		action = "addgroup"
	}
	if r.system {
		action = map[string]string{"adduser": "addsysuser", "addgroup": "addsysgroup"}[action]
	}
	if len(names) == 2 {
		if action == "addsysuser" || r.group {
			return r.fatal(adduserInvalidCall, "Specify only one name in this mode.")
		}
		if action != "adduser" {
			return r.fatal(adduserInvalidCall, "addgroup with two arguments is an unspecified operation.")
		}
		return r.addUserToGroup(names[0], names[1])
	}
	n := 0
	for _, b := range []bool{r.group, r.ingroup != "", r.gid >= 0} {
		if b {
			n++
		}
	}
	if action != "addgroup" && n > 1 {
		return r.fatal(adduserExclusiveOptions, "The --group, --ingroup, and --gid options are mutually exclusive.")
	}
	if r.group && action != "addsysuser" {
		if r.system {
			action = "addsysgroup"
		} else {
			action = "addgroup"
		}
	}
	name := names[0]
	re := r.conf["name_regex"]
	if r.system {
		re = r.conf["sys_name_regex"]
	}
	if !r.badName {
		if m, err := regexp.Compile(re); err == nil && !m.MatchString(name) {
			return r.fatal(adduserInvalidName, "Please enter a username matching the regular expression\nconfigured via the NAME_REGEX configuration variable.  Use the `--allow-bad-names' option to\nrelax this check or reconfigure NAME_REGEX in configuration.")
		}
	}
	if r.home != "" && !strings.HasPrefix(r.home, "/") {
		return r.fatal(adduserInvalidHome, "The home dir must be an absolute path.")
	}
	switch action {
	case "addsysgroup", "addgroup":
		return r.addGroup(name, action == "addsysgroup")
	case "addsysuser":
		return r.addSystemUser(name)
	}
	return r.addUser(name)
}

func (r *adduserRun) confInt(key string) int { return atoiOr(r.conf[key], 0) }

func (r *adduserRun) addGroup(name string, system bool) error {
	if err := r.lock(); err != nil {
		return err
	}
	a, err := loadAccounts(r.c)
	if err != nil {
		return err
	}
	if gid, ok := a.group.id(name); ok {
		if !system {
			return r.fatal(adduserObjectExists, "The group `%s' already exists.", name)
		}
		if r.gid >= 0 && gid != r.gid {
			return r.fatal(adduserWrongProperties, "The group `%s' already exists, but has a different GID. Exiting.", name)
		}
		if gid >= r.confInt("first_system_gid") && gid <= r.confInt("last_system_gid") {
			r.info("The group `%s' already exists as a system group.", name)
			return nil
		}
		return r.fatal(adduserWrongProperties, "The group `%s' already exists and is not a system group. Exiting.", name)
	}
	if system && r.gid >= 0 && a.group.byID(r.gid) >= 0 {
		return r.fatal(adduserWrongProperties, "The group `%s' already exists, but has a different GID. Exiting.", name)
	}
	if r.gid >= 0 && a.group.byID(r.gid) >= 0 {
		return r.fatal(adduserIDInUse, "The GID `%d' is already in use.", r.gid)
	}
	gid := r.gid
	if gid < 0 {
		if preset, ok := r.c.Host.Policy().GIDs[name]; ok {
			gid = preset
		} else {
			first, last := r.confInt("first_gid"), r.confInt("last_gid")
			if system {
				first, last = r.confInt("first_system_gid"), r.confInt("last_system_gid")
			}
			if gid = adduserFirstAvail(first, last, a.group.ids()); gid < 0 {
				r.warn("No GID is available in the range %d-%d.", first, last)
				return r.fatal(adduserNoIDInRange, "The group `%s' was not created.", name)
			}
		}
	}
	r.info("Adding group `%s' (GID %d) ...", name, gid)
	a.newGroup(name, gid)
	return a.save()
}

func (r *adduserRun) addUserToGroup(user, group string) error {
	a, err := loadAccounts(r.c)
	if err != nil {
		return err
	}
	if a.passwd.find(user) < 0 {
		return r.fatal(adduserObjectMissing, "The user `%s' does not exist.", user)
	}
	if a.group.find(group) < 0 {
		return r.fatal(adduserObjectMissing, "The group `%s' does not exist.", group)
	}
	for _, m := range a.members(group) {
		if m == user {
			r.warn("The user `%s' is already a member of `%s'.", user, group)
			return nil
		}
	}
	r.info("Adding user `%s' to group `%s' ...", user, group)
	if err := r.lock(); err != nil {
		return err
	}
	a.addMember(user, group) // usermod -a -G
	return a.save()
}

func (r *adduserRun) addSystemUser(name string) error {
	if err := r.lock(); err != nil {
		return err
	}
	a, err := loadAccounts(r.c)
	if err != nil {
		return err
	}
	firstSys, lastSys := r.confInt("first_system_uid"), r.confInt("last_system_uid")
	if r.firstUID >= 0 {
		firstSys = r.firstUID
	}
	if r.lastUID >= 0 {
		lastSys = r.lastUID
	}
	if uid, ok := a.passwd.id(name); ok {
		system := uid >= r.confInt("first_system_uid") && uid <= r.confInt("last_system_uid")
		if !system {
			return r.fatal(adduserWrongProperties, "The user `%s' already exists, but is not a system user. Exiting.", name)
		}
		if r.uid >= 0 && uid != r.uid {
			return r.fatal(adduserWrongProperties, "The user `%s' already exists with a different UID. Exiting.", name)
		}
		r.info("The system user `%s' already exists. Exiting.", name)
		return nil
	}
	if r.uid > 0 && a.passwd.byID(r.uid) >= 0 {
		return r.fatal(adduserWrongProperties, "The user `%s' already exists with a different UID. Exiting.", name)
	}
	gid := r.gid
	ingroup := r.ingroup
	if ingroup == "" && gid < 0 && !r.group {
		if g, ok := a.group.id("nogroup"); ok {
			gid = g
		} else {
			gid = 65534
		}
	}
	// check_user_group(1)
	if r.group {
		if _, exists := a.group.id(name); !exists && r.uid >= 0 && a.group.byID(r.uid) >= 0 {
			return r.fatal(adduserIDInUse, "The GID %d is already in use.", r.uid)
		}
	} else {
		if ingroup != "" && a.group.find(ingroup) < 0 {
			return r.fatal(adduserObjectMissing, "The group `%s' does not exist.", ingroup)
		}
		if gid >= 0 && a.group.byID(gid) < 0 && !(r.gid < 0 && ingroup == "") {
			return r.fatal(adduserObjectMissing, "No group with GID %d found.", gid)
		}
	}
	uid := r.uid
	preset, hasPreset := r.c.Host.Policy().UIDs[name]
	switch {
	case uid < 0 && r.group:
		if hasPreset {
			uid = preset
		} else if uid = adduserFirstAvail(firstSys, lastSys, a.passwd.ids()); uid < 0 {
			r.warn("No UID/GID pair is available in the range %d-%d (FIRST_SYS_UID - LAST_SYS_UID).", firstSys, lastSys)
			return r.fatal(adduserNoIDInRange, "The user `%s' was not created.", name)
		}
		if g, ok := r.c.Host.Policy().GIDs[name]; ok {
			gid = g
		} else {
			gid = adduserFirstAvail(r.confInt("first_system_gid"), r.confInt("last_system_gid"), a.group.ids())
		}
		ingroup = name
	case uid < 0:
		if hasPreset {
			uid = preset
		} else if uid = adduserFirstAvail(firstSys, lastSys, a.passwd.ids()); uid < 0 {
			r.warn("No UID is available in the range %d-%d (FIRST_SYS_UID - LAST_SYS_UID).", firstSys, lastSys)
			return r.fatal(adduserNoIDInRange, "The user `%s' was not created.", name)
		}
		if gid >= 0 && ingroup == "" {
			if i := a.group.byID(gid); i >= 0 {
				ingroup = a.group.fields(i, 1)[0]
			}
		} else if ingroup != "" {
			gid, _ = a.group.id(ingroup)
		}
	default:
		switch {
		case r.gid >= 0:
			if j := a.group.byID(gid); j >= 0 {
				ingroup = a.group.fields(j, 1)[0]
			}
		case ingroup != "":
			gid, _ = a.group.id(ingroup)
		case r.group:
			gid, ingroup = uid, name
		default:
			if j := a.group.byID(gid); j >= 0 {
				ingroup = a.group.fields(j, 1)[0]
			}
		}
	}
	r.info("Adding system user `%s' (UID %d) ...", name, uid)
	if r.group {
		if g, exists := a.group.id(name); exists {
			gid = g
		} else {
			r.info("Adding new group `%s' (GID %d) ...", name, gid)
			a.newGroup(name, gid)
		}
	}
	if g, ok := a.group.id(ingroup); ok {
		gid = g // useradd -g NAME
	}
	home := r.home
	if home == "" {
		home = "/nonexistent"
	}
	noCreate := r.noCreateHome || regexp.MustCompile(`^/+nonexistent(/|$)`).MatchString(home)
	shell := r.shell
	if shell == "" {
		shell = "/usr/sbin/nologin"
	}
	a.newUser(name, uid, gid, "", home, shell, true, nil)
	if r.hasComment {
		i := a.passwd.find(name)
		f := a.passwd.fields(i, 7)
		f[4] = r.comment // usermod -c
		a.passwd.set(i, f)
	}
	if err := a.save(); err != nil {
		return err
	}
	if noCreate || existsImage(r.c.FS, home) {
		return nil
	}
	return makeHome(r.c, home, "", uid, gid, r.dirMode(true))
}

func (r *adduserRun) dirMode(system bool) fs.FileMode {
	m := r.conf["dir_mode"]
	if system {
		m = r.conf["sys_dir_mode"]
	}
	mode := atoiOctal(m, 0o700)
	if strings.EqualFold(r.conf["setgid_home"], "yes") {
		mode |= 0o2000
	}
	return unixToFileMode(uint64(mode))
}

func (r *adduserRun) addUser(name string) error {
	if !r.disabledPW || !r.hasComment {
		return Refuse(r.prog, "a non-system user without --disabled-password/--disabled-login and --gecos/--comment asks for a password or finger information interactively")
	}
	if err := r.lock(); err != nil {
		return err
	}
	a, err := loadAccounts(r.c)
	if err != nil {
		return err
	}
	if a.passwd.find(name) >= 0 {
		return r.fatal(adduserObjectExists, "The user `%s' already exists.", name)
	}
	makeGroup := strings.EqualFold(r.conf["usergroups"], "yes") && r.ingroup == "" && r.gid < 0
	var extra []string
	primary := -1
	if strings.EqualFold(r.conf["usergroups"], "yes") {
		if r.gid >= 0 {
			primary = r.gid
		}
		if r.ingroup != "" {
			if g, ok := a.group.id(r.ingroup); ok {
				primary = g
			}
		}
		if !makeGroup && primary < 0 {
			g := r.conf["users_group"]
			if g == "" {
				g = "users"
			}
			primary, _ = a.group.id(g)
		} else {
			g := r.conf["users_group"]
			if g == "" {
				g = "users"
			}
			extra = append(extra, g)
		}
	} else {
		switch {
		case r.ingroup != "":
			primary, _ = a.group.id(r.ingroup)
		case r.conf["users_gid"] != "":
			primary = atoiOr(r.conf["users_gid"], 100)
		default:
			primary = 100
		}
	}
	if makeGroup && a.group.find(name) >= 0 {
		return r.fatal(adduserObjectExists, "The group `%s' already exists.", name)
	}
	if r.ingroup != "" && a.group.find(r.ingroup) < 0 {
		return r.fatal(adduserObjectMissing, "The group `%s' does not exist.", r.ingroup)
	}
	first, last := r.confInt("first_uid"), r.confInt("last_uid")
	if r.firstUID >= 0 {
		first = r.firstUID
	}
	if r.lastUID >= 0 {
		last = r.lastUID
	}
	uid := r.uid
	if uid < 0 {
		if p, ok := r.c.Host.Policy().UIDs[name]; ok {
			uid = p
		} else if r.ingroup != "" {
			uid = adduserFirstAvail(first, last, a.passwd.ids())
		} else {
			uid = adduserFirstAvail(first, last, a.passwd.ids(), a.group.ids())
		}
		if uid < 0 {
			return r.fatal(adduserNoIDInRange, "The user `%s' was not created.", name)
		}
	}
	if makeGroup {
		primary = uid
		if p, ok := r.c.Host.Policy().GIDs[name]; ok {
			primary = p
		}
		a.newGroup(name, primary)
	}
	home := r.home
	if home == "" {
		home = strings.TrimSuffix(r.conf["dhome"], "/") + "/" + name
	}
	shell := r.shell
	if shell == "" {
		shell = r.conf["dshell"]
		if r.disabled {
			shell = "/usr/sbin/nologin"
		}
	}
	a.newUser(name, uid, primary, r.comment, home, shell, false, loginDefs(r.c.FS))
	for _, g := range extra {
		if a.group.find(g) >= 0 {
			a.addMember(name, g)
		}
	}
	if err := a.save(); err != nil {
		return err
	}
	if r.noCreateHome || regexp.MustCompile(`^/+nonexistent(/|$)`).MatchString(home) || existsImage(r.c.FS, home) {
		return nil
	}
	return makeHome(r.c, home, r.conf["skel"], uid, primary, r.dirMode(false))
}

func runDeluser(c *Call) error {
	prog := c.Name
	system, quiet := false, false
	var names []string
	for _, a := range c.Args {
		switch a {
		case "--system":
			system = true
		case "--quiet", "-q":
			quiet = true
		case "--group", "--only-if-empty":
		case "--remove-home", "--remove-all-files", "--backup":
			return Refuse(prog+" "+a, "removing files of a user is not supported")
		default:
			if strings.HasPrefix(a, "-") {
				return Refuse(prog+" "+a, "not a form maintainer scripts use")
			}
			names = append(names, a)
		}
	}
	a, err := loadAccounts(c)
	if err != nil {
		return err
	}
	switch {
	case len(names) == 2:
		user, group := names[0], names[1]
		if !a.removeMember(user, group) {
			fmt.Fprintf(c.Stderr, "fatal: The user `%s' is not a member of group `%s'.\n", user, group)
			return ExitStatus(adduserWrongProperties)
		}
		return a.save()
	case len(names) != 1:
		fmt.Fprintln(c.Stderr, "fatal: Only one or two names allowed.")
		return ExitStatus(adduserInvalidCall)
	}
	name := names[0]
	if prog == "delgroup" || c.hasArg("--group") {
		if _, ok := a.group.id(name); !ok {
			if system {
				if !quiet {
					fmt.Fprintf(c.Stderr, "info: The group `%s' does not exist.\n", name)
				}
				return nil
			}
			fmt.Fprintf(c.Stderr, "fatal: The group `%s' does not exist.\n", name)
			return ExitStatus(adduserObjectMissing)
		}
		return deleteGroup(c, prog, name, false)
	}
	if _, ok := a.passwd.id(name); !ok {
		if system {
			return nil
		}
		fmt.Fprintf(c.Stderr, "fatal: The user `%s' does not exist.\n", name)
		return ExitStatus(adduserObjectMissing)
	}
	return deleteUser(c, prog, name, true)
}

// update-passwd (base-passwd): on an upgrade, base-passwd's postinst asks
// `update-passwd --dry-run` whether /etc/passwd and /etc/group differ from
// the master files in what update-passwd manages (entries of ids 0-99 and
// 65534: missing, extra, or with another id, group, GECOS, home or shell,
// with its exceptions for special accounts). When nothing differs this is
// exact (status 0, nothing written); applying differences goes through
// debconf questions per change and is refused.

const (
	upwKeepHome = 1 << iota
	upwKeepShell
	upwKeepGecos
	upwNoAutoRemove
	upwNoAutoAdd
	upwKeepAll = upwKeepHome | upwKeepShell | upwKeepGecos
)

// upwSpecialUsers and upwSpecialGroups are update-passwd's exceptions.
var (
	upwSpecialUsers = map[int]int{0: upwKeepAll | upwNoAutoRemove, 11: upwKeepHome | upwNoAutoAdd | upwNoAutoRemove,
		30: upwKeepHome | upwNoAutoAdd | upwNoAutoRemove, 31: upwNoAutoRemove, 33: upwKeepHome,
		35: upwKeepAll | upwNoAutoAdd | upwNoAutoRemove, 36: upwKeepAll | upwNoAutoAdd | upwNoAutoRemove,
		37: upwNoAutoRemove, 41: upwKeepHome | upwNoAutoRemove, 70: upwNoAutoRemove,
		71: upwKeepAll | upwNoAutoAdd | upwNoAutoRemove, 72: upwKeepAll | upwNoAutoAdd | upwNoAutoRemove,
		73: upwKeepAll | upwNoAutoAdd | upwNoAutoRemove, 74: upwKeepAll | upwNoAutoAdd | upwNoAutoRemove,
		75: upwKeepAll | upwNoAutoAdd | upwNoAutoRemove, 76: upwKeepAll | upwNoAutoAdd | upwNoAutoRemove}
	upwSpecialGroups = map[int]int{0: upwKeepAll | upwNoAutoRemove, 11: upwNoAutoAdd | upwNoAutoRemove,
		31: upwNoAutoAdd | upwNoAutoRemove, 32: upwNoAutoRemove, 35: upwNoAutoAdd | upwNoAutoRemove,
		36: upwNoAutoAdd | upwNoAutoRemove, 41: upwNoAutoRemove, 70: upwNoAutoRemove}
)

// upwDiffs lists update-passwd's changes between a system database and its
// master (fields: 7 for passwd, 4 for group).
func upwDiffs(sys, master []string, group bool) []string {
	special := upwSpecialUsers
	kind := "user"
	if group {
		special, kind = upwSpecialGroups, "group"
	}
	parse := func(lines []string) (map[string][]string, []string) {
		m := map[string][]string{}
		var order []string
		for _, l := range lines {
			f := strings.Split(l, ":")
			if len(f) < 3 || strings.HasPrefix(f[0], "+") || strings.HasPrefix(f[0], "-") {
				continue
			}
			m[f[0]] = f
			order = append(order, f[0])
		}
		return m, order
	}
	sm, sorder := parse(sys)
	mm, morder := parse(master)
	var out []string
	for _, n := range morder {
		if _, ok := sm[n]; !ok && special[atoiOr(mm[n][2], -1)]&upwNoAutoAdd == 0 {
			out = append(out, fmt.Sprintf("add %s %s", kind, n))
		}
	}
	for _, n := range sorder {
		f := sm[n]
		id := atoiOr(f[2], -1)
		if id >= 0 && id <= 99 && special[id]&upwNoAutoRemove == 0 {
			if _, ok := mm[n]; !ok {
				out = append(out, fmt.Sprintf("remove %s %s", kind, n))
			}
		}
		if (id < 0 || id > 99) && id != 65534 {
			continue
		}
		mf, ok := mm[n]
		if !ok {
			continue
		}
		if f[2] != mf[2] {
			out = append(out, fmt.Sprintf("change %s %s id", kind, n))
		}
		if group || len(f) < 7 || len(mf) < 7 {
			continue
		}
		if f[3] != mf[3] {
			out = append(out, fmt.Sprintf("change user %s gid", n))
		}
		if special[id]&upwKeepGecos == 0 && f[4] != mf[4] {
			out = append(out, fmt.Sprintf("change user %s gecos", n))
		}
		if special[id]&upwKeepHome == 0 && f[5] != mf[5] {
			out = append(out, fmt.Sprintf("change user %s home", n))
		}
		if special[id]&upwKeepShell == 0 && f[6] != mf[6] {
			out = append(out, fmt.Sprintf("change user %s shell", n))
		}
	}
	return out
}

func runUpdatePasswd(c *Call) error {
	verbose := false
	for _, a := range c.Args {
		switch a {
		case "-n", "--dry-run":
		case "-v", "--verbose":
			verbose = true
		default:
			return Refuse("update-passwd "+a, "not a form maintainer scripts use")
		}
	}
	read := func(p string) ([]string, error) {
		b, err := readImageFile(c.FS, p)
		if err != nil {
			return nil, err
		}
		return splitLines(b), nil
	}
	var diffs []string
	for _, x := range []struct {
		sys, master string
		group       bool
	}{{"/etc/passwd", "/usr/share/base-passwd/passwd.master", false}, {"/etc/group", "/usr/share/base-passwd/group.master", true}} {
		sys, err := read(x.sys)
		if err != nil {
			return err
		}
		master, err := read(x.master)
		if err != nil {
			return err
		}
		diffs = append(diffs, upwDiffs(sys, master, x.group)...)
	}
	if len(diffs) == 0 {
		if verbose {
			fmt.Fprintln(c.Stdout, "No changes needed")
		}
		return nil
	}
	return Refuse("update-passwd", "the image's accounts differ from base-passwd's masters (%s): each change is a debconf question", strings.Join(diffs, ", "))
}

// pwck/grpck -r (read-only checks) and pwconv/grpconv (shadowconfig on, in
// passwd's postinst on a fresh install). pwconv moves each password to
// /etc/shadow (entries created with login.defs' ageing, dated by
// SOURCE_DATE_EPOCH; entries of vanished users dropped) and leaves "x";
// grpconv does the same for /etc/gshadow. New shadow files are 0440
// root:shadow as the tools create them; the backups follow what they leave
// (checked against shadow's tools on a --root tree).

func accountsCheck(c *Call, prog, db, shadowDB string, fields int) error {
	b, err := readImageFile(c.FS, db)
	if err != nil {
		fmt.Fprintf(c.Stderr, "%s: cannot open %s\n", prog, db)
		return ExitStatus(3)
	}
	names := map[string]bool{}
	for i, l := range splitLines(b) {
		f := strings.Split(l, ":")
		if len(f) != fields || f[0] == "" || names[f[0]] {
			return Refuse(prog, "%s line %d (%q) is one its checks report: the report and its status are not implemented", db, i+1, l)
		}
		names[f[0]] = true
	}
	sb, err := readImageFileOpt(c.FS, shadowDB)
	if err != nil || sb == nil {
		return err
	}
	// The read-only reports of entries missing on either side (answered
	// "No"), as the tools print them; any makes the status 2.
	kind, file := "user", "password"
	if prog == "grpck" {
		kind, file = "group", "group"
	}
	shadowNames := map[string]bool{}
	for _, l := range splitLines(sb) {
		n, _, _ := strings.Cut(l, ":")
		shadowNames[n] = true
	}
	bad := false
	for _, l := range splitLines(b) {
		f := strings.Split(l, ":")
		if prog == "grpck" && shadowNames[f[0]] && f[1] != "x" {
			fmt.Fprintf(c.Stdout, "group %s has an entry in %s, but its password field in %s is not set to 'x'\n", f[0], shadowDB, db)
			bad = true
		}
		if !shadowNames[f[0]] {
			fmt.Fprintf(c.Stdout, "no matching %s file entry in %s\nadd %s '%s' in %s? No\n", file, shadowDB, kind, f[0], shadowDB)
			bad = true
		}
	}
	for _, l := range splitLines(sb) {
		n, _, _ := strings.Cut(l, ":")
		if !names[n] {
			fmt.Fprintf(c.Stdout, "no matching %s file entry in %s\ndelete line '%s'? No\n", file, db, l)
			bad = true
		}
	}
	if bad {
		fmt.Fprintf(c.Stdout, "%s: no changes\n", prog)
		return ExitStatus(2)
	}
	return nil
}

func runPwck(c *Call) error  { return runCheck(c, "pwck", "/etc/passwd", "/etc/shadow", 7) }
func runGrpck(c *Call) error { return runCheck(c, "grpck", "/etc/group", "/etc/gshadow", 4) }

func runCheck(c *Call, prog, db, sdb string, fields int) error {
	readOnly := false
	for _, a := range c.Args {
		switch a {
		case "-r", "--read-only":
			readOnly = true
		case "-q", "--quiet", "-s", "--sort":
			if a == "-s" || a == "--sort" {
				return Refuse(prog+" -s", "sorting the databases is not a form maintainer scripts use")
			}
		default:
			return Refuse(prog+" "+a, "not a form maintainer scripts use")
		}
	}
	if !readOnly {
		return Refuse(prog, "without -r it asks before fixing entries")
	}
	return accountsCheck(c, prog, db, sdb, fields)
}

// convShadow is pwconv (group false) and grpconv (group true).
func convShadow(c *Call, group bool) error {
	db, sdb, prog := "/etc/passwd", "/etc/shadow", "pwconv"
	if group {
		db, sdb, prog = "/etc/group", "/etc/gshadow", "grpconv"
	}
	for _, a := range c.Args {
		return Refuse(prog+" "+a, "not a form maintainer scripts use")
	}
	b, err := readImageFile(c.FS, db)
	if err != nil {
		fmt.Fprintf(c.Stderr, "%s: cannot open %s\n", prog, db)
		return ExitStatus(2)
	}
	sb, err := readImageFileOpt(c.FS, sdb)
	if err != nil {
		return err
	}
	shadowExisted := sb != nil
	lines := splitLines(b)
	names := map[string]bool{}
	for _, l := range lines {
		n, _, _ := strings.Cut(l, ":")
		names[n] = true
	}
	var shadow []string
	index := map[string]int{}
	for _, l := range splitLines(sb) {
		n, _, _ := strings.Cut(l, ":")
		if !names[n] {
			continue // an entry whose user or group is gone
		}
		index[n] = len(shadow)
		shadow = append(shadow, l)
	}
	defs := loginDefs(c.FS)
	days := strconv.FormatInt(epochOf(c).Unix()/86400, 10)
	for i, l := range lines {
		f := strings.Split(l, ":")
		if len(f) < 3 {
			continue
		}
		j, ok := index[f[0]]
		if ok && f[1] == "x" {
			continue
		}
		var s []string
		if ok {
			s = strings.Split(shadow[j], ":")
		} else if group {
			members := ""
			if len(f) > 3 {
				members = f[3]
			}
			s = []string{f[0], "", "", members}
		} else {
			s = []string{f[0], "", "", defs["PASS_MIN_DAYS"], defs["PASS_MAX_DAYS"], defs["PASS_WARN_AGE"], "", "", ""}
		}
		s[1] = f[1]
		if !group {
			for len(s) < 9 {
				s = append(s, "")
			}
			s[2] = days
		}
		if ok {
			shadow[j] = strings.Join(s, ":")
		} else {
			index[f[0]] = len(shadow)
			shadow = append(shadow, strings.Join(s, ":"))
		}
		f[1] = "x"
		lines[i] = strings.Join(f, ":")
	}
	// Backups: the database's (pwconv leaves passwd- 0600, grpconv group-
	// with group's mode) and the shadow file's with its mode and owner.
	info, err := c.FS.Stat(db)
	if err != nil {
		return err
	}
	bmode := info.Mode.Perm()
	if !group {
		bmode = 0o600
		if bi, err := c.FS.Stat(db + "-"); err == nil {
			bmode = bi.Mode.Perm()
		}
	}
	if err := writeImageFile(c.FS, db+"-", b, bmode); err != nil {
		return err
	}
	if err := c.FS.Chmod(db+"-", bmode); err != nil {
		return err
	}
	if err := writeImageFile(c.FS, db, joinLines(lines), info.Mode.Perm()); err != nil {
		return err
	}
	shadowGID := 0
	if g, ok := lookupAccount(c.FS, "/etc/group", "shadow"); ok {
		shadowGID = g
	}
	if shadowExisted {
		si, err := c.FS.Stat(sdb)
		if err != nil {
			return err
		}
		if err := writeImageFile(c.FS, sdb+"-", sb, si.Mode.Perm()); err != nil {
			return err
		}
		if err := c.FS.Chmod(sdb+"-", si.Mode.Perm()); err != nil {
			return err
		}
		if err := c.FS.Chown(sdb+"-", si.Uid, si.Gid); err != nil {
			return err
		}
		if err := writeImageFile(c.FS, sdb, joinLines(shadow), si.Mode.Perm()); err != nil {
			return err
		}
	} else {
		if err := writeImageFile(c.FS, sdb, joinLines(shadow), 0o440); err != nil {
			return err
		}
		if err := c.FS.Chmod(sdb, 0o440); err != nil {
			return err
		}
		if err := c.FS.Chown(sdb, 0, shadowGID); err != nil {
			return err
		}
	}
	if !existsImage(c.FS, "/etc/.pwd.lock") {
		f, err := c.FS.OpenFile("/etc/.pwd.lock", os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			return err
		}
		f.Close()
	}
	effect(c, "%s: passwords moved to %s", prog, sdb)
	return nil
}
