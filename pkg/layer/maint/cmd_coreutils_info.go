package maint

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pgassemble/pgassemble/pkg/apt"
)

// Names, metadata and environment: basename, dirname, readlink, realpath,
// stat, mktemp, date, uname, id, whoami, ls, env, nice, sleep, who, logger.

func runBasename(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{
		{key: "a", short: 'a', long: "multiple"}, {key: "s", short: 's', long: "suffix", arg: true},
		{key: "z", short: 'z', long: "zero"},
	})
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return usageError(c, "missing operand")
	}
	suffix := o.val("s")
	names := ops
	if !o.has("a") && !o.has("s") {
		if len(ops) > 2 {
			return usageError(c, "extra operand %s", quoteName(ops[2]))
		}
		if len(ops) == 2 {
			suffix = ops[1]
		}
		names = ops[:1]
	}
	end := "\n"
	if o.has("z") {
		end = "\x00"
	}
	for _, n := range names {
		b := lastElem(n)
		if n == "" {
			b = ""
		}
		if suffix != "" && b != suffix && strings.HasSuffix(b, suffix) && b != "/" {
			b = strings.TrimSuffix(b, suffix)
		}
		fmt.Fprint(c.Stdout, b+end)
	}
	return nil
}

func runDirname(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{{key: "z", short: 'z', long: "zero"}})
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return usageError(c, "missing operand")
	}
	end := "\n"
	if o.has("z") {
		end = "\x00"
	}
	for _, n := range ops {
		fmt.Fprint(c.Stdout, dirnameOf(n)+end)
	}
	return nil
}

// dirnameOf is POSIX dirname: "a/b/" -> "a", "a" -> ".", "/" -> "/",
// "//a" -> "//" is folded to "/".
func dirnameOf(n string) string {
	t := strings.TrimRight(n, "/")
	if t == "" {
		if n == "" {
			return "."
		}
		return "/"
	}
	i := strings.LastIndexByte(t, '/')
	if i < 0 {
		return "."
	}
	d := strings.TrimRight(t[:i], "/")
	if d == "" {
		return "/"
	}
	return d
}

type canonMode int

const (
	canonExisting canonMode = iota // readlink -e: every component exists
	canonParent                    // readlink -f: all but the last exist
	canonMissing                   // readlink -m / realpath -m: none need exist
)

// canonical resolves every symlink of an absolute image path, as
// canonicalize_filename_mode does, inside the image root.
func canonical(c *Call, p string, mode canonMode) (string, error) {
	rest := strings.Split(strings.TrimPrefix(cleanAbs(p), "/"), "/")
	if len(rest) == 1 && rest[0] == "" {
		rest = nil
	}
	// Keep "..": cleanAbs already folded them lexically, which differs
	// from the kernel only across symlinks; resolve them structurally.
	if strings.Contains(p, "..") {
		rest = strings.Split(strings.Trim(p, "/"), "/")
	}
	resolved := "/"
	links := 0
	for len(rest) > 0 {
		elem := rest[0]
		rest = rest[1:]
		switch elem {
		case "", ".":
			continue
		case "..":
			resolved = path.Dir(resolved)
			continue
		}
		next := joinAbs(resolved, elem)
		info, err := c.FS.Lstat(next)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && (mode == canonMissing || mode == canonParent && len(nonEmpty(rest)) == 0) {
				resolved = next
				continue
			}
			if mode == canonMissing && errors.Is(err, ErrNotDir) {
				resolved = next
				continue
			}
			return "", err
		}
		if info.Mode&fs.ModeSymlink != 0 {
			links++
			if links > 40 {
				return "", &fs.PathError{Op: "readlink", Path: p, Err: ErrLoop}
			}
			target := info.Target
			if target == "" {
				if target, err = c.FS.Readlink(next); err != nil {
					return "", err
				}
			}
			if strings.HasPrefix(target, "/") {
				resolved = "/"
			}
			rest = append(strings.Split(target, "/"), rest...)
			continue
		}
		if !info.IsDir() && len(nonEmpty(rest)) > 0 && mode != canonMissing {
			return "", &fs.PathError{Op: "readlink", Path: p, Err: ErrNotDir}
		}
		resolved = next
	}
	return resolved, nil
}

func nonEmpty(parts []string) []string {
	var out []string
	for _, p := range parts {
		if p != "" && p != "." {
			out = append(out, p)
		}
	}
	return out
}

func runReadlink(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{
		{key: "f", short: 'f', long: "canonicalize"}, {key: "e", short: 'e', long: "canonicalize-existing"},
		{key: "m", short: 'm', long: "canonicalize-missing"}, {key: "n", short: 'n', long: "no-newline"},
		{key: "q", short: 'q', long: "quiet"}, {key: "q", short: 's', long: "silent"},
		{key: "v", short: 'v', long: "verbose"}, {key: "z", short: 'z', long: "zero"},
	})
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return usageError(c, "missing operand")
	}
	end := "\n"
	if o.has("z") {
		end = "\x00"
	} else if o.has("n") && len(ops) == 1 {
		end = ""
	}
	status := error(nil)
	for _, op := range ops {
		var out string
		var err error
		switch {
		case o.has("f"):
			out, err = canonical(c, c.Abs(op), canonParent)
		case o.has("e"):
			out, err = canonical(c, c.Abs(op), canonExisting)
		case o.has("m"):
			out, err = canonical(c, c.Abs(op), canonMissing)
		default:
			out, err = c.FS.Readlink(c.Abs(op))
		}
		if err != nil {
			if fe := fsFailure(c, err); fe != nil {
				return fe
			}
			if o.has("v") {
				fmt.Fprintf(c.Stderr, "readlink: %s: %s\n", op, errText(err))
			}
			status = ExitStatus(1)
			continue
		}
		fmt.Fprint(c.Stdout, out+end)
	}
	return status
}

