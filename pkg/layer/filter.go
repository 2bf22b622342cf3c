package layer

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

// PathFilter is one dpkg path-exclude or path-include option.
type PathFilter struct {
	Include bool
	Pattern string // fnmatch(3) glob on the absolute path, e.g. "/usr/share/doc/*"
}

func (f PathFilter) String() string {
	if f.Include {
		return "path-include=" + f.Pattern
	}
	return "path-exclude=" + f.Pattern
}

// Filters are dpkg's path filters in the order dpkg reads them.
type Filters []PathFilter

// ReadFilters reads path-exclude/path-include options from
// etc/dpkg/dpkg.cfg.d/* of base, in dpkg's order: files sorted by name
// (dpkg skips names with characters other than [A-Za-z0-9_-], as run-parts
// does), options in file order. A missing directory means no filters.
func ReadFilters(base fs.FS) (Filters, error) {
	const dir = "etc/dpkg/dpkg.cfg.d"
	ents, err := fs.ReadDir(base, dir)
	if err != nil {
		if isNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	var names []string
	for _, e := range ents {
		if validConfName(e.Name()) && !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var out Filters
	for _, n := range names {
		b, err := fs.ReadFile(base, dir+"/"+n)
		if err != nil {
			if isNotExist(err) { // e.g. a dangling symlink
				continue
			}
			return nil, fmt.Errorf("read %s/%s: %w", dir, n, err)
		}
		out = append(out, ParseFilters(b)...)
	}
	return out, nil
}

func validConfName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ParseFilters extracts path filters from one dpkg configuration file
// ("option=value" or "option value" lines, '#' comments).
func ParseFilters(b []byte) Filters {
	var out Filters
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		opt, val := line, ""
		if i := strings.IndexAny(line, "= \t"); i >= 0 {
			opt, val = line[:i], strings.TrimSpace(strings.TrimLeft(line[i:], "= \t"))
		}
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
			val = val[1 : len(val)-1]
		}
		switch opt {
		case "path-exclude":
			out = append(out, PathFilter{Pattern: val})
		case "path-include":
			out = append(out, PathFilter{Include: true, Pattern: val})
		}
	}
	return out
}

// Skip reports whether dpkg would not unpack the entry at abs (an absolute
// path, "/usr/share/doc/x"): the last matching filter decides; a directory
// (or a symlink, as dpkg treats both alike here) that is excluded is kept
// when an include pattern could match something beneath it, so that
// included files keep their parents.
func (fs Filters) Skip(abs string, isDirOrLink bool) bool {
	skip := false
	for _, f := range fs {
		if fnmatch(f.Pattern, abs) {
			skip = !f.Include
		}
	}
	if !skip || !isDirOrLink {
		return skip
	}
	for _, f := range fs {
		if !f.Include {
			continue
		}
		// dpkg: strncmp(path, pattern, offset of the first wildcard) == 0,
		// i.e. the path starts with the pattern's literal prefix.
		wl := strings.IndexAny(f.Pattern, "*?[\\")
		if wl < 0 {
			wl = len(f.Pattern)
		}
		if strings.HasPrefix(abs, f.Pattern[:wl]) {
			return false
		}
	}
	return true
}

// fnmatch matches name against pattern like fnmatch(3) with no flags: '*'
// and '?' match any character including '/', brackets are character
// classes ('!' or '^' negates), backslash quotes.
func fnmatch(pattern, name string) bool {
	px, nx := 0, 0
	nextPx, nextNx := -1, -1
	for px < len(pattern) || nx < len(name) {
		if px < len(pattern) {
			c := pattern[px]
			switch c {
			case '*':
				nextPx, nextNx = px, nx+1
				px++
				continue
			case '?':
				if nx < len(name) {
					px++
					nx++
					continue
				}
			case '[':
				if nx < len(name) {
					if ok, width, valid := matchClass(pattern[px:], name[nx]); valid {
						if ok {
							px += width
							nx++
							continue
						}
					} else if name[nx] == '[' { // unterminated: literal '['
						px++
						nx++
						continue
					}
				}
			case '\\':
				if px+1 < len(pattern) {
					if nx < len(name) && name[nx] == pattern[px+1] {
						px += 2
						nx++
						continue
					}
				} else if nx < len(name) && name[nx] == '\\' {
					px++
					nx++
					continue
				}
			default:
				if nx < len(name) && name[nx] == c {
					px++
					nx++
					continue
				}
			}
		}
		if nextNx > 0 && nextNx <= len(name) {
			px, nx = nextPx, nextNx
			continue
		}
		return false
	}
	return true
}

// matchClass matches c against the bracket expression at the start of p.
// It returns whether it matched, the expression's width, and whether the
// expression is terminated.
func matchClass(p string, c byte) (matched bool, width int, valid bool) {
	i := 1
	neg := false
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		neg = true
		i++
	}
	first := true
	for i < len(p) {
		if p[i] == ']' && !first {
			return matched != neg, i + 1, true
		}
		first = false
		lo := p[i]
		if lo == '\\' && i+1 < len(p) {
			i++
			lo = p[i]
		}
		i++
		hi := lo
		if i+1 < len(p) && p[i] == '-' && p[i+1] != ']' {
			hi = p[i+1]
			if hi == '\\' && i+2 < len(p) {
				i++
				hi = p[i+1]
			}
			i += 2
		}
		if lo <= c && c <= hi {
			matched = true
		}
	}
	return false, 0, false
}
