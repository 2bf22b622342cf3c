package maint

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// find (GNU findutils, -P: symlinks not followed) for the expressions the
// census found: -name -lname -path -type -empty -mindepth -maxdepth
// -depth -prune -print -print0 -delete -exec, with ! -a -o ( ).

type findNode struct {
	op   string // "and", "or", "not", or a primary ("-name", ...)
	args []string
	l, r *findNode
}

type findRun struct {
	c                  *Call
	minDepth, maxDepth int
	depthFirst         bool
	hasAction          bool
	status             error
	batch              map[*findNode][]string
}

func runFind(c *Call) error {
	args := c.Args
	var starts []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") && args[0] != "!" && args[0] != "(" {
		starts = append(starts, args[0])
		args = args[1:]
	}
	if len(starts) == 0 {
		starts = []string{"."}
	}
	fr := &findRun{c: c, maxDepth: -1, batch: map[*findNode][]string{}}
	p := &findParser{args: args, fr: fr}
	var expr *findNode
	if len(args) > 0 {
		var err error
		if expr, err = p.or(); err != nil {
			return err
		}
		if p.pos < len(p.args) {
			fmt.Fprintf(c.Stderr, "find: paths must precede expression: %s\n", quoteName(p.args[p.pos]))
			return ExitStatus(1)
		}
	}
	if !fr.hasAction {
		pr := &findNode{op: "-print"}
		if expr == nil {
			expr = pr
		} else {
			expr = &findNode{op: "and", l: expr, r: pr}
		}
	}
	for _, s := range starts {
		info, err := c.FS.Lstat(c.Abs(s))
		if err != nil {
			if fe := fsFailure(c, err); fe != nil {
				return fe
			}
			fmt.Fprintf(c.Stderr, "find: %s: %s\n", quoteName(s), errText(err))
			fr.status = ExitStatus(1)
			continue
		}
		if err := fr.visit(expr, s, c.Abs(s), info, 0); err != nil {
			return err
		}
	}
	for n, files := range fr.batch {
		if err := fr.execBatch(n, files); err != nil {
			return err
		}
	}
	return fr.status
}

type findParser struct {
	args []string
	pos  int
	fr   *findRun
}

func (p *findParser) peek() string {
	if p.pos < len(p.args) {
		return p.args[p.pos]
	}
	return ""
}

func (p *findParser) or() (*findNode, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peek() == "-o" || p.peek() == "-or" {
		p.pos++
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &findNode{op: "or", l: l, r: r}
	}
	return l, nil
}

func (p *findParser) and() (*findNode, error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t == "" || t == "-o" || t == "-or" || t == ")" {
			return l, nil
		}
		if t == "-a" || t == "-and" {
			p.pos++
		}
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		l = &findNode{op: "and", l: l, r: r}
	}
}

func (p *findParser) not() (*findNode, error) {
	if t := p.peek(); t == "!" || t == "-not" {
		p.pos++
		n, err := p.not()
		if err != nil {
			return nil, err
		}
		return &findNode{op: "not", l: n}, nil
	}
	return p.primary()
}

