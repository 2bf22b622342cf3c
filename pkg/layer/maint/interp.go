package maint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// The interpreter glue: mvdan.cc/sh/v3 runs a script; every file operation
// goes to the virtual root through the handlers below, every command to
// dispatch: a Go command (Registry), a shell script of the image
// (interpreted in turn), or a refusal. Nothing reaches the host: no
// process is started, no host file is opened, the environment is fixed
// and time comes from SOURCE_DATE_EPOCH.

// DefaultPath is the PATH dpkg gives maintainer scripts (it requires the
// sbin directories).
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// maxNesting bounds scripts running scripts (sh -c, image scripts, sources).
const maxNesting = 24

// maxFrames bounds the Go stack a script may use through nested shell
// function calls (some 500 levels).
const maxFrames = 20000

// Script is one maintainer script run.
type Script struct {
	Package string // "postgresql-common"
	Name    string // "preinst", "postinst", "prerm", "postrm", "config"
	// Path is $0, as dpkg runs it ("/var/lib/dpkg/info/pkg.postinst").
	Path string
	Body []byte
	Args []string
	// Env adds to the shell's fixed environment ("DPKG_MAINTSCRIPT_NAME=postinst").
	Env []string
}

// Impl says how a command of a script was run, for the trace.
type Impl string

const (
	ImplGo        Impl = "go"        // a Go implementation (exact)
	ImplNoOp      Impl = "no-op"     // a Go no-op, Reason says why
	ImplScript    Impl = "script"    // a shell script of the image, interpreted
	ImplDeviation Impl = "deviation" // skipped by Policy.Deviations
	ImplRefused   Impl = "refused"   // no faithful implementation
	ImplSkipped   Impl = "skipped"   // refused, skipped by AllowRefused
	ImplNotFound  Impl = "not-found" // exit 127, as a shell
)

// Event is one command a script ran.
type Event struct {
	Package, Script string
	// File is the script file the command is in when it is not the
	// maintainer script itself (a sourced helper, an image script).
	File    string
	Line    uint
	Args    []string
	Impl    Impl
	Path    string // the program's path in the image, when found there
	Reason  string // no-op reason, deviation reason, refusal
	Effects []string
	Status  int
	Depth   int // nesting: 0 for commands of the maintainer script itself
}

// Command returns the command line as run.
func (e Event) Command() string { return quoteArgs(e.Args) }

func quoteArgs(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && !strings.ContainsAny(a, " \t\n'\"\\$`*?[]{}()<>|&;#~") {
			b.WriteString(a)
			continue
		}
		q, err := syntax.Quote(a, syntax.LangPOSIX)
		if err != nil {
			q = fmt.Sprintf("%q", a)
		}
		b.WriteString(q)
	}
	return b.String()
}

// ScriptError is a script that failed: a non-zero exit, a refused command,
// or an error of the build itself. It names the package, the script, the
// line and the command.
type ScriptError struct {
	Package, Script string
	File            string // when the failing command is in another file
	Line            uint
	Command         string
	Status          int // exit status (0 for refusals and build errors)
	Err             error
	// Output is the end of what the script printed (stdout and stderr).
	Output string
}

func (e *ScriptError) Error() string {
	where := e.Package + " " + e.Script
	if e.File != "" {
		where += " (" + e.File + ")"
	}
	if e.Line > 0 {
		where += fmt.Sprintf(" line %d", e.Line)
	}
	if e.Command != "" {
		where += fmt.Sprintf(" %q", e.Command)
	}
	msg := fmt.Sprintf("%s: exit status %d", where, e.Status)
	if e.Err != nil {
		msg = where + ": " + e.Err.Error()
	}
	if out := strings.TrimSpace(e.Output); out != "" {
		msg += "; output: " + strings.ReplaceAll(out, "\n", " | ")
	}
	return msg
}

func (e *ScriptError) Unwrap() error { return e.Err }

// Shell runs scripts over a virtual root. One Shell serves a whole build;
// Run is not safe for concurrent use.
type Shell struct {
	FS       *VFS
	Host     Host
	Registry *Registry
	// Env is the fixed environment ("KEY=VALUE"); BaseEnv builds dpkg's.
	Env []string
	// Trace receives every command run (nil: none).
	Trace func(Event)
	// Output receives the scripts' stdout and stderr (nil: discarded).
	Output io.Writer
	// AllowRefused skips a refused command (exit status 0) and reports it
	// in the trace instead of failing (--allow-unhandled-scripts).
	AllowRefused bool

	deviations []*regexp.Regexp
	devReasons []string
}

