package replay

import (
	"fmt"
	"path"
	"regexp"
	"sort"
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
	if strings.ContainsAny(c.Name, "$`") {
		return set(Unhandled, "the command name is computed at run time")
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

// sortedScripts returns the script member names of a package present in
// scripts, in dpkg's run order, then any other executable-looking member.
func sortedScripts(scripts map[string][]byte) []string {
	var out []string
	for _, n := range scriptNames {
		if _, ok := scripts[n]; ok {
			out = append(out, n)
		}
	}
	sort.Strings(out[len(out):])
	return out
}
