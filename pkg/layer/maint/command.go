package maint

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
)

// This file is the contract between the script runner (the interpreter, the
// virtual root, dpkg's order) and the commands: Go implementations of the
// programs Debian's maintainer scripts call. A command sees the image only
// through FS and the runner only through Host; it never touches the host
// machine's files, clock or environment.

// FS is the image being built: the base, the packages unpacked so far and
// what scripts wrote. Names are absolute paths inside the image ("/etc/passwd");
// commands resolve relative arguments against Call.Dir first (Call.Abs).
// Symlinks are followed inside the root only: an absolute target or ".."
// never leaves the image. Errors are *fs.PathError wrapping fs.ErrNotExist,
// fs.ErrExist, fs.ErrInvalid or ErrNotDir/ErrIsDir as the real syscalls would.
type FS interface {
	Lstat(name string) (Info, error)
	Stat(name string) (Info, error)
	// ReadDir lists a directory (following symlinks), sorted by name.
	ReadDir(name string) ([]Info, error)
	Readlink(name string) (string, error)
	// OpenFile opens with os.O_* flags (O_RDONLY, O_WRONLY|O_CREATE|O_TRUNC,
	// O_APPEND, ...). New files are owned 0:0 with perm.
	OpenFile(name string, flag int, perm fs.FileMode) (io.ReadWriteCloser, error)
	Mkdir(name string, perm fs.FileMode) error
	// Remove removes a file, a symlink or an empty directory (not following
	// a final symlink).
	Remove(name string) error
	Rename(oldname, newname string) error
	Symlink(target, name string) error
	Link(oldname, newname string) error
	// Chmod sets the permission bits and setuid/setgid/sticky (follows symlinks).
	Chmod(name string, mode fs.FileMode) error
	// Lchown changes the owner without following a final symlink; Chown follows.
	Chown(name string, uid, gid int) error
	Lchown(name string, uid, gid int) error
}

// Info describes one path of the image.
type Info struct {
	Name     string      // base name
	Mode     fs.FileMode // type bits, permissions, setuid/setgid/sticky
	Uid, Gid int
	Size     int64
	Target   string // symlink target (Lstat, ReadDir)
}

// IsDir reports whether the path is a directory.
func (i Info) IsDir() bool { return i.Mode.IsDir() }

// Sentinel errors beside fs.ErrNotExist / fs.ErrExist.
var (
	ErrNotDir = errors.New("not a directory")
	ErrIsDir  = errors.New("is a directory")
)

// Host is what a command may ask the runner, beyond the files.
type Host interface {
	// Arch is the dpkg architecture of the image (amd64, arm64, ...).
	Arch() string
	// Package returns the control paragraph (as dpkg-query sees it: the
	// status stanza, Status field included) of an installed or unpacked
	// package, by name or name:arch.
	Package(name string) (map[string]string, bool)
	// Packages lists the names of the installed and unpacked packages, sorted.
	Packages() []string
	// ActivateTrigger records a trigger activation (dpkg-trigger,
	// `interest` file triggers are activated by the runner itself).
	ActivateTrigger(name string, noAwait bool)
	// Policy is the build's policy (preset ids, debconf and ucf answers,
	// documented deviations).
	Policy() *Policy
	// Debconf is the debconf database of this build (questions, values,
	// seen flags, templates registered from the packages' templates members).
	Debconf() *Debconf
}

// Call is one invocation of a command by a script.
type Call struct {
	Ctx    context.Context
	Name   string   // argv[0] as the script wrote it, base name resolved
	Args   []string // arguments, without argv[0]
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Env is the script's exported environment (DPKG_MAINTSCRIPT_PACKAGE, ...).
	Env func(name string) string
	// Dir is the working directory (absolute, inside the image).
	Dir  string
	FS   FS
	Host Host
	// Package and Script name the maintainer script running ("postgresql-common",
	// "postinst"); Line is the line of the command in it.
	Package, Script string
	Line            uint
	// Effect records what the command changed, for `explain`'s trace
	// ("created /etc/alternatives/pager -> /usr/bin/less"). Commands call it
	// once per change; nothing for a read-only command.
	Effect func(format string, args ...any)
	// Exec runs another command as the script would (PATH lookup in the
	// image, Go implementation or interpreted image script), for commands
	// that run commands: env, xargs, find -exec, su -c, runuser,
	// start-stop-daemon... It returns nil, an ExitStatus or a
	// *RefusedError, as a Command does.
	Exec func(args []string, stdin io.Reader, stdout, stderr io.Writer) error
	// Umask is the script's file mode creation mask (dpkg runs scripts
	// with 022; `umask` changes it): commands creating files or
	// directories apply it as the real programs' open(2)/mkdir(2) do.
	Umask fs.FileMode

	// execAs runs a command as another user (su, runuser): the runner's
	// own, for `test -O`/`-G` and the environment.
	execAs func(uid, gid int, env []string, args []string) error
}

// Abs resolves a path argument against the working directory.
func (c *Call) Abs(p string) string {
	if len(p) > 0 && p[0] == '/' {
		return cleanAbs(p)
	}
	return cleanAbs(c.Dir + "/" + p)
}

// Command is the Go implementation of one program. It returns nil for exit
// status 0, ExitStatus(n) for a non-zero status the script may test, or a
// *RefusedError when it cannot do what was asked faithfully (the build stops
// naming the package, script, line and command). Other errors are failures
// of the build itself (I/O on the virtual root, cancelled context).
type Command func(c *Call) error

// ExitStatus is a command's non-zero exit status.
type ExitStatus uint8

