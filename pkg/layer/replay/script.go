package replay

import (
	"path"
	"strings"
)

// Command is one simple command found in a maintainer script: its name (as
// written, e.g. "/usr/share/foo/bar" or "adduser") and its words after
// quote removal. Words that contained expansions keep the "$" text.
type Command struct {
	Name string
	Args []string
	// Redirects are the targets of output redirections (> and >>).
	Redirects []string
	// Func is the shell function whose body holds the command, or "".
	Func string
	Line int // 1-based line of the command name
}

// Base returns the command name without directory.
func (c Command) Base() string { return path.Base(c.Name) }

// String renders the command as one line, for reports.
func (c Command) String() string {
	var b strings.Builder
	b.WriteString(c.Name)
	for _, a := range c.Args {
		b.WriteByte(' ')
		if a == "" || strings.ContainsAny(a, " \t'\"|&;<>") {
			b.WriteByte('\'')
			b.WriteString(strings.ReplaceAll(a, "'", `'\''`))
			b.WriteByte('\'')
		} else {
			b.WriteString(a)
		}
	}
	return b.String()
}

// Heredoc is the body of a here-document and the command that reads it.
type Heredoc struct {
	Command Command
	Target  string // the file of a "> file" redirection on that command, if any
	Body    string
}

// Script is what ParseScript finds in a shell script. It is a light reading,
// not a shell: it finds the command name of every simple command (after
// ;, &&, ||, |, &, newlines, reserved words and inside $(...) and `...`),
// skips case patterns, for-lists, assignments and redirections, and records
// the functions the script defines. It never evaluates anything.
type Script struct {
	Commands  []Command
	Functions map[string]bool
	Heredocs  []Heredoc
	// Interpreter is the #! line's program ("/bin/sh"), or "".
	Interpreter string
}

// reserved words that may start a command position without being commands.
var reserved = map[string]bool{
	"if": true, "then": true, "else": true, "elif": true, "fi": true,
	"do": true, "done": true, "while": true, "until": true, "!": true,
	"{": true, "}": true, "esac": true, "in": false,
}

type word struct {
	text  string // after quote removal
	raw   string
	op    bool // an operator: ; & | && || ;; ( ) newline
	line  int
	quote bool // some part was quoted
}

// ParseScript reads a maintainer script.
func ParseScript(src string) *Script {
	s := &Script{Functions: map[string]bool{}}
	if strings.HasPrefix(src, "#!") {
		line, _, _ := strings.Cut(src[2:], "\n")
		if f := strings.Fields(line); len(f) > 0 {
			s.Interpreter = f[0]
		}
	}
	lx := &lexer{src: src, line: 1}
	words := lx.all()
	s.parse(words, lx)
	return s
}

