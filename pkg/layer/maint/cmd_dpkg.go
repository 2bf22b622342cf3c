package maint

import (
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"

	"github.com/pgassemble/pgassemble/pkg/apt"
)

// dpkg and dpkg-query for what maintainer scripts ask them: comparing
// versions (with pkg/apt's implementation, the one the resolver uses),
// asserting features, the architecture, and querying the database the
// runner keeps (Host.Package, the .list files under /var/lib/dpkg/info).
// Installing or removing packages from a script (dpkg -i, --configure) is
// refused: the build decides what is installed.

func dpkgCommands() []Spec {
	return []Spec{
		{Name: "dpkg", Run: runDpkg, Kind: Exact, Paths: []string{"/usr/bin/dpkg"}},
		{Name: "dpkg-query", Run: runDpkgQuery, Kind: Exact, Paths: []string{"/usr/bin/dpkg-query"}},
		{Name: "dpkg-divert", Run: runDpkgDivert, Kind: Exact, Paths: []string{"/usr/bin/dpkg-divert", "/usr/sbin/dpkg-divert"}},
		{Name: "dpkg-statoverride", Run: runDpkgStatoverride, Kind: Exact, Paths: []string{"/usr/bin/dpkg-statoverride", "/usr/sbin/dpkg-statoverride"}},
		{Name: "dpkg-trigger", Run: runDpkgTrigger, Kind: Exact, Paths: []string{"/usr/bin/dpkg-trigger"}},
		{Name: "dpkg-architecture", Run: runDpkgArchitecture, Kind: Exact, Paths: []string{"/usr/bin/dpkg-architecture"}},
		{Name: "dpkg-realpath", Run: runDpkgRealpath, Kind: Exact, Paths: []string{"/usr/bin/dpkg-realpath"}},
	}
}

const dpkgInfoDir = "/var/lib/dpkg/info"

// dpkgRelations is dpkg's table for --compare-versions: the relation and
// the answers when the first, both or the second version is empty.
var dpkgRelations = map[string]struct {
	cmp                    func(int) bool
	noneA, noneBoth, noneB bool
}{
	"le":    {le, true, true, false},
	"lt":    {lt, true, false, false},
	"eq":    {eq, false, true, false},
	"ne":    {ne, true, false, true},
	"ge":    {ge, false, true, true},
	"gt":    {gt, false, false, true},
	"le-nl": {le, false, true, true},
	"lt-nl": {lt, false, false, true},
	"ge-nl": {ge, true, true, false},
	"gt-nl": {gt, true, false, false},
	"<":     {le, true, true, false},
	"<=":    {le, true, true, false},
	"<<":    {lt, true, false, false},
	"=":     {eq, false, true, false},
	">>":    {gt, false, false, true},
	">=":    {ge, false, true, true},
	">":     {ge, false, true, true},
}

func le(c int) bool { return c <= 0 }
func lt(c int) bool { return c < 0 }
func eq(c int) bool { return c == 0 }
func ne(c int) bool { return c != 0 }
func ge(c int) bool { return c >= 0 }
func gt(c int) bool { return c > 0 }

// checkVersion reports dpkg's verdict on a version's syntax: a warning for
// what dpkg tolerates, an error for the rest.
func checkVersion(c *Call, prog, v string) error {
	_, err := apt.ParseVersion(v)
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "does not start with a digit"):
		warnf(c, prog, "version '%s' has bad syntax: version number does not start with digit", v)
	case strings.Contains(msg, "invalid character") && strings.Contains(msg, "revision"):
		warnf(c, prog, "version '%s' has bad syntax: invalid character in revision number", v)
	case strings.Contains(msg, "invalid character"):
		warnf(c, prog, "version '%s' has bad syntax: invalid character in version number", v)
	default:
		reason := "invalid version"
		switch {
		case strings.Contains(msg, "embedded space"):
			reason = "version string has embedded spaces"
		case strings.Contains(msg, "empty epoch"):
			reason = "epoch in version is empty"
		case strings.Contains(msg, "not a number"):
			reason = "epoch in version is not number"
		case strings.Contains(msg, "too big"):
			reason = "epoch in version is too big"
		case strings.Contains(msg, "nothing after colon"):
			reason = "nothing after colon in version number"
		case strings.Contains(msg, "empty revision"):
			reason = "revision number is empty"
		case strings.Contains(msg, "empty upstream"):
			reason = "version number is empty"
		}
		return failf(c, prog, "version '%s' has bad syntax: %s", v, reason)
	}
	return nil
}

