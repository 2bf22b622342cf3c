package maint

import (
	"path"
	"regexp"
	"strings"
)

// Python byte-compilation. py3compile/py3clean (dh-python), pycompile/
// pyclean and the interpreters' own `python3.X -E -S [-O]
// /usr/lib/python3.X/py_compile.py FILES` write and remove __pycache__/
// *.pyc files; producing those needs a Python interpreter of the target
// architecture, which pgassemble never runs. They are no-ops: Python
// compiles a module to byte-code on its first import (writing the .pyc
// when the directory is writable, else keeping it in memory), so programs
// behave the same. What differs from apt-get's image: the __pycache__
// directories of the packages' modules are absent. The rtupdate hooks of
// /usr/share/python3/runtime.d are shell scripts of the image that call
// these commands, so they run through them.

const pythonNoOpReason = "writes Python byte-code, which only a Python interpreter of the target can produce; Python compiles modules on import instead (the image lacks apt's __pycache__/*.pyc files)"

// pyCompileForm is the one form of a Python interpreter maintainer scripts
// run: the stdlib byte-compilation of python3.X(-minimal)'s postinst.
var pyCompileForm = regexp.MustCompile(`^/usr/lib/python3(\.[0-9]+)?/py_compile\.py$`)

func pythonCommands() []Spec {
	noop := func(name string, paths ...string) Spec {
		return Spec{Name: name, Run: func(*Call) error { return nil }, Kind: NoOp, Reason: pythonNoOpReason, Paths: paths}
	}
	specs := []Spec{
		noop("py3compile", "/usr/bin/py3compile"),
		noop("py3clean", "/usr/bin/py3clean"),
		noop("pycompile", "/usr/bin/pycompile"),
		noop("pyclean", "/usr/bin/pyclean"),
	}
	for _, v := range []string{"python3", "python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14", "python3.15"} {
		specs = append(specs, Spec{Name: v, Run: runPython, Kind: NoOp, Reason: pythonNoOpReason,
			Paths: []string{"/usr/bin/" + v}})
	}
	return specs
}

// runPython accepts `python3.X [-E] [-S] [-O...] /usr/lib/python3.X/py_compile.py FILES...`
// as a no-op and refuses everything else: a Python program has no Go
// implementation.
func runPython(c *Call) error {
	for _, a := range c.Args {
		switch {
		case a == "-E" || a == "-S" || a == "-s" || a == "-I" || strings.HasPrefix(a, "-O") || a == "-B":
			continue
		case pyCompileForm.MatchString(a):
			return nil
		}
		break
	}
	return Refuse(path.Base(c.Name), "a Python program has no Go implementation (%s)", strings.Join(c.Args, " "))
}