// BaseEnv is the environment dpkg gives every maintainer script, with no
// host variable: a fixed PATH, the noninteractive debconf frontend, the
// build's SOURCE_DATE_EPOCH.
func BaseEnv(arch string, epoch time.Time) []string {
	return []string{
		"PATH=" + DefaultPath,
		"HOME=/root",
		"LANG=C.UTF-8",
		"TERM=dumb",
		"SHELL=/bin/sh",
		"USER=root",
		"LOGNAME=root",
		"PWD=/",
		"DEBIAN_FRONTEND=noninteractive",
		"DEBCONF_NONINTERACTIVE_SEEN=true",
		"DPKG_ROOT=",
		"DPKG_ADMINDIR=/var/lib/dpkg",
		"DPKG_FORCE=",
		"DPKG_RUNNING_VERSION=1.22.21",
		"DPKG_FRONTEND_LOCKED=true",
		"DPKG_MAINTSCRIPT_ARCH=" + arch,
		"SOURCE_DATE_EPOCH=" + fmt.Sprint(epoch.Unix()),
		"UID=0", "EUID=0", "GID=0",
		pidVar + "=4242", ppidVar + "=4241", randomVar + "=4",
		"TMPDIR=/tmp",
	}
}

// Fixed stand-ins for $$, $PPID, $RANDOM and $SRANDOM (the interpreter
// would read the host's pid and entropy): parameter expansions of those
// are renamed to these variables before a script runs.
const (
	pidVar    = "PGASSEMBLE_PID"
	ppidVar   = "PGASSEMBLE_PPID"
	randomVar = "PGASSEMBLE_RANDOM"
)

// session is one maintainer script run.
type session struct {
	sh      *Shell
	script  Script
	depth   int
	file    string // current file when nested
	top     *interp.Runner
	ctx     context.Context
	output  io.Writer
	failure *ScriptError
	// lastFail is the last command that exited non-zero, named when the
	// script fails with a status.
	lastFail *Event
	// euid, egid: the effective user (0, or su/runuser's target).
	euid, egid int
	umask      fs.FileMode // the shell's file mode creation mask (umask builtin)
}

func (sh *Shell) compileDeviations() error {
	if sh.deviations != nil || sh.Host == nil || sh.Host.Policy() == nil {
		return nil
	}
	sh.deviations = []*regexp.Regexp{}
	for _, d := range sh.Host.Policy().Deviations {
		re, err := regexp.Compile(d.Match)
		if err != nil {
			return fmt.Errorf("policy deviation %q: %w", d.Match, err)
		}
		sh.deviations = append(sh.deviations, re)
		sh.devReasons = append(sh.devReasons, d.Reason)
	}
	return nil
}

// ErrScriptPanic: the interpreter panicked on a script (a bug of
// pgassemble or of the shell library); the build stops naming the package
// and script instead of crashing.
var ErrScriptPanic = errors.New("shell interpreter panicked")

// Run runs one script. A non-zero exit status, a refused command or a
// build error is a *ScriptError.
func (sh *Shell) Run(ctx context.Context, s Script) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &ScriptError{Package: s.Package, Script: s.Name, Err: fmt.Errorf("%w: %v", ErrScriptPanic, p)}
		}
	}()
	if err := sh.compileDeviations(); err != nil {
		return err
	}
	if s.Path == "" {
		s.Path = "/var/lib/dpkg/info/" + s.Package + "." + s.Name
	}
	tail := &tailBuffer{max: 1024}
	var out io.Writer = tail
	if sh.Output != nil {
		out = io.MultiWriter(sh.Output, tail)
	}
	se := &session{sh: sh, script: s, ctx: ctx, output: out, umask: 0o022}
	file, err := parseScript(s.Body, s.Path)
	if err != nil {
		return &ScriptError{Package: s.Package, Script: s.Name, Err: err}
	}
	env := append(slices.Clone(sh.Env), s.Env...)
	status, err := se.runFile(ctx, file, s.Path, s.Args, expand.ListEnviron(env...), "/", nil, true)
	if se.failure != nil {
		se.failure.Output = tail.String()
		return se.failure
	}
	if err != nil {
		return &ScriptError{Package: s.Package, Script: s.Name, Err: err, Output: tail.String()}
	}
	if status != 0 {
		e := &ScriptError{Package: s.Package, Script: s.Name, Status: status, Output: tail.String()}
		if lf := se.lastFail; lf != nil {
			e.File, e.Line, e.Command = lf.File, lf.Line, lf.Command()
		}
		return e
	}
	return nil
}

// tailBuffer keeps the last max bytes written.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

// parseScript parses a script and rewrites what would read the host
// ($$, $PPID, $RANDOM); it refuses constructs that would run beside the
// script or touch the host (background jobs, coprocesses, process
// substitution).
func parseScript(body []byte, name string) (*syntax.File, error) {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(bytes.NewReader(body), name)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", name, err)
	}
	if err := sanitize(f); err != nil {
		return nil, err
	}
	exemptCompounds(f) // errexit.go: an upstream set -e bug
	return f, nil
}

func sanitize(node syntax.Node) error {
	var bad error
	syntax.Walk(node, func(n syntax.Node) bool {
		if bad != nil {
			return false
		}
		switch x := n.(type) {
		case *syntax.Stmt:
			if x.Background {
				bad = Refuse("&", "line %d: background jobs are not run (they would outlive the script)", x.Pos().Line())
			}
			if x.Coprocess {
				bad = Refuse("coproc", "line %d: coprocesses are not run", x.Pos().Line())
			}
		case *syntax.ProcSubst:
			bad = Refuse("<(...)", "line %d: process substitution needs host FIFOs", x.Pos().Line())
		case *syntax.ParamExp:
			if x.Param != nil {
				switch x.Param.Value {
				case "$":
					x.Param.Value = pidVar
				case "PPID":
					x.Param.Value = ppidVar
				case "RANDOM", "SRANDOM":
					x.Param.Value = randomVar
				}
			}
		}
		return true
	})
	return bad
}

