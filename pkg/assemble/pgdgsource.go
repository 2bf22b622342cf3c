package assemble

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"

	"github.com/pgassemble/pgassemble/pkg/apt/archive"
	"github.com/pgassemble/pgassemble/pkg/layer"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

// ErrPGDGScript is returned when postgresql-common's setup script does not
// have the shape pgassemble reads (a sources file written from a
// here-document); the build stops rather than guess what it would leave.
var ErrPGDGScript = errors.New("PGDG setup script not understood")

// ErrPGDGKey is returned when a key given for the image's PGDG source
// (--pgdg-key-in-image) cannot be used.
var ErrPGDGKey = errors.New("PGDG key for the image")

// pgdgKeyringDir is where a PGDG key not shipped by a package goes in the
// image: apt's place for keyrings the system's operator manages (apt(8),
// sources.list(5)); packages' own keyrings stay in /usr/share.
const pgdgKeyringDir = "etc/apt/keyrings/"

// pgdgSource is the apt source upstream's image carries after running
// postgresql-common's PGDG setup script (pgdg/) with `-y -c MM`: the
// sources file it writes, whose Signed-By names the key file the package
// ships (already in the image, since the package is installed).
type pgdgSource struct {
	Path string // in the image, without the leading "/": etc/apt/sources.list.d/pgdg.sources
	Body []byte
	// Key is the keyring file Signed-By names when it is not the one the
	// package ships (see pgdgKeyInImage); nil otherwise.
	Key *layer.File
}

// keyFile is a keyring file read on this machine.
type keyFile struct {
	Name string // the path given
	Data []byte
	Keys *archive.Keyring
}

// readKeyFiles reads and parses keyring files; an unreadable file or one
// without a public key is an error naming it.
func readKeyFiles(files []string) ([]keyFile, error) {
	out := make([]keyFile, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("keyring: %w", err)
		}
		k, err := archive.ParseKeyring(data, f)
		if err != nil {
			return nil, err
		}
		out = append(out, keyFile{Name: f, Data: data, Keys: k})
	}
	return out, nil
}

// private says whether the file holds secret key material: an armored
// private key block (ParseKeyring skips it) or a binary secret key
// packet. Such a file verifies a mirror as well as its public part, but
// must never be copied into an image.
func (kf keyFile) private() bool {
	if bytes.Contains(kf.Data, []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----")) {
		return true
	}
	for _, e := range kf.Keys.Entities {
		if e.PrivateKey != nil {
			return true
		}
		for _, sk := range e.Subkeys {
			if sk.PrivateKey != nil {
				return true
			}
		}
	}
	return false
}

// pgdgKeyInImage decides the key the image's PGDG source trusts, so that
// apt in a derived container verifies the repository the source names:
//
//   - explicit (--pgdg-key-in-image) wins;
//   - a source naming another mirror than the one the image was built
//     from (builtFrom false: --pgdg-mirror-in-image) keeps the key the
//     package ships, PGDG's own, since nothing here verified that mirror;
//   - a source naming the mirror the image was built from keeps the
//     shipped key when that mirror was verified with it (no --keyring, or
//     --keyring files holding only keys the shipped file holds: a copy of
//     PGDG that is not re-signed); otherwise the mirror is re-signed (an
//     air-gapped mirror signs with its own key) and the image carries the
//     verified files, under /etc/apt/keyrings/, named after the sources
//     file.
//
// The key file is the given file's bytes (one file), or the keys of
// several serialized as one binary keyring, in the order given: the same
// files give the same bytes. nil means: keep the shipped key.
func pgdgKeyInImage(sourcesPath string, shipped []byte, verified []keyFile, explicit *keyFile, builtFrom bool) (*layer.File, error) {
	files := verified
	switch {
	case explicit != nil:
		files = []keyFile{*explicit}
	case !builtFrom || len(verified) == 0:
		return nil, nil
	default:
		have := map[string]bool{}
		if k, err := archive.ParseKeyring(shipped, "shipped PGDG key"); err == nil {
			for _, e := range k.Entities {
				have[fmt.Sprintf("%X", e.PrimaryKey.Fingerprint)] = true
			}
		}
		all := true
		for _, f := range verified {
			for _, e := range f.Keys.Entities {
				all = all && have[fmt.Sprintf("%X", e.PrimaryKey.Fingerprint)]
			}
		}
		if all {
			return nil, nil
		}
	}
	for _, f := range files {
		if f.private() {
			return nil, fmt.Errorf("%w: %s holds a private key, which would be written into the image: give its public part (gpg --export)", ErrPGDGKey, f.Name)
		}
	}
	name := strings.TrimSuffix(path.Base(sourcesPath), path.Ext(sourcesPath))
	if len(files) == 1 {
		ext := ".gpg"
		if bytes.Contains(files[0].Data, []byte("-----BEGIN PGP")) {
			ext = ".asc"
		}
		return &layer.File{Path: pgdgKeyringDir + name + ext, Mode: 0o644, Data: files[0].Data}, nil
	}
	var buf bytes.Buffer
	for _, f := range files {
		for _, e := range f.Keys.Entities {
			if err := e.Serialize(&buf); err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrPGDGKey, f.Name, err)
			}
		}
	}
	return &layer.File{Path: pgdgKeyringDir + name + ".gpg", Mode: 0o644, Data: buf.Bytes()}, nil
}

// withSignedBy sets the Signed-By field of a one-stanza deb822 source to
// keyring (added when the stanza has none). A multi-line value (a key
// embedded in the field, as sources.list(5) allows) goes with the line it
// continues.
func withSignedBy(body []byte, keyring string) []byte {
	lines := strings.Split(strings.TrimRight(string(body), "\n"), "\n")
	out := make([]string, 0, len(lines)+1)
	found, inField := false, false
	for _, l := range lines {
		if inField && (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) {
			continue
		}
		inField = false
		if k, _, ok := strings.Cut(l, ":"); ok && !strings.HasPrefix(l, " ") && !strings.HasPrefix(l, "\t") && strings.EqualFold(strings.TrimSpace(k), "Signed-By") {
			l, found, inField = "Signed-By: "+keyring, true, true
		}
		out = append(out, l)
	}
	if !found {
		out = append(out, "Signed-By: "+keyring)
	}
	return []byte(strings.Join(out, "\n") + "\n")
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
	key, err := pgdgKeyInImage(src.Path, facts.key, b.pgdgKeyFiles, b.pgdgImageKey, uri == strings.TrimRight(pp.PGDGMirror, "/"))
	if err != nil {
		return nil, fmt.Errorf("PGDG apt source: %w", err)
	}
	if key != nil {
		src.Key = key
		src.Body = withSignedBy(src.Body, "/"+key.Path)
	}
	return src, nil
}
