package assemble

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"

	"github.com/pgassemble/pgassemble/pkg/variants"
)

// ErrPGDGScript is returned when postgresql-common's setup script does not
// have the shape pgassemble reads (a sources file written from a
// here-document); the build stops rather than guess what it would leave.
var ErrPGDGScript = errors.New("PGDG setup script not understood")

// pgdgSource is the apt source upstream's image carries after running
// postgresql-common's PGDG setup script (pgdg/) with `-y -c MM`: the
// sources file it writes, whose Signed-By names the key file the package
// ships (already in the image, since the package is installed).
type pgdgSource struct {
	Path string // in the image, without the leading "/": etc/apt/sources.list.d/pgdg.sources
	Body []byte
}

// pgdgSourceFromScript reads what the script would write, with `-y -c
// major`: the script is parsed as shell (mvdan.cc/sh), not run. Read from
// it: the default of SOURCESLIST, TYPES, COMPONENTS and PGDG, what its -c
// option does to COMPONENTS, the keyrings it tries in order (the first one
// shipped wins, as its `test -e` does), and the here-document it writes
// to $SOURCESLIST, expanded with those values and the codename. The
// URIs field is then set to uri: the mirror the image was built from, or
// the one asked for in the image.
//
// shipped reports whether the install set ships an absolute path.
func pgdgSourceFromScript(script []byte, shipped func(string) bool, codename, major, uri string) (*pgdgSource, error) {
	f, err := syntax.NewParser().Parse(bytes.NewReader(script), "pgdg setup script")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPGDGScript, err)
	}
	vars := map[string]string{"CODENAME": codename, "OPTARG": major}
	cfg := &expand.Config{Env: expand.FuncEnviron(func(name string) string { return vars[name] })}
	lit := func(w *syntax.Word) (string, bool) {
		s, err := expand.Literal(cfg, w)
		return s, err == nil
	}
	// Top-level defaults.
	for _, st := range f.Stmts {
		if c, ok := st.Cmd.(*syntax.CallExpr); ok && len(c.Args) == 0 {
			for _, a := range c.Assigns {
				if s, ok := lit(a.Value); ok {
					if _, seen := vars[a.Name.Value]; !seen {
						vars[a.Name.Value] = s
					}
				}
			}
		}
	}
	var keyrings []string
	var heredoc *syntax.Word
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.CaseItem:
			// getopts' "c)": COMPONENTS="main $OPTARG".
			for _, p := range n.Patterns {
				if p.Lit() != "c" {
					continue
				}
				syntax.Walk(n, func(m syntax.Node) bool {
					if a, ok := m.(*syntax.Assign); ok && a.Name.Value == "COMPONENTS" {
						if s, ok := lit(a.Value); ok {
							vars["COMPONENTS"] = s
						}
					}
					return true
				})
			}
		case *syntax.Assign:
			if n.Name.Value == "KEYRING" {
				if s, ok := lit(n.Value); ok {
					keyrings = append(keyrings, s)
				}
			}
		case *syntax.Stmt:
			if heredoc != nil {
				return false
			}
			var toList bool
			var doc *syntax.Word
			for _, r := range n.Redirs {
				switch r.Op {
				case syntax.RdrOut, syntax.RdrClob:
					if s, ok := lit(r.Word); ok && s == vars["SOURCESLIST"] {
						toList = true
					}
				case syntax.Hdoc, syntax.DashHdoc:
					doc = r.Hdoc
				}
			}
			if toList && doc != nil {
				heredoc = doc
				return false
			}
		}
		return true
	})
	if vars["SOURCESLIST"] == "" || heredoc == nil {
		return nil, fmt.Errorf("%w: no here-document written to $SOURCESLIST", ErrPGDGScript)
	}
	if i := slices.IndexFunc(keyrings, shipped); i >= 0 {
		vars["KEYRING"] = keyrings[i]
	} else {
		return nil, fmt.Errorf("%w: none of the keyrings it tries (%s) is shipped", ErrPGDGScript, strings.Join(keyrings, ", "))
	}
	vars["HOST"] = "HOST" // replaced below with the whole URI
	body, err := expand.Document(cfg, heredoc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPGDGScript, err)
	}
	lines := strings.Split(body, "\n")
	found := false
	for i, l := range lines {
		if strings.HasPrefix(l, "URIs:") {
			lines[i] = "URIs: " + uri
			found = true
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: its sources entry has no URIs field", ErrPGDGScript)
	}
	p := path.Clean("/" + vars["SOURCESLIST"])
	if !strings.HasPrefix(p, "/etc/apt/") {
		return nil, fmt.Errorf("%w: it writes %s, outside /etc/apt", ErrPGDGScript, p)
	}
	return &pgdgSource{Path: strings.TrimPrefix(p, "/"), Body: []byte(strings.Join(lines, "\n"))}, nil
}

// pgdgSourceFor returns the PGDG apt source for the image of pp, read from
// the setup script of the postgresql-common install set the image carries
// (nil when PostgreSQL does not come from PGDG). paths are the .debs of
// pp's stages, in order.
func (b *Builder) pgdgSourceFor(t variants.Target, pp *PlatformPlan, paths []string) (*pgdgSource, error) {
	if b.opts.PGSource != variants.PGSourcePGDG {
		return nil, nil
	}
	var debs []string
	var common string
	i := 0
	for _, s := range pp.Stages {
		for _, p := range s.Packages {
			// The pgdg/ directory is in postgresql-common or, since trixie,
			// in postgresql-client-common.
			if p.Name == "postgresql-common" || p.Name == "postgresql-client-common" {
				debs = append(debs, paths[i])
				if p.Name == "postgresql-common" {
					common = p.Version
				}
			}
			i++
		}
	}
	if common == "" {
		return nil, errors.New("PGDG apt source: postgresql-common is not in the image")
	}
	facts, err := pgdgFacts(debs, t.Base.Codename)
	if err != nil {
		return nil, fmt.Errorf("PGDG apt source: postgresql-common %s: %w", common, err)
	}
	if facts.script == nil {
		return nil, fmt.Errorf("PGDG apt source: postgresql-common %s ships no setup script under /%s", common, pgdgDir)
	}
	uri := strings.TrimRight(b.opts.PGDGMirrorInImage, "/")
	if uri == "" {
		uri = pp.PGDGMirror
	}
	src, err := pgdgSourceFromScript(facts.script, func(p string) bool { return slices.Contains(facts.shipped, p) }, t.Base.Codename, t.Version.MajorString(), uri)
	if err != nil {
		return nil, fmt.Errorf("PGDG apt source: postgresql-common %s: %w", common, err)
	}
	return src, nil
}
