package maint

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// GNU sed: addresses (N, $, /re/, \cREc, first~step, addr,+N, 0,/re/, !),
// the commands { } s d D p P n N q Q a i c y = h H g G x b t T : r z F #,
// s/// flags g p N i I e, -n -e -f -E/-r -i[SUFFIX] -s -z. The w, e, l,
// W and R commands and \L/\U case conversion are refused.

type sedAddr struct {
	kind  byte // 'n' line, '$' last, 'r' regex, '~' step, '+' relative (addr2), '0'
	n, m  int
	re    *regexp.Regexp
	empty bool // "//": the last regex used
}

type sedCmd struct {
	a1, a2   *sedAddr
	neg      bool
	name     byte
	text     string // a i c r label
	jump     int    // { : index after the matching }; b t T: target
	exitCode int
	// s
	re            *regexp.Regexp
	reEmpty       bool
	repl          []sedRepl
	global, print bool
	nth           int
	exec          bool
	y             *[256]byte
	// range state
	active  bool
	endLine int
}

// sedRepl is a piece of a replacement: literal text, or a group (& = 0).
type sedRepl struct {
	lit   string
	group int // -1: literal
}

type sedParser struct {
	s    string
	pos  int
	ere  bool
	cmds []*sedCmd
	c    *Call
}

func (p *sedParser) refuse(format string, args ...any) error {
	return Refuse("sed", "script %q: %s", p.s, fmt.Sprintf(format, args...))
}

func (p *sedParser) eof() bool { return p.pos >= len(p.s) }

func (p *sedParser) skipSpace() {
	for !p.eof() && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
}

// delimited reads up to an unescaped delim, keeping escapes except
// "\<newline>" (a newline) and "\n" when delim is not 'n'.
func (p *sedParser) delimited(delim byte, regex bool) (string, error) {
	var b strings.Builder
	inBracket := false
	for !p.eof() {
		ch := p.s[p.pos]
		p.pos++
		switch {
		case ch == '\\' && !p.eof():
			n := p.s[p.pos]
			p.pos++
			if n == '\n' {
				b.WriteByte('\n')
				continue
			}
			if n == delim && !regex {
				b.WriteByte(n)
				continue
			}
			b.WriteByte('\\')
			b.WriteByte(n)
		case regex && ch == '[' && !inBracket:
			inBracket = true
			b.WriteByte(ch)
			// ']' right after '[' or '[^' is part of the set
			if !p.eof() && p.s[p.pos] == '^' {
				b.WriteByte('^')
				p.pos++
			}
			if !p.eof() && p.s[p.pos] == ']' {
				b.WriteByte(']')
				p.pos++
			}
		case regex && inBracket && ch == ']':
			inBracket = false
			b.WriteByte(ch)
		case ch == delim && !inBracket:
			return b.String(), nil
		case ch == '\n' && !regex && delim != '\n':
			b.WriteByte(ch)
		default:
			b.WriteByte(ch)
		}
	}
	return "", p.refuse("unterminated `%c'", delim)
}

func (p *sedParser) regex(delim byte) (*regexp.Regexp, bool, error) {
	pat, err := p.delimited(delim, true)
	if err != nil {
		return nil, false, err
	}
	icase := false
	for !p.eof() && (p.s[p.pos] == 'I') {
		icase = true
		p.pos++
	}
	if pat == "" {
		return nil, true, nil
	}
	re, err := compilePOSIX(pat, p.ere, icase, true, delim)
	if err != nil {
		return nil, false, p.refuse("%v", err)
	}
	return re, false, nil
}

func (p *sedParser) number() int {
	start := p.pos
	for !p.eof() && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
		p.pos++
	}
	n, _ := strconv.Atoi(p.s[start:p.pos])
	return n
}