func (e ExitStatus) Error() string { return fmt.Sprintf("exit status %d", uint8(e)) }

// ErrRefused is matched by errors.Is on a *RefusedError.
var ErrRefused = errors.New("refused")

// RefusedError says a command (or a form of it) has no faithful Go
// implementation.
type RefusedError struct {
	Command string // e.g. "perl", "update-alternatives --config"
	Reason  string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s: %s", e.Command, e.Reason)
}

func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// Refuse is a shorthand for commands.
func Refuse(command, format string, args ...any) error {
	return &RefusedError{Command: command, Reason: fmt.Sprintf(format, args...)}
}

// Kind says how faithful a command's implementation is, for `explain`.
type Kind int

const (
	// Exact: behaves as the real program for the forms Debian's scripts use.
	Exact Kind = iota
	// NoOp: changes nothing that matters in an image; Reason says why
	// (starting services, desktop caches, ...).
	NoOp
)

// Spec registers one command.
type Spec struct {
	Name   string // program name as looked up on PATH ("update-alternatives")
	Run    Command
	Kind   Kind
	Reason string // required for NoOp: why doing nothing is right in an image
	// Paths are where the real program lives in a Debian image
	// ("/usr/bin/update-alternatives"); `command -v` and absolute calls
	// resolve to the Go implementation only when the package providing it
	// is installed in the image, as on a real system. Empty: always present
	// (shell-level utilities of coreutils/grep/sed, Essential on Debian).
	Paths []string
}

// Registry maps program names to implementations. Families register
// themselves with Register from their own file (cmd_*.go) through
// DefaultRegistry's list; there is no package-level mutable state.
type Registry struct {
	byName map[string]Spec
	shims  map[string]Shim
}

// Shim replaces a file scripts source ("." or "source") with shell text,
// for helpers whose real implementation talks to a program the runner
// does not run (debconf's confmodule re-executes the script under its
// perl frontend). Reading the file otherwise (cat) still reads the image.
type Shim struct {
	Path   string // absolute, "/usr/share/debconf/confmodule"
	Text   string // shell source
	Reason string
}

// WithShims adds shims; a duplicate path is a programming error.
func (r *Registry) WithShims(shims ...Shim) *Registry {
	if r.shims == nil {
		r.shims = map[string]Shim{}
	}
	for _, s := range shims {
		if _, dup := r.shims[s.Path]; dup {
			panic("maint: shim registered twice: " + s.Path)
		}
		r.shims[s.Path] = s
	}
	return r
}

// Shim returns the shim of a sourced path.
func (r *Registry) Shim(path string) (Shim, bool) {
	s, ok := r.shims[path]
	return s, ok
}

// NewRegistry builds a registry from specs; a duplicate name is a
// programming error and panics.
func NewRegistry(specs ...[]Spec) *Registry {
	r := &Registry{byName: map[string]Spec{}}
	for _, list := range specs {
		for _, s := range list {
			if _, dup := r.byName[s.Name]; dup {
				panic("maint: command registered twice: " + s.Name)
			}
			if s.Kind == NoOp && s.Reason == "" {
				panic("maint: no-op command without a reason: " + s.Name)
			}
			r.byName[s.Name] = s
		}
	}
	return r
}

// Lookup returns the implementation of a program name.
func (r *Registry) Lookup(name string) (Spec, bool) {
	s, ok := r.byName[name]
	return s, ok
}

// Names lists the registered programs, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.byName))
	for n := range r.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Policy is what CloudNativePG (or a --config) decides, given to the
// commands as data instead of name checks in code.
type Policy struct {
	// UIDs and GIDs preset the ids adduser/useradd/groupadd allocate for
	// these names (postgres: 26).
	UIDs map[string]int
	GIDs map[string]int
	// Debconf answers questions before the packages' defaults
	// ("postgresql-common/ssl": "false"), as a preseed would.
	Debconf map[string]string
	// Edits change configuration files a script generates (ucf copies):
	// applied when the file is registered with ucf, or at the end.
	Edits []Edit
	// Deviations skip commands on purpose: a command line matching Match
	// (a Go regexp over the command as run, e.g. `^make-ssl-cert
	// generate-default-snakeoil`) is not run, and Reason is reported.
	Deviations []Deviation
}

// Edit changes every line of Path matching Pattern (Go regexp) to Replace.
type Edit struct {
	Path    string // absolute, "/etc/postgresql-common/createcluster.conf"
	Pattern string
	Replace string
}

// Deviation is a documented difference from what dpkg would have done.
type Deviation struct {
	Match  string
	Reason string
}

// Debconf is the build's debconf database, answered as the noninteractive
// frontend does: a question's value is the preseed (Policy.Debconf), else
// what a script SET, else its template's default.
type Debconf struct {
	Templates map[string]map[string]string // template name -> fields (Type, Default, ...)
	Values    map[string]string            // question -> value
	Seen      map[string]bool
	Owners    map[string][]string // question -> owning packages

	run *debconfDB // the frontend run of the script using debconf (cmd_debconf.go)
}

func cleanAbs(p string) string {
	// path.Clean without importing path here keeps this file the contract only.
	out := make([]byte, 0, len(p))
	parts := []string{}
	start := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			seg := p[start:i]
			start = i + 1
			switch seg {
			case "", ".":
			case "..":
				if len(parts) > 0 {
					parts = parts[:len(parts)-1]
				}
			default:
				parts = append(parts, seg)
			}
		}
	}
	for _, s := range parts {
		out = append(out, '/')
		out = append(out, s...)
	}
	if len(out) == 0 {
		return "/"
	}
	return string(out)
}