func runRealpath(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{
		{key: "e", short: 'e', long: "canonicalize-existing"}, {key: "m", short: 'm', long: "canonicalize-missing"},
		{key: "s", short: 's', long: "strip"}, {key: "s", long: "no-symlinks"}, {key: "q", short: 'q', long: "quiet"},
		{key: "z", short: 'z', long: "zero"}, {key: "P", short: 'P', long: "physical"},
	})
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return usageError(c, "missing operand")
	}
	end := "\n"
	if o.has("z") {
		end = "\x00"
	}
	status := error(nil)
	for _, op := range ops {
		var out string
		var err error
		mode := canonParent
		if o.has("e") {
			mode = canonExisting
		} else if o.has("m") {
			mode = canonMissing
		}
		if o.has("s") {
			out = c.Abs(op)
			if mode != canonMissing {
				_, err = canonical(c, out, mode)
			}
		} else {
			out, err = canonical(c, c.Abs(op), mode)
		}
		if err != nil {
			if fe := fsFailure(c, err); fe != nil {
				return fe
			}
			if !o.has("q") {
				fmt.Fprintf(c.Stderr, "realpath: %s: %s\n", op, errText(err))
			}
			status = ExitStatus(1)
			continue
		}
		fmt.Fprint(c.Stdout, out+end)
	}
	return status
}

// runStat implements stat -c/--format/--printf for the format sequences a
// file of the virtual root can answer; times and devices are refused.
func runStat(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{
		{key: "c", short: 'c', long: "format", arg: true}, {key: "printf", long: "printf", arg: true},
		{key: "L", short: 'L', long: "dereference"}, {key: "f", short: 'f', long: "file-system"},
		{key: "t", short: 't', long: "terse"},
	})
	if err != nil {
		return err
	}
	if o.has("f") {
		return Refuse("stat --file-system", "the filesystem an image ends up on is not known when it is built")
	}
	if !o.has("c") && !o.has("printf") {
		return Refuse("stat", "the default (time-stamped) output is not implemented; use -c")
	}
	if len(ops) == 0 {
		return usageError(c, "missing operand")
	}
	format, newline := o.val("c"), true
	if o.has("printf") {
		format, newline = o.val("printf"), false
	}
	db := loadUserDB(c)
	status := error(nil)
	for _, op := range ops {
		p := c.Abs(op)
		var info Info
		var err error
		if o.has("L") {
			info, err = c.FS.Stat(p)
		} else {
			info, err = c.FS.Lstat(p)
		}
		if err != nil {
			if fe := fsFailure(c, err); fe != nil {
				return fe
			}
			fmt.Fprintf(c.Stderr, "stat: cannot statx %s: %s\n", quoteName(op), errText(err))
			status = ExitStatus(1)
			continue
		}
		out, err := statFormat(c, db, format, op, p, info, !newline)
		if err != nil {
			return err
		}
		if newline {
			out += "\n"
		}
		fmt.Fprint(c.Stdout, out)
	}
	return status
}

func statFormat(c *Call, db *userDB, format, op, p string, info Info, escapes bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		ch := format[i]
		if escapes && ch == '\\' && i+1 < len(format) {
			i++
			switch format[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case '\\':
				b.WriteByte('\\')
			default:
				b.WriteByte('\\')
				b.WriteByte(format[i])
			}
			continue
		}
		if ch != '%' || i+1 >= len(format) {
			b.WriteByte(ch)
			continue
		}
		i++
		switch format[i] {
		case '%':
			b.WriteByte('%')
		case 'n':
			b.WriteString(op)
		case 'N':
			if info.Mode&fs.ModeSymlink != 0 {
				b.WriteString(quoteName(op) + " -> " + quoteName(info.Target))
			} else {
				b.WriteString(quoteName(op))
			}
		case 'a':
			b.WriteString(strconv.FormatUint(uint64(modeBits(info.Mode)), 8))
		case 'A':
			b.WriteString(modeString(info.Mode))
		case 'f':
			b.WriteString(strconv.FormatUint(uint64(modeBits(info.Mode)|fileTypeBits(info.Mode)), 16))
		case 'F':
			b.WriteString(fileTypeName(info))
		case 'u':
			b.WriteString(strconv.Itoa(info.Uid))
		case 'g':
			b.WriteString(strconv.Itoa(info.Gid))
		case 'U':
			if f, ok := db.userByID(info.Uid); ok {
				b.WriteString(f[0])
			} else {
				b.WriteString("UNKNOWN")
			}
		case 'G':
			if f, ok := db.groupByID(info.Gid); ok {
				b.WriteString(f[0])
			} else {
				b.WriteString("UNKNOWN")
			}
		case 's':
			b.WriteString(strconv.FormatInt(info.Size, 10))
		case 'h':
			// Link count: directories have 2 plus their subdirectories;
			// other files 1 (the virtual root reports no hard link count,
			// and Debian's packages ship no hard links scripts count).
			n := 1
			if info.IsDir() {
				n = 2
				entries, err := c.FS.ReadDir(p)
				if err != nil {
					return "", diag(c, err, "cannot read directory %s", quoteName(op))
				}
				for _, e := range entries {
					if e.IsDir() {
						n++
					}
				}
			}
			b.WriteString(strconv.Itoa(n))
		default:
			return "", Refuse(fmt.Sprintf("stat -c %%%c", format[i]), "format sequence not implemented (times, devices and inodes are the layer writer's)")
		}
	}
	return b.String(), nil
}