func (p *sedParser) addr() (*sedAddr, error) {
	if p.eof() {
		return nil, nil
	}
	ch := p.s[p.pos]
	switch {
	case ch >= '0' && ch <= '9':
		n := p.number()
		if !p.eof() && p.s[p.pos] == '~' {
			p.pos++
			return &sedAddr{kind: '~', n: n, m: p.number()}, nil
		}
		if n == 0 {
			return &sedAddr{kind: '0'}, nil
		}
		return &sedAddr{kind: 'n', n: n}, nil
	case ch == '$':
		p.pos++
		return &sedAddr{kind: '$'}, nil
	case ch == '/' || ch == '\\':
		p.pos++
		delim := byte('/')
		if ch == '\\' {
			if p.eof() {
				return nil, p.refuse("unexpected end")
			}
			delim = p.s[p.pos]
			p.pos++
		}
		re, empty, err := p.regex(delim)
		if err != nil {
			return nil, err
		}
		return &sedAddr{kind: 'r', re: re, empty: empty}, nil
	}
	return nil, nil
}

// text reads the argument of a, i, c: "a\<newline>text" (lines continued
// by a trailing backslash) or GNU's one-line "a text".
func (p *sedParser) text() string {
	p.skipSpace()
	if strings.HasPrefix(p.s[p.pos:], "\\\n") {
		p.pos += 2
	} else if strings.HasPrefix(p.s[p.pos:], "\\") {
		p.pos++
		p.skipSpace()
	}
	var b strings.Builder
	for !p.eof() {
		ch := p.s[p.pos]
		p.pos++
		if ch == '\\' && !p.eof() {
			b.WriteByte(p.s[p.pos])
			p.pos++
			continue
		}
		if ch == '\n' {
			break
		}
		b.WriteByte(ch)
	}
	return b.String()
}

func (p *sedParser) label() string {
	p.skipSpace()
	start := p.pos
	for !p.eof() && p.s[p.pos] != '\n' && p.s[p.pos] != ';' {
		p.pos++
	}
	return strings.TrimRight(p.s[start:p.pos], " \t")
}