// exported returns the exported variables of env as KEY=VALUE.
func exported(env expand.Environ) []string {
	var out []string
	env.Each(func(name string, vr expand.Variable) bool {
		if vr.Exported && vr.IsSet() {
			out = append(out, name+"="+vr.String())
		}
		return true
	})
	return out
}

// runFile interprets a parsed script with params; it returns the exit
// status. Fatal errors (refusals, build errors) are recorded in failure.
func (se *session) runFile(ctx context.Context, f *syntax.File, name string, params []string, env expand.Environ, dir string, stdio []any, top bool) (int, error) {
	if se.depth >= maxNesting {
		return 0, fmt.Errorf("%s: scripts nested more than %d deep", name, maxNesting)
	}
	var stdin io.Reader = bytes.NewReader(nil)
	stdout, stderr := se.output, se.output
	if stdio != nil {
		if r, ok := stdio[0].(io.Reader); ok && r != nil {
			stdin = r
		}
		if w, ok := stdio[1].(io.Writer); ok && w != nil {
			stdout = w
		}
		if w, ok := stdio[2].(io.Writer); ok && w != nil {
			stderr = w
		}
	}
	var r *interp.Runner
	opts := []interp.RunnerOption{
		interp.Env(env),
		func(r *interp.Runner) error { r.Dir = dir; return nil },
		interp.StdIO(stdin, stdout, stderr),
		interp.Params(append([]string{"--"}, params...)...),
		interp.OpenHandler(se.open),
		interp.StatHandler(se.stat),
		interp.ReadDirHandler2(se.readDir),
		interp.AccessHandler(se.access),
		interp.CallHandler(func(ctx context.Context, args []string) ([]string, error) { return se.call(ctx, r, args) }),
		interp.ExecHandlers(func(next interp.ExecHandlerFunc) interp.ExecHandlerFunc { return se.exec }),
	}
	r, err := interp.New(opts...)
	if err != nil {
		return 0, err
	}
	if top {
		se.top = r
	}
	oldFile := se.file
	if !top {
		se.file = name
	}
	se.depth++
	err = r.Run(ctx, f)
	se.depth--
	se.file = oldFile
	if st, ok := errors.AsType[interp.ExitStatus](err); ok {
		return int(st), nil
	}
	if err != nil {
		return 0, err
	}
	return 0, nil
}

func (se *session) abs(ctx context.Context, p string) string {
	if strings.HasPrefix(p, "/") {
		return cleanAbs(p)
	}
	return cleanAbs(interp.HandlerCtx(ctx).Dir + "/" + p)
}

const shimPrefix = "\x00shim:"

func (se *session) open(ctx context.Context, p string, flag int, perm os.FileMode) (io.ReadWriteCloser, error) {
	if rest, ok := strings.CutPrefix(p, shimPrefix); ok {
		if sh, ok := se.sh.Registry.Shim(rest); ok {
			return &readFile{r: bytes.NewReader([]byte(sh.Text))}, nil
		}
	}
	hc := interp.HandlerCtx(ctx)
	switch p {
	case "/dev/stdout", "/dev/fd/1":
		return nopRWC{w: hc.Stdout}, nil
	case "/dev/stderr", "/dev/fd/2":
		return nopRWC{w: hc.Stderr}, nil
	case "/dev/stdin", "/dev/fd/0":
		return nopRWC{r: hc.Stdin}, nil
	case "/dev/tty", "/dev/console":
		return nil, &fs.PathError{Op: "open", Path: p, Err: errors.New("no such device or address")}
	}
	return se.sh.FS.OpenFile(se.abs(ctx, p), flag, perm&^se.umask)
}

type nopRWC struct {
	r io.Reader
	w io.Writer
}

func (n nopRWC) Read(p []byte) (int, error) {
	if n.r == nil {
		return 0, io.EOF
	}
	return n.r.Read(p)
}

func (n nopRWC) Write(p []byte) (int, error) {
	if n.w == nil {
		return 0, fs.ErrPermission
	}
	return n.w.Write(p)
}
func (nopRWC) Close() error { return nil }

// fileInfo adapts Info to fs.FileInfo for the interpreter.
type fileInfo struct {
	i          Info
	euid, egid int
}

func (f fileInfo) Name() string       { return f.i.Name }
func (f fileInfo) Size() int64        { return f.i.Size }
func (f fileInfo) Mode() fs.FileMode  { return f.i.Mode }
func (f fileInfo) ModTime() time.Time { return time.Unix(0, 0).UTC() }
func (f fileInfo) IsDir() bool        { return f.i.Mode.IsDir() }

