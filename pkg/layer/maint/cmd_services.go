package maint

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
)

// Service helpers. Nothing runs in an image being built, but the links
// deb-systemd-helper and update-rc.d leave (and deb-systemd-helper's state
// under /var/lib/systemd) are part of what apt-get leaves in an image, so
// they are made exactly; starting, stopping and reloading services are
// no-ops. deb-systemd-helper follows init-system-helpers 1.6x; update-rc.d
// its behaviour without insserv (S01/K01 links from the LSB header).

const (
	serviceNoOpReason = "starts, stops or reloads a service: no service runs while an image is built (the links and state that enable it are made by deb-systemd-helper/update-rc.d)"
)

func servicesCommands() []Spec {
	noop := func(name string, paths ...string) Spec {
		return Spec{Name: name, Run: func(*Call) error { return nil }, Kind: NoOp, Reason: serviceNoOpReason, Paths: paths}
	}
	return []Spec{
		{Name: "deb-systemd-helper", Run: runDebSystemdHelper, Kind: Exact, Paths: []string{"/usr/bin/deb-systemd-helper"}},
		{Name: "update-rc.d", Run: runUpdateRcd, Kind: Exact, Paths: []string{"/usr/sbin/update-rc.d"}},
		{Name: "systemctl", Run: runSystemctl, Kind: Exact, Paths: []string{"/usr/bin/systemctl", "/bin/systemctl"}},
		noop("deb-systemd-invoke", "/usr/bin/deb-systemd-invoke"),
		noop("invoke-rc.d", "/usr/sbin/invoke-rc.d"),
		noop("service", "/usr/sbin/service"),
		noop("start-stop-daemon", "/usr/sbin/start-stop-daemon", "/sbin/start-stop-daemon"),
	}
}

type dshRun struct {
	c                   *Call
	instance            string // system or user
	enabledDir, maskDir string
	hasSystemctl, purge bool
	quiet               bool
}

// findUnit is deb-systemd-helper's find_unit: /etc, /lib, /usr/lib, the
// first where the unit is a file (following symlinks, so /lib is found
// through the merged-/usr link first).
func (d *dshRun) findUnit(name string) string {
	for _, dir := range []string{"/etc/systemd/", "/lib/systemd/", "/usr/lib/systemd/"} {
		p := dir + d.instance + "/" + name
		if i, err := d.c.FS.Stat(p); err == nil && i.Mode.IsRegular() {
			return p
		}
	}
	return name
}

type dshLink struct{ dest, src string }

var (
	dshWanted   = regexp.MustCompile(`(?i)^\s*(WantedBy|RequiredBy)=(.+)$`)
	dshAlso     = regexp.MustCompile(`(?i)^\s*Also=(.+)$`)
	dshAlias    = regexp.MustCompile(`(?i)^\s*Alias=(.+)$`)
	dshDefInst  = regexp.MustCompile(`(?i)^\s*DefaultInstance=\s*(["']?)(.+?)["']?\s*$`)
	dshQuoted   = regexp.MustCompile(`^(["'])(.*)(["'])$`)
	dshTemplate = regexp.MustCompile(`^(.*@)(\.\w+)$`)
)

func unquote(v string) string {
	if m := dshQuoted.FindStringSubmatch(v); m != nil && m[1] == m[3] {
		return m[2]
	}
	return v
}

