package maint

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// awk for the small programs maintainer scripts pipe through (the census
// found 17: field printing, a pattern or two, sprintf/substr/length/int,
// $NF assignment and NF--, if/else). No well-kept Go AWK is reachable
// from this build, so this is a small POSIX awk interpreter written here:
// patterns and ranges, BEGIN/END, print/printf, if/else, while, for(;;),
// next, exit, the arithmetic, comparison, match, concatenation,
// assignment and increment operators, fields, NR/NF/FNR/FS/OFS/ORS/
// FILENAME, -F and -v, and the builtins length, substr, index, int,
// sprintf, tolower, toupper. Arrays, getline, user functions, output
// redirection, system() and sub/gsub are refused.

type awkTok struct {
	kind string // "num", "str", "re", "name", "func", "kw", "op", "nl", "eof"
	s    string
	n    float64
}

var awkKeywords = map[string]bool{"BEGIN": true, "END": true, "if": true, "else": true, "while": true, "for": true,
	"do": true, "next": true, "exit": true, "print": true, "printf": true, "function": true, "getline": true,
	"delete": true, "in": true, "return": true, "break": true, "continue": true, "nextfile": true}

var awkBuiltins = map[string]bool{"length": true, "substr": true, "index": true, "int": true, "sprintf": true,
	"tolower": true, "toupper": true, "split": true, "sub": true, "gsub": true, "match": true, "system": true,
	"close": true, "sin": true, "cos": true, "exp": true, "log": true, "sqrt": true, "atan2": true, "rand": true, "srand": true, "fflush": true}

func awkLex(src string) ([]awkTok, error) {
	var toks []awkTok
	regexOK := true
	for i := 0; i < len(src); {
		ch := src[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\r':
			i++
			continue
		case ch == '\\' && i+1 < len(src) && src[i+1] == '\n':
			i += 2
			continue
		case ch == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		case ch == '\n':
			toks = append(toks, awkTok{kind: "nl"})
			i++
			regexOK = true
			continue
		case ch >= '0' && ch <= '9' || ch == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			j := i
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.' || src[j] == 'e' || src[j] == 'E' ||
				(src[j] == '-' || src[j] == '+') && j > i && (src[j-1] == 'e' || src[j-1] == 'E')) {
				j++
			}
			n, err := strconv.ParseFloat(src[i:j], 64)
			if err != nil {
				return nil, fmt.Errorf("bad number %q", src[i:j])
			}
			toks = append(toks, awkTok{kind: "num", n: n, s: src[i:j]})
			i = j
			regexOK = false
			continue
		case ch == '_' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z':
			j := i
			for j < len(src) && (src[j] == '_' || src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z' || src[j] >= '0' && src[j] <= '9') {
				j++
			}
			w := src[i:j]
			switch {
			case awkKeywords[w]:
				toks = append(toks, awkTok{kind: "kw", s: w})
				regexOK = true
			case awkBuiltins[w]:
				toks = append(toks, awkTok{kind: "func", s: w})
				regexOK = false
			default:
				toks = append(toks, awkTok{kind: "name", s: w})
				regexOK = false
			}
			i = j
			continue
		case ch == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(src) && src[j] != '"'; j++ {
				if src[j] == '\\' && j+1 < len(src) {
					j++
					switch src[j] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case 'r':
						b.WriteByte('\r')
					case '\\':
						b.WriteByte('\\')
					case '"':
						b.WriteByte('"')
					case '/':
						b.WriteByte('/')
					default:
						b.WriteByte('\\')
						b.WriteByte(src[j])
					}
					continue
				}
				b.WriteByte(src[j])
			}
			if j >= len(src) {
				return nil, fmt.Errorf("unterminated string")
			}
			toks = append(toks, awkTok{kind: "str", s: b.String()})
			i = j + 1
			regexOK = false
			continue
		case ch == '/' && regexOK:
			var b strings.Builder
			j := i + 1
			inBr := false
			for ; j < len(src) && (src[j] != '/' || inBr); j++ {
				if src[j] == '\\' && j+1 < len(src) {
					if src[j+1] == '/' {
						b.WriteByte('/')
					} else {
						b.WriteByte('\\')
						b.WriteByte(src[j+1])
					}
					j++
					continue
				}
				if src[j] == '[' {
					inBr = true
				} else if src[j] == ']' {
					inBr = false
				}
				b.WriteByte(src[j])
			}
			if j >= len(src) {
				return nil, fmt.Errorf("unterminated regular expression")
			}
			toks = append(toks, awkTok{kind: "re", s: b.String()})
			i = j + 1
			regexOK = false
			continue
		}
		ops := []string{"+=", "-=", "*=", "/=", "%=", "^=", "==", "<=", ">=", "!=", "++", "--", "&&", "||", ">>", "!~",
			"{", "}", "(", ")", "[", "]", ";", ",", "+", "-", "*", "/", "%", "^", "!", ">", "<", "|", "?", ":", "~", "$", "="}
		matched := false
		for _, op := range ops {
			if strings.HasPrefix(src[i:], op) {
				toks = append(toks, awkTok{kind: "op", s: op})
				i += len(op)
				matched = true
				regexOK = !(op == ")" || op == "]" || op == "$" || op == "++" || op == "--")
				break
			}
		}
		if !matched {
			return nil, fmt.Errorf("unexpected character %q", ch)
		}
	}
	return append(toks, awkTok{kind: "eof"}), nil
}

// AST

type awkExpr interface{}