// Sys answers the interpreter's `test -O` / `-G`, which compare the
// owner with the host's current user: the file counts as owned when its
// owner in the image is the script's effective user (root, or the user
// of su/runuser).
func (f fileInfo) Sys() any {
	st := &syscall.Stat_t{Uid: ^uint32(0) - 1, Gid: ^uint32(0) - 1, Mode: uint32(f.i.Mode.Perm()), Size: f.i.Size}
	if f.i.Uid == f.euid {
		st.Uid = uint32(os.Getuid())
	}
	if f.i.Gid == f.egid {
		st.Gid = uint32(os.Getgid())
	}
	return st
}

func (se *session) stat(ctx context.Context, name string, follow bool) (fs.FileInfo, error) {
	if name == "" { // stat("") is ENOENT, not the working directory
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	p := se.abs(ctx, name)
	var i Info
	var err error
	if follow {
		i, err = se.sh.FS.Stat(p)
	} else {
		i, err = se.sh.FS.Lstat(p)
	}
	if err != nil {
		return nil, err
	}
	return fileInfo{i: i, euid: se.euid, egid: se.egid}, nil
}

func (se *session) readDir(ctx context.Context, name string) ([]fs.DirEntry, error) {
	infos, err := se.sh.FS.ReadDir(se.abs(ctx, name))
	if err != nil {
		return nil, err
	}
	out := make([]fs.DirEntry, len(infos))
	for i, in := range infos {
		out[i] = fs.FileInfoToDirEntry(fileInfo{i: in, euid: se.euid, egid: se.egid})
	}
	return out, nil
}

func (se *session) access(ctx context.Context, name string, mode interp.AccessMode) error {
	if name == "" { // access("") is ENOENT: [ -x "$(command -v absent)" ] is false
		return &fs.PathError{Op: "access", Path: name, Err: fs.ErrNotExist}
	}
	i, err := se.sh.FS.Stat(se.abs(ctx, name))
	if err != nil {
		return err
	}
	// Scripts run as root: only execution needs a permission bit.
	if mode&interp.AccessExec != 0 && !i.IsDir() && i.Mode&0o111 == 0 {
		return &fs.PathError{Op: "access", Path: name, Err: fs.ErrPermission}
	}
	return nil
}

// Internal command names the call handler rewrites builtins to (a NUL
// byte cannot come from a script).
const (
	internalCommandV = "\x00command-v"
	internalType     = "\x00type"
	internalUmask    = "\x00umask"
)

// call rewrites builtins that would look at the host: command -v/-V and
// type search PATH in the image instead; source/. read the image (or a
// registered shim); eval'd and sourced text is checked like the script.
func (se *session) call(ctx context.Context, r *interp.Runner, args []string) ([]string, error) {
	// Unbounded recursion (f() { f; }; f) would exhaust the Go stack,
	// which no recover catches: bound it as a shell's FUNCNEST would.
	// Skipping maxFrames frames, is there one more? (A buffer of every
	// frame, 160 kB on the heap per call, was a third of what a cold
	// build allocated.)
	var pcs [1]uintptr
	if runtime.Callers(maxFrames, pcs[:]) > 0 {
		return nil, se.fail(ctx, args, errors.New("function calls nested too deep (runaway recursion)"))
	}
	switch args[0] {
	case "command":
		if len(args) > 2 && (args[1] == "-v" || args[1] == "-V") {
			return append([]string{internalCommandV}, args[1:]...), nil
		}
		if err := se.checkRuntimeCode(args); err != nil {
			return nil, se.fail(ctx, args, err)
		}
	case "type":
		if len(args) > 1 {
			return append([]string{internalType}, args[1:]...), nil
		}
	case "umask":
		return append([]string{internalUmask}, args[1:]...), nil
	case "trap":
		if err := se.checkRuntimeCode(args); err != nil {
			return nil, se.fail(ctx, args, err)
		}
		return trapSignals(args), nil
	case "eval", "alias", "builtin":
		if err := se.checkRuntimeCode(args); err != nil {
			return nil, se.fail(ctx, args, err)
		}
	case ".", "source":
		if len(args) < 2 {
			break
		}
		hc := interp.HandlerCtx(ctx)
		p := args[1]
		if !strings.Contains(p, "/") {
			if found, ok := se.lookPath(hc.Env, p, false); ok {
				p = found
			}
		}
		p = se.abs(ctx, p)
		if _, ok := se.sh.Registry.Shim(p); ok {
			se.trace(ctx, Event{Args: args, Impl: ImplGo, Path: p, Reason: "sourced file replaced by a shim"})
			out := slices.Clone(args)
			out[1] = shimPrefix + p
			return out, nil
		}
		body, err := se.sh.FS.ReadFile(p)
		if err == nil {
			f, err := syntax.NewParser().Parse(bytes.NewReader(body), p)
			if err == nil {
				if err := sanitize(f); err != nil {
					return nil, se.fail(ctx, args, err)
				}
			}
		}
		out := slices.Clone(args)
		out[1] = p
		return out, nil
	}
	return args, nil
}

// checkRuntimeCode applies sanitize to shell text parsed while the script
// runs: eval's arguments, trap actions, alias values, and sourced files
// reached through the command/builtin wrappers (which call the builtin
// without this handler).
func (se *session) checkRuntimeCode(args []string) error {
	a := args
	for len(a) > 1 && (a[0] == "command" || a[0] == "builtin") && !strings.HasPrefix(a[1], "-") {
		a = a[1:]
	}
	var texts []string
	switch a[0] {
	case "eval":
		texts = append(texts, strings.Join(a[1:], " "))
	case "trap":
		rest := a[1:]
		if len(rest) > 0 && rest[0] == "--" {
			rest = rest[1:]
		}
		if len(rest) > 1 {
			texts = append(texts, rest[0])
		}
	case "alias":
		for _, x := range a[1:] {
			if _, v, ok := strings.Cut(x, "="); ok {
				texts = append(texts, v)
			}
		}
	case ".", "source":
		if len(a) > 1 {
			if b, err := se.sh.FS.ReadFile(cleanAbs("/" + a[1])); err == nil {
				texts = append(texts, string(b))
			}
		}
	}
	for _, t := range texts {
		f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(t), "")
		if err != nil {
			continue // the builtin reports the syntax error itself
		}
		if err := sanitize(f); err != nil {
			return err
		}
	}
	return nil
}