func (p *findParser) primary() (*findNode, error) {
	c := p.fr.c
	t := p.peek()
	if t == "" {
		fmt.Fprintf(c.Stderr, "find: expected an expression\n")
		return nil, ExitStatus(1)
	}
	p.pos++
	need := func() (string, error) {
		if p.pos >= len(p.args) {
			fmt.Fprintf(c.Stderr, "find: missing argument to %s\n", quoteName(t))
			return "", ExitStatus(1)
		}
		p.pos++
		return p.args[p.pos-1], nil
	}
	switch t {
	case "(":
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			fmt.Fprintf(c.Stderr, "find: invalid expression; I was expecting to find a ')' somewhere but did not see one.\n")
			return nil, ExitStatus(1)
		}
		p.pos++
		return n, nil
	case "-name", "-lname", "-path", "-wholename", "-type":
		v, err := need()
		if err != nil {
			return nil, err
		}
		if t == "-type" && (len(v) != 1 || !strings.Contains("fdl", v)) {
			return nil, Refuse("find -type "+v, "file type not implemented")
		}
		return &findNode{op: t, args: []string{v}}, nil
	case "-mindepth", "-maxdepth":
		v, err := need()
		if err != nil {
			return nil, err
		}
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 0 {
			fmt.Fprintf(c.Stderr, "find: Expected a positive decimal integer argument to %s, but got %s\n", t, quoteName(v))
			return nil, ExitStatus(1)
		}
		if t == "-mindepth" {
			p.fr.minDepth = n
		} else {
			p.fr.maxDepth = n
		}
		return &findNode{op: "-true"}, nil
	case "-depth":
		p.fr.depthFirst = true
		return &findNode{op: "-true"}, nil
	case "-empty", "-prune", "-true", "-false":
		return &findNode{op: t}, nil
	case "-print", "-print0":
		p.fr.hasAction = true
		return &findNode{op: t}, nil
	case "-delete":
		p.fr.hasAction, p.fr.depthFirst = true, true
		return &findNode{op: t}, nil
	case "-exec":
		p.fr.hasAction = true
		var cmd []string
		for p.pos < len(p.args) {
			a := p.args[p.pos]
			p.pos++
			if a == ";" {
				return &findNode{op: "-exec", args: cmd}, nil
			}
			if a == "+" && len(cmd) > 0 && cmd[len(cmd)-1] == "{}" {
				return &findNode{op: "-exec+", args: cmd[:len(cmd)-1]}, nil
			}
			cmd = append(cmd, a)
		}
		fmt.Fprintf(c.Stderr, "find: missing argument to `-exec'\n")
		return nil, ExitStatus(1)
	}
	return nil, Refuse("find "+t, "predicate not implemented")
}

// visit evaluates the expression on a file and descends into directories.
func (fr *findRun) visit(expr *findNode, shown, abs string, info Info, depth int) error {
	prune := false
	eval := func() error {
		if depth < fr.minDepth {
			return nil
		}
		_, pr, err := fr.eval(expr, shown, abs, info)
		prune = pr
		return err
	}
	if !fr.depthFirst {
		if err := eval(); err != nil {
			return err
		}
	}
	if info.IsDir() && !prune && (fr.maxDepth < 0 || depth < fr.maxDepth) {
		entries, err := fr.c.FS.ReadDir(abs)
		if err != nil {
			if fe := fsFailure(fr.c, err); fe != nil {
				return fe
			}
			fmt.Fprintf(fr.c.Stderr, "find: %s: %s\n", quoteName(shown), errText(err))
			fr.status = ExitStatus(1)
		}
		for _, e := range entries {
			child := joinOperand(shown, e.Name)
			ci, err := fr.c.FS.Lstat(joinAbs(abs, e.Name))
			if err != nil {
				continue // removed meanwhile (-delete, -exec rm)
			}
			if err := fr.visit(expr, child, joinAbs(abs, e.Name), ci, depth+1); err != nil {
				return err
			}
		}
	}
	if fr.depthFirst {
		return eval()
	}
	return nil
}