type (
	awkNum   struct{ v float64 }
	awkStr   struct{ v string }
	awkRegex struct{ re *regexp.Regexp }
	awkVar   struct{ name string }
	awkField struct{ idx awkExpr }
	awkUnary struct {
		op string
		x  awkExpr
	}
	awkBinary struct {
		op   string
		l, r awkExpr
	}
	awkAssign struct {
		op     string
		target awkExpr
		v      awkExpr
	}
	awkIncr struct {
		op     string
		post   bool
		target awkExpr
	}
	awkCond  struct{ c, a, b awkExpr }
	awkMatch struct {
		neg bool
		l   awkExpr
		re  awkExpr
	}
	awkCall struct {
		name string
		args []awkExpr
	}
	awkGroup struct{ x awkExpr }
)

type awkStmt struct {
	kind             string // "expr", "print", "printf", "if", "while", "for", "block", "next", "exit"
	exprs            []awkExpr
	cond             awkExpr
	body, els        *awkStmt
	init, post       awkExpr
	stmts            []*awkStmt
	hasInit, hasPost bool
}

type awkItem struct {
	begin, end bool
	pat, pat2  awkExpr
	action     *awkStmt
	inRange    bool
}

type awkParser struct {
	toks []awkTok
	pos  int
}

type awkRefusal struct{ msg string }

func (e *awkRefusal) Error() string { return e.msg }

func (p *awkParser) peek() awkTok { return p.toks[p.pos] }
func (p *awkParser) next() awkTok { t := p.toks[p.pos]; p.pos++; return t }
func (p *awkParser) is(kind, s string) bool {
	t := p.peek()
	return t.kind == kind && t.s == s
}
func (p *awkParser) expect(kind, s string) error {
	if !p.is(kind, s) {
		t := p.peek()
		return fmt.Errorf("syntax error at %q, expected %q", t.s, s)
	}
	p.pos++
	return nil
}
func (p *awkParser) skipNL() {
	for p.peek().kind == "nl" || p.is("op", ";") {
		p.pos++
	}
}
func (p *awkParser) optNL() {
	for p.peek().kind == "nl" {
		p.pos++
	}
}

func (p *awkParser) program() ([]*awkItem, error) {
	var items []*awkItem
	for {
		p.skipNL()
		if p.peek().kind == "eof" {
			return items, nil
		}
		it := &awkItem{}
		switch {
		case p.is("kw", "BEGIN"):
			p.pos++
			it.begin = true
		case p.is("kw", "END"):
			p.pos++
			it.end = true
		case p.is("kw", "function"):
			return nil, &awkRefusal{"user functions not implemented"}
		case !p.is("op", "{"):
			e, err := p.expr(false)
			if err != nil {
				return nil, err
			}
			it.pat = e
			if p.is("op", ",") {
				p.pos++
				p.optNL()
				if it.pat2, err = p.expr(false); err != nil {
					return nil, err
				}
			}
		}
		if p.is("op", "{") {
			s, err := p.block()
			if err != nil {
				return nil, err
			}
			it.action = s
		} else if it.begin || it.end {
			return nil, fmt.Errorf("BEGIN/END need an action")
		}
		items = append(items, it)
	}
}

func (p *awkParser) block() (*awkStmt, error) {
	if err := p.expect("op", "{"); err != nil {
		return nil, err
	}
	b := &awkStmt{kind: "block"}
	for {
		p.skipNL()
		if p.is("op", "}") {
			p.pos++
			return b, nil
		}
		s, err := p.stmt()
		if err != nil {
			return nil, err
		}
		b.stmts = append(b.stmts, s)
	}
}

func (p *awkParser) simpleEnd() {
	if p.is("op", ";") || p.peek().kind == "nl" {
		p.pos++
	}
}

func (p *awkParser) stmt() (*awkStmt, error) {
	t := p.peek()
	switch {
	case t.kind == "op" && t.s == "{":
		return p.block()
	case t.kind == "kw" && t.s == "if":
		p.pos++
		if err := p.expect("op", "("); err != nil {
			return nil, err
		}
		c, err := p.expr(false)
		if err != nil {
			return nil, err
		}
		if err := p.expect("op", ")"); err != nil {
			return nil, err
		}
		p.optNL()
		body, err := p.stmt()
		if err != nil {
			return nil, err
		}
		s := &awkStmt{kind: "if", cond: c, body: body}
		save := p.pos
		p.skipNL()
		if p.is("kw", "else") {
			p.pos++
			p.optNL()
			if s.els, err = p.stmt(); err != nil {
				return nil, err
			}
		} else {
			p.pos = save
		}
		return s, nil
	case t.kind == "kw" && t.s == "while":
		p.pos++
		if err := p.expect("op", "("); err != nil {
			return nil, err
		}
		c, err := p.expr(false)
		if err != nil {
			return nil, err
		}
		if err := p.expect("op", ")"); err != nil {
			return nil, err
		}
		p.optNL()
		body, err := p.stmt()
		if err != nil {
			return nil, err
		}
		return &awkStmt{kind: "while", cond: c, body: body}, nil
	case t.kind == "kw" && t.s == "for":
		p.pos++
		if err := p.expect("op", "("); err != nil {
			return nil, err
		}
		s := &awkStmt{kind: "for"}
		var err error
		if !p.is("op", ";") {
			if s.init, err = p.expr(false); err != nil {
				return nil, err
			}
			s.hasInit = true
		}
		if p.is("kw", "in") {
			return nil, &awkRefusal{"for (k in array) not implemented"}
		}
		if err := p.expect("op", ";"); err != nil {
			return nil, err
		}
		if !p.is("op", ";") {
			if s.cond, err = p.expr(false); err != nil {
				return nil, err
			}
		}
		if err := p.expect("op", ";"); err != nil {
			return nil, err
		}
		if !p.is("op", ")") {
			if s.post, err = p.expr(false); err != nil {
				return nil, err
			}
			s.hasPost = true
		}
		if err := p.expect("op", ")"); err != nil {
			return nil, err
		}
		p.optNL()
		if s.body, err = p.stmt(); err != nil {
			return nil, err
		}
		return s, nil
	case t.kind == "kw" && (t.s == "next" || t.s == "exit"):
		p.pos++
		s := &awkStmt{kind: t.s}
		if t.s == "exit" && !p.is("op", ";") && !p.is("op", "}") && p.peek().kind != "nl" {
			e, err := p.expr(false)
			if err != nil {
				return nil, err
			}
			s.exprs = []awkExpr{e}
		}
		p.simpleEnd()
		return s, nil
	case t.kind == "kw" && (t.s == "print" || t.s == "printf"):
		p.pos++
		s := &awkStmt{kind: t.s}
		paren := false
		if p.is("op", "(") {
			// print (a, b): a grouping of the list, or of one expression
			save := p.pos
			p.pos++
			list, err := p.exprList(false)
			if err == nil && p.is("op", ")") {
				p.pos++
				if p.is("op", ";") || p.is("op", "}") || p.peek().kind == "nl" || p.peek().kind == "eof" || p.is("op", ">") || p.is("op", "|") {
					s.exprs, paren = list, true
				}
			}
			if !paren {
				p.pos = save
			}
		}
		if !paren && !p.is("op", ";") && !p.is("op", "}") && p.peek().kind != "nl" && !p.is("op", ">") && !p.is("op", ">>") && !p.is("op", "|") {
			list, err := p.exprList(true)
			if err != nil {
				return nil, err
			}
			s.exprs = list
		}
		if p.is("op", ">") || p.is("op", ">>") || p.is("op", "|") {
			return nil, &awkRefusal{"output redirection not implemented"}
		}
		p.simpleEnd()
		return s, nil
	case t.kind == "op" && t.s == ";":
		p.pos++
		return &awkStmt{kind: "block"}, nil
	case t.kind == "kw":
		return nil, &awkRefusal{fmt.Sprintf("%s not implemented", t.s)}
	}
	e, err := p.expr(false)
	if err != nil {
		return nil, err
	}
	p.simpleEnd()
	return &awkStmt{kind: "expr", exprs: []awkExpr{e}}, nil
}