// lookPath finds an executable (or, for source, any regular file) named
// name on the script's PATH, in the image.
func (se *session) lookPath(env expand.Environ, name string, exec bool) (string, bool) {
	pathVar := env.Get("PATH").String()
	for _, dir := range strings.Split(pathVar, ":") {
		if dir == "" || !strings.HasPrefix(dir, "/") {
			continue
		}
		p := cleanAbs(dir + "/" + name)
		i, err := se.sh.FS.Stat(p)
		if err != nil || i.IsDir() || (exec && i.Mode&0o111 == 0) {
			continue
		}
		return p, true
	}
	return "", false
}

// resolved is how a command name is run.
type resolved struct {
	path string // in the image ("" if not there)
	spec *Spec
}

// resolve finds a command: its path in the image and its Go
// implementation, if the implementation applies (Spec.Paths present in
// the image, or no Paths).
func (se *session) resolve(env expand.Environ, dir, name string) resolved {
	var res resolved
	if strings.Contains(name, "/") {
		p := name
		if !strings.HasPrefix(p, "/") {
			p = dir + "/" + p
		}
		p = cleanAbs(p)
		if i, err := se.sh.FS.Stat(p); err == nil && !i.IsDir() {
			res.path = p
		}
	} else if p, ok := se.lookPath(env, name, true); ok {
		res.path = p
	}
	candidates := []string{path.Base(name)}
	if res.path != "" {
		if real, err := se.realPath(res.path); err == nil && path.Base(real) != candidates[0] {
			candidates = append(candidates, path.Base(real))
		}
	}
	for _, c := range candidates {
		s, ok := se.sh.Registry.Lookup(c)
		if !ok {
			continue
		}
		if len(s.Paths) == 0 || se.anyExists(s.Paths) {
			res.spec = &s
			return res
		}
	}
	return res
}

func (se *session) anyExists(paths []string) bool {
	for _, p := range paths {
		if se.sh.FS.Exists(p) {
			return true
		}
	}
	return false
}

func (se *session) realPath(p string) (string, error) {
	rp, n, err := se.sh.FS.resolve(p, true)
	if err != nil || n == nil {
		return "", fs.ErrNotExist
	}
	return rp, nil
}

func (se *session) trace(ctx context.Context, ev Event) {
	ev.Package, ev.Script = se.script.Package, se.script.Name
	if ev.File == "" {
		ev.File = se.file
	}
	if ev.Line == 0 {
		ev.Line = posLine(ctx)
	}
	ev.Depth = se.depth - 1
	if ev.Status != 0 {
		e := ev
		se.lastFail = &e
	}
	if se.sh.Trace != nil {
		se.sh.Trace(ev)
	}
}

func posLine(ctx context.Context) uint {
	if ctx == nil {
		return 0
	}
	defer func() { _ = recover() }()
	return interp.HandlerCtx(ctx).Pos.Line()
}

// fail records a fatal error of the script with where it happened.
func (se *session) fail(ctx context.Context, args []string, err error) error {
	if se.failure == nil {
		se.failure = &ScriptError{Package: se.script.Package, Script: se.script.Name, File: se.file,
			Line: posLine(ctx), Command: quoteArgs(args), Err: err}
	}
	return se.failure
}

// exec runs a simple command that is not a function or builtin.
func (se *session) exec(ctx context.Context, args []string) error {
	hc := interp.HandlerCtx(ctx)
	err := se.dispatch(ctx, hc.Env, hc.Dir, hc.Stdin, hc.Stdout, hc.Stderr, args)
	return se.toInterp(ctx, args, err)
}

// toInterp turns a command's result into what the interpreter expects.
func (se *session) toInterp(ctx context.Context, args []string, err error) error {
	if err == nil {
		return nil
	}
	if st, ok := errors.AsType[ExitStatus](err); ok {
		return interp.ExitStatus(uint8(st))
	}
	if st, ok := errors.AsType[interp.ExitStatus](err); ok {
		return st
	}
	if se.failure != nil {
		return se.failure
	}
	return se.fail(ctx, args, err)
}

