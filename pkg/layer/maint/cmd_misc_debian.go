package maint

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Debian helpers without a family of their own: desktop and documentation
// caches that are no-ops in an image (each with its reason), make-ssl-cert
// refused (a private key must not be baked into an image; a Policy
// deviation skips it on purpose), and the postgresql-common helpers the
// PostgreSQL packages' scripts call (perl programs, done here in Go as
// they do it, or refused naming what is missing).

func miscDebianCommands() []Spec {
	noop := func(name, reason string, paths ...string) Spec {
		return Spec{Name: name, Run: func(*Call) error { return nil }, Kind: NoOp, Reason: reason, Paths: paths}
	}
	return []Spec{
		noop("fc-cache", "builds fontconfig's font cache; fontconfig scans the fonts at first use when the cache is missing (the image lacks apt's /var/cache/fontconfig/*.cache-*)", "/usr/bin/fc-cache"),
		noop("update-mime-database", "compiles the freedesktop MIME database for desktop applications; not used by the server programs of these images (the image lacks apt's generated /usr/share/mime files)", "/usr/bin/update-mime-database"),
		noop("gtk-update-icon-cache", "builds a desktop icon cache (the image lacks apt's icon-theme.cache)", "/usr/bin/gtk-update-icon-cache", "/usr/sbin/update-icon-caches"),
		noop("update-icon-caches", "builds desktop icon caches (the image lacks apt's icon-theme.cache)", "/usr/sbin/update-icon-caches"),
		noop("update-desktop-database", "indexes desktop entries for desktop environments", "/usr/bin/update-desktop-database"),
		noop("glib-compile-schemas", "compiles GSettings schemas for desktop applications (the image lacks apt's gschemas.compiled)", "/usr/bin/glib-compile-schemas", "/usr/lib/x86_64-linux-gnu/glib-2.0/glib-compile-schemas", "/usr/lib/aarch64-linux-gnu/glib-2.0/glib-compile-schemas"),
		noop("mandb", "indexes manual pages for man/apropos (the image lacks apt's /var/cache/man)", "/usr/bin/mandb"),
		noop("install-info", "maintains the Info documentation index /usr/share/info/dir (documentation only)", "/usr/bin/install-info", "/usr/sbin/install-info"),
		noop("update-info-dir", "rebuilds the Info documentation index (documentation only)", "/usr/sbin/update-info-dir"),
		noop("pg_checksystem", "reports on the host's disks (write caches) for the administrator; changes nothing", "/usr/share/postgresql-common/pg_checksystem"),
		{Name: "make-ssl-cert", Run: runMakeSSLCert, Kind: Exact, Paths: []string{"/usr/sbin/make-ssl-cert"}},
		{Name: "ischroot", Run: runIschroot, Kind: Exact, Paths: []string{"/usr/bin/ischroot"}},
		{Name: "update-locale", Run: runUpdateLocale, Kind: Exact, Paths: []string{"/usr/sbin/update-locale"}},
		{Name: "locale", Run: runLocale, Kind: Exact, Paths: []string{"/usr/bin/locale"}},
		{Name: "pam-auth-update", Run: runPamAuthUpdate, Kind: Exact, Paths: []string{"/usr/sbin/pam-auth-update"}},
		{Name: "gio-querymodules", Run: runGioQuerymodules, Kind: Exact, Paths: []string{
			"/usr/lib/x86_64-linux-gnu/glib-2.0/gio-querymodules", "/usr/lib/aarch64-linux-gnu/glib-2.0/gio-querymodules",
			"/usr/lib/arm-linux-gnueabihf/glib-2.0/gio-querymodules", "/usr/lib/i386-linux-gnu/glib-2.0/gio-querymodules",
			"/usr/lib/powerpc64le-linux-gnu/glib-2.0/gio-querymodules", "/usr/lib/s390x-linux-gnu/glib-2.0/gio-querymodules",
			"/usr/lib/riscv64-linux-gnu/glib-2.0/gio-querymodules", "/usr/bin/gio-querymodules"}},
		{Name: "perl", Run: runPerlProbe, Kind: Exact, Paths: []string{"/usr/bin/perl"}},
		{Name: "paperconf", Run: runPaperconf, Kind: Exact, Paths: []string{"/usr/bin/paperconf", "/usr/sbin/paperconf"}},
		{Name: "run-parts", Run: runRunParts, Kind: Exact, Paths: []string{"/usr/bin/run-parts", "/bin/run-parts"}},
		{Name: "setcap", Run: func(c *Call) error {
			return Refuse("setcap", "file capabilities are extended attributes, which the image's layers do not carry")
		}, Kind: Exact, Paths: []string{"/usr/sbin/setcap", "/sbin/setcap"}},
		{Name: "pg_conftool", Run: runPgConftool, Kind: Exact, Paths: []string{"/usr/bin/pg_conftool"}},
		{Name: "pg_lsclusters", Run: runPgLsclusters, Kind: Exact, Paths: []string{"/usr/bin/pg_lsclusters"}},
		{Name: "pg_updatedicts", Run: runPgUpdatedicts, Kind: Exact, Paths: []string{"/usr/sbin/pg_updatedicts"}},
		{Name: "pg_createcluster", Run: func(c *Call) error {
			return Refuse("pg_createcluster", "creating a cluster runs initdb, a program of the image; CloudNativePG's policy sets create_main_cluster = false")
		}, Kind: Exact, Paths: []string{"/usr/bin/pg_createcluster"}},
	}
}