func (p *awkParser) exprList(noGT bool) ([]awkExpr, error) {
	var list []awkExpr
	for {
		e, err := p.expr(noGT)
		if err != nil {
			return nil, err
		}
		list = append(list, e)
		if !p.is("op", ",") {
			return list, nil
		}
		p.pos++
		p.optNL()
	}
}

// expr parses with precedence climbing; noGT stops at '>' (print's
// redirection).
func (p *awkParser) expr(noGT bool) (awkExpr, error) { return p.ternary(noGT) }

func (p *awkParser) ternary(noGT bool) (awkExpr, error) {
	c, err := p.assign(noGT)
	if err != nil {
		return nil, err
	}
	if p.is("op", "?") {
		p.pos++
		a, err := p.ternary(noGT)
		if err != nil {
			return nil, err
		}
		if err := p.expect("op", ":"); err != nil {
			return nil, err
		}
		b, err := p.ternary(noGT)
		if err != nil {
			return nil, err
		}
		return &awkCond{c, a, b}, nil
	}
	return c, nil
}

func (p *awkParser) assign(noGT bool) (awkExpr, error) {
	l, err := p.or(noGT)
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if t.kind == "op" && (t.s == "=" || t.s == "+=" || t.s == "-=" || t.s == "*=" || t.s == "/=" || t.s == "%=" || t.s == "^=") {
		switch l.(type) {
		case *awkVar, *awkField:
		default:
			return nil, fmt.Errorf("assignment to a non-variable")
		}
		p.pos++
		p.optNL()
		r, err := p.assign(noGT)
		if err != nil {
			return nil, err
		}
		return &awkAssign{op: t.s, target: l, v: r}, nil
	}
	return l, nil
}

func (p *awkParser) or(noGT bool) (awkExpr, error) {
	l, err := p.and(noGT)
	if err != nil {
		return nil, err
	}
	for p.is("op", "||") {
		p.pos++
		p.optNL()
		r, err := p.and(noGT)
		if err != nil {
			return nil, err
		}
		l = &awkBinary{"||", l, r}
	}
	return l, nil
}

func (p *awkParser) and(noGT bool) (awkExpr, error) {
	l, err := p.match(noGT)
	if err != nil {
		return nil, err
	}
	for p.is("op", "&&") {
		p.pos++
		p.optNL()
		r, err := p.match(noGT)
		if err != nil {
			return nil, err
		}
		l = &awkBinary{"&&", l, r}
	}
	return l, nil
}

func (p *awkParser) match(noGT bool) (awkExpr, error) {
	l, err := p.compare(noGT)
	if err != nil {
		return nil, err
	}
	for p.is("op", "~") || p.is("op", "!~") {
		neg := p.next().s == "!~"
		r, err := p.compare(noGT)
		if err != nil {
			return nil, err
		}
		l = &awkMatch{neg: neg, l: l, re: r}
	}
	return l, nil
}

func (p *awkParser) compare(noGT bool) (awkExpr, error) {
	l, err := p.concat(noGT)
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if t.kind == "op" && (t.s == "<" || t.s == "<=" || t.s == "==" || t.s == "!=" || t.s == ">=" || t.s == ">" && !noGT) {
		p.pos++
		r, err := p.concat(noGT)
		if err != nil {
			return nil, err
		}
		return &awkBinary{t.s, l, r}, nil
	}
	return l, nil
}

func (p *awkParser) startsOperand() bool {
	t := p.peek()
	switch t.kind {
	case "num", "str", "re", "name", "func":
		return true
	case "op":
		return t.s == "$" || t.s == "(" || t.s == "!" || t.s == "-" || t.s == "+" || t.s == "++" || t.s == "--"
	}
	return false
}