func compareVersions(c *Call, prog string, args []string) error {
	if len(args) != 3 {
		return failf(c, prog, "--compare-versions takes three arguments: <version> <relation> <version>")
	}
	rel, ok := dpkgRelations[args[1]]
	if !ok {
		return failf(c, prog, "--compare-versions bad relation")
	}
	if args[1] == "<" || args[1] == ">" {
		warnf(c, prog, "--compare-versions used with obsolete relation operator '%s'", args[1])
	}
	blank := func(v string) bool { return v == "" || v == "<unknown>" }
	a, b := args[0], args[2]
	for _, v := range []string{a, b} {
		if !blank(v) {
			if err := checkVersion(c, prog, v); err != nil {
				return err
			}
		}
	}
	var res bool
	switch {
	case blank(a) && blank(b):
		res = rel.noneBoth
	case blank(a):
		res = rel.noneA
	case blank(b):
		res = rel.noneB
	default:
		res = rel.cmp(apt.CompareVersions(a, b))
	}
	if res {
		return nil
	}
	return ExitStatus(1)
}

func runDpkg(c *Call) error {
	args := c.Args
	for len(args) > 0 {
		a := args[0]
		switch {
		case a == "--compare-versions":
			rest := args[1:]
			if len(rest) > 0 && rest[0] == "--" {
				rest = rest[1:]
			}
			return compareVersions(c, "dpkg", rest)
		case a == "--validate-version" || a == "--validate-pkgname" || a == "--validate-archname" || a == "--validate-trigname":
			rest := args[1:]
			if len(rest) > 0 && rest[0] == "--" {
				rest = rest[1:]
			}
			if len(rest) != 1 {
				return failf(c, "dpkg", "%s takes one argument", a)
			}
			return validateName(c, a[len("--validate-"):], rest[0])
		case strings.HasPrefix(a, "--assert-"):
			switch a[len("--assert-"):] {
			case "support-predepends", "working-epoch", "long-filenames", "multi-conrep",
				"multi-arch", "versioned-provides", "protected-field":
				return nil
			}
			return failf(c, "dpkg", "unknown option %s", a)
		case a == "--print-architecture":
			fmt.Fprintln(c.Stdout, c.Host.Arch())
			return nil
		case a == "--print-foreign-architectures":
			return nil
		case a == "--force-help", a == "--version":
			return Refuse("dpkg "+a, "not a form maintainer scripts use")
		case strings.HasPrefix(a, "--admindir=") || strings.HasPrefix(a, "--root=") || strings.HasPrefix(a, "--instdir="):
			if v := a[strings.IndexByte(a, '=')+1:]; cleanAbs(v) != "/" && cleanAbs(v) != "/var/lib/dpkg" {
				return Refuse("dpkg "+a, "another database than the image's is not supported")
			}
			args = args[1:]
			continue
		case a == "-s", a == "--status", a == "-L", a == "--listfiles", a == "-S", a == "--search",
			a == "-l", a == "--list", a == "-W", a == "--show", a == "-p", a == "--print-avail":
			// dpkg passes these to dpkg-query.
			return runDpkgQueryArgs(c, "dpkg-query", args)
		}
		return Refuse("dpkg "+a, "installing, removing or configuring packages from a maintainer script is not supported: the build decides what is installed")
	}
	return failf(c, "dpkg", "need an action option")
}

func runDpkgQuery(c *Call) error { return runDpkgQueryArgs(c, "dpkg-query", c.Args) }