// parse walks the token stream with a small state machine.
func (s *Script) parse(words []word, lx *lexer) {
	const (
		stCmd     = iota // expecting a command name
		stArgs           // inside a command's words
		stCaseW          // after "case": the word
		stCaseIn         // expecting "in"
		stPattern        // expecting a case pattern up to ")"
		stFor            // after "for": name, then "in" words up to ; or newline
	)
	st := stCmd
	var cur *Command
	caseDepth := 0
	// Function bodies: a definition arms pendingFunc; its "{" opens the
	// body at the current brace depth.
	type body struct {
		name  string
		depth int
	}
	var bodies []body
	pendingFunc := ""
	braces := 0
	flush := func() {
		if cur != nil {
			args := cur.Args[:0]
			for _, a := range cur.Args {
				if t, ok := strings.CutPrefix(a, "\x00>"); ok {
					cur.Redirects = append(cur.Redirects, t)
				} else {
					args = append(args, a)
				}
			}
			cur.Args = args
			if len(bodies) > 0 {
				cur.Func = bodies[len(bodies)-1].name
			}
			s.Commands = append(s.Commands, *cur)
			cur = nil
		}
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch st {
		case stCaseW:
			st = stCaseIn
			continue
		case stCaseIn:
			if w.op && w.text == "\n" {
				continue
			}
			st = stPattern
			continue
		case stPattern:
			if w.op && w.text == "\n" {
				continue
			}
			if !w.op && !w.quote && w.text == "esac" {
				caseDepth--
				st = stCmd
				continue
			}
			if w.op && w.text == ")" {
				st = stCmd
			}
			continue
		case stFor:
			if w.op && (w.text == ";" || w.text == "\n") {
				st = stCmd
			} else if !w.op && w.text == "do" {
				st = stCmd
			}
			continue
		}
		if w.op {
			switch w.text {
			case ";;", ";&", ";;&":
				flush()
				if caseDepth > 0 {
					st = stPattern
				} else {
					st = stCmd
				}
			case ")":
				flush()
				st = stArgs // e.g. "( cmd )" closing: following words are redirections
				if cur == nil {
					st = stCmd
				}
			default:
				flush()
				st = stCmd
			}
			continue
		}
		if st == stArgs && cur != nil {
			// Function definition: name ( ) — lexer gives "(" ")" ops after a lone word.
			cur.Args = append(cur.Args, w.text)
			continue
		}
		// command position
		if strings.HasPrefix(w.text, "\x00>") {
			continue
		}
		if !w.quote && w.text == "{" {
			braces++
			if pendingFunc != "" {
				bodies = append(bodies, body{pendingFunc, braces})
				pendingFunc = ""
			}
			continue
		}
		if !w.quote && w.text == "}" {
			if n := len(bodies); n > 0 && bodies[n-1].depth == braces {
				bodies = bodies[:n-1]
			}
			braces--
			continue
		}
		if !w.quote && reserved[w.text] {
			continue
		}
		if !w.quote {
			switch w.text {
			case "case":
				caseDepth++
				st = stCaseW
				continue
			case "for":
				st = stFor
				continue
			}
		}
		if isAssignment(w.raw) {
			continue // VAR=value before a command, or alone
		}
		// function definition "name()" or "name ()"
		if i+2 < len(words) && words[i+1].op && words[i+1].text == "(" && words[i+2].op && words[i+2].text == ")" {
			s.Functions[w.text] = true
			pendingFunc = w.text
			i += 2
			st = stCmd
			continue
		}
		if strings.HasSuffix(w.raw, "()") && len(w.raw) > 2 {
			pendingFunc = strings.TrimSuffix(w.text, "()")
			s.Functions[pendingFunc] = true
			continue
		}
		if w.text == "function" && i+1 < len(words) && !words[i+1].op {
			pendingFunc = strings.TrimSuffix(words[i+1].text, "()")
			s.Functions[pendingFunc] = true
			i++
			continue
		}
		cur = &Command{Name: w.text, Line: w.line}
		st = stArgs
	}
	flush()
	s.Heredocs = append(s.Heredocs, lx.heredocs...)
	for _, sub := range lx.subs {
		inner := ParseScript(sub.text)
		for _, c := range inner.Commands {
			c.Line += sub.line - 1
			if c.Func == "" {
				c.Func = enclosingFunc(s.Commands, sub.line)
			}
			s.Commands = append(s.Commands, c)
		}
		for f := range inner.Functions {
			s.Functions[f] = true
		}
	}
}

// enclosingFunc guesses the function around a command substitution from
// the nearest command at or before its line.
func enclosingFunc(cmds []Command, line int) string {
	f := ""
	for _, c := range cmds {
		if c.Line <= line {
			f = c.Func
		}
	}
	return f
}

// Called reports whether the script calls function name anywhere.
func (s *Script) Called(name string) bool {
	for _, c := range s.Commands {
		if c.Name == name && c.Func != name {
			return true
		}
	}
	return false
}