func (p *awkParser) concat(noGT bool) (awkExpr, error) {
	l, err := p.additive()
	if err != nil {
		return nil, err
	}
	for p.startsOperand() && !p.is("op", "-") && !p.is("op", "+") && !p.is("op", "!") {
		r, err := p.additive()
		if err != nil {
			return nil, err
		}
		l = &awkBinary{"concat", l, r}
	}
	return l, nil
}

func (p *awkParser) additive() (awkExpr, error) {
	l, err := p.mul()
	if err != nil {
		return nil, err
	}
	for p.is("op", "+") || p.is("op", "-") {
		op := p.next().s
		r, err := p.mul()
		if err != nil {
			return nil, err
		}
		l = &awkBinary{op, l, r}
	}
	return l, nil
}

func (p *awkParser) mul() (awkExpr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.is("op", "*") || p.is("op", "/") || p.is("op", "%") {
		op := p.next().s
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = &awkBinary{op, l, r}
	}
	return l, nil
}

func (p *awkParser) unary() (awkExpr, error) {
	if p.is("op", "!") || p.is("op", "-") || p.is("op", "+") {
		op := p.next().s
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &awkUnary{op, x}, nil
	}
	return p.power()
}

func (p *awkParser) power() (awkExpr, error) {
	l, err := p.postfix()
	if err != nil {
		return nil, err
	}
	if p.is("op", "^") {
		p.pos++
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &awkBinary{"^", l, r}, nil
	}
	return l, nil
}

func (p *awkParser) postfix() (awkExpr, error) {
	if p.is("op", "++") || p.is("op", "--") {
		op := p.next().s
		x, err := p.postfix()
		if err != nil {
			return nil, err
		}
		return &awkIncr{op: op, target: x}, nil
	}
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	if p.is("op", "++") || p.is("op", "--") {
		switch x.(type) {
		case *awkVar, *awkField:
			return &awkIncr{op: p.next().s, post: true, target: x}, nil
		}
	}
	return x, nil
}

func (p *awkParser) primary() (awkExpr, error) {
	t := p.next()
	switch t.kind {
	case "num":
		return &awkNum{t.n}, nil
	case "str":
		return &awkStr{t.s}, nil
	case "re":
		re, err := awkCompile(t.s)
		if err != nil {
			return nil, err
		}
		return &awkRegex{re}, nil
	case "name":
		if p.is("op", "[") {
			return nil, &awkRefusal{"arrays not implemented"}
		}
		return &awkVar{t.s}, nil
	case "func":
		switch t.s {
		case "length", "substr", "index", "int", "sprintf", "tolower", "toupper", "sub", "gsub":
		default:
			return nil, &awkRefusal{t.s + "() not implemented"}
		}
		call := &awkCall{name: t.s}
		if !p.is("op", "(") {
			if t.s == "length" {
				return call, nil
			}
			return nil, fmt.Errorf("%s needs arguments", t.s)
		}
		p.pos++
		if !p.is("op", ")") {
			args, err := p.exprList(false)
			if err != nil {
				return nil, err
			}
			call.args = args
		}
		if err := p.expect("op", ")"); err != nil {
			return nil, err
		}
		return call, nil
	case "op":
		switch t.s {
		case "$":
			x, err := p.postfixNoIncr()
			if err != nil {
				return nil, err
			}
			return &awkField{x}, nil
		case "(":
			x, err := p.expr(false)
			if err != nil {
				return nil, err
			}
			if err := p.expect("op", ")"); err != nil {
				return nil, err
			}
			return &awkGroup{x}, nil
		}
	case "kw":
		if t.s == "getline" {
			return nil, &awkRefusal{"getline not implemented"}
		}
	}
	return nil, fmt.Errorf("syntax error at %q", t.s)
}

// postfixNoIncr is the operand of '$': a primary (so "$NF--" is
// ($NF)--... as awk parses "$i++" as ($i)++).
func (p *awkParser) postfixNoIncr() (awkExpr, error) {
	if p.is("op", "-") {
		p.pos++
		x, err := p.primary()
		return &awkUnary{"-", x}, err
	}
	return p.primary()
}

func awkCompile(s string) (*regexp.Regexp, error) {
	re, err := compilePOSIX(s, true, false, true, 0)
	if err != nil {
		return nil, &awkRefusal{fmt.Sprintf("regular expression /%s/: %v", s, err)}
	}
	return re, nil
}

// values

type awkVal struct {
	s      string
	n      float64
	num    bool // a number
	strnum bool // input that looks numeric
}

func awkNumVal(n float64) awkVal { return awkVal{n: n, num: true} }
func awkStrVal(s string) awkVal  { return awkVal{s: s} }

func awkInput(s string) awkVal {
	t := strings.TrimSpace(s)
	if n, err := strconv.ParseFloat(t, 64); err == nil && t != "" && !strings.ContainsAny(t, "xXnN") {
		return awkVal{s: s, n: n, strnum: true}
	}
	return awkVal{s: s}
}

func (v awkVal) toNum() float64 {
	if v.num || v.strnum {
		return v.n
	}
	return awkLeadingNumber(v.s)
}

func awkLeadingNumber(s string) float64 {
	s = strings.TrimLeft(s, " \t\n")
	end := 0
	for end < len(s) {
		if _, err := strconv.ParseFloat(s[:end+1], 64); err != nil && !(end == 0 && (s[0] == '-' || s[0] == '+' || s[0] == '.')) &&
			!((s[end] == 'e' || s[end] == 'E') || (s[end] == '-' || s[end] == '+') && end > 0 && (s[end-1] == 'e' || s[end-1] == 'E')) {
			break
		}
		end++
	}
	for ; end > 0; end-- {
		if n, err := strconv.ParseFloat(s[:end], 64); err == nil {
			return n
		}
	}
	return 0
}

