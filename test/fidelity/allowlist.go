package fidelity

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// Allow is one line of allowlist.txt: differences of Kinds at paths matching
// Glob are expected, for Reason.
type Allow struct {
	Line   int
	Glob   string   // absolute; "*" matches any characters including "/", "?" one character
	Kinds  []string // nil = every kind
	Reason string
	re     *regexp.Regexp
}

// Matches reports whether d is covered by a.
func (a *Allow) Matches(d Diff) bool {
	if a.Kinds != nil && !slices.Contains(a.Kinds, d.Kind) {
		return false
	}
	return a.re.MatchString(d.Path)
}

// ParseAllowList reads "GLOB KINDS REASON..." lines; blank lines and lines
// starting with "#" are ignored. KINDS is "*" or a comma-separated list of
// Kinds. The reason is mandatory: an allow-list entry nobody can explain is
// a bug hidden.
func ParseAllowList(r io.Reader) ([]*Allow, error) {
	var out []*Allow
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("allow-list line %d: want GLOB KINDS REASON, got %q", n, line)
		}
		a := &Allow{Line: n, Glob: f[0], Reason: strings.Join(f[2:], " ")}
		if !strings.HasPrefix(a.Glob, "/") {
			return nil, fmt.Errorf("allow-list line %d: glob %q must be absolute", n, a.Glob)
		}
		if f[1] != "*" {
			for _, k := range strings.Split(f[1], ",") {
				if !slices.Contains(Kinds, k) {
					return nil, fmt.Errorf("allow-list line %d: unknown kind %q (valid: %s or *)", n, k, strings.Join(Kinds, ","))
				}
				a.Kinds = append(a.Kinds, k)
			}
		}
		re, err := globRegexp(a.Glob)
		if err != nil {
			return nil, fmt.Errorf("allow-list line %d: %w", n, err)
		}
		a.re = re
		out = append(out, a)
	}
	return out, sc.Err()
}

// globRegexp turns a glob into an anchored regexp. "*" crosses "/", as
// dpkg's path filters do, so "/usr/share/doc/*" covers the whole subtree.
func globRegexp(g string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(g); i++ {
		switch c := g[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString("[^/]")
		case '[':
			j := strings.IndexByte(g[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("glob %q: unterminated [", g)
			}
			b.WriteString(g[i : i+j+1])
			i += j
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("glob %q: %w", g, err)
	}
	return re, nil
}

// Classified splits differences into the allow-listed and the unexplained.
type Classified struct {
	Allowed     map[*Allow][]Diff
	Unexplained []Diff
	Unused      []*Allow // entries that matched nothing (stale, or for another arch)
}

// Classify matches each diff against the first allow-list entry covering it.
func Classify(diffs []Diff, list []*Allow) Classified {
	c := Classified{Allowed: map[*Allow][]Diff{}}
	for _, d := range diffs {
		matched := false
		for _, a := range list {
			if a.Matches(d) {
				c.Allowed[a] = append(c.Allowed[a], d)
				matched = true
				break
			}
		}
		if !matched {
			c.Unexplained = append(c.Unexplained, d)
		}
	}
	for _, a := range list {
		if len(c.Allowed[a]) == 0 {
			c.Unused = append(c.Unused, a)
		}
	}
	return c
}

// CountByKind counts diffs per kind.
func CountByKind(diffs []Diff) map[string]int {
	m := map[string]int{}
	for _, d := range diffs {
		m[d.Kind]++
	}
	return m
}

// Summary renders counts as "missing=3 extra=1", kinds in report order.
func Summary(diffs []Diff) string {
	m := CountByKind(diffs)
	var parts []string
	for _, k := range Kinds {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}