func parseSed(c *Call, script string, ere bool) ([]*sedCmd, error) {
	p := &sedParser{s: script, ere: ere, c: c}
	var open []int
	labels := map[string]int{}
	for {
		for !p.eof() && strings.IndexByte(" \t\n;", p.s[p.pos]) >= 0 {
			p.pos++
		}
		if p.eof() {
			break
		}
		if p.s[p.pos] == '#' {
			for !p.eof() && p.s[p.pos] != '\n' {
				p.pos++
			}
			continue
		}
		cmd := &sedCmd{}
		var err error
		if cmd.a1, err = p.addr(); err != nil {
			return nil, err
		}
		if cmd.a1 != nil && !p.eof() && p.s[p.pos] == ',' {
			p.pos++
			p.skipSpace()
			if !p.eof() && (p.s[p.pos] == '+' || p.s[p.pos] == '~') {
				kind := p.s[p.pos]
				p.pos++
				cmd.a2 = &sedAddr{kind: kind, n: p.number()}
				if kind == '~' {
					return nil, p.refuse("addr,~N not implemented")
				}
			} else if cmd.a2, err = p.addr(); err != nil {
				return nil, err
			} else if cmd.a2 == nil {
				return nil, p.refuse("unexpected `,'")
			}
		}
		p.skipSpace()
		for !p.eof() && p.s[p.pos] == '!' {
			cmd.neg = true
			p.pos++
			p.skipSpace()
		}
		if p.eof() {
			return nil, p.refuse("missing command")
		}
		cmd.name = p.s[p.pos]
		p.pos++
		switch cmd.name {
		case '{':
			open = append(open, len(p.cmds))
		case '}':
			if len(open) == 0 {
				return nil, p.refuse("unexpected `}'")
			}
			p.cmds[open[len(open)-1]].jump = len(p.cmds) + 1
			open = open[:len(open)-1]
		case 'd', 'D', 'p', 'P', 'n', 'N', 'h', 'H', 'g', 'G', 'x', '=', 'z', 'F':
		case 'q', 'Q':
			p.skipSpace()
			cmd.exitCode = p.number()
		case 'a', 'i', 'c':
			cmd.text = p.text()
		case 'r':
			cmd.text = p.label()
		case ':':
			if cmd.a1 != nil {
				return nil, p.refuse(": doesn't want any addresses")
			}
			labels[p.label()] = len(p.cmds)
		case 'b', 't', 'T':
			cmd.text = p.label()
		case 'y':
			if p.eof() {
				return nil, p.refuse("unterminated y")
			}
			delim := p.s[p.pos]
			p.pos++
			src, err := p.delimited(delim, false)
			if err != nil {
				return nil, err
			}
			dst, err := p.delimited(delim, false)
			if err != nil {
				return nil, err
			}
			src, dst = unescapeSed(src), unescapeSed(dst)
			if len(src) != len(dst) {
				return nil, p.refuse("strings for `y' command are different lengths")
			}
			var tbl [256]byte
			for i := range tbl {
				tbl[i] = byte(i)
			}
			for i := 0; i < len(src); i++ {
				tbl[src[i]] = dst[i]
			}
			cmd.y = &tbl
		case 's':
			if err := p.subst(cmd); err != nil {
				return nil, err
			}
		default:
			return nil, p.refuse("command `%c' not implemented", cmd.name)
		}
		p.cmds = append(p.cmds, cmd)
	}
	if len(open) > 0 {
		return nil, p.refuse("unmatched `{'")
	}
	for _, cmd := range p.cmds {
		if cmd.name == 'b' || cmd.name == 't' || cmd.name == 'T' {
			if cmd.text == "" {
				cmd.jump = len(p.cmds)
			} else if at, ok := labels[cmd.text]; ok {
				cmd.jump = at
			} else {
				return nil, p.refuse("can't find label for jump to `%s'", cmd.text)
			}
		}
	}
	return p.cmds, nil
}