func awkFormatNum(n float64) string {
	if n == math.Trunc(n) && math.Abs(n) < 1e16 {
		return strconv.FormatFloat(n, 'f', 0, 64)
	}
	return awkSprintf("%.6g", []awkVal{awkNumVal(n)})
}

func (v awkVal) toStr() string {
	if v.num {
		return awkFormatNum(v.n)
	}
	return v.s
}

func (v awkVal) truthy() bool {
	if v.num {
		return v.n != 0
	}
	if v.strnum {
		return v.n != 0
	}
	return v.s != ""
}

// interpreter

type awkRun struct {
	c        *Call
	vars     map[string]awkVal
	fields   []string // $1..$NF
	record   string
	out      *bytes.Buffer
	exiting  bool
	exitCode int
	nextRec  bool
}

func (r *awkRun) get(name string) awkVal {
	switch name {
	case "NF":
		return awkNumVal(float64(len(r.fields)))
	}
	return r.vars[name]
}

func (r *awkRun) set(name string, v awkVal) {
	if name == "NF" {
		n := int(v.toNum())
		if n < 0 {
			n = 0
		}
		for len(r.fields) < n {
			r.fields = append(r.fields, "")
		}
		r.fields = r.fields[:n]
		r.rebuild()
		return
	}
	r.vars[name] = v
}

func (r *awkRun) setRecord(s string) {
	r.record = s
	r.fields = r.split(s)
}

func (r *awkRun) split(s string) []string {
	fs := r.vars["FS"].toStr()
	switch {
	case fs == " ":
		return strings.Fields(s)
	case s == "":
		return nil
	case len(fs) == 1 && fs != "\\":
		return strings.Split(s, fs)
	}
	re, err := awkCompile(fs)
	if err != nil {
		return strings.Split(s, fs)
	}
	return re.Split(s, -1)
}

func (r *awkRun) rebuild() {
	r.record = strings.Join(r.fields, r.vars["OFS"].toStr())
}

func (r *awkRun) field(i int) awkVal {
	if i == 0 {
		return awkInput(r.record)
	}
	if i < 0 || i > len(r.fields) {
		return awkVal{}
	}
	return awkInput(r.fields[i-1])
}

func (r *awkRun) setField(i int, v string) error {
	if i < 0 {
		return fmt.Errorf("trying to access out of range field %d", i)
	}
	if i == 0 {
		r.setRecord(v)
		return nil
	}
	for len(r.fields) < i {
		r.fields = append(r.fields, "")
	}
	r.fields[i-1] = v
	r.rebuild()
	return nil
}

func (r *awkRun) eval(e awkExpr) (awkVal, error) {
	switch x := e.(type) {
	case *awkNum:
		return awkNumVal(x.v), nil
	case *awkStr:
		return awkStrVal(x.v), nil
	case *awkRegex:
		return awkBool(x.re.MatchString(r.record)), nil
	case *awkGroup:
		return r.eval(x.x)
	case *awkVar:
		return r.get(x.name), nil
	case *awkField:
		iv, err := r.eval(x.idx)
		if err != nil {
			return awkVal{}, err
		}
		return r.field(int(iv.toNum())), nil
	case *awkUnary:
		v, err := r.eval(x.x)
		if err != nil {
			return awkVal{}, err
		}
		switch x.op {
		case "!":
			return awkBool(!v.truthy()), nil
		case "-":
			return awkNumVal(-v.toNum()), nil
		}
		return awkNumVal(v.toNum()), nil
	case *awkCond:
		c, err := r.eval(x.c)
		if err != nil {
			return awkVal{}, err
		}
		if c.truthy() {
			return r.eval(x.a)
		}
		return r.eval(x.b)
	case *awkMatch:
		l, err := r.eval(x.l)
		if err != nil {
			return awkVal{}, err
		}
		var re *regexp.Regexp
		if lit, ok := x.re.(*awkRegex); ok {
			re = lit.re
		} else {
			rv, err := r.eval(x.re)
			if err != nil {
				return awkVal{}, err
			}
			if re, err = awkCompile(rv.toStr()); err != nil {
				return awkVal{}, err
			}
		}
		return awkBool(re.MatchString(l.toStr()) != x.neg), nil
	case *awkBinary:
		return r.binary(x)
	case *awkAssign:
		v, err := r.eval(x.v)
		if err != nil {
			return awkVal{}, err
		}
		if x.op != "=" {
			cur, err := r.eval(x.target)
			if err != nil {
				return awkVal{}, err
			}
			v = awkNumVal(awkArith(x.op[:1], cur.toNum(), v.toNum()))
		}
		if v.strnum {
			v = awkVal{s: v.s, n: v.n, strnum: true}
		}
		return v, r.store(x.target, v)
	case *awkIncr:
		cur, err := r.eval(x.target)
		if err != nil {
			return awkVal{}, err
		}
		n := cur.toNum()
		d := 1.0
		if x.op == "--" {
			d = -1
		}
		if err := r.store(x.target, awkNumVal(n+d)); err != nil {
			return awkVal{}, err
		}
		if x.post {
			return awkNumVal(n), nil
		}
		return awkNumVal(n + d), nil
	case *awkCall:
		return r.call(x)
	}
	return awkVal{}, fmt.Errorf("awk: unknown expression %T", e)
}

func (r *awkRun) store(target awkExpr, v awkVal) error {
	switch t := target.(type) {
	case *awkVar:
		r.set(t.name, v)
		return nil
	case *awkField:
		iv, err := r.eval(t.idx)
		if err != nil {
			return err
		}
		return r.setField(int(iv.toNum()), v.toStr())
	case *awkGroup:
		return r.store(t.x, v)
	}
	return fmt.Errorf("assignment to a non-variable")
}

func awkBool(b bool) awkVal {
	if b {
		return awkNumVal(1)
	}
	return awkNumVal(0)
}