// dispatch runs one command: what exec and Call.Exec share.
func (se *session) dispatch(ctx context.Context, env expand.Environ, dir string, stdin io.Reader, stdout, stderr io.Writer, args []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	name := args[0]
	switch name {
	case internalCommandV:
		return se.commandV(ctx, env, dir, stdout, args[1:])
	case internalType:
		return se.typeCmd(ctx, env, dir, stdout, stderr, args[1:])
	case internalUmask:
		return se.umaskCmd(stdout, stderr, args[1:])
	}
	line := strings.Join(args, " ")
	for i, re := range se.sh.deviations {
		if re.MatchString(line) {
			se.trace(ctx, Event{Args: args, Impl: ImplDeviation, Reason: se.sh.devReasons[i]})
			return nil
		}
	}
	if base := path.Base(name); base == "sh" || base == "bash" || base == "dash" {
		return se.runShell(ctx, env, dir, stdin, stdout, stderr, args)
	}
	res := se.resolve(env, dir, name)
	if res.spec != nil {
		return se.runGo(ctx, env, dir, stdin, stdout, stderr, args, res)
	}
	if res.path == "" {
		fmt.Fprintf(stderr, "%s: not found\n", name)
		se.trace(ctx, Event{Args: args, Impl: ImplNotFound, Status: 127})
		return ExitStatus(127)
	}
	return se.runImage(ctx, env, dir, stdin, stdout, stderr, args, res.path)
}

func (se *session) runGo(ctx context.Context, env expand.Environ, dir string, stdin io.Reader, stdout, stderr io.Writer, args []string, res resolved) error {
	ev := Event{Args: args, Impl: ImplGo, Path: res.path}
	if res.spec.Kind == NoOp {
		ev.Impl, ev.Reason = ImplNoOp, res.spec.Reason
	}
	line := posLine(ctx)
	c := &Call{
		Ctx: ctx, Name: path.Base(args[0]), Args: args[1:],
		Stdin: stdin, Stdout: ctxWriter{ctx, stdout}, Stderr: ctxWriter{ctx, stderr},
		Env:     func(n string) string { return env.Get(n).String() },
		Dir:     dir,
		Umask:   se.umask,
		FS:      se.sh.FS,
		Host:    se.sh.Host,
		Package: se.script.Package, Script: se.script.Name, Line: line,
		Effect: func(format string, a ...any) { ev.Effects = append(ev.Effects, fmt.Sprintf(format, a...)) },
		Exec: func(argv []string, in io.Reader, out, errw io.Writer) error {
			if len(argv) == 0 {
				return nil
			}
			return se.dispatch(ctx, env, dir, in, out, errw, argv)
		},
		execAs: func(uid, gid int, setEnv []string, argv []string) error {
			if len(argv) == 0 {
				return nil
			}
			ouid, ogid := se.euid, se.egid
			se.euid, se.egid = uid, gid
			defer func() { se.euid, se.egid = ouid, ogid }()
			e := expand.ListEnviron(append(exported(env), setEnv...)...)
			return se.dispatch(ctx, e, dir, stdin, stdout, stderr, argv)
		},
	}
	if c.Stdin == nil {
		c.Stdin = bytes.NewReader(nil)
	}
	err := runRecovered(res.spec.Run, c)
	if errors.Is(err, syscall.EPIPE) {
		// The reader of a pipe went away: SIGPIPE ends the writer
		// quietly in a shell, with status 128+13.
		err = ExitStatus(141)
	}
	var refused *RefusedError
	switch {
	case err == nil:
	case errors.As(err, &refused):
		return se.refused(ctx, ev, err)
	default:
		if st, ok := errors.AsType[ExitStatus](err); ok {
			ev.Status = int(st)
		} else {
			ev.Status = -1
			ev.Reason = err.Error()
		}
	}
	se.trace(ctx, ev)
	return err
}

// ctxWriter stops a command's output once the script is cancelled, so a
// command writing in a loop ends with the script.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// ErrCommandPanic: a Go command panicked (a bug of pgassemble); the build
// stops with the command's name instead of crashing.
var ErrCommandPanic = errors.New("command panicked")

func runRecovered(run Command, c *Call) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: %w: %v", c.Name, ErrCommandPanic, p)
		}
	}()
	return run(c)
}

// refused reports a refusal: fatal unless AllowRefused.
func (se *session) refused(ctx context.Context, ev Event, err error) error {
	ev.Impl, ev.Reason = ImplRefused, err.Error()
	if se.sh.AllowRefused {
		ev.Impl = ImplSkipped
		se.trace(ctx, ev)
		return nil
	}
	se.trace(ctx, ev)
	return se.fail(ctx, ev.Args, err)
}

