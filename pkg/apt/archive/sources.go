package archive

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/pgassemble/pgassemble/pkg/apt"
)

// Source is one entry of apt's source configuration: a deb822 stanza of a
// *.sources file, one "deb" line of a sources.list, or a --source flag.
type Source struct {
	Types         []string // "deb", "deb-src"
	URIs          []string
	Suites        []string
	Components    []string
	Architectures []string // restriction; empty means every architecture
	// SignedBy lists keyring file paths (absolute, as apt writes them; they
	// are looked up in the same filesystem the sources were read from) or
	// key fingerprints.
	SignedBy []string
	// SignedByKey is an inline armored key block (deb822 Signed-By form).
	SignedByKey []byte
	// Trusted is "trusted=yes": apt accepts the repository unsigned.
	Trusted bool
	Enabled bool
	// Origin names the file (and line) the entry came from, for messages.
	Origin string
}

// ErrFlatRepository is returned for flat repositories ("suite/" with no
// components), which this package does not read.
var ErrFlatRepository = errors.New("flat repositories are not supported")

// ReadSources reads etc/apt/sources.list and etc/apt/sources.list.d/*.list
// and *.sources from fsys, which is rooted at a filesystem root (a base
// image's or os.DirFS("/")). Missing files are not errors; disabled entries
// and deb-src lines are returned with Enabled false or Types ["deb-src"] —
// use Repos to keep the usable ones.
func ReadSources(fsys fs.FS) ([]Source, error) {
	var out []Source
	if b, err := fs.ReadFile(fsys, "etc/apt/sources.list"); err == nil {
		s, err := ParseSourcesList(bytes.NewReader(b), "/etc/apt/sources.list")
		if err != nil {
			return nil, err
		}
		out = append(out, s...)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read /etc/apt/sources.list: %w", err)
	}
	entries, err := fs.ReadDir(fsys, "etc/apt/sources.list.d")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read /etc/apt/sources.list.d: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names) // apt reads parts in lexical order
	for _, name := range names {
		p := "etc/apt/sources.list.d/" + name
		var parse func(io.Reader, string) ([]Source, error)
		switch {
		case strings.HasSuffix(name, ".list"):
			parse = ParseSourcesList
		case strings.HasSuffix(name, ".sources"):
			parse = ParseDeb822Sources
		default:
			continue // apt ignores other names (e.g. *.disabled, *.save)
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("read /%s: %w", p, err)
		}
		s, err := parse(bytes.NewReader(b), "/"+p)
		if err != nil {
			return nil, err
		}
		out = append(out, s...)
	}
	return out, nil
}