func awkArith(op string, a, b float64) float64 {
	switch op {
	case "+":
		return a + b
	case "-":
		return a - b
	case "*":
		return a * b
	case "/":
		return a / b
	case "%":
		return math.Mod(a, b)
	case "^":
		return math.Pow(a, b)
	}
	return 0
}

func (r *awkRun) binary(x *awkBinary) (awkVal, error) {
	l, err := r.eval(x.l)
	if err != nil {
		return awkVal{}, err
	}
	switch x.op {
	case "&&":
		if !l.truthy() {
			return awkBool(false), nil
		}
		rv, err := r.eval(x.r)
		return awkBool(rv.truthy()), err
	case "||":
		if l.truthy() {
			return awkBool(true), nil
		}
		rv, err := r.eval(x.r)
		return awkBool(rv.truthy()), err
	}
	rv, err := r.eval(x.r)
	if err != nil {
		return awkVal{}, err
	}
	switch x.op {
	case "concat":
		return awkStrVal(l.toStr() + rv.toStr()), nil
	case "+", "-", "*", "/", "%", "^":
		if (x.op == "/" || x.op == "%") && rv.toNum() == 0 {
			return awkVal{}, fmt.Errorf("division by zero")
		}
		return awkNumVal(awkArith(x.op, l.toNum(), rv.toNum())), nil
	}
	var c int
	if (l.num || l.strnum || isUninit(l)) && (rv.num || rv.strnum || isUninit(rv)) {
		a, b := l.toNum(), rv.toNum()
		switch {
		case a < b:
			c = -1
		case a > b:
			c = 1
		}
	} else {
		c = strings.Compare(l.toStr(), rv.toStr())
	}
	switch x.op {
	case "<":
		return awkBool(c < 0), nil
	case "<=":
		return awkBool(c <= 0), nil
	case ">":
		return awkBool(c > 0), nil
	case ">=":
		return awkBool(c >= 0), nil
	case "==":
		return awkBool(c == 0), nil
	case "!=":
		return awkBool(c != 0), nil
	}
	return awkVal{}, fmt.Errorf("awk: operator %s", x.op)
}

func isUninit(v awkVal) bool { return !v.num && !v.strnum && v.s == "" }

func (r *awkRun) call(x *awkCall) (awkVal, error) {
	if x.name == "sub" || x.name == "gsub" {
		return r.substitute(x)
	}
	args := make([]awkVal, len(x.args))
	for i, a := range x.args {
		v, err := r.eval(a)
		if err != nil {
			return awkVal{}, err
		}
		args[i] = v
	}
	argc := func(min, max int) error {
		if len(args) < min || len(args) > max {
			return fmt.Errorf("function %s called with %d arguments", x.name, len(args))
		}
		return nil
	}
	switch x.name {
	case "length":
		if len(args) == 0 {
			return awkNumVal(float64(len(r.record))), nil
		}
		return awkNumVal(float64(len(args[0].toStr()))), argc(0, 1)
	case "substr":
		if err := argc(2, 3); err != nil {
			return awkVal{}, err
		}
		s := args[0].toStr()
		// POSIX: characters from position round(m) for round(n) chars.
		m := math.RoundToEven(args[1].toNum())
		n := math.Inf(1)
		if len(args) == 3 {
			n = math.RoundToEven(args[2].toNum())
		}
		start, end := m, m+n
		if start < 1 {
			start = 1
		}
		if end > float64(len(s))+1 {
			end = float64(len(s)) + 1
		}
		if end <= start {
			return awkStrVal(""), nil
		}
		return awkStrVal(s[int(start)-1 : int(end)-1]), nil
	case "index":
		if err := argc(2, 2); err != nil {
			return awkVal{}, err
		}
		return awkNumVal(float64(strings.Index(args[0].toStr(), args[1].toStr()) + 1)), nil
	case "int":
		if err := argc(1, 1); err != nil {
			return awkVal{}, err
		}
		return awkNumVal(math.Trunc(args[0].toNum())), nil
	case "tolower":
		return awkStrVal(strings.ToLower(args[0].toStr())), argc(1, 1)
	case "toupper":
		return awkStrVal(strings.ToUpper(args[0].toStr())), argc(1, 1)
	case "sprintf":
		if len(args) == 0 {
			return awkVal{}, fmt.Errorf("sprintf needs a format")
		}
		return awkStrVal(awkSprintf(args[0].toStr(), args[1:])), nil
	}
	return awkVal{}, &awkRefusal{x.name + "() not implemented"}
}

// substitute is sub(re, repl [, target]) and gsub: "&" in repl is the
// match, "\\&" a literal ampersand; the target (default $0) is assigned.
func (r *awkRun) substitute(x *awkCall) (awkVal, error) {
	if len(x.args) < 2 || len(x.args) > 3 {
		return awkVal{}, fmt.Errorf("%s called with %d arguments", x.name, len(x.args))
	}
	var re *regexp.Regexp
	if lit, ok := x.args[0].(*awkRegex); ok {
		re = lit.re
	} else {
		v, err := r.eval(x.args[0])
		if err != nil {
			return awkVal{}, err
		}
		if re, err = awkCompile(v.toStr()); err != nil {
			return awkVal{}, err
		}
	}
	rv, err := r.eval(x.args[1])
	if err != nil {
		return awkVal{}, err
	}
	repl := rv.toStr()
	var target awkExpr = &awkField{idx: &awkNum{0}}
	if len(x.args) == 3 {
		target = x.args[2]
		switch target.(type) {
		case *awkVar, *awkField, *awkGroup:
		default:
			return awkVal{}, fmt.Errorf("%s: target is not assignable", x.name)
		}
	}
	tv, err := r.eval(target)
	if err != nil {
		return awkVal{}, err
	}
	src := tv.toStr()
	n := 1
	if x.name == "gsub" {
		n = -1
	}
	matches := re.FindAllStringIndex(src, n)
	if len(matches) == 0 {
		return awkNumVal(0), nil
	}
	var b strings.Builder
	prev := 0
	for _, m := range matches {
		b.WriteString(src[prev:m[0]])
		for i := 0; i < len(repl); i++ {
			switch {
			case repl[i] == '\\' && i+1 < len(repl) && (repl[i+1] == '&' || repl[i+1] == '\\'):
				b.WriteByte(repl[i+1])
				i++
			case repl[i] == '&':
				b.WriteString(src[m[0]:m[1]])
			default:
				b.WriteByte(repl[i])
			}
		}
		prev = m[1]
	}
	b.WriteString(src[prev:])
	if err := r.store(target, awkStrVal(b.String())); err != nil {
		return awkVal{}, err
	}
	return awkNumVal(float64(len(matches))), nil
}