// runImage runs a program of the image without Go implementation: shell
// scripts are interpreted, anything else is refused.
func (se *session) runImage(ctx context.Context, env expand.Environ, dir string, stdin io.Reader, stdout, stderr io.Writer, args []string, p string) error {
	ev := Event{Args: args, Path: p}
	body, err := se.sh.FS.ReadFile(p)
	if err != nil {
		if errors.Is(err, ErrNotRetained) {
			return se.refused(ctx, ev, Refuse(path.Base(args[0]), "%s is a program of the image without Go implementation (binary)", p))
		}
		return se.fail(ctx, args, err)
	}
	interpName, ok := shellInterpreter(body)
	if !ok {
		return se.refused(ctx, ev, Refuse(path.Base(args[0]), "%s is a program of the image without Go implementation (%s)", p, interpName))
	}
	f, err := parseScript(body, p)
	if err != nil {
		var refusal *RefusedError
		if errors.As(err, &refusal) {
			return se.refused(ctx, ev, err)
		}
		return se.refused(ctx, ev, Refuse(path.Base(args[0]), "%v", err))
	}
	ev.Impl = ImplScript
	se.trace(ctx, ev)
	st, err := se.runFile(ctx, f, p, args[1:], expand.ListEnviron(exported(env)...), dir, []any{stdin, stdout, stderr}, false)
	if err != nil {
		return err
	}
	if st != 0 {
		return ExitStatus(st)
	}
	return nil
}

// shellInterpreter says whether a program is a POSIX shell script, and
// names its kind otherwise.
func shellInterpreter(body []byte) (string, bool) {
	if bytes.HasPrefix(body, []byte("\x7fELF")) {
		return "ELF binary", false
	}
	first, _, _ := bytes.Cut(body, []byte("\n"))
	if bytes.IndexByte(first, 0) >= 0 {
		return "binary", false
	}
	if !bytes.HasPrefix(first, []byte("#!")) {
		return "sh", true // run by the shell, as execve's ENOEXEC fallback
	}
	fields := strings.Fields(string(first[2:]))
	if len(fields) == 0 {
		return "sh", true
	}
	interpName := path.Base(fields[0])
	if interpName == "env" && len(fields) > 1 {
		interpName = path.Base(fields[1])
	}
	switch interpName {
	case "sh", "bash", "dash":
		return interpName, true
	}
	return interpName + " script", false
}

// runShell runs sh/bash: -c STRING [NAME [ARGS]], a script file, or
// stdin.
func (se *session) runShell(ctx context.Context, env expand.Environ, dir string, stdin io.Reader, stdout, stderr io.Writer, args []string) error {
	ev := Event{Args: args, Impl: ImplScript}
	rest := args[1:]
	var cmd *string
	for len(rest) > 0 && strings.HasPrefix(rest[0], "-") && rest[0] != "-" && rest[0] != "--" {
		opt := rest[0]
		rest = rest[1:]
		if opt == "-c" {
			if len(rest) == 0 {
				return se.refused(ctx, ev, Refuse(args[0], "-c without a command"))
			}
			s := rest[0]
			cmd, rest = &s, rest[1:]
			continue
		}
		for _, c := range opt[1:] {
			switch c {
			case 'e', 'u', 'x', 'f', 'n':
				// options the interpreter applies through the script below
			case 'c':
				if len(rest) == 0 {
					return se.refused(ctx, ev, Refuse(args[0], "-c without a command"))
				}
				s := rest[0]
				cmd, rest = &s, rest[1:]
			default:
				return se.refused(ctx, ev, Refuse(args[0]+" "+opt, "shell option not supported"))
			}
		}
	}
	if len(rest) > 0 && rest[0] == "--" {
		rest = rest[1:]
	}
	var body []byte
	name := args[0]
	var params []string
	switch {
	case cmd != nil:
		body = []byte(*cmd)
		if len(rest) > 0 {
			name, params = rest[0], rest[1:]
		}
	case len(rest) > 0:
		p := rest[0]
		if !strings.HasPrefix(p, "/") {
			p = dir + "/" + p
		}
		b, err := se.sh.FS.ReadFile(cleanAbs(p))
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", args[0], err)
			se.trace(ctx, Event{Args: args, Impl: ImplNotFound, Status: 127})
			return ExitStatus(127)
		}
		body, name, params = b, cleanAbs(p), rest[1:]
	default:
		b, err := io.ReadAll(stdin)
		if err != nil {
			return err
		}
		body = b
	}
	f, err := parseScript(body, name)
	if err != nil {
		var refusal *RefusedError
		if errors.As(err, &refusal) {
			return se.refused(ctx, ev, err)
		}
		fmt.Fprintf(stderr, "%s: %v\n", args[0], err)
		return ExitStatus(2)
	}
	se.trace(ctx, ev)
	st, err := se.runFile(ctx, f, name, params, expand.ListEnviron(exported(env)...), dir, []any{stdin, stdout, stderr}, false)
	if err != nil {
		return err
	}
	if st != 0 {
		return ExitStatus(st)
	}
	return nil
}