func fileTypeBits(m fs.FileMode) uint32 {
	switch {
	case m.IsDir():
		return 0o040000
	case m&fs.ModeSymlink != 0:
		return 0o120000
	case m&fs.ModeNamedPipe != 0:
		return 0o010000
	case m&fs.ModeCharDevice != 0:
		return 0o020000
	case m&fs.ModeDevice != 0:
		return 0o060000
	case m&fs.ModeSocket != 0:
		return 0o140000
	}
	return 0o100000
}

func fileTypeName(i Info) string {
	switch {
	case i.IsDir():
		return "directory"
	case i.Mode&fs.ModeSymlink != 0:
		return "symbolic link"
	case i.Mode&fs.ModeNamedPipe != 0:
		return "fifo"
	case i.Mode&fs.ModeCharDevice != 0:
		return "character special file"
	case i.Mode&fs.ModeDevice != 0:
		return "block special file"
	case i.Mode&fs.ModeSocket != 0:
		return "socket"
	case i.Size == 0:
		return "regular empty file"
	}
	return "regular file"
}

// runMktemp creates a unique file (0600) or directory (0700). The X's are
// derived from the script, line and template rather than random, so a
// build is reproducible; the name is still unique in the image.
func runMktemp(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{
		{key: "d", short: 'd', long: "directory"}, {key: "u", short: 'u', long: "dry-run"},
		{key: "q", short: 'q', long: "quiet"}, {key: "p", short: 'p', arg: true},
		{key: "tmpdir", long: "tmpdir", arg: false}, {key: "t", short: 't'},
		{key: "suffix", long: "suffix", arg: true},
	})
	if err != nil {
		return err
	}
	// --tmpdir[=DIR] has an optional argument.
	tmpdir := ""
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--tmpdir="); ok {
			tmpdir = v
		}
	}
	if len(ops) > 1 {
		return usageError(c, "too many templates")
	}
	template := "tmp.XXXXXXXXXX"
	useDir := true
	if len(ops) == 1 {
		template = ops[0]
		useDir = o.has("tmpdir") || o.has("p") || o.has("t") || tmpdir != ""
	}
	template += o.val("suffix")
	dir := ""
	if useDir {
		dir = tmpdir
		if dir == "" {
			dir = o.val("p")
		}
		if dir == "" {
			dir = c.Env("TMPDIR")
		}
		if dir == "" {
			dir = "/tmp"
		}
		if strings.Contains(template, "/") {
			fmt.Fprintf(c.Stderr, "mktemp: invalid template, %s, contains directory separator\n", quoteName(template))
			return ExitStatus(1)
		}
	}
	xs := len(strings.TrimSuffix(template, o.val("suffix"))) - len(strings.TrimRight(strings.TrimSuffix(template, o.val("suffix")), "X"))
	if xs < 3 {
		fmt.Fprintf(c.Stderr, "mktemp: too few X's in template %s\n", quoteName(template))
		return ExitStatus(1)
	}
	prefix := strings.TrimSuffix(template, o.val("suffix"))[:len(strings.TrimSuffix(template, o.val("suffix")))-xs]
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	for attempt := 0; attempt < 1000; attempt++ {
		sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d\x00%s\x00%d", c.Package, c.Script, c.Line, template, attempt))
		var name strings.Builder
		name.WriteString(prefix)
		for i := 0; i < xs; i++ {
			name.WriteByte(letters[int(sum[i%len(sum)])%len(letters)])
		}
		name.WriteString(o.val("suffix"))
		shown := name.String()
		if useDir {
			shown = joinOperand(dir, shown)
		}
		p := c.Abs(shown)
		if _, err := c.FS.Lstat(p); err == nil {
			continue
		}
		if o.has("u") {
			fmt.Fprintln(c.Stdout, shown)
			return nil
		}
		if o.has("d") {
			err = c.FS.Mkdir(p, 0o700)
		} else {
			var f interface{ Close() error }
			f, err = c.FS.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
			if err == nil {
				f.Close()
			}
		}
		if err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			if fe := fsFailure(c, err); fe != nil {
				return fe
			}
			if !o.has("q") {
				what := "file"
				if o.has("d") {
					what = "directory"
				}
				fmt.Fprintf(c.Stderr, "mktemp: failed to create %s via template %s: %s\n", what, quoteName(joinOperand(dir, template)), errText(err))
			}
			return ExitStatus(1)
		}
		c.Effect("created %s", p)
		fmt.Fprintln(c.Stdout, shown)
		return nil
	}
	return fmt.Errorf("mktemp: no unique name for %s", template)
}

