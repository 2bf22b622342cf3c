package replay

import (
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

// dpkg file triggers: a package declares interest in a path, and any
// package that ships a file under it makes dpkg run the interested
// package's postinst "triggered". The interests come from the base
// (var/lib/dpkg/triggers/File) and from the packages added; the observed
// entries say which fire.

type fileInterest struct{ path, pkg string }

// fileTriggerRules say what an interested package's "triggered" run does.
var fileTriggerRules = map[string]Rule{
	"postgresql-common": {Verdict: Handled, Reason: "pg_updatedicts: /var/cache/postgresql/dicts (links only for hunspell/myspell dictionaries, checked separately)"},
	"procps":            {Verdict: NoOp, Reason: "applies sysctl settings to the running kernel; never in an image build"},
	"man-db":            {Verdict: NoOp, Reason: "rebuilds man-db's index cache, not kept in images"},
}

func readFileInterests(base fs.FS) []fileInterest {
	b, err := fs.ReadFile(base, "var/lib/dpkg/triggers/File")
	if err != nil {
		return nil
	}
	var out []fileInterest
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 {
			pkg, _, _ := strings.Cut(f[1], "/")
			out = append(out, fileInterest{path: strings.TrimPrefix(f[0], "/"), pkg: pkg})
		}
	}
	return out
}

func (p *Plan) addFileInterests(pk Package) {
	for _, l := range strings.Split(string(pk.Scripts["triggers"]), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && strings.HasPrefix(f[0], "interest") && strings.HasPrefix(f[1], "/") {
			p.interests = append(p.interests, fileInterest{path: strings.TrimPrefix(f[1], "/"), pkg: pk.Name})
		}
	}
}

// noteFileTrigger records the interests an observed path activates.
func (p *Plan) noteFileTrigger(pkg, name string) {
	for _, in := range p.interests {
		if in.pkg == pkg {
			continue // dpkg does not trigger a package on its own files
		}
		if name == in.path || strings.HasPrefix(name, in.path+"/") {
			if p.activated == nil {
				p.activated = map[fileInterest]string{}
			}
			if _, ok := p.activated[in]; !ok {
				p.activated[in] = name
			}
		}
	}
}

// fileTriggerClasses classifies the "triggered" runs the observed files
// cause, once per interested package and path.
func (p *Plan) fileTriggerClasses() []Classification {
	keys := make([]fileInterest, 0, len(p.activated))
	for k := range p.activated {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].pkg != keys[j].pkg {
			return keys[i].pkg < keys[j].pkg
		}
		return keys[i].path < keys[j].path
	})
	var out []Classification
	for _, k := range keys {
		c := Classification{Package: k.pkg, Script: "triggered",
			Command: fmt.Sprintf("postinst triggered /%s (activated by /%s)", k.path, p.activated[k])}
		r, ok := fileTriggerRules[k.pkg]
		switch {
		case k.pkg == "postgresql-common" && p.hasDictionaries():
			c.Verdict, c.Reason = Unhandled, "pg_updatedicts would link the installed hunspell/myspell dictionaries"
		case ok:
			c.Verdict, c.Reason = r.Verdict, r.Reason
		default:
			c.Verdict, c.Reason = Unhandled, "no rule in the replay table for this package's file trigger"
		}
		out = append(out, c)
	}
	return out
}

func (p *Plan) hasDictionaries() bool {
	for name := range p.observed {
		if strings.HasPrefix(name, "usr/share/hunspell/") || strings.HasPrefix(name, "usr/share/myspell/dicts/") {
			return true
		}
	}
	return false
}