// eval returns whether the expression is true, and whether -prune fired.
func (fr *findRun) eval(n *findNode, shown, abs string, info Info) (bool, bool, error) {
	c := fr.c
	switch n.op {
	case "and":
		ok, pr, err := fr.eval(n.l, shown, abs, info)
		if err != nil || !ok {
			return false, pr, err
		}
		ok2, pr2, err := fr.eval(n.r, shown, abs, info)
		return ok2, pr || pr2, err
	case "or":
		ok, pr, err := fr.eval(n.l, shown, abs, info)
		if err != nil || ok {
			return ok, pr, err
		}
		ok2, pr2, err := fr.eval(n.r, shown, abs, info)
		return ok2, pr || pr2, err
	case "not":
		ok, pr, err := fr.eval(n.l, shown, abs, info)
		return !ok, pr, err
	case "-true":
		return true, false, nil
	case "-false":
		return false, false, nil
	case "-name":
		return globMatch(n.args[0], lastElem(shown)), false, nil
	case "-path", "-wholename":
		return globMatchSlash(n.args[0], shown), false, nil
	case "-lname":
		return info.Mode&fs.ModeSymlink != 0 && globMatchSlash(n.args[0], info.Target), false, nil
	case "-type":
		switch n.args[0] {
		case "f":
			return info.Mode.IsRegular(), false, nil
		case "d":
			return info.IsDir(), false, nil
		}
		return info.Mode&fs.ModeSymlink != 0, false, nil
	case "-empty":
		if info.IsDir() {
			entries, err := c.FS.ReadDir(abs)
			return err == nil && len(entries) == 0, false, nil
		}
		return info.Mode.IsRegular() && info.Size == 0, false, nil
	case "-prune":
		return true, !fr.depthFirst, nil
	case "-print":
		fmt.Fprintln(c.Stdout, shown)
		return true, false, nil
	case "-print0":
		fmt.Fprint(c.Stdout, shown+"\x00")
		return true, false, nil
	case "-delete":
		if err := c.FS.Remove(abs); err != nil {
			if fe := fsFailure(c, err); fe != nil {
				return false, false, fe
			}
			fmt.Fprintf(c.Stderr, "find: cannot delete %s: %s\n", quoteName(shown), errText(err))
			fr.status = ExitStatus(1)
			return false, false, nil
		}
		c.Effect("removed %s", abs)
		return true, false, nil
	case "-exec":
		argv := make([]string, len(n.args))
		for i, a := range n.args {
			argv[i] = strings.ReplaceAll(a, "{}", shown)
		}
		err := c.Exec(argv, c.Stdin, c.Stdout, c.Stderr)
		if err == nil {
			return true, false, nil
		}
		var st ExitStatus
		if errors.As(err, &st) {
			return false, false, nil
		}
		return false, false, err
	case "-exec+":
		fr.batch[n] = append(fr.batch[n], shown)
		return true, false, nil
	}
	return false, false, fmt.Errorf("find: unknown node %s", n.op)
}

func (fr *findRun) execBatch(n *findNode, files []string) error {
	err := fr.c.Exec(append(append([]string{}, n.args...), files...), fr.c.Stdin, fr.c.Stdout, fr.c.Stderr)
	var st ExitStatus
	if errors.As(err, &st) {
		fr.status = ExitStatus(1)
		return nil
	}
	return err
}

// globMatchSlash is fnmatch without FNM_PATHNAME: '*' matches '/' too.
func globMatchSlash(pattern, name string) bool {
	re, err := globToRegexp(pattern)
	return err == nil && re.MatchString(name)
}

