package maint

import (
	"bytes"
	"context"
	"io"
	"sort"
	"strings"
	"testing"
	"time"
)

// The test kit other families' tests use (same package):
//
//	fsys := NewMemFS(MemFile("/etc/passwd", "root:x:0:0::/root:/bin/sh\n"), MemDir("/usr/bin"))
//	out, err := kitCall(t, fsys, mySpec, "arg1", "arg2")     // one command
//	sh := kitShell(t, fsys); err := kitRun(t, sh, "postinst", "set -e\nfoo bar\n", "configure")
//	fsys.Changes()                                            // what was written
//
// kitHost is a Host with settable packages, policy and debconf.

type kitHost struct {
	arch     string
	pkgs     map[string]map[string]string
	policy   *Policy
	debconf  *Debconf
	triggers []string
}

func newKitHost() *kitHost {
	return &kitHost{arch: "amd64", pkgs: map[string]map[string]string{}, policy: &Policy{},
		debconf: &Debconf{Templates: map[string]map[string]string{}, Values: map[string]string{},
			Seen: map[string]bool{}, Owners: map[string][]string{}}}
}

func (h *kitHost) Arch() string { return h.arch }
func (h *kitHost) Package(name string) (map[string]string, bool) {
	p, ok := h.pkgs[strings.TrimSuffix(name, ":"+h.arch)]
	return p, ok
}
func (h *kitHost) Packages() []string {
	var out []string
	for n := range h.pkgs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
func (h *kitHost) ActivateTrigger(name string, noAwait bool) { h.triggers = append(h.triggers, name) }
func (h *kitHost) Policy() *Policy                           { return h.policy }
func (h *kitHost) Debconf() *Debconf                         { return h.debconf }

// kitCall runs one command implementation with args over fsys (working
// directory "/"), returning its stdout; stderr is appended to the
// error's message context via t.Log.
func kitCall(t testing.TB, fsys FS, spec Spec, args ...string) (string, error) {
	t.Helper()
	return kitCallIn(t, fsys, newKitHost(), "", spec, args...)
}

// kitCallIn is kitCall with a host and stdin.
func kitCallIn(t testing.TB, fsys FS, host Host, stdin string, spec Spec, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	c := &Call{Ctx: context.Background(), Name: spec.Name, Args: args, Stdin: strings.NewReader(stdin),
		Stdout: &out, Stderr: &errb, Env: func(string) string { return "" }, Dir: "/", FS: fsys, Host: host,
		Package: "test", Script: "postinst", Line: 1, Effect: func(string, ...any) {},
		Exec: func([]string, io.Reader, io.Writer, io.Writer) error {
			return Refuse("exec", "kitCall does not run nested commands; use kitShell")
		}}
	err := spec.Run(c)
	if errb.Len() > 0 {
		t.Logf("%s stderr: %s", spec.Name, errb.String())
	}
	return out.String(), err
}

// kitShell returns a shell over fsys with the default registry plus
// extra specs (extra wins over nothing: names must not clash).
func kitShell(t testing.TB, fsys *VFS, extra ...Spec) *Shell {
	t.Helper()
	reg := DefaultRegistry()
	if len(extra) > 0 {
		reg = NewRegistry(append(specsOf(reg), extra...))
		reg.shims = DefaultRegistry().shims
	}
	return &Shell{FS: fsys, Host: newKitHost(), Registry: reg, Env: BaseEnv("amd64", time.Unix(946684800, 0))}
}

func specsOf(r *Registry) []Spec {
	out := make([]Spec, 0, len(r.byName))
	for _, n := range r.Names() {
		out = append(out, r.byName[n])
	}
	return out
}

// kitRun runs body as package "test"'s script with args; it returns the
// script's error and its output (stdout and stderr).
func kitRun(t testing.TB, sh *Shell, script, body string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	sh.Output = &out
	err := sh.Run(context.Background(), Script{Package: "test", Name: script, Body: []byte(body), Args: args})
	return out.String(), err
}