func runDpkgQueryArgs(c *Call, prog string, args []string) error {
	action := ""
	format := "${binary:Package}\t${Version}\n"
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-W" || a == "--show":
			action = "show"
		case a == "-s" || a == "--status":
			action = "status"
		case a == "-L" || a == "--listfiles":
			action = "listfiles"
		case a == "-S" || a == "--search":
			action = "search"
		case a == "-l" || a == "--list":
			action = "list"
		case a == "-p" || a == "--print-avail":
			action = "status"
		case a == "--control-path":
			action = "control-path"
		case a == "-f" || a == "--showformat":
			if i+1 >= len(args) {
				return failf(c, prog, "--showformat needs a value")
			}
			i++
			format = args[i]
		case strings.HasPrefix(a, "--showformat="):
			format = a[len("--showformat="):]
		case strings.HasPrefix(a, "-f") && len(a) > 2:
			format = strings.TrimPrefix(a[2:], "=") // dpkg's parser takes -f=VALUE as -f VALUE
		case strings.HasPrefix(a, "-W") && len(a) > 2 && !strings.HasPrefix(a, "-W-"):
			action = "show"
			if a[2] == 'f' {
				format = strings.TrimPrefix(a[3:], "=")
				if format == "" && i+1 < len(args) {
					i++
					format = args[i]
				}
			}
		case strings.HasPrefix(a, "--admindir="), strings.HasPrefix(a, "--root="), strings.HasPrefix(a, "--instdir="):
			if v := a[strings.IndexByte(a, '=')+1:]; cleanAbs(v) != "/" && cleanAbs(v) != "/var/lib/dpkg" {
				return Refuse(prog+" "+a, "another database than the image's is not supported")
			}
		case a == "--no-pager":
		case a == "--":
			rest = append(rest, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "-") && a != "-":
			return Refuse(prog+" "+a, "not a form maintainer scripts use")
		default:
			rest = append(rest, a)
		}
	}
	switch action {
	case "show":
		return dpkgQueryShow(c, prog, format, rest)
	case "status":
		return dpkgQueryStatus(c, prog, rest)
	case "listfiles":
		return dpkgQueryListfiles(c, prog, rest)
	case "search":
		return dpkgQuerySearch(c, prog, rest)
	case "control-path":
		if len(rest) < 1 {
			return failf(c, prog, "--control-path needs a package name argument")
		}
		return dpkgQueryControlPath(c, prog, rest)
	case "list":
		return dpkgQueryShow(c, prog, "${db:Status-Abbrev} ${binary:Package} ${Version} ${Architecture}\n", rest)
	}
	return failf(c, prog, "need an action option")
}

// dpkgPackage finds an installed or unpacked package (name or name:arch).
func dpkgPackage(c *Call, name string) (map[string]string, bool) {
	p, ok := c.Host.Package(name)
	if !ok {
		return nil, false
	}
	if st := strings.Fields(p["Status"]); len(st) == 3 && st[2] == "not-installed" {
		return p, false
	}
	return p, true
}

// binaryPackage is ${binary:Package}: the name, with ":arch" for a
// Multi-Arch: same package of a real architecture.
func binaryPackage(p map[string]string) string {
	if p["Multi-Arch"] == "same" && p["Architecture"] != "all" && p["Architecture"] != "" {
		return p["Package"] + ":" + p["Architecture"]
	}
	return p["Package"]
}

var (
	wantAbbrev   = map[string]byte{"unknown": 'u', "install": 'i', "hold": 'h', "deinstall": 'r', "purge": 'p'}
	statusAbbrev = map[string]byte{"not-installed": 'n', "config-files": 'c', "half-installed": 'H', "unpacked": 'U',
		"half-configured": 'F', "triggers-awaited": 'W', "triggers-pending": 't', "installed": 'i'}
)

