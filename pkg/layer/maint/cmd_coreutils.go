package maint

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
)

// The shell utilities maintainer scripts call (GNU coreutils, Debian's),
// implemented over the image for the forms Debian's scripts use; the census
// of trixie's and bookworm's scripts (every postgresql-*-* closure and the
// Essential/required/important sets) says which. Messages and exit statuses
// follow GNU's (C locale); an option outside the implemented forms is
// refused rather than guessed. Families: cmd_coreutils_files.go (rm, mkdir,
// chmod, ln, cp, ...), cmd_coreutils_text.go (cat, head, cut, tr, sort,
// md5sum, ...), cmd_coreutils_info.go (readlink, stat, date, uname, id,
// ls, ...).

func coreutilsCommands() []Spec {
	return []Spec{
		// files
		{Name: "rm", Run: runRm},
		{Name: "rmdir", Run: runRmdir},
		{Name: "mkdir", Run: runMkdir},
		{Name: "chmod", Run: runChmod},
		{Name: "chown", Run: runChown},
		{Name: "chgrp", Run: runChgrp},
		{Name: "ln", Run: runLn},
		{Name: "mv", Run: runMv},
		{Name: "cp", Run: runCp},
		{Name: "touch", Run: runTouch},
		{Name: "install", Run: runInstall},
		// text
		{Name: "cat", Run: runCat},
		{Name: "head", Run: runHead},
		{Name: "tail", Run: runTail},
		{Name: "cut", Run: runCut},
		{Name: "tr", Run: runTr},
		{Name: "sort", Run: runSort},
		{Name: "uniq", Run: runUniq},
		{Name: "wc", Run: runWc},
		{Name: "tee", Run: runTee},
		{Name: "md5sum", Run: hashsumCommand("md5sum")},
		{Name: "sha1sum", Run: hashsumCommand("sha1sum")},
		{Name: "sha256sum", Run: hashsumCommand("sha256sum")},
		{Name: "sha512sum", Run: hashsumCommand("sha512sum")},
		{Name: "cmp", Run: runCmp, Paths: []string{"/usr/bin/cmp"}},
		{Name: "seq", Run: runSeq},
		// names, metadata, environment
		{Name: "basename", Run: runBasename},
		{Name: "dirname", Run: runDirname},
		{Name: "readlink", Run: runReadlink},
		{Name: "realpath", Run: runRealpath},
		{Name: "stat", Run: runStat},
		{Name: "mktemp", Run: runMktemp},
		{Name: "date", Run: runDate},
		{Name: "uname", Run: runUname},
		{Name: "id", Run: runID},
		{Name: "whoami", Run: runWhoami},
		{Name: "ls", Run: runLs},
		{Name: "env", Run: runEnv},
		{Name: "nice", Run: runNice},
		{Name: "echo", Run: runEcho},
		{Name: "expr", Run: runExpr},
		{Name: "getopt", Run: runGetopt, Paths: []string{"/usr/bin/getopt"}},
		{Name: "true", Run: func(*Call) error { return nil }},
		{Name: "false", Run: func(*Call) error { return ExitStatus(1) }},
		{Name: "sleep", Run: runSleep, Kind: NoOp,
			Reason: "nothing runs beside the script in an image build: waiting changes no file"},
		{Name: "sync", Run: func(*Call) error { return nil }, Kind: NoOp,
			Reason: "the image is written by pgassemble after the scripts: there is no cache to flush"},
		{Name: "who", Run: runWho, Kind: NoOp,
			Reason: "nobody is logged in to an image being built: who prints nothing, as with an empty utmp"},
		{Name: "logger", Run: runLogger, Kind: NoOp,
			Reason: "no syslog daemon in an image build: the message is written to the trace only"},
	}
}

// optDef declares one option of a GNU-style command line.
type optDef struct {
	key   string // name in the result; defaults to long or short
	short byte   // 0: none
	long  string // "": none
	arg   bool
}

func (d optDef) name() string {
	switch {
	case d.key != "":
		return d.key
	case d.long != "":
		return d.long
	}
	return string(d.short)
}

// opts is a parsed command line: the options seen (in order, with their
// values) and the operands.
type opts struct {
	seen map[string][]string
}

func (o opts) has(k string) bool { _, ok := o.seen[k]; return ok }