func unescapeSed(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func (p *sedParser) subst(cmd *sedCmd) error {
	if p.eof() {
		return p.refuse("unterminated `s' command")
	}
	delim := p.s[p.pos]
	p.pos++
	pat, err := p.delimited(delim, true)
	if err != nil {
		return err
	}
	repl, err := p.delimited(delim, false)
	if err != nil {
		return err
	}
	icase := false
	for !p.eof() {
		ch := p.s[p.pos]
		switch {
		case ch == 'g':
			cmd.global = true
		case ch == 'p':
			cmd.print = true
		case ch == 'i' || ch == 'I':
			icase = true
		case ch == 'e':
			cmd.exec = true
		case ch >= '1' && ch <= '9':
			cmd.nth = p.number()
			continue
		case ch == 'w' || ch == 'm' || ch == 'M':
			return p.refuse("s///%c not implemented", ch)
		default:
			goto done
		}
		p.pos++
	}
done:
	if pat == "" {
		cmd.reEmpty = true
	} else if cmd.re, err = compilePOSIX(pat, p.ere, icase, true, delim); err != nil {
		return p.refuse("%v", err)
	}
	for i := 0; i < len(repl); i++ {
		ch := repl[i]
		switch {
		case ch == '&':
			cmd.repl = append(cmd.repl, sedRepl{group: 0})
		case ch == '\\' && i+1 < len(repl):
			i++
			n := repl[i]
			switch {
			case n >= '0' && n <= '9':
				cmd.repl = append(cmd.repl, sedRepl{group: int(n - '0')})
			case n == 'n':
				cmd.repl = append(cmd.repl, sedRepl{lit: "\n", group: -1})
			case n == 't':
				cmd.repl = append(cmd.repl, sedRepl{lit: "\t", group: -1})
			case strings.IndexByte("LUluE", n) >= 0:
				return p.refuse("case conversion \\%c not implemented", n)
			default:
				cmd.repl = append(cmd.repl, sedRepl{lit: string(n), group: -1})
			}
		default:
			cmd.repl = append(cmd.repl, sedRepl{lit: string(ch), group: -1})
		}
	}
	return nil
}

type sedInput struct {
	name  string
	lines []string
	// noEOL: the last line had no newline (kept so, as GNU sed does).
	noEOL bool
}

type sedRun struct {
	c        *Call
	cmds     []*sedCmd
	quiet    bool
	sep      byte
	lastRe   *regexp.Regexp
	out      *bytes.Buffer
	quit     bool
	exitCode int
	// missingNL: the last line written lacked its newline (the input's
	// last line had none); it is added if anything follows, as GNU does.
	missingNL bool
}

func (r *sedRun) write(s string) {
	if r.missingNL {
		r.out.WriteByte(r.sep)
		r.missingNL = false
	}
	r.out.WriteString(s)
}

func runSed(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{
		{key: "n", short: 'n', long: "quiet"}, {key: "n", long: "silent"},
		{key: "e", short: 'e', long: "expression", arg: true}, {key: "f", short: 'f', long: "file", arg: true},
		{key: "E", short: 'E', long: "regexp-extended"}, {key: "E", short: 'r'},
		{key: "s", short: 's', long: "separate"}, {key: "z", short: 'z', long: "null-data"},
		{key: "u", short: 'u', long: "unbuffered"},
	})
	// -i takes an optional attached suffix: parse it apart.
	inPlace, suffix := false, ""
	var rest []string
	for i, a := range c.Args {
		if a == "--" {
			rest = append(rest, c.Args[i:]...)
			break
		}
		switch {
		case a == "--in-place":
			inPlace = true
			continue
		case strings.HasPrefix(a, "--in-place="):
			inPlace, suffix = true, strings.TrimPrefix(a, "--in-place=")
			continue
		case strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.Contains(a, "i") && i > 0 && (c.Args[i-1] == "-e" || c.Args[i-1] == "-f"):
		case strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && len(a) > 1:
			if k := strings.IndexByte(a, 'i'); k > 0 && strings.Trim(a[1:k], "nEsrzu") == "" {
				inPlace, suffix = true, a[k+1:]
				if k > 1 {
					rest = append(rest, a[:k])
				}
				continue
			}
		}
		rest = append(rest, a)
	}
	if inPlace {
		cc := *c
		cc.Args = rest
		o, ops, err = parseOpts(&cc, []optDef{
			{key: "n", short: 'n', long: "quiet"}, {key: "n", long: "silent"},
			{key: "e", short: 'e', long: "expression", arg: true}, {key: "f", short: 'f', long: "file", arg: true},
			{key: "E", short: 'E', long: "regexp-extended"}, {key: "E", short: 'r'},
			{key: "s", short: 's', long: "separate"}, {key: "z", short: 'z', long: "null-data"},
			{key: "u", short: 'u', long: "unbuffered"},
		})
	}
	if err != nil {
		return err
	}
	var script []string
	script = append(script, o.seen["e"]...)
	for _, f := range o.seen["f"] {
		data, err := readAllFile(c, f)
		if err != nil {
			return diag(c, err, "couldn't open file %s", f)
		}
		script = append(script, strings.TrimSuffix(string(data), "\n"))
	}
	if !o.has("e") && !o.has("f") {
		if len(ops) == 0 {
			fmt.Fprintf(c.Stderr, "Usage: sed [OPTION]... {script-only-if-no-other-script} [input-file]...\n")
			return ExitStatus(1)
		}
		script, ops = []string{ops[0]}, ops[1:]
	}
	text := strings.Join(script, "\n")
	quiet := o.has("n") || strings.HasPrefix(text, "#n\n") || text == "#n"
	cmds, err := parseSed(c, text, o.has("E"))
	if err != nil {
		return err
	}
	sep := byte('\n')
	if o.has("z") {
		sep = 0
	}
	r := &sedRun{c: c, cmds: cmds, quiet: quiet, sep: sep}
	if len(ops) == 0 {
		if inPlace {
			fmt.Fprintf(c.Stderr, "sed: no input files\n")
			return ExitStatus(1)
		}
		ops = []string{"-"}
	}
	status := error(nil)
	var inputs []sedInput
	for _, name := range ops {
		var data []byte
		if name == "-" && !inPlace {
			data, err = readStdin(c)
			if err != nil {
				return err
			}
		} else {
			if i, serr := c.FS.Stat(c.Abs(name)); serr == nil && i.IsDir() {
				fmt.Fprintf(c.Stderr, "sed: couldn't edit %s: not a regular file\n", name)
				status = ExitStatus(4)
				continue
			}
			data, err = readAllFile(c, name)
			if err != nil {
				if fe := fsFailure(c, err); fe != nil {
					return fe
				}
				fmt.Fprintf(c.Stderr, "sed: can't read %s: %s\n", name, errText(err))
				status = ExitStatus(2)
				continue
			}
		}
		in := sedInput{name: name}
		for _, l := range splitKeep(data, sep) {
			in.lines = append(in.lines, strings.TrimSuffix(string(l), string(sep)))
		}
		in.noEOL = len(data) > 0 && data[len(data)-1] != sep
		inputs = append(inputs, in)
	}
	if inPlace || o.has("s") {
		for _, in := range inputs {
			r.out = &bytes.Buffer{}
			if err := r.stream([]sedInput{in}); err != nil {
				return err
			}
			if inPlace {
				p := c.Abs(in.name)
				if li, err := c.FS.Lstat(p); err == nil && li.Mode&os.ModeSymlink != 0 {
					return Refuse("sed -i", "%s is a symlink (GNU sed replaces it by a file)", in.name)
				}
				if suffix != "" {
					bak := in.name + suffix
					if strings.Contains(suffix, "*") {
						bak = strings.ReplaceAll(suffix, "*", lastElem(in.name))
					}
					old, _ := readAllFile(c, in.name)
					if err := writeFileOp(c, bak, old, false); err != nil {
						return err
					}
				}
				f, err := c.FS.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
				if err != nil {
					return diag(c, err, "couldn't open %s", in.name)
				}
				if _, err := f.Write(r.out.Bytes()); err != nil {
					f.Close()
					return fmt.Errorf("sed: write %s: %w", p, err)
				}
				f.Close()
				c.Effect("edited %s", p)
			} else if _, err := c.Stdout.Write(r.out.Bytes()); err != nil {
				return err
			}
			if r.quit {
				break
			}
		}
	} else {
		r.out = &bytes.Buffer{}
		if err := r.stream(inputs); err != nil {
			return err
		}
		if _, err := c.Stdout.Write(r.out.Bytes()); err != nil {
			return err
		}
	}
	if r.exitCode != 0 {
		return ExitStatus(r.exitCode)
	}
	return status
}