// dpkgField is one ${...} of dpkg-query's --showformat.
func dpkgField(c *Call, p map[string]string, name string) string {
	st := strings.Fields(p["Status"])
	for len(st) < 3 {
		st = append(st, "")
	}
	switch strings.ToLower(name) {
	case "binary:package":
		return binaryPackage(p)
	case "binary:summary":
		s, _, _ := strings.Cut(p["Description"], "\n")
		return s
	case "db:status-abbrev":
		w, s := wantAbbrev[st[0]], statusAbbrev[st[2]]
		e := byte(' ')
		if st[1] == "reinstreq" {
			e = 'R'
		}
		if w == 0 {
			w = 'u'
		}
		if s == 0 {
			s = 'n'
		}
		return string([]byte{w, s, e})
	case "db:status-want":
		return st[0]
	case "db:status-eflag":
		return st[1]
	case "db:status-status":
		return st[2]
	case "source:package":
		src, _, _ := strings.Cut(p["Source"], " ")
		if src == "" {
			return p["Package"]
		}
		return src
	case "source:version":
		if _, v, ok := strings.Cut(p["Source"], "("); ok {
			return strings.TrimSuffix(strings.TrimSpace(v), ")")
		}
		return p["Version"]
	case "source:upstream-version":
		v := dpkgField(c, p, "source:Version")
		if i := strings.IndexByte(v, ':'); i >= 0 {
			v = v[i+1:]
		}
		if i := strings.LastIndexByte(v, '-'); i >= 0 {
			v = v[:i]
		}
		return v
	case "db-fsys:files":
		b, _ := readImageFileOpt(c.FS, listFileOf(c, p))
		var out strings.Builder
		for _, l := range splitLines(b) {
			out.WriteString(" " + l + "\n")
		}
		return out.String()
	case "db-fsys:last-modified":
		return ""
	}
	for k, v := range p {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// expandFormat renders a --showformat: ${Field}, ${Field;width} (negative:
// left-aligned) and the escapes \n \t \\ \".
func expandFormat(c *Call, p map[string]string, format string) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		ch := format[i]
		switch {
		case ch == '\\' && i+1 < len(format):
			i++
			switch format[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '\\', '"':
				b.WriteByte(format[i])
			default:
				b.WriteByte('\\')
				b.WriteByte(format[i])
			}
		case ch == '$' && i+1 < len(format) && format[i+1] == '{':
			end := strings.IndexByte(format[i:], '}')
			if end < 0 {
				b.WriteString(format[i:])
				return b.String()
			}
			spec := format[i+2 : i+end]
			i += end
			name, width, hasWidth := strings.Cut(spec, ";")
			v := dpkgField(c, p, name)
			if hasWidth {
				w := 0
				fmt.Sscanf(width, "%d", &w)
				if w < 0 {
					v = fmt.Sprintf("%-*s", -w, v)
				} else {
					v = fmt.Sprintf("%*s", w, v)
				}
			}
			b.WriteString(v)
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}

func dpkgQueryShow(c *Call, prog, format string, names []string) error {
	if len(names) == 0 {
		for _, n := range c.Host.Packages() {
			if p, ok := dpkgPackage(c, n); ok {
				fmt.Fprint(c.Stdout, expandFormat(c, p, format))
			}
		}
		return nil
	}
	status := error(nil)
	for _, n := range names {
		matched := false
		if strings.ContainsAny(n, "*?[") {
			for _, pn := range c.Host.Packages() {
				if fnmatch(n, pn) {
					if p, ok := c.Host.Package(pn); ok {
						fmt.Fprint(c.Stdout, expandFormat(c, p, format))
						matched = true
					}
				}
			}
		} else if p, ok := c.Host.Package(n); ok {
			fmt.Fprint(c.Stdout, expandFormat(c, p, format))
			matched = true
		}
		if !matched {
			fmt.Fprintf(c.Stderr, "%s: no packages found matching %s\n", prog, n)
			status = ExitStatus(1)
		}
	}
	return status
}

// statusFieldOrder is the order dpkg writes a status stanza in.
var statusFieldOrder = []string{"Package", "Essential", "Protected", "Status", "Priority", "Section",
	"Installed-Size", "Origin", "Maintainer", "Bugs", "Architecture", "Multi-Arch", "Source", "Version",
	"Config-Version", "Replaces", "Provides", "Depends", "Pre-Depends", "Recommends", "Suggests",
	"Breaks", "Conflicts", "Enhances", "Conffiles", "Description", "Triggers-Pending", "Triggers-Awaited"}

func dpkgQueryStatus(c *Call, prog string, names []string) error {
	if len(names) == 0 {
		return failf(c, prog, "--status needs at least one package name argument")
	}
	status := error(nil)
	for i, n := range names {
		p, ok := c.Host.Package(n)
		if !ok {
			fmt.Fprintf(c.Stderr, "%s: package '%s' is not installed and no information is available\n", prog, n)
			status = ExitStatus(1)
			continue
		}
		if i > 0 {
			fmt.Fprintln(c.Stdout)
		}
		done := map[string]bool{}
		write := func(k string) {
			if v, ok := p[k]; ok && !done[k] {
				done[k] = true
				if strings.HasPrefix(v, "\n") {
					fmt.Fprintf(c.Stdout, "%s:%s\n", k, v)
				} else {
					fmt.Fprintf(c.Stdout, "%s: %s\n", k, v)
				}
			}
		}
		for _, k := range statusFieldOrder {
			write(k)
		}
		var others []string
		for k := range p {
			if !done[k] {
				others = append(others, k)
			}
		}
		sort.Strings(others)
		for _, k := range others {
			write(k)
		}
	}
	return status
}

// listFileOf is the package's file list in dpkg's database.
func listFileOf(c *Call, p map[string]string) string {
	return dpkgInfoDir + "/" + binaryPackage(p) + ".list"
}

func dpkgQueryListfiles(c *Call, prog string, names []string) error {
	status := error(nil)
	for i, n := range names {
		p, ok := dpkgPackage(c, n)
		if !ok {
			fmt.Fprintf(c.Stderr, "%s: package '%s' is not installed\n", prog, n)
			status = ExitStatus(1)
			continue
		}
		if i > 0 {
			fmt.Fprintln(c.Stdout)
		}
		b, err := readImageFileOpt(c.FS, listFileOf(c, p))
		if err != nil {
			return err
		}
		divs, err := readDiversions(c.FS, diversionsFile)
		if err != nil {
			return err
		}
		for _, l := range splitLines(b) {
			fmt.Fprintln(c.Stdout, l)
			for _, d := range divs {
				if d.from == l && d.pkg != p["Package"] {
					fmt.Fprintf(c.Stdout, "diverted by %s to: %s\n", d.pkgLabel(), d.to)
				}
				if d.to == l && d.pkg == p["Package"] {
					fmt.Fprintf(c.Stdout, "package diverts others to: %s\n", d.to)
				}
			}
		}
	}
	return status
}

func dpkgQuerySearch(c *Call, prog string, patterns []string) error {
	if len(patterns) == 0 {
		return failf(c, prog, "--search needs at least one file name pattern argument")
	}
	type owner struct{ pkgs []string }
	status := error(nil)
	for _, pat := range patterns {
		glob := pat
		if !strings.ContainsAny(pat, "*?[\\") && !strings.HasPrefix(pat, "/") {
			glob = "*" + pat + "*"
		}
		pat = strings.TrimSuffix(pat, "/")
		found := map[string]*owner{}
		var order []string
		for _, n := range c.Host.Packages() {
			p, ok := dpkgPackage(c, n)
			if !ok {
				continue
			}
			b, err := readImageFileOpt(c.FS, listFileOf(c, p))
			if err != nil {
				return err
			}
			for _, l := range splitLines(b) {
				match := l == pat
				if glob != pat || strings.ContainsAny(pat, "*?[\\") {
					match = fnmatch(glob, l)
				}
				if !match {
					continue
				}
				o := found[l]
				if o == nil {
					o = &owner{}
					found[l] = o
					order = append(order, l)
				}
				o.pkgs = append(o.pkgs, binaryPackage(p))
			}
		}
		if len(order) == 0 {
			fmt.Fprintf(c.Stderr, "%s: no path found matching pattern %s\n", prog, pat)
			status = ExitStatus(1)
			continue
		}
		for _, l := range order {
			fmt.Fprintf(c.Stdout, "%s: %s\n", strings.Join(found[l].pkgs, ", "), l)
		}
	}
	return status
}

func dpkgQueryControlPath(c *Call, prog string, args []string) error {
	p, ok := dpkgPackage(c, args[0])
	if !ok {
		fmt.Fprintf(c.Stderr, "%s: package '%s' is not installed\n", prog, args[0])
		return ExitStatus(1)
	}
	ents, err := c.FS.ReadDir(dpkgInfoDir)
	if err != nil {
		return nil
	}
	prefix := binaryPackage(p) + "."
	for _, e := range ents {
		if !strings.HasPrefix(e.Name, prefix) || e.Mode&fs.ModeType != 0 {
			continue
		}
		member := e.Name[len(prefix):]
		if member == "list" {
			continue
		}
		if len(args) > 1 && member != args[1] {
			continue
		}
		fmt.Fprintln(c.Stdout, dpkgInfoDir+"/"+e.Name)
	}
	return nil
}

func runDpkgTrigger(c *Call) error {
	noAwait := false
	var names []string
	for _, a := range c.Args {
		switch {
		case a == "--no-await":
			noAwait = true
		case a == "--await":
			noAwait = false
		case a == "--check-supported":
			return nil
		case strings.HasPrefix(a, "--by-package="):
		case a == "--no-act":
			return nil
		case strings.HasPrefix(a, "--admindir="):
			if cleanAbs(a[len("--admindir="):]) != "/var/lib/dpkg" {
				return Refuse("dpkg-trigger "+a, "another database than the image's is not supported")
			}
		case strings.HasPrefix(a, "-"):
			return Refuse("dpkg-trigger "+a, "not a form maintainer scripts use")
		default:
			names = append(names, a)
		}
	}
	if len(names) != 1 {
		return failf(c, "dpkg-trigger", "takes one argument, the trigger name")
	}
	c.Host.ActivateTrigger(names[0], noAwait)
	effect(c, "activated trigger %s", names[0])
	return nil
}

// multiarchTuple is the GNU triplet dpkg-architecture reports as
// DEB_HOST_MULTIARCH for the architectures Debian builds.
var multiarchTuple = map[string]string{
	"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu", "armhf": "arm-linux-gnueabihf",
	"armel": "arm-linux-gnueabi", "i386": "i386-linux-gnu", "ppc64el": "powerpc64le-linux-gnu",
	"s390x": "s390x-linux-gnu", "riscv64": "riscv64-linux-gnu", "mips64el": "mips64el-linux-gnuabi64",
	"loong64": "loongarch64-linux-gnu",
}

var cpuOf = map[string]string{
	"amd64": "amd64", "arm64": "arm64", "armhf": "arm", "armel": "arm", "i386": "i386",
	"ppc64el": "ppc64el", "s390x": "s390x", "riscv64": "riscv64", "mips64el": "mips64el", "loong64": "loong64",
}

var gnuCPUOf = map[string]string{
	"amd64": "x86_64", "arm64": "aarch64", "armhf": "arm", "armel": "arm", "i386": "i686",
	"ppc64el": "powerpc64le", "s390x": "s390x", "riscv64": "riscv64", "mips64el": "mips64el", "loong64": "loongarch64",
}

func runDpkgArchitecture(c *Call) error {
	arch := c.Host.Arch()
	tuple, ok := multiarchTuple[arch]
	if !ok {
		return Refuse("dpkg-architecture", "architecture %s is not known", arch)
	}
	vars := map[string]string{
		"ARCH": arch, "ARCH_ABI": "base", "ARCH_BITS": "64", "ARCH_CPU": cpuOf[arch], "ARCH_ENDIAN": "little",
		"ARCH_LIBC": "gnu", "ARCH_OS": "linux", "GNU_CPU": gnuCPUOf[arch], "GNU_SYSTEM": strings.TrimPrefix(tuple, strings.SplitN(tuple, "-", 2)[0]+"-"),
		"GNU_TYPE": strings.Replace(tuple, "i386", "i686", 1), "MULTIARCH": tuple,
	}
	switch arch {
	case "armhf", "armel", "i386":
		vars["ARCH_BITS"] = "32"
	case "s390x":
		vars["ARCH_ENDIAN"] = "big"
	}
	if arch == "armhf" {
		vars["ARCH_ABI"] = "eabihf"
	} else if arch == "armel" {
		vars["ARCH_ABI"] = "eabi"
	}
	q := ""
	switch a := strings.Join(c.Args, " "); {
	case len(c.Args) == 2 && (c.Args[0] == "-q" || c.Args[0] == "--query"):
		q = c.Args[1]
	case len(c.Args) == 1 && strings.HasPrefix(a, "--query="):
		q = a[len("--query="):]
	case len(c.Args) == 1 && strings.HasPrefix(a, "-q"):
		q = a[2:]
	default:
		return Refuse("dpkg-architecture "+a, "only -q queries of the image's architecture are supported")
	}
	for _, pre := range []string{"DEB_HOST_", "DEB_BUILD_", "DEB_TARGET_"} {
		if strings.HasPrefix(q, pre) {
			if v, ok := vars[q[len(pre):]]; ok {
				fmt.Fprintln(c.Stdout, v)
				return nil
			}
		}
	}
	return failf(c, "dpkg-architecture", "%s is not a supported variable name", q)
}

var (
	validPkgname  = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]*$`)
	validArchname = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
)

// validateName is dpkg --validate-*: status 1 and dpkg's message when
// invalid.
func validateName(c *Call, kind, v string) error {
	switch kind {
	case "version":
		if v == "" {
			return failf(c, "dpkg", "version '%s' has bad syntax: version string is empty", v)
		}
		if _, err := apt.ParseVersion(v); err != nil {
			if e := checkVersion(c, "dpkg", v); e != nil {
				return e // a syntax error: status 2
			}
			return ExitStatus(1) // what dpkg tolerates elsewhere is invalid here
		}
	case "pkgname":
		if !validPkgname.MatchString(v) || len(v) < 2 {
			fmt.Fprintf(c.Stderr, "dpkg: error: package name '%s' is invalid: must start with an alphanumeric character\n", v)
			return ExitStatus(1)
		}
	case "archname":
		if !validArchname.MatchString(v) {
			fmt.Fprintf(c.Stderr, "dpkg: error: architecture name '%s' is invalid: character '%s' not allowed (only letters, digits and characters '-')\n", v, v)
			return ExitStatus(1)
		}
	case "trigname":
		for i := 0; i < len(v); i++ {
			if v[i] <= ' ' || v[i] >= 0x7f {
				fmt.Fprintf(c.Stderr, "dpkg: error: trigger name '%s' is invalid: trigger name contains invalid character\n", v)
				return ExitStatus(1)
			}
		}
		if v == "" {
			fmt.Fprintf(c.Stderr, "dpkg: error: trigger name '%s' is invalid: empty trigger names are not permitted\n", v)
			return ExitStatus(1)
		}
	}
	return nil
}

// runDpkgRealpath is dpkg-realpath: the path with its symlinks resolved
// component by component inside the image (absolute targets restart at the
// root, ".." never leaves it), missing components kept as they are.
func runDpkgRealpath(c *Call) error {
	nul := false
	var paths []string
	for i := 0; i < len(c.Args); i++ {
		switch a := c.Args[i]; {
		case a == "-z" || a == "--zero":
			nul = true
		case a == "--root" || a == "--instdir":
			if i+1 >= len(c.Args) {
				return failf(c, "dpkg-realpath", "%s needs a value", a)
			}
			i++
			if v := c.Args[i]; v != "" && cleanAbs(v) != "/" {
				return Refuse("dpkg-realpath "+a, "another root than the image's is not supported")
			}
		case strings.HasPrefix(a, "--root=") || strings.HasPrefix(a, "--instdir="):
			if v := a[strings.IndexByte(a, '=')+1:]; v != "" && cleanAbs(v) != "/" {
				return Refuse("dpkg-realpath "+a, "another root than the image's is not supported")
			}
		case a == "--":
			paths = append(paths, c.Args[i+1:]...)
			i = len(c.Args)
		case strings.HasPrefix(a, "-") && a != "-":
			return failf(c, "dpkg-realpath", "unknown option %s", a)
		default:
			paths = append(paths, a)
		}
	}
	if len(paths) != 1 {
		return failf(c, "dpkg-realpath", "need exactly one pathname argument")
	}
	src := paths[0]
	if !strings.HasPrefix(src, "/") {
		src = c.Dir + "/" + src
	}
	result := ""
	rest := strings.TrimLeft(src, "/")
	for loops := 0; rest != ""; {
		comp, tail, _ := strings.Cut(rest, "/")
		rest = strings.TrimLeft(tail, "/")
		switch comp {
		case ".", "":
			continue
		case "..":
			if i := strings.LastIndexByte(result, '/'); i >= 0 {
				result = result[:i]
			}
			continue
		}
		link := result + "/" + comp
		if li, err := c.FS.Lstat(link); err == nil && li.Mode&fs.ModeSymlink != 0 {
			loops++
			if loops > 25 {
				return failf(c, "dpkg-realpath", "too many levels of symbolic links")
			}
			dst := li.Target
			if strings.HasPrefix(dst, "/") {
				result = ""
			}
			if rest != "" {
				dst += "/" + rest
			}
			rest = strings.TrimLeft(dst, "/")
			continue
		}
		result = link
	}
	if result == "" {
		result = "/"
	}
	if nul {
		fmt.Fprint(c.Stdout, result+"\x00")
	} else {
		fmt.Fprintln(c.Stdout, result)
	}
	return nil
}