// epoch is the build's clock: SOURCE_DATE_EPOCH from the script's
// environment (the runner always sets it).
func epoch(c *Call) (time.Time, error) {
	s := c.Env("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Time{}, Refuse(c.Name, "SOURCE_DATE_EPOCH is not set: there is no clock in an image build")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, Refuse(c.Name, "SOURCE_DATE_EPOCH %q is not a number", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

// runDate prints SOURCE_DATE_EPOCH's time (or -d's), in UTC (the image's
// timezone is UTC at build time unless TZ names another, which is
// refused), with +FORMAT's common conversions.
func runDate(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{
		{key: "u", short: 'u', long: "utc"}, {key: "u", long: "universal"},
		{key: "d", short: 'd', long: "date", arg: true}, {key: "R", short: 'R', long: "rfc-email"},
		{key: "r", short: 'r', long: "reference", arg: true}, {key: "s", short: 's', long: "set", arg: true},
	})
	if err != nil {
		return err
	}
	if o.has("s") || o.has("r") {
		return Refuse("date -s/-r", "option not implemented")
	}
	if !o.has("u") {
		if tz := imageTimezone(c); tz != "" {
			return Refuse("date", "local time in %s: only UTC is implemented", tz)
		}
	}
	t, err := epoch(c)
	if err != nil {
		return err
	}
	if o.has("d") {
		d := strings.TrimSpace(o.val("d"))
		switch {
		case strings.HasPrefix(d, "@"):
			n, err := strconv.ParseInt(d[1:], 10, 64)
			if err != nil {
				fmt.Fprintf(c.Stderr, "date: invalid date %s\n", quoteName(o.val("d")))
				return ExitStatus(1)
			}
			t = time.Unix(n, 0).UTC()
		case d == "now" || d == "":
		default:
			parsed := false
			for _, layout := range []string{"2006-01-02", "2006-01-02 15:04:05", "2006-01-02T15:04:05Z", "2006-01-02 15:04",
				time.UnixDate, time.RFC1123Z, time.RFC3339} {
				if v, err := time.Parse(layout, d); err == nil {
					t, parsed = v, true
					break
				}
			}
			if !parsed {
				return Refuse("date -d "+d, "date string form not implemented")
			}
		}
	}
	format := "%a %b %e %H:%M:%S %Z %Y"
	if o.has("R") {
		format = "%a, %d %b %Y %H:%M:%S %z"
	}
	for _, op := range ops {
		if !strings.HasPrefix(op, "+") {
			return Refuse("date "+op, "setting the date is not implemented")
		}
		format = op[1:]
	}
	out, err := strftime(format, t)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.Stdout, out)
	return nil
}

// imageTimezone is the zone local time is in, "" for UTC: TZ, else the
// image's /etc/localtime (a link into /usr/share/zoneinfo), as glibc does.
func imageTimezone(c *Call) string {
	utc := func(z string) bool {
		switch strings.TrimPrefix(strings.TrimPrefix(z, ":"), "posix/") {
		case "", "UTC", "UTC0", "Etc/UTC", "Etc/UCT", "UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu", "GMT", "Etc/GMT", "GMT0":
			return true
		}
		return false
	}
	if tz := c.Env("TZ"); tz != "" {
		if utc(tz) {
			return ""
		}
		return tz
	}
	target, err := c.FS.Readlink("/etc/localtime")
	if err != nil {
		return "" // no /etc/localtime: glibc uses UTC
	}
	_, zone, _ := strings.Cut(target, "zoneinfo/")
	if utc(zone) {
		return ""
	}
	return zone
}

func strftime(format string, t time.Time) (string, error) {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		if format[i] != '%' || i+1 >= len(format) {
			b.WriteByte(format[i])
			continue
		}
		i++
		switch format[i] {
		case '%':
			b.WriteByte('%')
		case 'a':
			b.WriteString(t.Format("Mon"))
		case 'A':
			b.WriteString(t.Format("Monday"))
		case 'b', 'h':
			b.WriteString(t.Format("Jan"))
		case 'B':
			b.WriteString(t.Format("January"))
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'e':
			fmt.Fprintf(&b, "%2d", t.Day())
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'Y':
			fmt.Fprintf(&b, "%d", t.Year())
		case 'y':
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 's':
			fmt.Fprintf(&b, "%d", t.Unix())
		case 'Z':
			b.WriteString("UTC")
		case 'z':
			b.WriteString("+0000")
		case 'F':
			b.WriteString(t.Format("2006-01-02"))
		case 'T':
			b.WriteString(t.Format("15:04:05"))
		case 'D':
			b.WriteString(t.Format("01/02/06"))
		case 'u':
			wd := int(t.Weekday())
			if wd == 0 {
				wd = 7
			}
			fmt.Fprintf(&b, "%d", wd)
		case 'w':
			fmt.Fprintf(&b, "%d", int(t.Weekday()))
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		default:
			return "", Refuse(fmt.Sprintf("date +%%%c", format[i]), "conversion not implemented")
		}
	}
	return b.String(), nil
}

// unameRelease is what uname -r answers: an image has no kernel of its
// own. Scripts compare it with a minimum (libc6's preinst needs >= 3.2);
// the answer is a kernel any supported host runs, fixed so builds are
// reproducible. A documented deviation: the real answer is the build
// host's kernel.
const unameRelease = "6.1.0"

// machineOf maps a dpkg architecture to uname -m's machine name.
func machineOf(arch string) string {
	switch arch {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "i386":
		return "i686"
	case "armhf":
		return "armv7l"
	case "armel":
		return "armv5tl"
	case "ppc64el":
		return "ppc64le"
	case "mips64el":
		return "mips64"
	case "loong64":
		return "loongarch64"
	}
	return arch // s390x, riscv64, ppc64, ...
}

func runUname(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{
		{key: "s", short: 's', long: "kernel-name"}, {key: "r", short: 'r', long: "kernel-release"},
		{key: "m", short: 'm', long: "machine"}, {key: "o", short: 'o', long: "operating-system"},
		{key: "v", short: 'v', long: "kernel-version"}, {key: "p", short: 'p', long: "processor"},
		{key: "i", short: 'i', long: "hardware-platform"}, {key: "n", short: 'n', long: "nodename"},
		{key: "a", short: 'a', long: "all"},
	})
	if err != nil {
		return err
	}
	if len(ops) > 0 {
		return usageError(c, "extra operand %s", quoteName(ops[0]))
	}
	if o.has("n") || o.has("a") {
		return Refuse("uname -n", "an image being built has no host name")
	}
	machine := machineOf(c.Host.Arch())
	var parts []string
	add := func(k, v string) {
		if o.has(k) {
			parts = append(parts, v)
		}
	}
	if len(o.seen) == 0 {
		parts = []string{"Linux"}
	}
	add("s", "Linux")
	add("r", unameRelease)
	add("v", "#1 SMP PREEMPT_DYNAMIC Debian "+unameRelease)
	add("m", machine)
	add("p", "unknown")
	add("i", "unknown")
	add("o", "GNU/Linux")
	fmt.Fprintln(c.Stdout, strings.Join(parts, " "))
	return nil
}