// stream runs the script over inputs as one stream of lines.
func (r *sedRun) stream(inputs []sedInput) error {
	type line struct {
		text  string
		noEOL bool
		file  string
	}
	var lines []line
	for _, in := range inputs {
		for i, l := range in.lines {
			lines = append(lines, line{text: l, noEOL: in.noEOL && i == len(in.lines)-1, file: in.name})
		}
	}
	for _, cmd := range r.cmds {
		cmd.active = false
	}
	idx, lineNo, steps := 0, 0, 0
	hold := ""
	var appendQ []string
	flush := func() {
		for _, a := range appendQ {
			r.write(a)
		}
		appendQ = nil
	}
	emit := func(s string, noEOL bool) {
		r.write(s)
		if noEOL {
			r.missingNL = true
		} else {
			r.out.WriteByte(r.sep)
		}
	}
	for idx < len(lines) && !r.quit {
		cur := lines[idx]
		ps := cur.text
		idx++
		lineNo++
		tflag := false
		deleted := false
		restart := false
	cycle:
		for pc := 0; pc < len(r.cmds); pc++ {
			// A script can loop forever (":a;ba"), as real sed does: stop
			// when the build's context ends instead of spinning.
			if steps++; steps%4096 == 0 && r.c.Ctx != nil && r.c.Ctx.Err() != nil {
				return r.c.Ctx.Err()
			}
			cmd := r.cmds[pc]
			if !r.matches(cmd, ps, lineNo, idx == len(lines)) {
				if cmd.name == '{' {
					pc = cmd.jump - 1
				}
				continue
			}
			switch cmd.name {
			case '{', '}', ':':
			case '=':
				r.write(fmt.Sprintf("%d\n", lineNo))
			case 'F':
				name := cur.file
				if name == "-" {
					name = "-"
				}
				r.write(name + "\n")
			case 'a':
				appendQ = append(appendQ, cmd.text+"\n")
			case 'i':
				r.write(cmd.text + "\n")
			case 'c':
				if cmd.a2 == nil || !cmd.active {
					r.write(cmd.text + "\n")
				}
				deleted = true
				break cycle
			case 'r':
				if data, err := readAllFile(r.c, cmd.text); err == nil {
					appendQ = append(appendQ, string(data))
				} else if fe := fsFailure(r.c, err); fe != nil {
					return fe
				}
			case 'd':
				deleted = true
				break cycle
			case 'D':
				if i := strings.IndexByte(ps, '\n'); i >= 0 {
					ps = ps[i+1:]
					restart = true
				}
				deleted = true
				break cycle
			case 'p':
				emit(ps, cur.noEOL)
			case 'P':
				if i := strings.IndexByte(ps, '\n'); i >= 0 {
					emit(ps[:i], false)
				} else {
					emit(ps, cur.noEOL)
				}
			case 'h':
				hold = ps
			case 'H':
				hold += "\n" + ps
			case 'g':
				ps = hold
			case 'G':
				ps += "\n" + hold
			case 'x':
				ps, hold = hold, ps
			case 'z':
				ps = ""
			case 'y':
				b := []byte(ps)
				for i := range b {
					b[i] = cmd.y[b[i]]
				}
				ps = string(b)
			case 'n', 'N':
				if idx >= len(lines) {
					// No next line: GNU prints the pattern space and exits.
					break cycle
				}
				if cmd.name == 'n' {
					if !r.quiet {
						emit(ps, cur.noEOL)
					}
					flush()
					cur = lines[idx]
					ps = cur.text
				} else {
					flush()
					cur = lines[idx]
					ps += "\n" + cur.text
				}
				idx++
				lineNo++
			case 'q':
				r.quit, r.exitCode = true, cmd.exitCode
				break cycle
			case 'Q':
				r.quit, r.exitCode = true, cmd.exitCode
				return nil
			case 'b':
				pc = cmd.jump - 1
			case 't':
				if tflag {
					tflag = false
					pc = cmd.jump - 1
				}
			case 'T':
				if !tflag {
					pc = cmd.jump - 1
				} else {
					tflag = false
				}
			case 's':
				done, nps, err := r.subst(cmd, ps)
				if err != nil {
					return err
				}
				if done {
					tflag = true
					ps = nps
					if cmd.print {
						emit(ps, cur.noEOL)
					}
				}
			}
		}
		if !deleted && !r.quiet {
			emit(ps, cur.noEOL)
		}
		flush()
		if restart && !r.quit {
			// D with a newline: restart the cycle on what is left,
			// without reading a new line.
			idx--
			lineNo--
			lines[idx] = line{text: ps, noEOL: cur.noEOL, file: cur.file}
		}
	}
	return nil
}