// val is the last value of an option with an argument.
func (o opts) val(k string) string {
	v := o.seen[k]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// parseOpts parses args as getopt_long does with GNU's permutation
// (options may follow operands, "--" ends them, "-" is an operand).
// Long options may be abbreviated when unambiguous. An option not in defs
// is refused: the implementation does not guess what it would do.
func parseOpts(c *Call, defs []optDef) (opts, []string, error) {
	o := opts{seen: map[string][]string{}}
	var operands []string
	args := c.Args
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return o, append(operands, args[i+1:]...), nil
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			var d *optDef
			for j := range defs {
				if defs[j].long == name {
					d = &defs[j]
					break
				}
			}
			if d == nil {
				var cands []*optDef
				for j := range defs {
					if defs[j].long != "" && strings.HasPrefix(defs[j].long, name) {
						cands = append(cands, &defs[j])
					}
				}
				if len(cands) == 1 {
					d = cands[0]
				}
			}
			if d == nil {
				return o, nil, Refuse(c.Name+" --"+name, "option not implemented")
			}
			switch {
			case d.arg && hasVal:
			case d.arg:
				if i+1 >= len(args) {
					return o, nil, usageError(c, "option '--%s' requires an argument", d.long)
				}
				i++
				val = args[i]
			case hasVal:
				return o, nil, usageError(c, "option '--%s' doesn't allow an argument", d.long)
			}
			o.seen[d.name()] = append(o.seen[d.name()], val)
		case len(a) > 1 && a[0] == '-':
			for k := 1; k < len(a); k++ {
				var d *optDef
				for j := range defs {
					if defs[j].short == a[k] {
						d = &defs[j]
						break
					}
				}
				if d == nil {
					return o, nil, Refuse(fmt.Sprintf("%s -%c", c.Name, a[k]), "option not implemented")
				}
				if !d.arg {
					o.seen[d.name()] = append(o.seen[d.name()], "")
					continue
				}
				val := a[k+1:]
				if val == "" {
					if i+1 >= len(args) {
						return o, nil, usageError(c, "option requires an argument -- '%c'", a[k])
					}
					i++
					val = args[i]
				}
				o.seen[d.name()] = append(o.seen[d.name()], val)
				break
			}
		default:
			operands = append(operands, a)
		}
	}
	return o, operands, nil
}

// usageError prints a GNU usage diagnostic and returns exit status 1.
func usageError(c *Call, format string, args ...any) error {
	fmt.Fprintf(c.Stderr, "%s: %s\n", c.Name, fmt.Sprintf(format, args...))
	fmt.Fprintf(c.Stderr, "Try '%s --help' for more information.\n", c.Name)
	return ExitStatus(1)
}