func isAssignment(raw string) bool {
	eq := strings.IndexByte(raw, '=')
	if eq <= 0 {
		return false
	}
	for i, r := range raw[:eq] {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

type sub struct {
	text string
	line int
}

type lexer struct {
	src      string
	pos      int
	line     int
	pending  []*pendingHeredoc // here-documents whose bodies start at the next newline
	heredocs []Heredoc
	subs     []sub
	words    []word
}

type pendingHeredoc struct {
	delim    string
	strip    bool // <<-
	cmdIndex int  // index into words of the command's first word (approximate)
	target   string
}

func (lx *lexer) all() []word {
	for lx.pos < len(lx.src) {
		c := lx.src[lx.pos]
		switch {
		case c == '\n':
			lx.emitOp("\n")
			lx.pos++
			lx.line++
			if len(lx.pending) > 0 {
				lx.readHeredocs()
			}
		case c == ' ' || c == '\t' || c == '\r':
			lx.pos++
		case c == '\\' && lx.pos+1 < len(lx.src) && lx.src[lx.pos+1] == '\n':
			lx.pos += 2
			lx.line++
		case c == '#':
			for lx.pos < len(lx.src) && lx.src[lx.pos] != '\n' {
				lx.pos++
			}
		case c == ';' || c == '&' || c == '|' || c == '(' || c == ')':
			op := string(c)
			if lx.pos+1 < len(lx.src) {
				n := lx.src[lx.pos+1]
				if (c == ';' && n == ';') || (c == '&' && n == '&') || (c == '|' && n == '|') || (c == ';' && n == '&') {
					op += string(n)
				}
			}
			lx.pos += len(op)
			lx.emitOp(op)
		case c == '<' || c == '>':
			lx.redirect()
		default:
			lx.word()
		}
	}
	return lx.words
}

func (lx *lexer) emitOp(op string) {
	lx.words = append(lx.words, word{text: op, raw: op, op: true, line: lx.line})
}

// redirect consumes a redirection operator and its target word. Targets of
// ">" are remembered for a here-document on the same command.
func (lx *lexer) redirect() {
	start := lx.pos
	for lx.pos < len(lx.src) && strings.IndexByte("<>&|-", lx.src[lx.pos]) >= 0 {
		if lx.src[lx.pos] == '-' && !strings.HasPrefix(lx.src[start:lx.pos], "<<") {
			break
		}
		lx.pos++
		if lx.pos-start >= 3 {
			break
		}
	}
	op := lx.src[start:lx.pos]
	// a preceding fd number ("2>") was lexed as a word; drop it
	if n := len(lx.words); n > 0 && !lx.words[n-1].op && isDigits(lx.words[n-1].raw) && start > 0 && lx.src[start-1] >= '0' && lx.src[start-1] <= '9' {
		lx.words = lx.words[:n-1]
	}
	for lx.pos < len(lx.src) && (lx.src[lx.pos] == ' ' || lx.src[lx.pos] == '\t') {
		lx.pos++
	}
	if strings.HasSuffix(op, "&") && lx.pos < len(lx.src) && (isDigit(lx.src[lx.pos]) || lx.src[lx.pos] == '-') {
		for lx.pos < len(lx.src) && (isDigit(lx.src[lx.pos]) || lx.src[lx.pos] == '-') {
			lx.pos++
		}
		return
	}
	w := lx.readWord()
	if strings.HasPrefix(op, "<<") && op != "<<<" {
		lx.pending = append(lx.pending, &pendingHeredoc{delim: w.text, strip: strings.HasSuffix(op, "-"), cmdIndex: lx.cmdStart(), target: lx.lastTarget()})
		return
	}
	if op == ">" || op == ">>" || op == ">|" {
		lx.words = append(lx.words, word{text: "\x00>" + w.text, raw: "", line: lx.line})
	}
}

// lastTarget returns the "> file" target recorded on the current command.
func (lx *lexer) lastTarget() string {
	for i := len(lx.words) - 1; i >= 0 && !lx.words[i].op; i-- {
		if strings.HasPrefix(lx.words[i].text, "\x00>") {
			return lx.words[i].text[2:]
		}
	}
	return ""
}

func (lx *lexer) cmdStart() int {
	i := len(lx.words)
	for i > 0 && !lx.words[i-1].op {
		i--
	}
	return i
}

func (lx *lexer) readHeredocs() {
	for _, h := range lx.pending {
		var body strings.Builder
		for lx.pos < len(lx.src) {
			end := strings.IndexByte(lx.src[lx.pos:], '\n')
			var line string
			if end < 0 {
				line = lx.src[lx.pos:]
				lx.pos = len(lx.src)
			} else {
				line = lx.src[lx.pos : lx.pos+end]
				lx.pos += end + 1
			}
			lx.line++
			if h.strip {
				line = strings.TrimLeft(line, "\t")
			}
			if line == h.delim {
				break
			}
			body.WriteString(line)
			body.WriteByte('\n')
		}
		var cmd Command
		for j := h.cmdIndex; j < len(lx.words) && !lx.words[j].op; j++ {
			t := lx.words[j].text
			if strings.HasPrefix(t, "\x00>") {
				continue
			}
			if cmd.Name == "" {
				cmd.Name, cmd.Line = t, lx.words[j].line
			} else {
				cmd.Args = append(cmd.Args, t)
			}
		}
		lx.heredocs = append(lx.heredocs, Heredoc{Command: cmd, Target: h.target, Body: body.String()})
	}
	lx.pending = nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func (lx *lexer) word() {
	w := lx.readWord()
	lx.words = append(lx.words, w)
}

// readWord reads one shell word, removing quotes, and collects the text of
// command substitutions for a second pass.
func (lx *lexer) readWord() word {
	start, line := lx.pos, lx.line
	var b strings.Builder
	quoted := false
	for lx.pos < len(lx.src) {
		c := lx.src[lx.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ';' || c == '&' || c == '|' || c == '<' || c == '>':
			goto done
		case c == '(' || c == ')':
			if b.Len() == 0 || c == ')' {
				goto done
			}
			// "name()" function definitions
			if strings.HasPrefix(lx.src[lx.pos:], "()") {
				b.WriteString("()")
				lx.pos += 2
				goto done
			}
			goto done
		case c == '\\':
			if lx.pos+1 < len(lx.src) {
				if lx.src[lx.pos+1] == '\n' {
					lx.line++
				} else {
					b.WriteByte(lx.src[lx.pos+1])
				}
				lx.pos += 2
				quoted = true
			} else {
				lx.pos++
			}
		case c == '\'':
			quoted = true
			end := strings.IndexByte(lx.src[lx.pos+1:], '\'')
			if end < 0 {
				end = len(lx.src) - lx.pos - 1
			}
			s := lx.src[lx.pos+1 : lx.pos+1+end]
			lx.line += strings.Count(s, "\n")
			b.WriteString(s)
			lx.pos += end + 2
		case c == '"':
			quoted = true
			lx.pos++
			for lx.pos < len(lx.src) && lx.src[lx.pos] != '"' {
				d := lx.src[lx.pos]
				switch {
				case d == '\\' && lx.pos+1 < len(lx.src):
					n := lx.src[lx.pos+1]
					if strings.IndexByte("$`\"\\\n", n) < 0 {
						b.WriteByte('\\')
					}
					if n != '\n' {
						b.WriteByte(n)
					} else {
						lx.line++
					}
					lx.pos += 2
				case d == '$' && lx.pos+1 < len(lx.src) && lx.src[lx.pos+1] == '(':
					b.WriteString(lx.dollarParen())
				case d == '`':
					b.WriteString(lx.backtick())
				default:
					if d == '\n' {
						lx.line++
					}
					b.WriteByte(d)
					lx.pos++
				}
			}
			lx.pos++
		case c == '$' && lx.pos+1 < len(lx.src) && lx.src[lx.pos+1] == '(':
			b.WriteString(lx.dollarParen())
		case c == '$' && lx.pos+1 < len(lx.src) && lx.src[lx.pos+1] == '{':
			end := matchBrace(lx.src, lx.pos+1)
			b.WriteString(lx.src[lx.pos:end])
			lx.pos = end
		case c == '`':
			b.WriteString(lx.backtick())
		default:
			b.WriteByte(c)
			lx.pos++
		}
	}
done:
	lx.pos = min(lx.pos, len(lx.src))
	return word{text: b.String(), raw: lx.src[start:lx.pos], line: line, quote: quoted}
}

func matchBrace(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(s)
}

// dollarParen consumes "$( ... )" (or "$(( ... ))") and records the inner
// text as a command substitution; it returns the raw text.
func (lx *lexer) dollarParen() string {
	start, line := lx.pos, lx.line
	depth := 0
	i := lx.pos + 1
	inS, inD := false, false
	for ; i < len(lx.src); i++ {
		c := lx.src[i]
		switch {
		case c == '\n':
			lx.line++
		case c == '\\' && !inS:
			i++
		case c == '\'' && !inD:
			inS = !inS
		case c == '"' && !inS:
			inD = !inD
		case c == '(' && !inS && !inD:
			depth++
		case c == ')' && !inS && !inD:
			depth--
		}
		if depth == 0 {
			i++
			break
		}
	}
	i = min(i, len(lx.src))
	lx.pos = i
	raw := lx.src[start:i]
	if strings.HasPrefix(raw, "$((") {
		return raw // arithmetic
	}
	inner := strings.TrimSuffix(strings.TrimPrefix(raw, "$("), ")")
	lx.subs = append(lx.subs, sub{text: inner, line: line})
	return raw
}

func (lx *lexer) backtick() string {
	start, line := lx.pos, lx.line
	i := lx.pos + 1
	for ; i < len(lx.src) && lx.src[i] != '`'; i++ {
		if lx.src[i] == '\\' {
			i++
		}
		if i < len(lx.src) && lx.src[i] == '\n' {
			lx.line++
		}
	}
	if i < len(lx.src) {
		i++
	}
	i = min(i, len(lx.src))
	lx.pos = i
	raw := lx.src[start:i]
	inner := strings.TrimSuffix(strings.TrimPrefix(raw, "`"), "`")
	lx.subs = append(lx.subs, sub{text: strings.ReplaceAll(inner, "\\`", "`"), line: line})
	return raw
}