func (r *sedRun) addrMatch(a *sedAddr, ps string, lineNo int, last bool) bool {
	switch a.kind {
	case 'n':
		return lineNo == a.n
	case '$':
		return last
	case '~':
		if a.m <= 0 {
			return lineNo == a.n
		}
		return lineNo >= a.n && (lineNo-a.n)%a.m == 0
	case 'r':
		re := a.re
		if a.empty {
			re = r.lastRe
		}
		if re == nil {
			return false
		}
		r.lastRe = re
		return re.MatchString(ps)
	}
	return false
}

func (r *sedRun) matches(cmd *sedCmd, ps string, lineNo int, last bool) bool {
	m := r.match(cmd, ps, lineNo, last)
	return m != cmd.neg
}

func (r *sedRun) match(cmd *sedCmd, ps string, lineNo int, last bool) bool {
	if cmd.a1 == nil {
		return true
	}
	if cmd.a2 == nil {
		return r.addrMatch(cmd.a1, ps, lineNo, last)
	}
	if cmd.active {
		switch cmd.a2.kind {
		case 'n':
			if lineNo >= cmd.a2.n {
				cmd.active = false
			}
			if lineNo > cmd.a2.n {
				return false
			}
		case '+':
			if lineNo >= cmd.endLine {
				cmd.active = false
			}
		default:
			if r.addrMatch(cmd.a2, ps, lineNo, last) {
				cmd.active = false
			}
		}
		return true
	}
	start := false
	if cmd.a1.kind == '0' {
		start = lineNo == 1
		if start && cmd.a2.kind == 'r' && r.addrMatch(cmd.a2, ps, lineNo, last) {
			return true
		}
	} else {
		start = r.addrMatch(cmd.a1, ps, lineNo, last)
	}
	if !start {
		return false
	}
	cmd.active = true
	switch cmd.a2.kind {
	case 'n':
		if cmd.a2.n <= lineNo {
			cmd.active = false
		}
	case '+':
		cmd.endLine = lineNo + cmd.a2.n
		if cmd.a2.n == 0 {
			cmd.active = false
		}
	case '$':
		if last {
			cmd.active = false
		}
	}
	return true
}