func runMakeSSLCert(c *Call) error {
	return Refuse("make-ssl-cert", "it generates a private key, which an image must not carry; a Policy deviation may skip it (CloudNativePG: no snakeoil key)")
}

// pgConf reads a postgresql.conf-style file as PgCommon's read_conf_file.
var (
	pgConfString = regexp.MustCompile(`(?i)^\s*([a-zA-Z0-9_.-]+)\s*(?:=|\s)\s*'((?:[^']|''|\\')*)'\s*(?:#.*)?$`)
	pgConfSimple = regexp.MustCompile(`(?i)^\s*([a-zA-Z0-9_.-]+)\s*(?:=|\s)\s*(-?[[:alnum:]][[:alnum:]._:/+-]*)\s*(?:#.*)?$`)
	pgConfEmpty  = regexp.MustCompile(`^\s*(?:#.*)?$`)
	pgConfInc    = regexp.MustCompile(`(?i)^\s*include(_if_exists|_dir)?\s*=?\s*'([^']+)'`)
)

func pgReadConf(c *Call, file string, depth int) (map[string]string, error) {
	b, err := readImageFileOpt(c.FS, file)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("could not open %s", file)
	}
	conf := map[string]string{}
	for i, l := range splitLines(b) {
		switch {
		case pgConfEmpty.MatchString(l):
		case pgConfInc.MatchString(l):
			if depth > 8 {
				continue
			}
			m := pgConfInc.FindStringSubmatch(l)
			p := m[2]
			if !strings.HasPrefix(p, "/") {
				p = path.Join(path.Dir(file), p)
			}
			var files []string
			if m[1] == "_dir" {
				for _, f := range globImage(c.FS, p+"/*.conf") {
					if !strings.HasPrefix(path.Base(f), ".") {
						files = append(files, f)
					}
				}
			} else if existsImage(c.FS, p) || m[1] == "" {
				files = []string{p}
			}
			for _, f := range files {
				inc, err := pgReadConf(c, f, depth+1)
				if err != nil {
					return nil, err
				}
				for k, v := range inc {
					conf[k] = v
				}
			}
		case pgConfString.MatchString(l):
			m := pgConfString.FindStringSubmatch(l)
			v := regexp.MustCompile(`\\(.)`).ReplaceAllString(m[2], "$1")
			conf[pgKey(file, m[1])] = strings.ReplaceAll(v, "''", "'")
		case pgConfSimple.MatchString(l):
			m := pgConfSimple.FindStringSubmatch(l)
			conf[pgKey(file, m[1])] = m[2]
		default:
			return nil, fmt.Errorf("invalid line %d in %s: %s", i+1, file, l)
		}
	}
	return conf, nil
}