// runID answers for the image's accounts (root when no user is named:
// scripts run as root).
func runID(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{
		{key: "u", short: 'u', long: "user"}, {key: "g", short: 'g', long: "group"},
		{key: "G", short: 'G', long: "groups"}, {key: "n", short: 'n', long: "name"},
		{key: "r", short: 'r', long: "real"},
	})
	if err != nil {
		return err
	}
	if len(ops) > 1 {
		return usageError(c, "extra operand %s", quoteName(ops[1]))
	}
	db := loadUserDB(c)
	name := "root"
	if len(ops) == 1 {
		name = ops[0]
	}
	pw, ok := db.user(name)
	if !ok {
		if id, isNum := numericID(name); isNum {
			pw, ok = db.userByID(id)
		}
	}
	if !ok {
		if len(ops) == 0 {
			pw = []string{"root", "x", "0", "0", "", "/root", "/bin/sh"}
		} else {
			fmt.Fprintf(c.Stderr, "id: %s: no such user\n", quoteName(name))
			return ExitStatus(1)
		}
	}
	uid, _ := strconv.Atoi(pw[2])
	gid, _ := strconv.Atoi(pw[3])
	groups := []int{gid}
	for _, g := range db.group {
		for _, m := range strings.Split(g[3], ",") {
			if m == pw[0] {
				if n, err := strconv.Atoi(g[2]); err == nil && !containsInt(groups, n) {
					groups = append(groups, n)
				}
			}
		}
	}
	groupName := func(id int) string {
		if f, ok := db.groupByID(id); ok {
			return f[0]
		}
		return strconv.Itoa(id)
	}
	count := 0
	for _, k := range []string{"u", "g", "G"} {
		if o.has(k) {
			count++
		}
	}
	if count > 1 {
		fmt.Fprintf(c.Stderr, "id: cannot print \"only\" of more than one choice\n")
		return ExitStatus(1)
	}
	if o.has("n") && count == 0 {
		fmt.Fprintf(c.Stderr, "id: printing only names or real IDs requires -u, -g, or -G\n")
		return ExitStatus(1)
	}
	switch {
	case o.has("u"):
		if o.has("n") {
			fmt.Fprintln(c.Stdout, pw[0])
		} else {
			fmt.Fprintln(c.Stdout, uid)
		}
	case o.has("g"):
		if o.has("n") {
			fmt.Fprintln(c.Stdout, groupName(gid))
		} else {
			fmt.Fprintln(c.Stdout, gid)
		}
	case o.has("G"):
		var s []string
		for _, g := range groups {
			if o.has("n") {
				s = append(s, groupName(g))
			} else {
				s = append(s, strconv.Itoa(g))
			}
		}
		fmt.Fprintln(c.Stdout, strings.Join(s, " "))
	default:
		var s []string
		for _, g := range groups {
			s = append(s, fmt.Sprintf("%d(%s)", g, groupName(g)))
		}
		fmt.Fprintf(c.Stdout, "uid=%d(%s) gid=%d(%s) groups=%s\n", uid, pw[0], gid, groupName(gid), strings.Join(s, ","))
	}
	return nil
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func runWhoami(c *Call) error {
	if len(c.Args) > 0 {
		return usageError(c, "extra operand %s", quoteName(c.Args[0]))
	}
	db := loadUserDB(c)
	if f, ok := db.userByID(0); ok {
		fmt.Fprintln(c.Stdout, f[0])
		return nil
	}
	fmt.Fprintln(c.Stdout, "root")
	return nil
}

// runLs lists names only (one per line, as when the output is not a
// terminal), for existence tests and globs in scripts; long formats are
// refused (times are the layer writer's).
func runLs(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{
		{key: "1", short: '1'}, {key: "a", short: 'a', long: "all"}, {key: "A", short: 'A', long: "almost-all"},
		{key: "d", short: 'd', long: "directory"}, {key: "L", short: 'L', long: "dereference"},
		{key: "v", short: 'v'}, {key: "r", short: 'r', long: "reverse"}, {key: "U", short: 'U'},
	})
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		ops = []string{"."}
	}
	less := func(a, b string) bool {
		if o.has("v") {
			return apt.CompareVersionPart(a, b) < 0
		}
		return a < b
	}
	if o.has("r") {
		l := less
		less = func(a, b string) bool { return l(b, a) }
	}
	var files, dirs []string
	status := error(nil)
	for _, op := range ops {
		p := c.Abs(op)
		info, err := c.FS.Lstat(p)
		if err == nil && info.Mode&fs.ModeSymlink != 0 && (o.has("L") || !o.has("d")) {
			if si, serr := c.FS.Stat(p); serr == nil {
				if o.has("L") || si.IsDir() {
					info = si // ls follows a command-line symlink to a directory
				}
			} else if o.has("L") {
				err = serr
			}
		}
		if err != nil {
			if fe := fsFailure(c, err); fe != nil {
				return fe
			}
			fmt.Fprintf(c.Stderr, "ls: cannot access %s: %s\n", quoteName(op), errText(err))
			status = ExitStatus(2)
			continue
		}
		if info.IsDir() && !o.has("d") {
			dirs = append(dirs, op)
		} else {
			files = append(files, op)
		}
	}
	if !o.has("U") {
		sort.SliceStable(files, func(i, j int) bool { return less(files[i], files[j]) })
		sort.SliceStable(dirs, func(i, j int) bool { return less(dirs[i], dirs[j]) })
	}
	for _, f := range files {
		fmt.Fprintln(c.Stdout, f)
	}
	for i, d := range dirs {
		if len(dirs)+len(files) > 1 {
			if i > 0 || len(files) > 0 {
				fmt.Fprintln(c.Stdout)
			}
			fmt.Fprintf(c.Stdout, "%s:\n", d)
		}
		entries, err := c.FS.ReadDir(c.Abs(d))
		if err != nil {
			if fe := fsFailure(c, err); fe != nil {
				return fe
			}
			fmt.Fprintf(c.Stderr, "ls: cannot open directory %s: %s\n", quoteName(d), errText(err))
			status = ExitStatus(2)
			continue
		}
		var names []string
		if o.has("a") {
			names = append(names, ".", "..")
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name, ".") && !o.has("a") && !o.has("A") {
				continue
			}
			names = append(names, e.Name)
		}
		if !o.has("U") {
			sort.SliceStable(names, func(i, j int) bool { return less(names[i], names[j]) })
		}
		for _, n := range names {
			fmt.Fprintln(c.Stdout, n)
		}
	}
	return status
}

