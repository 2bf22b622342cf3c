package replay

import (
	"archive/tar"
	"bufio"
	"bytes"
	"path"
	"strings"
)

// Nothing starts services in a container, but apt-get in a Dockerfile still
// leaves the links that update-rc.d and deb-systemd-helper make; they are
// reproduced so the image matches, and they are inert.

// initLinkFiles writes, for every `update-rc.d NAME defaults` and
// `deb-systemd-helper [--user] enable UNIT` the packages' postinst scripts
// run, the links those tools create and deb-systemd-helper's state.
func (p *Plan) initLinkFiles(out files) {
	for _, ps := range p.pkgs {
		src, ok := ps.Scripts["postinst"]
		if !ok {
			continue
		}
		s := ParseScript(string(src))
		for _, c := range s.Commands {
			if c.Func != "" && !s.Called(c.Func) {
				continue
			}
			switch c.Base() {
			case "update-rc.d":
				if len(c.Args) >= 2 && c.Args[1] == "defaults" && !strings.ContainsAny(c.Args[0], "$`") {
					p.rcLinks(out, c.Args[0])
				}
			case "deb-systemd-helper":
				user, args := false, []string{}
				for _, a := range c.Args {
					switch a {
					case "--user":
						user = true
					case "--quiet":
					default:
						args = append(args, a)
					}
				}
				if len(args) == 2 && args[0] == "enable" && !strings.ContainsAny(args[1], "$`") {
					p.systemdEnable(out, args[1], user)
				}
			}
		}
	}
}

// rcLinks is update-rc.d's behaviour without insserv: S01/K01 links in the
// runlevels of the init script's LSB Default-Start/Default-Stop.
func (p *Plan) rcLinks(out files, name string) {
	script := p.canonical("/etc/init.d/" + name)
	body, ok := p.readFile(script)
	if !ok {
		return // the postinst runs update-rc.d only when the script exists
	}
	var start, stop []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		l := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "#"))
		if v, ok := strings.CutPrefix(l, "Default-Start:"); ok {
			start = strings.Fields(v)
		} else if v, ok := strings.CutPrefix(l, "Default-Stop:"); ok {
			stop = strings.Fields(v)
		} else if strings.HasPrefix(l, "### END INIT INFO") {
			break
		}
	}
	link := func(level, kind string) {
		dir := p.canonical("/etc/rc" + level + ".d")
		if !p.exists(dir) {
			p.addDirParents(out, dir)
			out.add(File{Path: dir, Type: tar.TypeDir, Mode: 0o755})
		}
		out.add(File{Path: path.Join(dir, kind+"01"+name), Type: tar.TypeSymlink, Mode: 0o777, Linkname: "../init.d/" + name})
	}
	for _, l := range start {
		link(l, "S")
	}
	for _, l := range stop {
		link(l, "K")
	}
}

// systemdEnable is deb-systemd-helper enable: links for the unit's
// [Install] WantedBy=/RequiredBy=/Alias= under /etc/systemd/{system,user},
// pointing at the unit where deb-systemd-helper finds it first (/etc, then
// /lib, then /usr/lib), and its state under /var/lib/systemd.
func (p *Plan) systemdEnable(out files, unit string, user bool) {
	rel, state := "system", "var/lib/systemd/deb-systemd-helper-enabled"
	if user {
		rel, state = "user", "var/lib/systemd/deb-systemd-user-helper-enabled"
	}
	var unitPath string
	var body []byte
	for _, dir := range []string{"/etc/systemd/", "/lib/systemd/", "/usr/lib/systemd/"} {
		cand := dir + rel + "/" + unit
		if b, ok := p.readFile(p.canonical(cand)); ok {
			unitPath, body = cand, b
			break
		}
	}
	if unitPath == "" {
		return
	}
	var links []string
	inInstall := false
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "[") {
			inInstall = l == "[Install]"
			continue
		}
		if !inInstall {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		for _, t := range strings.Fields(v) {
			switch strings.TrimSpace(k) {
			case "WantedBy":
				links = append(links, "/etc/systemd/"+rel+"/"+t+".wants/"+unit)
			case "RequiredBy":
				links = append(links, "/etc/systemd/"+rel+"/"+t+".requires/"+unit)
			case "Alias":
				links = append(links, "/etc/systemd/"+rel+"/"+t)
			}
		}
	}
	if len(links) == 0 {
		return
	}
	var also strings.Builder
	for _, l := range links {
		c := p.canonical(l)
		p.addDirParents(out, c)
		out.add(File{Path: c, Type: tar.TypeSymlink, Mode: 0o777, Linkname: unitPath})
		also.WriteString(l + "\n")
		// the "was enabled" marker mirrors the link below the state dir
		marker := path.Join(state, strings.TrimPrefix(l, "/etc/systemd/"+rel+"/"))
		p.addDirParents(out, marker)
		out.reg(marker, 0o644, 0, 0, nil)
	}
	dsh := path.Join(state, unit+".dsh-also")
	p.addDirParents(out, dsh)
	out.reg(dsh, 0o644, 0, 0, []byte(also.String()))
}