// linkClosure is get_link_closure: the links a unit's [Install] section
// (any line, as the tool reads them) asks for, following Also=.
func (d *dshRun) linkClosure(servicePath string, visited []string) ([]dshLink, error) {
	b, err := readImageFile(d.c.FS, servicePath)
	if err != nil {
		return nil, fmt.Errorf("unable to read %s", servicePath)
	}
	unit := path.Base(servicePath)
	wanted := unit
	var links []dshLink
	var wantsDirs []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if m := dshWanted.FindStringSubmatch(line); m != nil {
			for _, v := range strings.Fields(m[2]) {
				dir := "/etc/systemd/" + d.instance + "/" + unquote(v)
				switch m[1] { // the tool compares the key case-sensitively here
				case "WantedBy":
					dir += ".wants"
				case "RequiredBy":
					dir += ".requires"
				}
				wantsDirs = append(wantsDirs, dir+"/")
			}
		}
		if m := dshAlso.FindStringSubmatch(line); m != nil {
			for _, v := range strings.Fields(m[1]) {
				v = unquote(v)
				seen := false
				for _, x := range visited {
					seen = seen || x == v
				}
				if v != unit && !seen {
					visited = append(visited, v)
					more, err := d.linkClosure(d.findUnit(v), visited)
					if err != nil {
						return nil, err
					}
					links = append(links, more...)
				}
			}
		}
		if m := dshAlias.FindStringSubmatch(line); m != nil {
			for _, v := range strings.Fields(m[1]) {
				if unquote(v) != unit {
					// the tool links the whole Alias= value (its $1)
					links = append(links, dshLink{dest: servicePath, src: "/etc/systemd/" + d.instance + "/" + m[1]})
				}
			}
		}
		if m := dshDefInst.FindStringSubmatch(line); m != nil {
			wanted = dshTemplate.ReplaceAllString(unit, "${1}"+m[2]+"${2}")
		}
	}
	for _, w := range wantsDirs {
		links = append(links, dshLink{dest: servicePath, src: w + wanted})
	}
	return links, nil
}

func (d *dshRun) statePath(name string) string {
	return d.enabledDir + "/" + path.Base(name) + ".dsh-also"
}

func (d *dshRun) isLink(p string) bool {
	i, err := d.c.FS.Lstat(p)
	return err == nil && i.Mode&fs.ModeSymlink != 0
}

func (d *dshRun) stateEntries(file string) []string {
	b, _ := readImageFileOpt(d.c.FS, file)
	return splitLines(b)
}

func (d *dshRun) recordInState(file, link string) error {
	lines := d.stateEntries(file)
	for _, l := range lines {
		if l == link {
			return writeImageFile(d.c.FS, file, joinLines(lines), 0o644)
		}
	}
	return writeImageFile(d.c.FS, file, joinLines(append(lines, link)), 0o644)
}

func touchImage(fsys FS, p string) error {
	if existsImage(fsys, p) {
		return nil
	}
	return writeImageFile(fsys, p, nil, 0o644)
}

func (d *dshRun) makeLinks(name, servicePath string, create bool) error {
	links, err := d.linkClosure(servicePath, nil)
	if err != nil {
		return err
	}
	state := d.statePath(name)
	for _, l := range links {
		if err := d.recordInState(state, l.src); err != nil {
			return err
		}
		statefile := d.enabledDir + "/" + strings.TrimPrefix(l.src, "/etc/systemd/"+d.instance+"/")
		if existsImage(d.c.FS, statefile) {
			continue
		}
		if create && !d.isLink(l.src) {
			if err := mkdirAllImage(d.c.FS, path.Dir(l.src), 0o755); err != nil {
				return err
			}
			if err := d.c.FS.Symlink(l.dest, l.src); err != nil {
				return fmt.Errorf("unable to link %s to %s: %w", l.src, l.dest, err)
			}
			effect(d.c, "%s -> %s", l.src, l.dest)
		}
		if err := touchImage(d.c.FS, statefile); err != nil {
			return err
		}
	}
	return nil
}

func (d *dshRun) removeLinks(servicePath string) error {
	state := d.statePath(servicePath)
	entries := d.stateEntries(state)
	if d.purge && existsImage(d.c.FS, state) {
		if err := d.c.FS.Remove(state); err != nil {
			return err
		}
	}
	for _, l := range entries {
		if d.purge || d.isLink(l) {
			_ = removeIfExists(d.c.FS, d.enabledDir+"/"+strings.TrimPrefix(l, "/etc/systemd/"+d.instance+"/"))
		}
		if !d.isLink(l) {
			continue
		}
		if err := d.c.FS.Remove(l); err != nil {
			fmt.Fprintf(d.c.Stderr, "deb-systemd-helper: unable to remove '%s': %v\n", l, err)
		} else {
			effect(d.c, "removed %s", l)
		}
	}
	b, err := readImageFileOpt(d.c.FS, servicePath)
	if err != nil || b == nil {
		return nil //nolint:nilerr // the tool stops when the unit cannot be read
	}
	for _, line := range splitLines(b) {
		if m := dshAlso.FindStringSubmatch(line); m != nil {
			if err := d.removeLinks(d.findUnit(m[1])); err != nil {
				return err
			}
		}
	}
	return nil
}