// runEnv runs a command (env [-i] [NAME=VALUE]... is refused: Call.Exec
// runs with the script's environment).
func runEnv(c *Call) error {
	for i, a := range c.Args {
		if a == "--" {
			continue
		}
		if strings.HasPrefix(a, "-") || strings.Contains(a, "=") {
			return Refuse("env "+a, "changing the environment of a command is not implemented")
		}
		return c.Exec(c.Args[i:], c.Stdin, c.Stdout, c.Stderr)
	}
	return Refuse("env", "printing the environment is not implemented")
}

// runNice runs a command: priorities mean nothing in an image build.
func runNice(c *Call) error {
	args := c.Args
	if len(args) > 0 && args[0] == "-n" && len(args) > 1 {
		args = args[2:]
	} else if len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "--" {
		if _, err := strconv.Atoi(strings.TrimPrefix(args[0], "-n")); err == nil {
			args = args[1:]
		} else {
			return Refuse("nice "+args[0], "option not implemented")
		}
	}
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(c.Stdout, 0)
		return nil
	}
	return c.Exec(args, c.Stdin, c.Stdout, c.Stderr)
}

func runSleep(c *Call) error {
	if len(c.Args) == 0 {
		return usageError(c, "missing operand")
	}
	for _, a := range c.Args {
		s := strings.TrimRight(a, "smhd")
		if _, err := strconv.ParseFloat(s, 64); err != nil || len(a)-len(s) > 1 {
			fmt.Fprintf(c.Stderr, "sleep: invalid time interval %s\n", quoteName(a))
			return usageError(c, "%s", "")
		}
	}
	return nil
}

func runWho(c *Call) error {
	for _, a := range c.Args {
		if a != "-q" && a != "-s" && a != "--short" {
			return Refuse("who "+a, "option not implemented")
		}
	}
	return nil
}

func runLogger(c *Call) error {
	c.Effect("logger %s (no syslog in an image build)", strings.Join(c.Args, " "))
	return nil
}

// runEcho is /bin/echo (the shell's builtin answers direct calls; this one
// runs under xargs, find -exec, env): -n, -e, -E when an argument is made
// of those letters only.
func runEcho(c *Call) error {
	args := c.Args
	newline, escapes := true, false
	for len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' && strings.Trim(args[0][1:], "neE") == "" {
		for _, f := range args[0][1:] {
			switch f {
			case 'n':
				newline = false
			case 'e':
				escapes = true
			case 'E':
				escapes = false
			}
		}
		args = args[1:]
	}
	out := strings.Join(args, " ")
	if escapes {
		if i := strings.Index(out, `\c`); i >= 0 {
			out, newline = out[:i], false
		}
		out = unescapeSed(out)
	}
	if newline {
		out += "\n"
	}
	_, err := fmt.Fprint(c.Stdout, out)
	return err
}

