package apt

import (
	"errors"
	"fmt"
	"strings"
)

// Op is a version constraint operator of a relation field.
type Op string

const (
	OpNone Op = ""
	OpLT   Op = "<<"
	OpLE   Op = "<="
	OpEQ   Op = "="
	OpGE   Op = ">="
	OpGT   Op = ">>"
)

// Relation is one package reference in a relation field, e.g.
// "libc6:any (>= 2.36) [amd64]".
type Relation struct {
	Name    string
	ArchQ   string   // arch qualifier after ':' ("any", "native", "amd64"), or ""
	Op      Op       // OpNone when unversioned
	Version string   // empty when unversioned
	Archs   []string // architecture restriction list "[amd64 !arm64]", rarely in binary indexes
}

// Alternatives is an or-group "a | b | c"; apt tries them in order.
type Alternatives []Relation

// Relations is a comma-separated relation field.
type Relations []Alternatives

// ErrRelation is wrapped by ParseRelations errors.
var ErrRelation = errors.New("invalid relation")

// Matches reports whether the package name at version meets r by its own
// name and version (not through Provides, whatever its architecture): how
// dpkg tests Replaces, Conflicts and Breaks against one package.
func (r Relation) Matches(name, version string) bool {
	return r.Name == name && Satisfies(version, r.Op, r.Version)
}

// Matches reports whether any relation of rs matches name at version.
func (rs Relations) Matches(name, version string) bool {
	for _, alt := range rs {
		for _, r := range alt {
			if r.Matches(name, version) {
				return true
			}
		}
	}
	return false
}

// String renders the relation in Debian syntax, e.g. "libc6:any (>= 2.36) [amd64]".
func (r Relation) String() string {
	var b strings.Builder
	r.writeTo(&b)
	return b.String()
}

func (r Relation) writeTo(b *strings.Builder) {
	b.WriteString(r.Name)
	if r.ArchQ != "" {
		b.WriteByte(':')
		b.WriteString(r.ArchQ)
	}
	if r.Op != OpNone {
		b.WriteString(" (")
		b.WriteString(string(r.Op))
		b.WriteByte(' ')
		b.WriteString(r.Version)
		b.WriteByte(')')
	}
	if len(r.Archs) > 0 {
		b.WriteString(" [")
		b.WriteString(strings.Join(r.Archs, " "))
		b.WriteByte(']')
	}
}

// String renders the or-group as "a | b (>= 1)".
func (a Alternatives) String() string {
	var b strings.Builder
	a.writeTo(&b)
	return b.String()
}

func (a Alternatives) writeTo(b *strings.Builder) {
	for i, r := range a {
		if i > 0 {
			b.WriteString(" | ")
		}
		r.writeTo(b)
	}
}

// String renders the field as "a, b | c (>= 1)".
func (rs Relations) String() string {
	var b strings.Builder
	for i, a := range rs {
		if i > 0 {
			b.WriteString(", ")
		}
		a.writeTo(&b)
	}
	return b.String()
}

// AppliesTo reports whether the relation's architecture restriction list
// (if any) includes arch. Relations without a list apply everywhere.
func (r Relation) AppliesTo(arch string) bool {
	if len(r.Archs) == 0 {
		return true
	}
	negated := false
	for _, a := range r.Archs {
		if strings.HasPrefix(a, "!") {
			negated = true
			if archMatches(a[1:], arch) {
				return false
			}
		} else if archMatches(a, arch) {
			return true
		}
	}
	// A list of only negations applies to every other architecture.
	return negated
}

// archMatches matches a Debian architecture against a name or wildcard
// ("any", "linux-any", "any-amd64"). Only Linux architectures are relevant here.
func archMatches(pattern, arch string) bool {
	switch {
	case pattern == arch || pattern == "any":
		return true
	case pattern == "linux-any":
		return true
	case strings.HasPrefix(pattern, "any-"):
		return pattern[4:] == arch
	case strings.HasPrefix(pattern, "linux-"):
		return pattern[6:] == arch
	}
	return false
}

// ParseRelations parses a Depends-style field: comma-separated groups of
// '|'-separated alternatives, each "name[:archq] [(op version)] [[archs]]
// [<profiles>...]". Whitespace (newlines included) is free between tokens.
// The obsolete operators "<" and ">" are kept as written (Satisfies reads them
// as "<=" and ">="). Build profiles are parsed and dropped. Empty groups (as
// left by a trailing comma) are skipped. Strings in the result share memory
// with s.
func ParseRelations(s string) (Relations, error) {
	if isBlank(s) {
		return nil, nil
	}
	// One allocation for all relations and one for the groups.
	ngrp := 1 + strings.Count(s, ",")
	nrel := ngrp + strings.Count(s, "|")
	rels := make([]Relation, 0, nrel)
	grps := make(Relations, 0, ngrp)
	p := relParser{s: s}
	for {
		p.skipSpace()
		if p.eof() {
			break
		}
		if p.peek() == ',' { // empty group
			p.i++
			continue
		}
		start := len(rels)
		for {
			r, err := p.relation()
			if err != nil {
				return nil, err
			}
			rels = append(rels, r)
			p.skipSpace()
			if !p.eof() && p.peek() == '|' {
				p.i++
				continue
			}
			break
		}
		grps = append(grps, Alternatives(rels[start:len(rels):len(rels)]))
		if p.eof() {
			break
		}
		if p.peek() != ',' {
			return nil, p.errf("expected ',' or '|'")
		}
		p.i++
	}
	if len(grps) == 0 {
		return nil, nil
	}
	return grps, nil
}