// rmdirIfEmpty removes empty directories depth first, as the tool does.
func rmdirIfEmpty(fsys FS, dir string) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.IsDir() {
			rmdirIfEmpty(fsys, dir+"/"+e.Name)
		}
	}
	_ = fsys.Remove(dir)
}

func runDebSystemdHelper(c *Call) error {
	d := &dshRun{c: c, instance: "system", enabledDir: "/var/lib/systemd/deb-systemd-helper-enabled", maskDir: "/var/lib/systemd/deb-systemd-helper-masked"}
	var args []string
	for _, a := range c.Args {
		switch a {
		case "--quiet":
			d.quiet = true
		case "--user":
			d.instance, d.enabledDir, d.maskDir = "user", "/var/lib/systemd/deb-systemd-user-helper-enabled", "/var/lib/systemd/deb-systemd-user-helper-masked"
		case "--system":
			d.instance, d.enabledDir, d.maskDir = "system", "/var/lib/systemd/deb-systemd-helper-enabled", "/var/lib/systemd/deb-systemd-helper-masked"
		default:
			if strings.HasPrefix(a, "-") {
				fmt.Fprintf(c.Stderr, "Unknown option: %s\n", strings.TrimLeft(a, "-"))
				return ExitStatus(1)
			}
			args = append(args, a)
		}
	}
	if len(args) == 0 {
		fmt.Fprint(c.Stdout, "deb-systemd-helper is a program which should be called by dpkg maintscripts only.\nPlease do not run it interactively, ever. Also see the manpage deb-systemd-helper(1).\n")
		return nil
	}
	if c.Env("DPKG_MAINTSCRIPT_PACKAGE") == "" {
		fmt.Fprintln(c.Stderr, "deb-systemd-helper was not called from dpkg. Exiting.")
		return ExitStatus(1)
	}
	for _, p := range []string{"/bin/systemctl", "/usr/bin/systemctl"} {
		if i, err := c.FS.Stat(p); err == nil && i.Mode&0o111 != 0 {
			d.hasSystemctl = true
		}
	}
	action := args[0]
	if action == "purge" {
		d.purge, action = true, "disable"
	}
	rc := 0
	switch action {
	case "is-enabled", "was-enabled", "debian-installed":
		rc = 1
	}
	for _, name := range args[1:] {
		sp := d.findUnit(name)
		switch action {
		case "is-enabled":
			links, err := d.linkClosure(sp, nil)
			if err != nil {
				fmt.Fprintf(c.Stderr, "deb-systemd-helper: error: %v\n", err)
				return ExitStatus(1)
			}
			enabled := true
			for _, l := range links {
				enabled = enabled && d.isLink(l.src)
			}
			d.say(enabled)
			if enabled {
				rc = 0
			}
		case "was-enabled":
			enabled := true
			for _, l := range d.stateEntries(d.statePath(name)) {
				enabled = enabled && d.isLink(l)
			}
			d.say(enabled)
			if enabled {
				rc = 0
			}
		case "update-state":
			links, err := d.linkClosure(sp, nil)
			if err != nil {
				fmt.Fprintf(c.Stderr, "deb-systemd-helper: error: %v\n", err)
				return ExitStatus(1)
			}
			var lines []string
			for _, l := range links {
				lines = append(lines, l.src)
			}
			if err := writeImageFile(c.FS, d.statePath(name), joinLines(lines), 0o644); err != nil {
				return err
			}
		case "debian-installed":
			if i, err := c.FS.Stat(d.statePath(name)); err == nil && i.Mode.IsRegular() {
				rc = 0
			}
		case "reenable":
			if err := d.removeLinks(sp); err != nil {
				return err
			}
			if err := d.makeLinks(name, sp, true); err != nil {
				return d.fail(err)
			}
		case "disable":
			if err := d.removeLinks(sp); err != nil {
				return err
			}
			rmdirIfEmpty(c.FS, "/var/lib/systemd/deb-systemd-helper-enabled")
			rmdirIfEmpty(c.FS, "/var/lib/systemd/deb-systemd-user-helper-enabled")
			for _, base := range []string{"/etc/systemd/system", "/etc/systemd/user"} {
				if ents, err := c.FS.ReadDir(base); err == nil {
					for _, e := range ents {
						if e.IsDir() {
							rmdirIfEmpty(c.FS, base+"/"+e.Name)
						}
					}
				}
			}
		case "enable":
			create := true
			if d.hasSystemctl {
				if i, err := c.FS.Stat(d.statePath(name)); err == nil && i.Mode.IsRegular() {
					links, err := d.linkClosure(sp, nil)
					if err != nil {
						return d.fail(err)
					}
					none := true
					for _, l := range links {
						none = none && !d.isLink(l.src)
					}
					create = !none
				} else {
					return Refuse("deb-systemd-helper enable", "systemctl is installed in the image: the first enable runs `systemctl preset`, which follows the image's preset files")
				}
			}
			if err := d.makeLinks(name, sp, create); err != nil {
				return d.fail(err)
			}
		case "mask":
			if err := d.mask(sp); err != nil {
				return err
			}
		case "unmask":
			if err := d.unmask(sp); err != nil {
				return err
			}
			rmdirIfEmpty(c.FS, "/var/lib/systemd/deb-systemd-helper-masked")
			rmdirIfEmpty(c.FS, "/var/lib/systemd/deb-systemd-user-helper-masked")
		}
	}
	if rc != 0 {
		return ExitStatus(uint8(rc))
	}
	return nil
}