// awkSprintf formats as awk's printf: %d %i %o %x %X %u %c %s %e %f %g %%.
func awkSprintf(format string, args []awkVal) string {
	var b strings.Builder
	ai := 0
	next := func() awkVal {
		if ai < len(args) {
			ai++
			return args[ai-1]
		}
		return awkVal{}
	}
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			b.WriteByte(format[i])
			continue
		}
		j := i + 1
		for j < len(format) && strings.IndexByte("-+ #0123456789.*", format[j]) >= 0 {
			j++
		}
		if j >= len(format) {
			b.WriteString(format[i:])
			break
		}
		spec := format[i+1 : j]
		if k := strings.IndexByte(spec, '*'); k >= 0 {
			spec = spec[:k] + strconv.Itoa(int(next().toNum())) + spec[k+1:]
		}

		verb := format[j]
		i = j
		switch verb {
		case '%':
			b.WriteByte('%')
		case 'd', 'i':
			fmt.Fprintf(&b, "%"+spec+"d", int64(next().toNum()))
		case 'o', 'x', 'X':
			fmt.Fprintf(&b, "%"+spec+string(verb), uint64(int64(next().toNum())))
		case 'u':
			fmt.Fprintf(&b, "%"+spec+"d", uint64(int64(next().toNum())))
		case 'c':
			v := next()
			if v.num {
				fmt.Fprintf(&b, "%"+spec+"c", rune(int(v.n)))
			} else if s := v.toStr(); s != "" {
				fmt.Fprintf(&b, "%"+spec+"s", s[:1])
			}
		case 's':
			fmt.Fprintf(&b, "%"+spec+"s", next().toStr())
		case 'e', 'E', 'f', 'F', 'g', 'G':
			s := fmt.Sprintf("%"+spec+string(verb), next().toNum())
			if verb == 'g' || verb == 'G' {
				// C's %g drops the '+' sign padding Go keeps for exponents
				// the same way; only the exponent's width differs (e+06).
				s = cExponent(s)
			}
			b.WriteString(s)
		default:
			b.WriteString(format[i-len(spec)-1 : j+1])
		}
	}
	return b.String()
}

// cExponent rewrites Go's e+6 exponent to C's two-digit e+06.
func cExponent(s string) string {
	for _, e := range []string{"e+", "e-", "E+", "E-"} {
		if k := strings.Index(s, e); k >= 0 && len(s)-(k+2) == 1 {
			return s[:k+2] + "0" + s[k+2:]
		}
	}
	return s
}

func (r *awkRun) exec(s *awkStmt) error {
	if r.exiting || r.nextRec {
		return nil
	}
	switch s.kind {
	case "block":
		for _, st := range s.stmts {
			if err := r.exec(st); err != nil {
				return err
			}
			if r.exiting || r.nextRec {
				return nil
			}
		}
	case "expr":
		_, err := r.eval(s.exprs[0])
		return err
	case "print":
		if len(s.exprs) == 0 {
			r.out.WriteString(r.record)
		} else {
			for i, e := range s.exprs {
				v, err := r.eval(e)
				if err != nil {
					return err
				}
				if i > 0 {
					r.out.WriteString(r.vars["OFS"].toStr())
				}
				if v.num {
					r.out.WriteString(awkOutNum(v.n, r.vars["OFMT"].toStr()))
				} else {
					r.out.WriteString(v.s)
				}
			}
		}
		r.out.WriteString(r.vars["ORS"].toStr())
	case "printf":
		if len(s.exprs) == 0 {
			return fmt.Errorf("printf: no format")
		}
		var vals []awkVal
		for _, e := range s.exprs {
			v, err := r.eval(e)
			if err != nil {
				return err
			}
			vals = append(vals, v)
		}
		r.out.WriteString(awkSprintf(vals[0].toStr(), vals[1:]))
	case "if":
		c, err := r.eval(s.cond)
		if err != nil {
			return err
		}
		if c.truthy() {
			return r.exec(s.body)
		} else if s.els != nil {
			return r.exec(s.els)
		}
	case "while", "for":
		if s.hasInit {
			if _, err := r.eval(s.init); err != nil {
				return err
			}
		}
		for n := 0; ; n++ {
			if n%4096 == 4095 && r.c.Ctx != nil && r.c.Ctx.Err() != nil {
				return r.c.Ctx.Err()
			}
			if s.cond != nil {
				c, err := r.eval(s.cond)
				if err != nil {
					return err
				}
				if !c.truthy() {
					break
				}
			}
			if err := r.exec(s.body); err != nil {
				return err
			}
			if r.exiting || r.nextRec {
				return nil
			}
			if s.hasPost {
				if _, err := r.eval(s.post); err != nil {
					return err
				}
			}
		}
	case "next":
		r.nextRec = true
	case "exit":
		if len(s.exprs) > 0 {
			v, err := r.eval(s.exprs[0])
			if err != nil {
				return err
			}
			r.exitCode = int(v.toNum())
		}
		r.exiting = true
	}
	return nil
}