func pgKey(file, k string) string {
	if strings.HasSuffix(file, ".conf") {
		return strings.ToLower(k)
	}
	return k
}

func pgConfigBool(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "on", "true", "yes", "1":
		return true, true
	case "off", "false", "no", "0":
		return false, true
	}
	return false, false
}

// runPgConftool implements `pg_conftool [-b] [-s] [-v] [FILE | VERSION CLUSTER [FILE]] show|get KEY|all`.
func runPgConftool(c *Call) error {
	boolean, short, verbose := false, false, false
	var args []string
	for _, a := range c.Args {
		switch {
		case a == "-b" || a == "--boolean":
			boolean = true
		case a == "-s" || a == "--short":
			short = true
		case a == "-v" || a == "--verbose":
			verbose = true
		case strings.HasPrefix(a, "-") && len(a) > 1 && !strings.HasPrefix(a, "--"):
			for _, f := range a[1:] {
				switch f {
				case 'b':
					boolean = true
				case 's':
					short = true
				case 'v':
					verbose = true
				default:
					return Refuse("pg_conftool "+a, "not a form maintainer scripts use")
				}
			}
		default:
			args = append(args, a)
		}
	}
	idx := -1
	for i, a := range args {
		if regexp.MustCompile(`^(show|get|set|remove|delete|disable|edit)$`).MatchString(a) {
			idx = i
			break
		}
	}
	if idx < 0 {
		fmt.Fprintln(c.Stderr, "Error: No command given")
		return ExitStatus(1)
	}
	cmd := args[idx]
	if cmd != "show" && cmd != "get" {
		return Refuse("pg_conftool "+cmd, "only show/get are forms maintainer scripts use")
	}
	if len(args)-idx != 2 {
		fmt.Fprintf(c.Stderr, "Error: %s needs exactly one argument\n", cmd)
		return ExitStatus(1)
	}
	key := args[idx+1]
	var file string
	switch idx {
	case 1:
		if !strings.HasPrefix(args[0], "/") {
			return Refuse("pg_conftool", "a relative file needs the default cluster of the user")
		}
		file = args[0]
	case 2, 3:
		v, cl := args[0], args[1]
		if !existsImage(c.FS, "/etc/postgresql/"+v+"/"+cl+"/postgresql.conf") {
			fmt.Fprintf(c.Stderr, "Error: Cluster %s %s does not exist\n", v, cl)
			return ExitStatus(1)
		}
		name := "postgresql.conf"
		if idx == 3 {
			name = args[2]
		}
		file = "/etc/postgresql/" + v + "/" + cl + "/" + name
	default:
		return Refuse("pg_conftool", "operating on the default cluster of the user is not a form maintainer scripts use")
	}
	conf, err := pgReadConf(c, file, 0)
	if err != nil {
		fmt.Fprintf(c.Stderr, "Error: %v\n", err)
		return ExitStatus(1)
	}
	quote := func(v string) string {
		if regexp.MustCompile(`^-?[[:alnum:]][[:alnum:]._:/+-]*$`).MatchString(v) && v != "" {
			return v
		}
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	}
	if key == "all" {
		keys := make([]string, 0, len(conf))
		for k := range conf {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(c.Stdout, "%s = %s\n", k, quote(conf[k]))
		}
		return nil
	}
	v, ok := conf[key]
	if !ok {
		if verbose {
			fmt.Fprintf(c.Stdout, "# %s not found in %s\n", key, file)
		}
		return ExitStatus(1)
	}
	if boolean {
		if b, _ := pgConfigBool(v); b {
			v = "on"
		} else {
			v = "off"
		}
	}
	if short {
		fmt.Fprintln(c.Stdout, v)
	} else {
		fmt.Fprintf(c.Stdout, "%s = %s\n", key, quote(v))
	}
	return nil
}

