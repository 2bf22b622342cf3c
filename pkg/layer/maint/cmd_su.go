package maint

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// su and runuser run a command as another user of the image: the command
// is dispatched like any other (a shell's -c is interpreted), with the
// user's environment and, for `test -O`/`-G`, the user's ids. Scripts use
// them to check or create files as the account a package created
// (postgresql-common: su postgres -c "test -O /var/lib/postgresql").

func suCommands() []Spec {
	return []Spec{
		{Name: "su", Run: runSu, Paths: []string{"/usr/bin/su", "/bin/su"}},
		{Name: "runuser", Run: runSu, Paths: []string{"/usr/sbin/runuser", "/sbin/runuser"}},
	}
}

type passwdEntry struct {
	name     string
	uid, gid int
	home, sh string
	found    bool
}

func lookupPasswd(c *Call, name string) passwdEntry {
	e := passwdEntry{}
	r, err := c.FS.OpenFile("/etc/passwd", 0, 0)
	if err != nil {
		return e
	}
	defer r.Close()
	b := new(strings.Builder)
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	for _, line := range strings.Split(b.String(), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 7 || (f[0] != name && f[2] != name) {
			continue
		}
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil {
			continue
		}
		return passwdEntry{name: f[0], uid: uid, gid: gid, home: f[5], sh: f[6], found: true}
	}
	return e
}

func runSu(c *Call) error {
	prog := c.Name
	var command, shell, group string
	hasCommand, login, preserve := false, false, false
	args := c.Args
	var rest []string
	direct := false // runuser -u USER -- COMMAND
	user := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() (string, error) {
			if i+1 >= len(args) {
				return "", Refuse(prog+" "+a, "option needs an argument")
			}
			i++
			return args[i], nil
		}
		var err error
		switch {
		case a == "-c" || a == "--command":
			command, err = next()
			hasCommand = true
		case strings.HasPrefix(a, "--command="):
			command, hasCommand = strings.TrimPrefix(a, "--command="), true
		case a == "-s" || a == "--shell":
			shell, err = next()
		case strings.HasPrefix(a, "--shell="):
			shell = strings.TrimPrefix(a, "--shell=")
		case a == "-" || a == "-l" || a == "--login":
			login = true
		case a == "-m" || a == "-p" || a == "--preserve-environment":
			preserve = true
		case a == "-g" || a == "--group":
			group, err = next()
		case a == "-u" && prog == "runuser":
			user, err = next()
			direct = true
		case a == "--":
			rest = append(rest, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "-") && len(a) > 1 && !strings.HasPrefix(a, "--") && strings.Trim(a[1:], "lmp") == "":
			// combined short flags: -lm
			login = login || strings.Contains(a, "l")
			preserve = preserve || strings.ContainsAny(a, "mp")
		case strings.HasPrefix(a, "-") && len(a) > 1:
			return Refuse(prog+" "+a, "option not supported")
		default:
			rest = append(rest, args[i:]...)
			i = len(args)
		}
		if err != nil {
			return err
		}
	}
	if !direct {
		user = "root"
		if len(rest) > 0 {
			user, rest = rest[0], rest[1:]
		}
	}
	pw := lookupPasswd(c, user)
	if !pw.found {
		fmt.Fprintf(c.Stderr, "%s: user %s does not exist or the user entry does not contain all the required fields\n", prog, user)
		return ExitStatus(1)
	}
	gid := pw.gid
	if group != "" {
		g, ok := lookupGroupID(c, group)
		if !ok {
			fmt.Fprintf(c.Stderr, "%s: group %s does not exist\n", prog, group)
			return ExitStatus(1)
		}
		gid = g
	}
	env := []string{"HOME=" + pw.home, "SHELL=" + pw.sh, "USER=" + pw.name, "LOGNAME=" + pw.name,
		"UID=" + strconv.Itoa(pw.uid), "EUID=" + strconv.Itoa(pw.uid)}
	if preserve && !login {
		env = env[4:] // ids only: -m keeps HOME, SHELL, USER, LOGNAME
	}
	if login {
		env = append(env, "PATH="+DefaultPath)
	}
	var argv []string
	if direct {
		if len(rest) == 0 {
			return Refuse(prog+" -u", "no command")
		}
		argv = rest
	} else {
		sh := pw.sh
		if shell != "" {
			sh = shell
		}
		if sh == "" {
			sh = "/bin/sh"
		}
		switch path.Base(sh) {
		case "nologin":
			fmt.Fprintln(c.Stdout, "This account is currently not available.")
			return ExitStatus(1)
		case "false":
			return ExitStatus(1)
		}
		argv = []string{sh}
		if hasCommand {
			argv = append(argv, "-c", command)
		}
		argv = append(argv, rest...)
		if !hasCommand && len(rest) == 0 {
			return Refuse(prog, "an interactive shell (no -c command)")
		}
	}
	c.Effect("as %s (%d:%d): %s", pw.name, pw.uid, gid, strings.Join(argv, " "))
	if c.execAs == nil {
		return Refuse(prog, "running as another user needs the script runner")
	}
	return c.execAs(pw.uid, gid, env, argv)
}

func lookupGroupID(c *Call, name string) (int, bool) {
	r, err := c.FS.OpenFile("/etc/group", 0, 0)
	if err != nil {
		return 0, false
	}
	defer r.Close()
	b := new(strings.Builder)
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	for _, line := range strings.Split(b.String(), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 && (f[0] == name || f[2] == name) {
			if id, err := strconv.Atoi(f[2]); err == nil {
				return id, true
			}
		}
	}
	return 0, false
}