// runXargs builds command lines from stdin (GNU xargs: blanks and quotes,
// or -0), runs them through the script's shell, and exits 123 when a run
// failed, as xargs does.
func runXargs(c *Call) error {
	o, ops, err := parseOptsStop(c, []optDef{
		{key: "0", short: '0', long: "null"}, {key: "r", short: 'r', long: "no-run-if-empty"},
		{key: "n", short: 'n', long: "max-args", arg: true}, {key: "s", short: 's', long: "max-chars", arg: true},
		{key: "show-limits", long: "show-limits"}, {key: "d", short: 'd', long: "delimiter", arg: true},
	})
	if err != nil {
		return err
	}
	if o.has("show-limits") {
		// Fixed figures: an image build has no ARG_MAX of its own; these
		// are Linux's defaults with an empty environment.
		fmt.Fprintf(c.Stderr, "Your environment variables take up 0 bytes\n"+
			"POSIX upper limit on argument length (this system): 2097152\n"+
			"POSIX smallest allowable upper limit on argument length (all systems): 4096\n"+
			"Maximum length of command we could actually use: 2097152\n"+
			"Size of command buffer we are actually using: 131072\n"+
			"Maximum parallelism (--max-procs must be no greater): 2147483647\n")
		if len(ops) == 0 {
			data, _ := readStdin(c)
			if len(bytes.TrimSpace(data)) == 0 {
				return nil
			}
		}
	}
	data, err := readStdin(c)
	if err != nil {
		return err
	}
	var items []string
	switch {
	case o.has("0"):
		for _, it := range strings.Split(string(data), "\x00") {
			if it != "" {
				items = append(items, it)
			}
		}
	case o.has("d"):
		d := o.val("d")
		if d == `\n` {
			d = "\n"
		}
		if len(d) != 1 {
			return Refuse("xargs -d "+o.val("d"), "delimiter form not implemented")
		}
		items = append(items, strings.Split(string(data), d)...)
		if len(items) > 0 && items[len(items)-1] == "" {
			items = items[:len(items)-1]
		}
	default:
		items, err = xargsSplit(string(data))
		if err != nil {
			fmt.Fprintf(c.Stderr, "xargs: %v\n", err)
			return ExitStatus(1)
		}
	}
	cmd := ops
	if len(cmd) == 0 {
		cmd = []string{"echo"}
	}
	if len(items) == 0 && o.has("r") {
		return nil
	}
	maxArgs, maxChars := len(items), 131072
	if o.has("n") {
		if maxArgs, err = strconv.Atoi(o.val("n")); err != nil || maxArgs < 1 {
			fmt.Fprintf(c.Stderr, "xargs: invalid number %s for -n option\n", quoteName(o.val("n")))
			return ExitStatus(1)
		}
	}
	if o.has("s") {
		if maxChars, err = strconv.Atoi(o.val("s")); err != nil || maxChars < 1 {
			fmt.Fprintf(c.Stderr, "xargs: invalid number %s for -s option\n", quoteName(o.val("s")))
			return ExitStatus(1)
		}
	}
	base := 0
	for _, a := range cmd {
		base += len(a) + 1
	}
	status := error(nil)
	run := func(batch []string) error {
		err := c.Exec(append(append([]string{}, cmd...), batch...), bytes.NewReader(nil), c.Stdout, c.Stderr)
		var st ExitStatus
		switch {
		case err == nil:
		case errors.As(err, &st) && st == 127:
			return ExitStatus(127)
		case errors.As(err, &st) && st == 255:
			return ExitStatus(124)
		case errors.As(err, &st):
			status = ExitStatus(123)
		default:
			return err
		}
		return nil
	}
	if len(items) == 0 {
		return run(nil)
	}
	for len(items) > 0 {
		n, size := 0, base
		for n < len(items) && n < maxArgs && (n == 0 || size+len(items[n])+1 <= maxChars) {
			size += len(items[n]) + 1
			n++
		}
		if err := run(items[:n]); err != nil {
			return err
		}
		items = items[n:]
	}
	return status
}

// parseOptsStop parses options up to the first operand (the command to
// run), as xargs and env do.
func parseOptsStop(c *Call, defs []optDef) (opts, []string, error) {
	i := 0
	for i < len(c.Args) {
		a := c.Args[i]
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		i++
		// an option with a separate argument
		for _, d := range defs {
			if d.arg && (a == "-"+string(d.short) || a == "--"+d.long) && i < len(c.Args) {
				i++
			}
		}
	}
	cc := *c
	cc.Args = c.Args[:i]
	o, _, err := parseOpts(&cc, defs)
	rest := c.Args[i:]
	if len(rest) > 0 && rest[0] == "--" {
		rest = rest[1:]
	}
	return o, rest, err
}

// xargsSplit splits input as GNU xargs does by default: blanks and
// newlines separate, single and double quotes and backslash escape.
func xargsSplit(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	in := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			in = true
		case ch == '\'' || ch == '"':
			end := strings.IndexByte(s[i+1:], ch)
			if end < 0 {
				return nil, fmt.Errorf("unmatched %s quote; by default quotes are special to xargs unless you use the -0 option", map[byte]string{'\'': "single", '"': "double"}[ch])
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			in = true
		case ch == ' ' || ch == '\t' || ch == '\n':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(ch)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out, nil
}