// pgClusters lists /etc/postgresql/VERSION/CLUSTER with a postgresql.conf.
func pgClusters(c *Call) [][2]string {
	var out [][2]string
	vers, _ := c.FS.ReadDir("/etc/postgresql")
	for _, v := range vers {
		cls, _ := c.FS.ReadDir("/etc/postgresql/" + v.Name)
		for _, cl := range cls {
			if existsImage(c.FS, "/etc/postgresql/"+v.Name+"/"+cl.Name+"/postgresql.conf") {
				out = append(out, [2]string{v.Name, cl.Name})
			}
		}
	}
	return out
}

// runPgLsclusters answers -h (no header) on an image without clusters;
// listing existing clusters (ports, status) is refused.
func runPgLsclusters(c *Call) error {
	noHeader := false
	for _, a := range c.Args {
		switch a {
		case "-h", "--no-header":
			noHeader = true
		default:
			return Refuse("pg_lsclusters "+a, "not a form maintainer scripts use")
		}
	}
	if cl := pgClusters(c); len(cl) > 0 {
		return Refuse("pg_lsclusters", "the image has clusters (%s/%s): their status needs the running server", cl[0][0], cl[0][1])
	}
	if !noHeader {
		fmt.Fprintln(c.Stdout, "Ver Cluster Port Status Owner Data directory Log file")
	}
	return nil
}

// pgVersions is PgCommon's get_versions: /usr/lib/postgresql/N with a
// postgres program, and /etc/postgresql/N with a cluster, numerically.
func pgVersions(c *Call) []string {
	set := map[string]bool{}
	re := regexp.MustCompile(`^\d+\.?\d+$`)
	ents, _ := c.FS.ReadDir("/usr/lib/postgresql")
	for _, e := range ents {
		if re.MatchString(e.Name) {
			if i, err := c.FS.Stat("/usr/lib/postgresql/" + e.Name + "/bin/postgres"); err == nil && i.Mode&0o111 != 0 {
				set[e.Name] = true
			}
		}
	}
	for _, cl := range pgClusters(c) {
		if re.MatchString(cl[0]) {
			set[cl[0]] = true
		}
	}
	var out []string
	for v := range set {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		a, _ := strconv.ParseFloat(out[i], 64)
		b, _ := strconv.ParseFloat(out[j], 64)
		return a < b
	})
	return out
}