func (d *dshRun) say(enabled bool) {
	if d.quiet {
		return
	}
	if enabled {
		fmt.Fprintln(d.c.Stderr, "enabled")
	} else {
		fmt.Fprintln(d.c.Stderr, "disabled")
	}
}

func (d *dshRun) fail(err error) error {
	fmt.Fprintf(d.c.Stderr, "deb-systemd-helper: error: %v\n", err)
	return ExitStatus(1)
}

func (d *dshRun) mask(servicePath string) error {
	link := "/etc/systemd/" + d.instance + "/" + path.Base(servicePath)
	if existsImage(d.c.FS, link) {
		return nil
	}
	if err := mkdirAllImage(d.c.FS, path.Dir(link), 0o755); err != nil {
		return err
	}
	if err := d.c.FS.Symlink("/dev/null", link); err != nil {
		return d.fail(fmt.Errorf("unable to link %s to /dev/null: %w", link, err))
	}
	effect(d.c, "masked %s", link)
	return touchImage(d.c.FS, d.maskDir+"/"+path.Base(servicePath))
}

func (d *dshRun) unmask(servicePath string) error {
	link := "/etc/systemd/" + d.instance + "/" + path.Base(servicePath)
	if !existsImage(d.c.FS, link) {
		return nil
	}
	if t, err := d.c.FS.Readlink(link); err != nil || t != "/dev/null" {
		return nil
	}
	state := d.maskDir + "/" + path.Base(servicePath)
	if !existsImage(d.c.FS, state) {
		return nil
	}
	if err := d.c.FS.Remove(link); err != nil {
		return err
	}
	effect(d.c, "unmasked %s", link)
	return removeIfExists(d.c.FS, state)
}

// ---- update-rc.d ----

var rcLinkRe = regexp.MustCompile(`^[SK][0-9][0-9]`)