// ParseDeb822Sources parses a deb822 *.sources file. name is used in errors.
func ParseDeb822Sources(r io.Reader, name string) ([]Source, error) {
	var out []Source
	n := 0
	err := apt.ParseParagraphs(r, func(p apt.Paragraph) error {
		n++
		where := fmt.Sprintf("%s stanza %d", name, n)
		s := Source{
			Types:         strings.Fields(p.Get("Types")),
			URIs:          strings.Fields(p.Get("URIs")),
			Suites:        strings.Fields(p.Get("Suites")),
			Components:    strings.Fields(p.Get("Components")),
			Architectures: strings.Fields(p.Get("Architectures")),
			Enabled:       true,
			Origin:        where,
		}
		if v := p.Get("Enabled"); v != "" {
			b, ok := parseBool(v)
			if !ok {
				return fmt.Errorf("%s: Enabled: %q is not yes or no", where, v)
			}
			s.Enabled = b
		}
		if v := p.Get("Trusted"); v != "" {
			b, ok := parseBool(v)
			if !ok {
				return fmt.Errorf("%s: Trusted: %q is not yes or no", where, v)
			}
			s.Trusted = b
		}
		sb := p.Get("Signed-By")
		if strings.Contains(sb, "-----BEGIN PGP") {
			s.SignedByKey = inlineKey(sb)
		} else {
			s.SignedBy = strings.Fields(sb)
		}
		if len(s.Types) == 0 || len(s.URIs) == 0 || len(s.Suites) == 0 {
			return fmt.Errorf("%s: Types, URIs and Suites are required", where)
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", name, err)
	}
	return out, nil
}

// inlineKey turns a deb822 multi-line field value back into the armored
// text: one leading space is dropped from each line and "." stands for an
// empty line.
func inlineKey(v string) []byte {
	var b bytes.Buffer
	for _, line := range strings.Split(v, "\n") {
		line = strings.TrimPrefix(line, " ")
		line = strings.TrimPrefix(line, "\t")
		if strings.TrimSpace(line) == "." {
			line = ""
		}
		if b.Len() == 0 && strings.TrimSpace(line) == "" {
			continue
		}
		b.WriteString(strings.TrimRight(line, " \t"))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func parseBool(v string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "yes", "true", "1", "on":
		return true, true
	case "no", "false", "0", "off":
		return false, true
	}
	return false, false
}

// ParseSourcesList parses the one-line format of sources.list:
//
//	deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/x.gpg] URI SUITE COMPONENT...
//
// Comments and blank lines are skipped; deb-src lines are returned with
// their type so callers can ignore them.
func ParseSourcesList(r io.Reader, name string) ([]Source, error) {
	var out []Source
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		where := fmt.Sprintf("%s:%d", name, line)
		typ, rest, _ := strings.Cut(text, " ")
		typ = strings.TrimSpace(typ)
		if typ != "deb" && typ != "deb-src" {
			return nil, fmt.Errorf("%s: type %q is not deb or deb-src", where, typ)
		}
		s, err := parseOneLine(strings.TrimSpace(rest))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		s.Types = []string{typ}
		s.Origin = where
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return out, nil
}

// ParseSourceLine parses "URI SUITE COMPONENT..." (optionally with a
// leading "deb" and "[options]"), the form of the --source flag.
func ParseSourceLine(line string) (Source, error) {
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "deb ") || strings.HasPrefix(line, "deb\t") {
		line = strings.TrimSpace(line[3:])
	}
	s, err := parseOneLine(line)
	if err != nil {
		return Source{}, fmt.Errorf("source %q: %w", line, err)
	}
	s.Types = []string{"deb"}
	s.Origin = "source " + line
	return s, nil
}

func parseOneLine(text string) (Source, error) {
	s := Source{Enabled: true}
	if strings.HasPrefix(text, "[") {
		end := strings.IndexByte(text, ']')
		if end < 0 {
			return s, errors.New("unterminated [options]")
		}
		for _, opt := range strings.Fields(text[1:end]) {
			k, v, ok := strings.Cut(opt, "=")
			if !ok {
				return s, fmt.Errorf("option %q is not key=value", opt)
			}
			vals := strings.Split(v, ",")
			switch k {
			case "arch", "arch+":
				s.Architectures = append(s.Architectures, vals...)
			case "arch-":
				// Removing from the default set: we fetch one architecture
				// at a time, so the source stays valid for the others.
			case "signed-by", "signed-by+":
				s.SignedBy = append(s.SignedBy, vals...)
			case "trusted":
				b, ok := parseBool(v)
				if !ok {
					return s, fmt.Errorf("trusted=%q is not yes or no", v)
				}
				s.Trusted = b
			default:
				// lang=, target=, pdiffs=... do not change what we fetch.
			}
		}
		text = text[end+1:]
	}
	f := strings.Fields(text)
	if len(f) < 2 {
		return s, errors.New("want URI SUITE [COMPONENT...]")
	}
	if !strings.Contains(f[0], ":") {
		return s, fmt.Errorf("URI %q has no scheme (http://, https:// or file:)", f[0])
	}
	s.URIs = []string{f[0]}
	s.Suites = []string{f[1]}
	s.Components = f[2:]
	if !strings.HasSuffix(f[1], "/") && len(s.Components) == 0 {
		return s, fmt.Errorf("suite %s needs at least one component", f[1])
	}
	return s, nil
}

// Repo is one repository to fetch: a URI and a suite with its components,
// and the keys trusted to sign its Release.
type Repo struct {
	URI           string // without trailing slash
	Suite         string
	Components    []string
	Architectures []string // restriction from the source; empty = all
	Keyring       *Keyring
	// Trusted skips signature checks, like apt's trusted=yes.
	Trusted bool
}

func (r Repo) String() string {
	return r.URI + " " + r.Suite + " " + strings.Join(r.Components, " ")
}

// Repos expands the enabled "deb" sources into one Repo per URI and suite,
// with keyrings loaded from fsys: the Signed-By files (or inline key), or
// else etc/apt/trusted.gpg and etc/apt/trusted.gpg.d/*.{gpg,asc}.
func Repos(fsys fs.FS, sources []Source) ([]Repo, error) {
	var out []Repo
	seen := map[string]int{}
	var defaultKeys *Keyring
	for _, s := range sources {
		if !s.Enabled || !hasType(s.Types, "deb") {
			continue
		}
		var kr *Keyring
		var err error
		var fingerprints []string
		var files []string
		for _, sb := range s.SignedBy {
			if isFingerprint(sb) {
				fingerprints = append(fingerprints, sb)
			} else {
				files = append(files, sb)
			}
		}
		switch {
		case len(s.SignedByKey) > 0:
			kr, err = ParseKeyring(s.SignedByKey, s.Origin+" Signed-By")
		case len(files) > 0:
			kr, err = LoadKeyrings(fsys, files...)
		default:
			if defaultKeys == nil {
				defaultKeys, err = DefaultKeyring(fsys)
			}
			kr = defaultKeys
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Origin, err)
		}
		if len(fingerprints) > 0 {
			kr = kr.Only(fingerprints)
		}
		for _, u := range s.URIs {
			for _, suite := range s.Suites {
				if strings.HasSuffix(suite, "/") {
					return nil, fmt.Errorf("%s: %s %s: %w", s.Origin, u, suite, ErrFlatRepository)
				}
				uri := strings.TrimRight(u, "/")
				if i, ok := seen[uri+" "+suite]; ok {
					// apt reads a repository listed twice once; the
					// components add up, the first entry's keys win.
					for _, c := range s.Components {
						if !slices.Contains(out[i].Components, c) {
							out[i].Components = append(out[i].Components, c)
						}
					}
					continue
				}
				seen[uri+" "+suite] = len(out)
				out = append(out, Repo{
					URI:           uri,
					Suite:         suite,
					Components:    slices.Clone(s.Components),
					Architectures: s.Architectures,
					Keyring:       kr,
					Trusted:       s.Trusted,
				})
			}
		}
	}
	return out, nil
}

func hasType(types []string, t string) bool {
	for _, x := range types {
		if x == t {
			return true
		}
	}
	return false
}

func isFingerprint(s string) bool {
	s = strings.TrimSuffix(s, "!")
	if len(s) != 40 && len(s) != 16 && len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// fsPath turns an absolute path as written in apt configuration into an
// fs.FS path.
func fsPath(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}