func (r *sedRun) subst(cmd *sedCmd, ps string) (bool, string, error) {
	re := cmd.re
	if cmd.reEmpty {
		re = r.lastRe
		if re == nil {
			return false, "", Refuse("sed", "no previous regular expression")
		}
	}
	r.lastRe = re
	all := re.FindAllStringSubmatchIndex(ps, -1)
	if len(all) == 0 {
		return false, ps, nil
	}
	nth := cmd.nth
	if nth == 0 {
		nth = 1
	}
	var b strings.Builder
	prev, replaced := 0, false
	for i, m := range all {
		if i+1 < nth || (replaced && !cmd.global) {
			continue
		}
		b.WriteString(ps[prev:m[0]])
		for _, part := range cmd.repl {
			if part.group < 0 {
				b.WriteString(part.lit)
				continue
			}
			if 2*part.group+1 >= len(m) {
				return false, "", Refuse("sed", "invalid reference \\%d on `s' command's RHS", part.group)
			}
			if m[2*part.group] >= 0 {
				b.WriteString(ps[m[2*part.group]:m[2*part.group+1]])
			}
		}
		prev = m[1]
		replaced = true
	}
	if !replaced {
		return false, ps, nil
	}
	b.WriteString(ps[prev:])
	out := b.String()
	if cmd.exec {
		// s///e: the pattern space is run as a command by the shell and
		// replaced by its output.
		var stdout bytes.Buffer
		err := r.c.Exec([]string{"sh", "-c", out}, bytes.NewReader(nil), &stdout, r.c.Stderr)
		var st ExitStatus
		if err != nil && !errors.As(err, &st) {
			return false, "", err
		}
		out = strings.TrimSuffix(stdout.String(), "\n")
	}
	return true, out, nil
}