// runPgUpdatedicts builds /var/cache/postgresql/dicts from the hunspell/
// myspell dictionaries and links them into each version's tsearch_data, as
// postgresql-common's perl program does. Dictionaries in another encoding
// than UTF-8 would need iconv's tables: refused.
func runPgUpdatedicts(c *Call) error {
	const cache = "/var/cache/postgresql/dicts"
	if err := mkdirAllImage(c.FS, cache, 0o755); err != nil {
		return err
	}
	fmt.Fprintln(c.Stdout, "Building PostgreSQL dictionaries from installed myspell/hunspell packages...")
	current := map[string]bool{}
	setRe := regexp.MustCompile(`^SET ([\w-]+)\s*$`)
	for _, d := range []string{"/usr/share/hunspell", "/usr/share/myspell/dicts"} {
		for _, aff := range globImage(c.FS, d+"/*.aff") {
			if li, err := c.FS.Lstat(aff); err != nil || li.Mode&fs.ModeSymlink != 0 {
				continue // the program ignores symlinks
			}
			dic := strings.TrimSuffix(aff, "aff") + "dic"
			if i, err := c.FS.Stat(dic); err != nil || !i.Mode.IsRegular() {
				fmt.Fprintf(c.Stderr, "ERROR: %s does not have corresponding %s, ignoring\n", aff, dic)
				continue
			}
			ab, err := readImageFile(c.FS, aff)
			if err != nil {
				return err
			}
			enc := ""
			for _, l := range splitLines(ab) {
				if m := setRe.FindStringSubmatch(l); m != nil {
					enc = m[1]
					break
				}
			}
			if enc == "" {
				fmt.Fprintf(c.Stderr, "ERROR: no encoding defined in %s, ignoring\n", aff)
				continue
			}
			if e := strings.ToUpper(enc); e != "UTF-8" && e != "UTF8" {
				return Refuse("pg_updatedicts", "converting %s from %s to UTF-8 needs iconv's tables", aff, enc)
			}
			locale := strings.ToLower(strings.TrimSuffix(path.Base(aff), ".aff"))
			current[cache+"/"+locale+".affix"], current[cache+"/"+locale+".dict"] = true, true
			fmt.Fprintf(c.Stdout, "  %s\n", locale)
			db, err := readImageFile(c.FS, dic)
			if err != nil {
				return err
			}
			if err := writeImageFile(c.FS, cache+"/"+locale+".affix", ab, 0o644); err != nil {
				return err
			}
			if err := writeImageFile(c.FS, cache+"/"+locale+".dict", db, 0o644); err != nil {
				return err
			}
			for _, v := range pgVersions(c) {
				if f, _ := strconv.ParseFloat(v, 64); f < 8.3 {
					continue
				}
				dest := "/usr/share/postgresql/" + v + "/tsearch_data"
				if i, err := c.FS.Stat(dest); err != nil || !i.IsDir() {
					continue
				}
				current[dest+"/"+locale+".affix"], current[dest+"/"+locale+".dict"] = true, true
				real := func(p string) bool {
					li, err := c.FS.Lstat(p)
					return err == nil && li.Target == "" && !li.IsDir() && li.Mode.IsRegular()
				}
				if real(dest+"/"+locale+".affix") || real(dest+"/"+locale+".dict") {
					continue
				}
				for _, ext := range []string{".affix", ".dict"} {
					if err := removeIfExists(c.FS, dest+"/"+locale+ext); err != nil {
						return err
					}
					if err := c.FS.Symlink(cache+"/"+locale+ext, dest+"/"+locale+ext); err != nil {
						return err
					}
				}
				effect(c, "linked %s dictionaries into %s", locale, dest)
			}
		}
	}
	fmt.Fprintln(c.Stdout, "Removing obsolete dictionary files:")
	for _, f := range globImage(c.FS, cache+"/*") {
		if current[f] {
			continue
		}
		fmt.Fprintf(c.Stdout, "  %s\n", f)
		if err := c.FS.Remove(f); err != nil {
			return err
		}
	}
	var stale []string
	for _, v := range globImage(c.FS, "/usr/share/postgresql/*") {
		stale = append(stale, globImage(c.FS, v+"/tsearch_data/*.affix")...)
	}
	for _, v := range globImage(c.FS, "/usr/share/postgresql/*") {
		stale = append(stale, globImage(c.FS, v+"/tsearch_data/*.dict")...)
	}
	for _, f := range stale {
		if li, err := c.FS.Lstat(f); err != nil || li.Target == "" || current[f] {
			continue
		}
		fmt.Fprintf(c.Stdout, "  %s\n", f)
		if err := c.FS.Remove(f); err != nil {
			return err
		}
	}
	return nil
}

// runIschroot answers as ischroot does in a container build: the root is
// the one of process 1, so not a chroot (status 1).
func runIschroot(c *Call) error {
	for _, a := range c.Args {
		switch a {
		case "-f", "--default-false", "-t", "--default-true":
		default:
			return Refuse("ischroot "+a, "not a form maintainer scripts use")
		}
	}
	return ExitStatus(1)
}