// parseGroup parses one or-group, g being non-blank, trimmed and without a
// comma: what ParseRelations(g) would return as its only group. ok is false
// where ParseRelations would fail (it then tells why).
func parseGroup(g string) (alt Alternatives, ok bool) {
	alt = make(Alternatives, 0, 1+strings.Count(g, "|"))
	p := relParser{s: g}
	for {
		r, err := p.relation()
		if err != nil {
			return nil, false
		}
		alt = append(alt, r)
		p.skipSpace()
		if p.eof() {
			return alt, true
		}
		if p.peek() != '|' {
			return nil, false
		}
		p.i++
	}
}

func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isSpace(s[i]) {
			return false
		}
	}
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

type relParser struct {
	s string
	i int
}

func (p *relParser) eof() bool  { return p.i >= len(p.s) }
func (p *relParser) peek() byte { return p.s[p.i] }

func (p *relParser) skipSpace() {
	for p.i < len(p.s) && isSpace(p.s[p.i]) {
		p.i++
	}
}

func (p *relParser) errf(msg string) error {
	// Quote the text around the offset: a field may be huge.
	from := max(0, p.i-24)
	return fmt.Errorf("%w at offset %d of %s: %s", ErrRelation, p.i, Excerpt(p.s[from:]), msg)
}

// isNameByte reports bytes allowed in package, architecture and version tokens.
func isNameByte(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', '|', '(', ')', '[', ']', '<', '>', '=', ':', '!':
		return false
	}
	return c > ' ' && c < 0x7f
}

func (p *relParser) token() string {
	st := p.i
	for p.i < len(p.s) && isNameByte(p.s[p.i]) {
		p.i++
	}
	return p.s[st:p.i]
}

func (p *relParser) relation() (Relation, error) {
	var r Relation
	p.skipSpace()
	r.Name = p.token()
	if r.Name == "" {
		return r, p.errf("expected a package name")
	}
	if !p.eof() && p.peek() == ':' {
		p.i++
		r.ArchQ = p.token()
		if r.ArchQ == "" {
			return r, p.errf("expected an architecture qualifier after ':'")
		}
	}
	p.skipSpace()
	if !p.eof() && p.peek() == '(' {
		p.i++
		p.skipSpace()
		st := p.i
		for p.i < len(p.s) && (p.s[p.i] == '<' || p.s[p.i] == '>' || p.s[p.i] == '=') {
			p.i++
		}
		// The constants, not the substring: a relation must not keep
		// the text it was read from alive (see ParsePackages).
		switch op := Op(p.s[st:p.i]); op {
		case OpLT:
			r.Op = OpLT
		case OpLE:
			r.Op = OpLE
		case OpEQ:
			r.Op = OpEQ
		case OpGE:
			r.Op = OpGE
		case OpGT:
			r.Op = OpGT
		case "<":
			r.Op = "<"
		case ">":
			r.Op = ">"
		default:
			return r, p.errf("expected a version operator")
		}
		p.skipSpace()
		st = p.i
		for p.i < len(p.s) && !isSpace(p.s[p.i]) && p.s[p.i] != ')' {
			p.i++
		}
		r.Version = p.s[st:p.i]
		if r.Version == "" {
			return r, p.errf("expected a version")
		}
		p.skipSpace()
		if p.eof() || p.peek() != ')' {
			return r, p.errf("expected ')'")
		}
		p.i++
		p.skipSpace()
	}
	if !p.eof() && p.peek() == '[' {
		p.i++
		for {
			p.skipSpace()
			if p.eof() {
				return r, p.errf("unterminated architecture list")
			}
			if p.peek() == ']' {
				p.i++
				break
			}
			neg := false
			if p.peek() == '!' {
				neg = true
				p.i++
			}
			a := p.token()
			if a == "" {
				return r, p.errf("expected an architecture")
			}
			if neg {
				a = "!" + a
			}
			r.Archs = append(r.Archs, a)
		}
		if len(r.Archs) == 0 {
			return r, p.errf("empty architecture list")
		}
		p.skipSpace()
	}
	// Build profile restrictions "<!nocheck> <stage1 cross>": parsed, dropped.
	for !p.eof() && p.peek() == '<' {
		p.i++
		n := 0
		for {
			p.skipSpace()
			if p.eof() {
				return r, p.errf("unterminated build profile list")
			}
			if p.peek() == '>' {
				p.i++
				break
			}
			if p.peek() == '!' {
				p.i++
			}
			if p.token() == "" {
				return r, p.errf("expected a build profile")
			}
			n++
		}
		if n == 0 {
			return r, p.errf("empty build profile list")
		}
		p.skipSpace()
	}
	return r, nil
}