// commandV implements `command -v` / `command -V` over the image.
func (se *session) commandV(ctx context.Context, env expand.Environ, dir string, stdout io.Writer, args []string) error {
	verbose := args[0] == "-V"
	status := 0
	for _, a := range args[1:] {
		switch {
		case se.top != nil && se.top.Funcs[a] != nil:
			if verbose {
				fmt.Fprintf(stdout, "%s is a function\n", a)
			} else {
				fmt.Fprintln(stdout, a)
			}
		case interp.IsBuiltin(a) || syntax.IsKeyword(a):
			if verbose {
				fmt.Fprintf(stdout, "%s is a shell builtin\n", a)
			} else {
				fmt.Fprintln(stdout, a)
			}
		default:
			res := se.resolve(env, dir, a)
			p := res.path
			if p == "" && res.spec != nil && len(res.spec.Paths) == 0 {
				p = "/usr/bin/" + a
			}
			if p == "" {
				status = 1
				continue
			}
			if verbose {
				fmt.Fprintf(stdout, "%s is %s\n", a, p)
			} else {
				fmt.Fprintln(stdout, p)
			}
		}
	}
	if status != 0 {
		return ExitStatus(status)
	}
	return nil
}

func (se *session) typeCmd(ctx context.Context, env expand.Environ, dir string, stdout, stderr io.Writer, args []string) error {
	mode := ""
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		mode, args = args[0], args[1:]
	}
	status := 0
	for _, a := range args {
		switch {
		case mode != "-p" && mode != "-P" && se.top != nil && se.top.Funcs[a] != nil:
			if mode == "-t" {
				fmt.Fprintln(stdout, "function")
			} else {
				fmt.Fprintf(stdout, "%s is a function\n", a)
			}
		case mode != "-p" && mode != "-P" && (interp.IsBuiltin(a) || syntax.IsKeyword(a)):
			if mode == "-t" {
				fmt.Fprintln(stdout, "builtin")
			} else {
				fmt.Fprintf(stdout, "%s is a shell builtin\n", a)
			}
		default:
			res := se.resolve(env, dir, a)
			if res.path == "" {
				if mode == "" {
					fmt.Fprintf(stderr, "type: %s: not found\n", a)
				}
				status = 1
				continue
			}
			switch mode {
			case "-t":
				fmt.Fprintln(stdout, "file")
			case "-p", "-P":
				fmt.Fprintln(stdout, res.path)
			default:
				fmt.Fprintf(stdout, "%s is %s\n", a, res.path)
			}
		}
	}
	if status != 0 {
		return ExitStatus(status)
	}
	return nil
}

// umaskCmd is the shell's umask builtin (the interpreter leaves it to the
// exec handler): it is shell state, so the runner keeps it and gives it to
// commands as Call.Umask. Octal masks and -S display; symbolic masks are
// refused.
func (se *session) umaskCmd(stdout, stderr io.Writer, args []string) error {
	symbolic := false
	if len(args) > 0 && args[0] == "-S" {
		symbolic, args = true, args[1:]
	}
	switch {
	case len(args) == 0 && symbolic:
		perm := func(m fs.FileMode) string {
			var b strings.Builder
			for i, c := range "rwx" {
				if m&(4>>i) == 0 {
					b.WriteRune(c)
				}
			}
			return b.String()
		}
		fmt.Fprintf(stdout, "u=%s,g=%s,o=%s\n", perm(se.umask>>6&7), perm(se.umask>>3&7), perm(se.umask&7))
		return nil
	case len(args) == 0:
		fmt.Fprintf(stdout, "%04o\n", uint32(se.umask))
		return nil
	case len(args) == 1 && !symbolic:
		v, err := strconv.ParseUint(args[0], 8, 32)
		if err != nil || v > 0o777 {
			if strings.ContainsAny(args[0], "ugoa=+-") {
				return Refuse("umask "+args[0], "symbolic masks are not implemented")
			}
			fmt.Fprintf(stderr, "umask: Illegal number: %s\n", args[0])
			return ExitStatus(2)
		}
		se.umask = fs.FileMode(v)
		return nil
	}
	return Refuse("umask "+strings.Join(args, " "), "form not implemented")
}

// trapSignals rewrites a trap's signal list for the interpreter, which
// knows EXIT and ERR by name only: 0 (and SIGEXIT) is EXIT; the signals a
// script traps to clean up on interruption (HUP INT QUIT PIPE TERM, by
// number or name) are never delivered during an image build, so they are
// dropped; a trap left with no signal becomes ":".
func trapSignals(args []string) []string {
	out := []string{args[0]}
	i := 1
	for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "-" {
		out = append(out, args[i])
		i++
	}
	rest := args[i:]
	if len(rest) < 2 {
		return args
	}
	out = append(out, rest[0])
	kept := 0
	for _, sig := range rest[1:] {
		switch strings.TrimPrefix(strings.ToUpper(sig), "SIG") {
		case "0", "EXIT":
			out = append(out, "EXIT")
			kept++
		case "ERR":
			out = append(out, "ERR")
			kept++
		case "1", "2", "3", "13", "15", "HUP", "INT", "QUIT", "PIPE", "TERM":
		default:
			out = append(out, sig) // the interpreter reports it
			kept++
		}
	}
	if kept == 0 {
		return []string{":"}
	}
	return out
}