// runPaperconf prints the paper size as libpaper finds it: $PAPERSIZE,
// the file $PAPERCONF or /etc/papersize, else the locale's LC_PAPER (A4 in
// glibc's C and C.UTF-8 locales, the build's environment).
func runPaperconf(c *Call) error {
	for _, a := range c.Args {
		if a != "-n" && a != "--name" {
			return Refuse("paperconf "+a, "only the paper name is a form maintainer scripts use")
		}
	}
	if v := strings.TrimSpace(c.Env("PAPERSIZE")); v != "" {
		fmt.Fprintln(c.Stdout, v)
		return nil
	}
	file := "/etc/papersize"
	if v := c.Env("PAPERCONF"); v != "" {
		file = v
	}
	if b, err := readImageFileOpt(c.FS, file); err != nil {
		return err
	} else if b != nil {
		for _, l := range splitLines(b) {
			if f := strings.Fields(l); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
				fmt.Fprintln(c.Stdout, f[0])
				return nil
			}
		}
	}
	loc := firstNonEmpty(c.Env("LC_ALL"), c.Env("LC_PAPER"), c.Env("LANG"), "C")
	switch loc {
	case "C", "POSIX", "C.UTF-8", "C.utf8", "C.UTF8":
		fmt.Fprintln(c.Stdout, "a4")
		return nil
	}
	return Refuse("paperconf", "the paper size of locale %s comes from its locale data", loc)
}

// runRunParts is debianutils' run-parts: the executable files of a
// directory with valid names, in order, run (or listed with --test/--list).
func runRunParts(c *Call) error {
	test, list, exitOnError, verbose, report := false, false, false, false, false
	var args []string
	var dir string
	rest := c.Args
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--test":
			test = true
		case a == "--list":
			list = true
		case a == "--exit-on-error":
			exitOnError = true
		case a == "-v" || a == "--verbose":
			verbose = true
		case a == "--report":
			report = true
		case a == "-a" || a == "--arg":
			if i+1 < len(rest) {
				i++
				args = append(args, rest[i])
			}
		case strings.HasPrefix(a, "--arg="):
			args = append(args, a[len("--arg="):])
		case a == "--":
			if i+1 < len(rest) {
				dir = rest[i+1]
			}
			i = len(rest)
		case strings.HasPrefix(a, "-"):
			return Refuse("run-parts "+a, "not a form maintainer scripts use")
		default:
			dir = a
		}
	}
	if dir == "" {
		fmt.Fprintln(c.Stderr, "run-parts: missing operand")
		return ExitStatus(1)
	}
	dir = c.Abs(dir)
	if i, err := c.FS.Stat(dir); err != nil || !i.IsDir() {
		fmt.Fprintf(c.Stderr, "run-parts: failed to open directory %s: No such file or directory\n", dir)
		return ExitStatus(1)
	}
	parts := runParts(c.FS, dir)
	if list {
		ents, _ := c.FS.ReadDir(dir)
		parts = nil
		for _, e := range ents {
			if runPartsName.MatchString(e.Name) {
				parts = append(parts, dir+"/"+e.Name)
			}
		}
	}
	if test || list {
		for _, p := range parts {
			fmt.Fprintln(c.Stdout, p)
		}
		return nil
	}
	status := error(nil)
	for _, p := range parts {
		if verbose || report {
			fmt.Fprintf(c.Stderr, "run-parts: executing %s\n", p)
		}
		if c.Exec == nil {
			return Refuse("run-parts", "cannot run %s", p)
		}
		err := c.Exec(append([]string{p}, args...), c.Stdin, c.Stdout, c.Stderr)
		if err != nil {
			st, ok := err.(ExitStatus)
			if !ok {
				return err
			}
			fmt.Fprintf(c.Stderr, "run-parts: %s exited with return code %d\n", p, int(st))
			status = ExitStatus(1)
			if exitOnError {
				return status
			}
		}
	}
	return status
}

// runPerlProbe answers the one perl form Debian's scripts use as a probe,
// `perl -e ""` ("does perl work?", libc6's preinst before using debconf):
// perl is installed (the command resolves only when /usr/bin/perl exists),
// so it succeeds. Any perl program is refused: it has no Go implementation.
func runPerlProbe(c *Call) error {
	if len(c.Args) == 2 && c.Args[0] == "-e" && strings.TrimSpace(c.Args[1]) == "" {
		return nil
	}
	return Refuse("perl", "a perl program has no Go implementation (%s)", strings.Join(c.Args, " "))
}