func runUpdateRcd(c *Call) error {
	args := c.Args
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-f":
		case "-h", "--help":
			return rcdUsage(c, "")
		default:
			return rcdUsage(c, "unknown option")
		}
		args = args[1:]
	}
	if len(args) < 2 {
		return rcdUsage(c, "not enough arguments")
	}
	for _, p := range []string{"/usr/lib/insserv/insserv", "/sbin/insserv"} {
		if existsImage(c.FS, p) && existsImage(c.FS, "/etc/insserv.conf") {
			return Refuse("update-rc.d", "insserv is installed in the image: the sequence numbers come from insserv, a program without Go implementation")
		}
	}
	if existsImage(c.FS, "/sbin/openrc") {
		return Refuse("update-rc.d", "openrc is installed in the image")
	}
	name, action := args[0], args[1]
	existing := func() []string {
		var out []string
		for _, lvl := range []string{"0", "1", "2", "3", "4", "5", "6", "S"} {
			dir := "/etc/rc" + lvl + ".d"
			ents, err := c.FS.ReadDir(dir)
			if err != nil {
				continue
			}
			for _, e := range ents {
				if len(e.Name) == 3+len(name) && rcLinkRe.MatchString(e.Name) && e.Name[3:] == name {
					out = append(out, dir+"/"+e.Name)
				}
			}
		}
		sort.Strings(out)
		return out
	}
	switch action {
	case "remove":
		for _, l := range existing() {
			if err := c.FS.Remove(l); err != nil {
				return err
			}
			effect(c, "removed %s", l)
		}
		return nil
	case "defaults", "defaults-disabled", "start", "stop":
		if len(existing()) > 0 {
			return nil
		}
		script := "/etc/init.d/" + name
		b, err := readImageFile(c.FS, script)
		if err != nil {
			fmt.Fprintf(c.Stderr, "update-rc.d: error: unable to read %s\n", script)
			return ExitStatus(1)
		}
		start, stop := lsbDefaults(b)
		kind := "S"
		if action == "defaults-disabled" {
			kind = "K"
		}
		mk := func(lvl, k string) error {
			dir := "/etc/rc" + lvl + ".d"
			if err := mkdirAllImage(c.FS, dir, 0o755); err != nil {
				return err
			}
			l := dir + "/" + k + "01" + name
			if existsImage(c.FS, l) {
				return nil
			}
			if err := c.FS.Symlink("../init.d/"+name, l); err != nil {
				return err
			}
			effect(c, "%s -> ../init.d/%s", l, name)
			return nil
		}
		for _, lvl := range start {
			if err := mk(lvl, kind); err != nil {
				return err
			}
		}
		for _, lvl := range stop {
			if err := mk(lvl, "K"); err != nil {
				return err
			}
		}
		return nil
	case "enable", "disable":
		return Refuse("update-rc.d "+action, "toggling runlevel links is not a form the packages' scripts use")
	}
	return rcdUsage(c, "")
}

func rcdUsage(c *Call, msg string) error {
	if msg != "" {
		fmt.Fprintf(c.Stderr, "update-rc.d: error: %s\n", msg)
	}
	fmt.Fprint(c.Stderr, "usage: update-rc.d [-f] <basename> remove\n       update-rc.d [-f] <basename> defaults\n       update-rc.d [-f] <basename> defaults-disabled\n       update-rc.d <basename> disable|enable [S|2|3|4|5]\n\t\t-f: force\n\nThe disable|enable API is not stable and might change in the future.\n")
	return ExitStatus(1)
}

// lsbDefaults reads Default-Start/Default-Stop between the LSB markers.
func lsbDefaults(b []byte) (start, stop []string) {
	in := false
	for _, l := range splitLines(b) {
		switch {
		case regexp.MustCompile(`^### BEGIN INIT INFO\s*$`).MatchString(l):
			in = true
		case regexp.MustCompile(`^### END INIT INFO\s*$`).MatchString(l):
			return start, stop
		case in && strings.HasPrefix(l, "# Default-Start:"):
			start = strings.Fields(strings.TrimPrefix(l, "# Default-Start:"))
		case in && strings.HasPrefix(l, "# Default-Stop:"):
			stop = strings.Fields(strings.TrimPrefix(l, "# Default-Stop:"))
		}
	}
	return start, stop
}

// ---- systemctl ----

// runSystemctl: runtime actions are no-ops (no systemd runs while an image
// is built); enabling units through systemctl itself (its install logic and
// presets) is refused: Debian's scripts enable through deb-systemd-helper.
func runSystemctl(c *Call) error {
	var args []string
	for _, a := range c.Args {
		if strings.HasPrefix(a, "-") {
			continue
		}
		args = append(args, a)
	}
	if len(args) == 0 {
		return Refuse("systemctl", "listing units needs a running systemd")
	}
	switch args[0] {
	case "daemon-reload", "daemon-reexec", "start", "stop", "restart", "try-restart", "reload", "reload-or-restart",
		"try-reload-or-restart", "condrestart", "reset-failed", "kill", "isolate":
		effect(c, "no-op: %s (%s)", strings.Join(args, " "), serviceNoOpReason)
		return nil
	case "is-active", "is-failed":
		fmt.Fprintln(c.Stdout, "inactive")
		return ExitStatus(3)
	case "is-system-running":
		fmt.Fprintln(c.Stdout, "offline")
		return ExitStatus(1)
	}
	return Refuse("systemctl "+args[0], "needs a running systemd")
}