// runExpr is GNU expr: | & comparisons + - * / % and STRING : REGEX
// (anchored BRE, \1 when the pattern has a group), match, substr, index,
// length; status 0 when the result is neither null nor 0, 1 when it is, 2
// for a bad expression.
func runExpr(c *Call) error {
	args := c.Args
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	e := &exprEval{args: args}
	v, err := e.or()
	if err == nil && e.pos < len(e.args) {
		err = fmt.Errorf("syntax error: unexpected argument %s", quoteName(e.args[e.pos]))
	}
	if err != nil {
		if ref, ok := err.(*RefusedError); ok {
			return ref
		}
		fmt.Fprintf(c.Stderr, "expr: %v\n", err)
		return ExitStatus(2)
	}
	fmt.Fprintln(c.Stdout, v)
	if v == "" || v == "0" {
		return ExitStatus(1)
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n == 0 {
		return ExitStatus(1)
	}
	return nil
}

type exprEval struct {
	args []string
	pos  int
}

func (e *exprEval) peek() string {
	if e.pos < len(e.args) {
		return e.args[e.pos]
	}
	return ""
}

func (e *exprEval) more() bool { return e.pos < len(e.args) }

func exprNull(v string) bool {
	if v == "" {
		return true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return err == nil && n == 0
}

func (e *exprEval) or() (string, error) {
	l, err := e.and()
	for err == nil && e.more() && e.peek() == "|" {
		e.pos++
		var r string
		if r, err = e.and(); err == nil {
			if exprNull(l) {
				if exprNull(r) {
					l = "0"
				} else {
					l = r
				}
			}
		}
	}
	return l, err
}

func (e *exprEval) and() (string, error) {
	l, err := e.cmp()
	for err == nil && e.more() && e.peek() == "&" {
		e.pos++
		var r string
		if r, err = e.cmp(); err == nil && (exprNull(l) || exprNull(r)) {
			l = "0"
		}
	}
	return l, err
}

func (e *exprEval) cmp() (string, error) {
	l, err := e.add()
	for err == nil && e.more() {
		op := e.peek()
		switch op {
		case "<", "<=", "=", "==", "!=", ">=", ">":
		default:
			return l, nil
		}
		e.pos++
		var r string
		if r, err = e.add(); err != nil {
			break
		}
		var c int
		a, errA := strconv.ParseInt(l, 10, 64)
		b, errB := strconv.ParseInt(r, 10, 64)
		if errA == nil && errB == nil {
			c = map[bool]int{true: -1, false: 0}[a < b]
			if a > b {
				c = 1
			}
		} else {
			c = strings.Compare(l, r)
		}
		res := map[string]bool{"<": c < 0, "<=": c <= 0, "=": c == 0, "==": c == 0, "!=": c != 0, ">=": c >= 0, ">": c > 0}[op]
		l = map[bool]string{true: "1", false: "0"}[res]
	}
	return l, err
}

func (e *exprEval) add() (string, error) {
	l, err := e.mul()
	for err == nil && e.more() && (e.peek() == "+" || e.peek() == "-") {
		op := e.args[e.pos]
		e.pos++
		var r string
		if r, err = e.mul(); err == nil {
			l, err = exprArith(op, l, r)
		}
	}
	return l, err
}

func (e *exprEval) mul() (string, error) {
	l, err := e.match()
	for err == nil && e.more() && (e.peek() == "*" || e.peek() == "/" || e.peek() == "%") {
		op := e.args[e.pos]
		e.pos++
		var r string
		if r, err = e.match(); err == nil {
			l, err = exprArith(op, l, r)
		}
	}
	return l, err
}

func exprArith(op, l, r string) (string, error) {
	a, err1 := strconv.ParseInt(l, 10, 64)
	b, err2 := strconv.ParseInt(r, 10, 64)
	if err1 != nil || err2 != nil {
		return "", errors.New("non-integer argument")
	}
	switch op {
	case "+":
		return strconv.FormatInt(a+b, 10), nil
	case "-":
		return strconv.FormatInt(a-b, 10), nil
	case "*":
		return strconv.FormatInt(a*b, 10), nil
	}
	if b == 0 {
		return "", errors.New("division by zero")
	}
	if op == "/" {
		return strconv.FormatInt(a/b, 10), nil
	}
	return strconv.FormatInt(a%b, 10), nil
}

func (e *exprEval) match() (string, error) {
	l, err := e.primary()
	for err == nil && e.more() && e.peek() == ":" {
		e.pos++
		var r string
		if r, err = e.primary(); err == nil {
			l, err = exprMatch(l, r)
		}
	}
	return l, err
}

func exprMatch(s, pat string) (string, error) {
	re, err := compilePOSIX(pat, false, false, true, 0)
	if err != nil {
		return "", Refuse("expr : "+pat, "%v", err)
	}
	loc := re.FindStringSubmatchIndex(s)
	groups := re.NumSubexp() > 0
	if loc == nil || loc[0] != 0 {
		if groups {
			return "", nil
		}
		return "0", nil
	}
	if groups {
		if loc[2] < 0 {
			return "", nil
		}
		return s[loc[2]:loc[3]], nil
	}
	return strconv.Itoa(loc[1]), nil
}

func (e *exprEval) primary() (string, error) {
	if !e.more() {
		return "", errors.New("syntax error: missing argument")
	}
	t := e.args[e.pos]
	e.pos++
	need := func(n int) ([]string, error) {
		var out []string
		for i := 0; i < n; i++ {
			v, err := e.primary()
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	switch t {
	case "(":
		v, err := e.or()
		if err != nil {
			return "", err
		}
		if e.peek() != ")" {
			return "", errors.New("syntax error: expecting ')'")
		}
		e.pos++
		return v, nil
	case "+":
		if !e.more() {
			return "", errors.New("syntax error: missing argument after '+'")
		}
		e.pos++
		return e.args[e.pos-1], nil
	case "length":
		a, err := need(1)
		if err != nil {
			return "", err
		}
		return strconv.Itoa(len(a[0])), nil
	case "match":
		a, err := need(2)
		if err != nil {
			return "", err
		}
		return exprMatch(a[0], a[1])
	case "index":
		a, err := need(2)
		if err != nil {
			return "", err
		}
		i := strings.IndexAny(a[0], a[1])
		return strconv.Itoa(i + 1), nil
	case "substr":
		a, err := need(3)
		if err != nil {
			return "", err
		}
		pos, err1 := strconv.Atoi(a[1])
		n, err2 := strconv.Atoi(a[2])
		if err1 != nil || err2 != nil || pos < 1 || n < 1 || pos > len(a[0]) {
			return "", nil
		}
		end := min(pos-1+n, len(a[0]))
		return a[0][pos-1 : end], nil
	}
	return t, nil
}

// runGetopt is util-linux's enhanced getopt: `getopt -o SHORT [-l LONG]
// [-n NAME] [-q] -- ARGS` prints the arguments normalized and quoted for
// `eval set --` (libgcrypt20's clean-up helper, on upgrades). Short and
// long option specifications use ':' for a required and '::' for an
// optional argument; long options may be abbreviated; options and
// operands are permuted as GNU getopt_long does, unless SHORT starts
// with '+'.
func runGetopt(c *Call) error {
	var short, name string
	var long []string
	quiet, haveShort := false, false
	args := c.Args
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		next := func() (string, bool) {
			if i+1 < len(args) {
				i++
				return args[i], true
			}
			return "", false
		}
		var ok bool
		switch {
		case a == "--":
			i++
			goto parsed
		case a == "-o" || a == "--options":
			short, ok = next()
			haveShort = true
		case strings.HasPrefix(a, "-o") && len(a) > 2:
			short, ok, haveShort = a[2:], true, true
		case strings.HasPrefix(a, "--options="):
			short, ok, haveShort = strings.TrimPrefix(a, "--options="), true, true
		case a == "-l" || a == "--long" || a == "--longoptions":
			var v string
			v, ok = next()
			long = append(long, strings.Split(v, ",")...)
		case strings.HasPrefix(a, "--long=") || strings.HasPrefix(a, "--longoptions="):
			_, v, _ := strings.Cut(a, "=")
			long, ok = append(long, strings.Split(v, ",")...), true
		case a == "-n" || a == "--name":
			name, ok = next()
		case strings.HasPrefix(a, "--name="):
			name, ok = strings.TrimPrefix(a, "--name="), true
		case a == "-q" || a == "--quiet":
			quiet, ok = true, true
		case a == "-s" || a == "--shell":
			var sh string
			sh, ok = next()
			if sh != "sh" && sh != "bash" {
				return Refuse("getopt -s "+sh, "only sh quoting is implemented")
			}
		default:
			return Refuse("getopt "+a, "option not implemented (the traditional form too)")
		}
		if !ok {
			fmt.Fprintf(c.Stderr, "getopt: option requires an argument -- '%s'\n", strings.TrimLeft(a, "-"))
			return ExitStatus(2)
		}
	}
parsed:
	if !haveShort {
		return Refuse("getopt", "the form without -o is not implemented")
	}
	if name == "" {
		name = "getopt"
	}
	rest := args[i:]
	posix := strings.HasPrefix(short, "+")
	short = strings.TrimLeft(short, "+-")
	argKind := func(spec string) int { // 0 none, 1 required, 2 optional
		switch {
		case strings.HasSuffix(spec, "::"):
			return 2
		case strings.HasSuffix(spec, ":"):
			return 1
		}
		return 0
	}
	type longSpec struct {
		name string
		kind int
	}
	var longs []longSpec
	for _, l := range long {
		if l = strings.TrimSpace(l); l != "" {
			longs = append(longs, longSpec{strings.TrimRight(l, ":"), argKind(l)})
		}
	}
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	var out, operands []string
	status := error(nil)
	fail := func(format string, a ...any) {
		if !quiet {
			fmt.Fprintf(c.Stderr, "%s: "+format+"\n", append([]any{name}, a...)...)
		}
		status = ExitStatus(1)
	}
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		switch {
		case a == "--":
			operands = append(operands, rest[j+1:]...)
			j = len(rest)
		case strings.HasPrefix(a, "--"):
			n, v, hasV := strings.Cut(a[2:], "=")
			var match []longSpec
			for _, l := range longs {
				if l.name == n {
					match = []longSpec{l}
					break
				}
				if strings.HasPrefix(l.name, n) {
					match = append(match, l)
				}
			}
			if len(match) != 1 {
				if len(match) == 0 {
					fail("unrecognized option '%s'", a)
				} else {
					fail("option '%s' is ambiguous", a)
				}
				continue
			}
			l := match[0]
			out = append(out, "--"+l.name)
			switch {
			case l.kind == 0 && hasV:
				fail("option '--%s' doesn't allow an argument", l.name)
				out = out[:len(out)-1]
			case l.kind == 1 && !hasV:
				if j+1 >= len(rest) {
					fail("option '--%s' requires an argument", l.name)
					out = out[:len(out)-1]
					continue
				}
				j++
				out = append(out, quote(rest[j]))
			case l.kind == 1 || l.kind == 2 && hasV:
				out = append(out, quote(v))
			case l.kind == 2:
				out = append(out, quote(""))
			}
		case len(a) > 1 && a[0] == '-':
			for k := 1; k < len(a); k++ {
				p := strings.IndexByte(short, a[k])
				if p < 0 || a[k] == ':' {
					fail("invalid option -- '%c'", a[k])
					continue
				}
				kind := argKind(short[:min(len(short), p+3)][p:])
				if p+1 < len(short) && short[p+1] != ':' {
					kind = 0
				}
				out = append(out, "-"+string(a[k]))
				if kind == 0 {
					continue
				}
				v := a[k+1:]
				if v == "" && kind == 1 {
					if j+1 >= len(rest) {
						fail("option requires an argument -- '%c'", a[k])
						out = out[:len(out)-1]
						break
					}
					j++
					v = rest[j]
				}
				out = append(out, quote(v))
				break
			}
		default:
			if posix {
				operands = append(operands, rest[j:]...)
				j = len(rest)
				continue
			}
			operands = append(operands, a)
		}
	}
	var b strings.Builder
	for _, o := range out {
		b.WriteString(" " + o)
	}
	b.WriteString(" --")
	for _, o := range operands {
		b.WriteString(" " + quote(o))
	}
	fmt.Fprintln(c.Stdout, b.String())
	return status
}