// runUpdateLocale is locales' update-locale: the variables of
// /etc/locale.conf (or --locale-file) are commented out, then the wanted
// ones set back (a bare NAME removes it); a new file starts with the
// tool's header. With checks, a locale other than C/C.UTF-8/POSIX needs
// the image's locale data (`locale charmap`): refused. Several variables
// added at once are written sorted by name (the tool's order is a perl
// hash's, not defined).
func runUpdateLocale(c *Call) error {
	file := "/etc/locale.conf"
	reset, noChecks := false, false
	var args []string
	for i := 0; i < len(c.Args); i++ {
		a := c.Args[i]
		switch {
		case a == "--reset":
			reset = true
		case a == "--remove":
		case a == "--no-checks":
			noChecks = true
		case strings.HasPrefix(a, "--locale-file="):
			file = c.Abs(a[len("--locale-file="):])
		case a == "--locale-file":
			if i+1 >= len(c.Args) {
				fmt.Fprintln(c.Stderr, "Option locale-file requires an argument")
				return ExitStatus(1)
			}
			i++
			file = c.Abs(c.Args[i])
		case a == "-h" || a == "--help":
			return Refuse("update-locale "+a, "not a form maintainer scripts use")
		case strings.HasPrefix(a, "--"):
			fmt.Fprintf(c.Stderr, "Unknown option: %s\n", a[2:])
			return ExitStatus(1)
		default:
			args = append(args, a)
		}
	}
	assign := regexp.MustCompile(`(\w+)=(.*)`)
	vars := map[string]string{}
	content := "#  File generated by update-locale\n"
	mode := fs.FileMode(0o644)
	if b, err := readImageFileOpt(c.FS, file); err != nil {
		return err
	} else if b != nil {
		if i, err := c.FS.Stat(file); err == nil {
			mode = i.Mode.Perm() | i.Mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
		}
		for _, l := range strings.SplitAfter(string(b), "\n") {
			if m := regexp.MustCompile(`^(\w+)=(.*)`).FindStringSubmatch(strings.TrimSuffix(l, "\n")); m != nil && !reset {
				vars[m[1]] = m[2]
			}
		}
		content = regexp.MustCompile(`(?m)^(\s*\w+=)`).ReplaceAllString(string(b), "#$1")
		if !strings.HasSuffix(content, "\n") {
			content += "\n"
		}
	}
	for _, a := range args {
		if m := assign.FindStringSubmatch(a); m != nil {
			vars[m[1]] = m[2]
		} else {
			delete(vars, a)
		}
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		re := regexp.MustCompile(`(?m)^#\s*` + regexp.QuoteMeta(k) + `=.*`)
		if loc := re.FindStringIndex(content); loc != nil {
			content = content[:loc[0]] + k + "=" + vars[k] + content[loc[1]:]
		} else {
			content += k + "=" + vars[k] + "\n"
		}
	}
	if !noChecks {
		for _, k := range keys {
			v := strings.Trim(vars[k], `"'`)
			switch {
			case k == "LANGUAGE":
			case v == "C" || v == "POSIX" || v == "C.UTF-8" || v == "C.utf8":
			default:
				return Refuse("update-locale", "checking %s=%s needs the image's locale data (locale charmap); --no-checks is the form Debian's scripts use", k, vars[k])
			}
		}
		if lang, ok := vars["LANGUAGE"]; ok {
			language := strings.Trim(lang, `"'`)
			if i := strings.IndexAny(language, ".:_"); i >= 0 {
				language = language[:i]
			}
			msg, which := "", ""
			for _, k := range []string{"LANG", "LC_MESSAGES", "LC_ALL"} {
				if v, ok := vars[k]; ok {
					which, msg = k, strings.Trim(v, `"'`)
				}
			}
			if which != "" && !strings.HasPrefix(msg, language) && msg != "C" && msg != "POSIX" && language != "C" && language != "POSIX" {
				fmt.Fprintf(c.Stdout, "*** update-locale: Warning: LANGUAGE (%s) is not compatible with %s (%s). Disabling it.\n", lang, which, msg)
				content = regexp.MustCompile(`(?m)^(\s*LANGUAGE=)`).ReplaceAllString(content, "#$1")
			}
		}
	}
	if err := writeImageFile(c.FS, file, []byte(content), mode); err != nil {
		return err
	}
	if err := c.FS.Chmod(file, mode); err != nil {
		return err
	}
	effect(c, "wrote %s", file)
	return nil
}