// quoteName quotes a file name in diagnostics as GNU does in the C locale
// (shell-escape style: 'name', or "name" when it holds a single quote).
func quoteName(s string) string {
	if !strings.Contains(s, "'") {
		return "'" + s + "'"
	}
	if !strings.ContainsAny(s, "\"$`\\") {
		return "\"" + s + "\""
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// quoteIfNeeded is GNU's quotef: a name is quoted only when the shell
// would need it.
func quoteIfNeeded(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=./:,@%^") == "" {
		return s
	}
	return quoteName(s)
}

// errText is strerror(errno) of a file operation's error, as GNU prints it.
func errText(err error) string {
	var errno syscall.Errno
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "No such file or directory"
	case errors.Is(err, fs.ErrExist):
		return "File exists"
	case errors.Is(err, ErrNotDir), errors.Is(err, syscall.ENOTDIR):
		return "Not a directory"
	case errors.Is(err, ErrIsDir), errors.Is(err, syscall.EISDIR):
		return "Is a directory"
	case errors.Is(err, ErrNotEmpty), errors.Is(err, syscall.ENOTEMPTY):
		return "Directory not empty"
	case errors.Is(err, ErrLoop), errors.Is(err, syscall.ELOOP):
		return "Too many levels of symbolic links"
	case errors.Is(err, fs.ErrPermission):
		return "Operation not permitted"
	case errors.Is(err, fs.ErrInvalid):
		return "Invalid argument"
	case errors.As(err, &errno):
		s := errno.Error()
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return err.Error()
}

// fsFailure says whether err is a condition the real program would report
// (ENOENT, EEXIST, ...) rather than a failure of the virtual root itself;
// the latter (content the runner did not keep, I/O) stops the build.
func fsFailure(c *Call, err error) error {
	if errors.Is(err, ErrNotRetained) {
		return Refuse(c.Name, "%v", err)
	}
	var pe *fs.PathError
	var le *os.LinkError
	if errors.As(err, &pe) || errors.As(err, &le) {
		return nil
	}
	return err
}

// diag prints "prog: msg: strerror" for a failed file operation and
// returns exit status 1, or the build failure when err is not one a
// program reports.
func diag(c *Call, err error, format string, args ...any) error {
	if f := fsFailure(c, err); f != nil {
		return f
	}
	fmt.Fprintf(c.Stderr, "%s: %s: %s\n", c.Name, fmt.Sprintf(format, args...), errText(err))
	return ExitStatus(1)
}

// readAllFile reads a file of the image by the name a script gave.
func readAllFile(c *Call, name string) ([]byte, error) {
	f, err := c.FS.OpenFile(c.Abs(name), os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return b, nil
}

// inputs reads each operand ("-" or none: stdin) and calls fn with its
// content; a missing file is reported as "prog: name: strerror" and makes
// the status 1, as cat, md5sum, head... do.
func inputs(c *Call, names []string, fn func(name string, data []byte) error) error {
	if len(names) == 0 {
		names = []string{"-"}
	}
	status := error(nil)
	for _, n := range names {
		var data []byte
		var err error
		if n == "-" {
			data, err = io.ReadAll(c.Stdin)
			if err != nil {
				return fmt.Errorf("%s: read stdin: %w", c.Name, err)
			}
		} else {
			data, err = readAllFile(c, n)
			if err != nil {
				if f := fsFailure(c, err); f != nil {
					return f
				}
				fmt.Fprintf(c.Stderr, "%s: %s: %s\n", c.Name, n, errText(err))
				status = ExitStatus(1)
				continue
			}
		}
		if err := fn(n, data); err != nil {
			return err
		}
	}
	return status
}

// isDir says whether name is a directory, following symlinks.
func isDir(c *Call, name string) bool {
	i, err := c.FS.Stat(c.Abs(name))
	return err == nil && i.IsDir()
}

// joinOperand is "dir/base" as GNU forms a destination inside a directory
// (keeping the operand's spelling for messages).
func joinOperand(dir, base string) string {
	if strings.HasSuffix(dir, "/") {
		return dir + base
	}
	return dir + "/" + base
}

// lastElem is the base name of an operand as the tools take it
// (trailing slashes ignored).
func lastElem(p string) string {
	p = strings.TrimRight(p, "/")
	if p == "" {
		return "/"
	}
	return path.Base(p)
}

// unixMode converts st_mode permission bits to fs.FileMode bits.
func unixMode(v uint32) fs.FileMode {
	m := fs.FileMode(v & 0o777)
	if v&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if v&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if v&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// modeBits converts fs.FileMode permission and special bits to st_mode's.
func modeBits(m fs.FileMode) uint32 {
	v := uint32(m & 0o777)
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	return v
}

// applyMode computes the new permission bits of a file from a chmod-style
// mode string: octal, or symbolic clauses ([ugoa]*([-+=]([rwxXst]*|[ugo]))+,
// comma separated) as GNU's mode_adjust does. umask applies to clauses
// without who letters; dir says whether X and the kept setgid/setuid bits
// of directories apply.
func applyMode(spec string, old uint32, dir bool, umask uint32) (uint32, bool) {
	if spec != "" && spec[0] >= '0' && spec[0] <= '7' {
		v, err := strconv.ParseUint(spec, 8, 32)
		if err != nil || v > 0o7777 {
			return 0, false
		}
		n := uint32(v)
		// GNU: an octal mode of fewer than 5 digits keeps a directory's
		// setuid/setgid bits unless they are given.
		if dir && len(spec) < 5 {
			n |= old & 0o6000 &^ n
		}
		return n, true
	}
	cur := old
	for _, clause := range strings.Split(spec, ",") {
		if clause == "" {
			return 0, false
		}
		i := 0
		var who uint32
		for i < len(clause) && strings.IndexByte("ugoa", clause[i]) >= 0 {
			switch clause[i] {
			case 'u':
				who |= 0o4700
			case 'g':
				who |= 0o2070
			case 'o':
				who |= 0o1007
			case 'a':
				who |= 0o7777
			}
			i++
		}
		if i == len(clause) {
			return 0, false
		}
		for i < len(clause) {
			op := clause[i]
			if op != '+' && op != '-' && op != '=' {
				return 0, false
			}
			i++
			var bits uint32
			copyFrom := false
			if i < len(clause) && strings.IndexByte("ugo", clause[i]) >= 0 {
				var src uint32
				switch clause[i] {
				case 'u':
					src = (cur >> 6) & 7
				case 'g':
					src = (cur >> 3) & 7
				case 'o':
					src = cur & 7
				}
				bits = src<<6 | src<<3 | src
				copyFrom = true
				i++
			} else {
				for i < len(clause) && strings.IndexByte("rwxXst", clause[i]) >= 0 {
					switch clause[i] {
					case 'r':
						bits |= 0o444
					case 'w':
						bits |= 0o222
					case 'x':
						bits |= 0o111
					case 'X':
						if dir || cur&0o111 != 0 {
							bits |= 0o111
						}
					case 's':
						bits |= 0o6000
					case 't':
						bits |= 0o1000
					}
					i++
				}
			}
			mask := who
			if who == 0 {
				mask = 0o7777 &^ umask
				if copyFrom {
					mask = 0o7777 &^ umask
				}
			}
			switch op {
			case '+':
				cur |= bits & mask
			case '-':
				cur &^= bits & mask
			case '=':
				clear := who
				if who == 0 {
					clear = 0o7777
				}
				// GNU keeps a directory's setuid/setgid bits on '='
				// unless they are named.
				if dir {
					clear &^= 0o6000 &^ bits
				}
				cur = cur&^clear | bits&mask
			}
		}
	}
	return cur, true
}
