package replay

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"sync"
)

// scriptNames are the control members that are shell scripts run by dpkg on
// install, in the order dpkg runs them. prerm and postrm run only on removal
// or upgrade and are not classified.
var scriptNames = []string{"preinst", "config", "postinst"}

// EffectsFor returns the table entry of a package, or nil.
func EffectsFor(name string) *Effects {
	for i := range Table {
		if Table[i].Package == name {
			return &Table[i]
		}
	}
	for i := range Table {
		e := &Table[i]
		if !strings.ContainsAny(e.Package, "*?[") {
			continue
		}
		if ok, _ := path.Match(e.Package, name); !ok {
			continue
		}
		if e.Not != "" {
			if no, _ := path.Match(e.Not, name); no {
				continue
			}
		}
		return e
	}
	return nil
}

var (
	ruleREMu sync.Mutex
	ruleREs  = map[string]*regexp.Regexp{}
)

func ruleRE(expr string) *regexp.Regexp {
	ruleREMu.Lock()
	defer ruleREMu.Unlock()
	re, ok := ruleREs[expr]
	if !ok {
		re = regexp.MustCompile(expr)
		ruleREs[expr] = re
	}
	return re
}

func (r Rule) match(c Command) bool {
	if r.Cmd != "*" && r.Cmd != c.Base() && r.Cmd != c.Name {
		return false
	}
	if r.Writes != "" {
		ok := false
		for _, t := range c.Redirects {
			ok = ok || ruleRE(r.Writes).MatchString(t)
		}
		if !ok {
			return false
		}
	}
	return r.Args == "" || ruleRE(r.Args).MatchString(strings.Join(c.Args, " "))
}

// ClassifyScript classifies every command of one maintainer script of pkg.
// createMainCluster reports whether the variant leaves create_main_cluster
// enabled (then a server's configure step would create a cluster, which is
// not replayed).
func ClassifyScript(pkg, script string, src []byte, e *Effects, createMainCluster bool) []Classification {
	s := ParseScript(string(src))
	var out []Classification
	if s.Interpreter != "" && !isShell(s.Interpreter) {
		return []Classification{{Package: pkg, Script: script, Command: "#!" + s.Interpreter,
			Verdict: Unhandled, Reason: "not a shell script: its commands cannot be read"}}
	}
	for _, c := range s.Commands {
		out = append(out, classifyCommand(pkg, script, c, s, e, createMainCluster))
	}
	return out
}

func isShell(interp string) bool {
	switch path.Base(interp) {
	case "sh", "bash", "dash":
		return true
	}
	return false
}

func classifyCommand(pkg, script string, c Command, s *Script, e *Effects, createMainCluster bool) Classification {
	cl := Classification{Package: pkg, Script: script, Command: c.String()}
	set := func(v Verdict, reason string) Classification {
		cl.Verdict, cl.Reason = v, reason
		return cl
	}
	if s.Functions[c.Name] {
		return set(NoOp, whyFunction)
	}
	if c.Func != "" && !s.Called(c.Func) {
		return set(NoOp, fmt.Sprintf("in function %s, which the script never calls", c.Func))
	}
	if writesFile(c) && c.Base() != "cat" {
		// A filter whose output goes to a file is an effect unless the
		// package's rules say otherwise.
		if e != nil {
			for _, r := range e.Rules {
				if r.match(c) {
					return set(r.Verdict, r.Reason)
				}
			}
		}
		return set(Unhandled, fmt.Sprintf("writes %s", strings.Join(c.Redirects, ", ")))
	}
	if e != nil {
		for _, r := range e.Rules {
			if r.match(c) {
				if r.Verdict == Handled && createMainCluster && c.Name == "configure_version" {
					return set(Unhandled, "would create the main cluster: set create_main_cluster = false in createcluster.conf (Options.Edits)")
				}
				return set(r.Verdict, r.Reason)
			}
		}
	}
	if strings.ContainsAny(c.Name, "$`") {
		return set(Unhandled, "the command name is computed at run time")
	}
	if c.Base() == "cat" && writesFile(c) {
		return set(Unhandled, fmt.Sprintf("writes %s", strings.Join(c.Redirects, ", ")))
	}
	for _, r := range genericRules {
		if r.match(c) {
			return set(r.Verdict, r.Reason)
		}
	}
	return set(Unhandled, "no rule in the replay table")
}

func writesFile(c Command) bool {
	for _, t := range c.Redirects {
		if t != "/dev/null" && !strings.HasPrefix(t, "&") {
			return true
		}
	}
	return false
}

// sortedScripts returns the install-time scripts a package has, in the
// order dpkg runs them.
func sortedScripts(scripts map[string][]byte) []string {
	var out []string
	for _, n := range scriptNames {
		if _, ok := scripts[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// upgradeIdempotent are commands whose fresh-install effect the base already
// has when a stage upgrades one of its packages: the postinst re-asserts
// state that exists (an alternative, an account, a link, a copied default).
var upgradeIdempotent = []Rule{
	noop("update-alternatives", `--install `, "re-installs an alternative the base already has"),
	noop("adduser", `--system`, "the account exists in the base"),
	noop("addgroup", `--system`, "the group exists in the base"),
	noop("groupadd", ``, "the group exists in the base"),
	noop("cp", `^-p[dZ]* `, "copies a default only when the file is missing; the base has it"),
	noop("ln", `^-s`, "the link exists in the base"),
	noop("mkdir", ``, "the directory exists in the base"),
	noop("touch", ``, "the file exists in the base"),
	noop("chown", ``, "ownership as the base has it"),
	noop("chmod", ``, "mode as the base has it"),
	noop("dpkg-divert", `--add`, "the diversion exists in the base"),
	noop("dpkg-trigger", ``, "activates restart triggers of an upgrade; nothing runs in an image build"),
	noop("systemd-tmpfiles", ``, "systemd-tmpfiles is not run in an image build"),
	noop("busctl", ``, "talks to a running systemd-logind; none in an image build"),
	noop("systemd", `^--help$`, "probes systemd's version"),
	noop("perl", `^-e $`, "checks that perl runs"),
	noop("who", ``, whyFilter), noop("runlevel", ``, whyFilter), noop("pidof", ``, whyFilter),
	noop("update-shells", ``, "/etc/shells already lists the base's shells"),
	noop("update-menus", ``, "the menu system is not installed"),
	noop("dpkg-realpath", ``, whyFilter),
}

// reclassifyUpgrade turns the unhandled commands of a package the base
// already has (an upgrade) into no-ops where the fresh-install effect is
// already in place. Everything else stays unhandled.
func reclassifyUpgrade(cls []Classification, src []byte) []Classification {
	s := ParseScript(string(src))
	byText := map[string]Command{}
	for _, c := range s.Commands {
		byText[c.String()] = c
	}
	for i, c := range cls {
		if c.Verdict != Unhandled {
			continue
		}
		cmd, ok := byText[c.Command]
		if !ok {
			continue
		}
		for _, r := range upgradeIdempotent {
			if r.match(cmd) {
				cls[i].Verdict = NoOp
				cls[i].Reason = "upgrade of a base package: " + r.Reason
				break
			}
		}
	}
	return cls
}