func awkOutNum(n float64, ofmt string) string {
	if n == math.Trunc(n) && math.Abs(n) < 1e16 {
		return strconv.FormatFloat(n, 'f', 0, 64)
	}
	return awkSprintf(ofmt, []awkVal{awkNumVal(n)})
}

func runAwk(c *Call) error {
	var progText string
	vars := map[string]awkVal{"FS": awkStrVal(" "), "OFS": awkStrVal(" "), "ORS": awkStrVal("\n"),
		"OFMT": awkStrVal("%.6g"), "CONVFMT": awkStrVal("%.6g"), "SUBSEP": awkStrVal("\x1c"), "RS": awkStrVal("\n")}
	args := c.Args
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		switch {
		case a == "-F" && i+1 < len(args):
			i++
			vars["FS"] = awkStrVal(awkFS(args[i]))
		case strings.HasPrefix(a, "-F"):
			vars["FS"] = awkStrVal(awkFS(a[2:]))
		case a == "-v" && i+1 < len(args):
			i++
			name, val, ok := strings.Cut(args[i], "=")
			if !ok {
				return usageError(c, "-v: %s is not an assignment", quoteName(args[i]))
			}
			vars[name] = awkInput(unescapeAwk(val))
		case strings.HasPrefix(a, "-v"):
			name, val, _ := strings.Cut(a[2:], "=")
			vars[name] = awkInput(unescapeAwk(val))
		default:
			return Refuse("awk "+a, "option not implemented")
		}
	}
	if i >= len(args) {
		return usageError(c, "no program text")
	}
	progText, args = args[i], args[i+1:]
	toks, err := awkLex(progText)
	if err != nil {
		return awkError(c, progText, err)
	}
	p := &awkParser{toks: toks}
	items, err := p.program()
	if err != nil {
		return awkError(c, progText, err)
	}
	r := &awkRun{c: c, vars: vars, out: &bytes.Buffer{}}
	flush := func() error {
		_, err := c.Stdout.Write(r.out.Bytes())
		r.out.Reset()
		return err
	}
	runErr := func(err error) error {
		flush()
		return awkError(c, progText, err)
	}
	for _, it := range items {
		if it.begin {
			if err := r.exec(it.action); err != nil {
				return runErr(err)
			}
		}
	}
	hasMain := false
	for _, it := range items {
		if !it.begin {
			hasMain = true
		}
	}
	status := error(nil)
	if hasMain && !r.exiting {
		files := append([]string(nil), args...)
		if len(files) == 0 {
			files = []string{"-"}
		}
		nr := 0
		for _, f := range files {
			if name, val, ok := strings.Cut(f, "="); ok && !strings.Contains(name, "/") && name != "" {
				r.vars[name] = awkInput(unescapeAwk(val))
				continue
			}
			var data []byte
			if f == "-" {
				if data, err = readStdin(c); err != nil {
					return err
				}
			} else if data, err = readAllFile(c, f); err != nil {
				if fe := fsFailure(c, err); fe != nil {
					return fe
				}
				fmt.Fprintf(c.Stderr, "%s: cannot open %s (%s)\n", c.Name, f, errText(err))
				status = ExitStatus(2)
				continue
			}
			r.vars["FILENAME"] = awkStrVal(f)
			fnr := 0
			for _, line := range splitKeep(data, '\n') {
				nr++
				fnr++
				r.vars["NR"] = awkNumVal(float64(nr))
				r.vars["FNR"] = awkNumVal(float64(fnr))
				r.setRecord(strings.TrimSuffix(string(line), "\n"))
				r.nextRec = false
				for _, it := range items {
					if it.begin || it.end {
						continue
					}
					ok, err := r.matchItem(it)
					if err != nil {
						return runErr(err)
					}
					if !ok {
						continue
					}
					if it.action == nil {
						r.out.WriteString(r.record + r.vars["ORS"].toStr())
					} else if err := r.exec(it.action); err != nil {
						return runErr(err)
					}
					if r.exiting || r.nextRec {
						break
					}
				}
				if r.exiting {
					break
				}
			}
			if r.exiting {
				break
			}
		}
	}
	r.exiting, r.nextRec = false, false
	for _, it := range items {
		if it.end {
			if err := r.exec(it.action); err != nil {
				return runErr(err)
			}
			if r.exiting {
				break
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if r.exitCode != 0 {
		return ExitStatus(r.exitCode)
	}
	return status
}

func (r *awkRun) matchItem(it *awkItem) (bool, error) {
	if it.pat == nil {
		return true, nil
	}
	if it.pat2 == nil {
		v, err := r.eval(it.pat)
		return err == nil && v.truthy(), err
	}
	if !it.inRange {
		v, err := r.eval(it.pat)
		if err != nil || !v.truthy() {
			return false, err
		}
		it.inRange = true
	}
	v, err := r.eval(it.pat2)
	if err != nil {
		return false, err
	}
	if v.truthy() {
		it.inRange = false
	}
	return true, nil
}

// awkFS is -F's value: "t" means a tab, as POSIX awk says.
func awkFS(s string) string {
	if s == "t" {
		return "\t"
	}
	return unescapeAwk(s)
}

func unescapeAwk(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	return unescapeSed(s)
}

func awkError(c *Call, prog string, err error) error {
	if ref, ok := err.(*awkRefusal); ok {
		return Refuse("awk", "program %q: %s", prog, ref.msg)
	}
	if _, ok := err.(*RefusedError); ok {
		return err
	}
	if _, ok := err.(ExitStatus); ok {
		return err
	}
	if c.Ctx != nil && c.Ctx.Err() != nil && errors.Is(err, c.Ctx.Err()) {
		return err
	}
	fmt.Fprintf(c.Stderr, "%s: %v\n", c.Name, err)
	return ExitStatus(2)
}