// runGioQuerymodules is GLib's gio-querymodules on directories without
// modules: the stale giomodule.cache is removed (what the tool does when
// it finds none). Querying modules loads them: refused.
func runGioQuerymodules(c *Call) error {
	if len(c.Args) == 0 {
		fmt.Fprintln(c.Stderr, "gio-querymodules <directory1> [<directory2> ...]")
		return ExitStatus(1)
	}
	for _, d := range c.Args {
		dir := c.Abs(d)
		ents, err := c.FS.ReadDir(dir)
		if err != nil {
			continue // the tool skips a directory it cannot open
		}
		for _, e := range ents {
			if strings.HasSuffix(e.Name, ".so") && !e.IsDir() {
				return Refuse("gio-querymodules", "%s has GIO modules (%s): querying them loads them, a program of the image", dir, e.Name)
			}
		}
		if err := removeIfExists(c.FS, dir+"/giomodule.cache"); err != nil {
			return err
		}
	}
	return nil
}

// localeCategories is `locale`'s listing order.
var localeCategories = []string{"LC_CTYPE", "LC_NUMERIC", "LC_TIME", "LC_COLLATE", "LC_MONETARY", "LC_MESSAGES",
	"LC_PAPER", "LC_NAME", "LC_ADDRESS", "LC_TELEPHONE", "LC_MEASUREMENT", "LC_IDENTIFICATION"}

// runLocale is glibc's locale for the C locales (C, POSIX, C.UTF-8), the
// build's: the listing and the keywords scripts ask (charmap, LC_PAPER's
// width/height). Another locale's values are in its locale data: refused.
func runLocale(c *Call) error {
	effective := func(cat string) string {
		return firstNonEmpty(c.Env("LC_ALL"), c.Env(cat), c.Env("LANG"), "C")
	}
	isC := func(l string) (bool, bool) { // is a C locale, is UTF-8
		switch l {
		case "C", "POSIX":
			return true, false
		case "C.UTF-8", "C.utf8", "C.UTF8":
			return true, true
		}
		return false, false
	}
	if len(c.Args) == 0 {
		fmt.Fprintf(c.Stdout, "LANG=%s\nLANGUAGE=%s\n", c.Env("LANG"), c.Env("LANGUAGE"))
		for _, cat := range localeCategories {
			if v := c.Env(cat); v != "" && c.Env("LC_ALL") == "" {
				fmt.Fprintf(c.Stdout, "%s=%s\n", cat, v)
			} else {
				fmt.Fprintf(c.Stdout, "%s=\"%s\"\n", cat, effective(cat))
			}
		}
		fmt.Fprintf(c.Stdout, "LC_ALL=%s\n", c.Env("LC_ALL"))
		return nil
	}
	showKey := false
	for _, a := range c.Args {
		switch a {
		case "-k", "--keyword-name":
			showKey = true
			continue
		}
		var cat, val string
		switch a {
		case "width":
			cat, val = "LC_PAPER", "210"
		case "height":
			cat, val = "LC_PAPER", "297"
		case "charmap":
			cat = "LC_CTYPE"
		default:
			return Refuse("locale "+a, "not a form maintainer scripts use")
		}
		l := effective(cat)
		c0, utf8 := isC(l)
		if !c0 {
			return Refuse("locale "+a, "%s=%s: the value is in that locale's data", cat, l)
		}
		if a == "charmap" {
			val = "ANSI_X3.4-1968"
			if utf8 {
				val = "UTF-8"
			}
			if showKey {
				val = "charmap=\"" + val + "\""
			}
		} else if showKey {
			val = a + "=" + val
		}
		fmt.Fprintln(c.Stdout, val)
	}
	return nil
}
