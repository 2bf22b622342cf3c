package maint

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/pgassemble/pgassemble/pkg/apt"
)

// Text utilities of GNU coreutils (C locale: bytes, not characters):
// cat, head, tail, cut, tr, sort, uniq, wc, tee, md5sum and the sha*sums,
// cmp (diffutils), seq.

func runCat(c *Call) error {
	_, ops, err := parseOpts(c, []optDef{{key: "u", short: 'u'}})
	if err != nil {
		return err
	}
	return inputs(c, ops, func(name string, data []byte) error {
		_, err := c.Stdout.Write(data)
		return err
	})
}

// splitLines splits data into lines keeping their terminators; a last
// line without one is kept as is.
func splitKeep(data []byte, sep byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		i := bytes.IndexByte(data, sep)
		if i < 0 {
			out = append(out, data)
			break
		}
		out = append(out, data[:i+1])
		data = data[i+1:]
	}
	return out
}

// headTailCount parses -n/-c counts, with the obsolete "-N" form handled
// by the caller; plus says "+N" (tail: from line N), neg "-N" (head: all
// but the last N).
func headTailCount(c *Call, s, what string) (n int64, plus, neg bool, err error) {
	switch {
	case strings.HasPrefix(s, "+"):
		plus, s = true, s[1:]
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	}
	v, perr := strconv.ParseInt(s, 10, 64)
	if perr != nil || v < 0 {
		fmt.Fprintf(c.Stderr, "%s: invalid number of %s: %s\n", c.Name, what, quoteName(s))
		return 0, false, false, ExitStatus(1)
	}
	return v, plus, neg, nil
}

// obsoleteCount rewrites head/tail's "-N" into "-n N".
func obsoleteCount(c *Call) *Call {
	cc := *c
	cc.Args = nil
	for i, a := range c.Args {
		if a == "--" {
			cc.Args = append(cc.Args, c.Args[i:]...)
			break
		}
		if i > 0 && (c.Args[i-1] == "-n" || c.Args[i-1] == "-c") {
			cc.Args = append(cc.Args, a)
			continue
		}
		if len(a) > 1 && a[0] == '-' && a[1] >= '0' && a[1] <= '9' {
			if _, err := strconv.Atoi(a[1:]); err == nil {
				cc.Args = append(cc.Args, "-n", a[1:])
				continue
			}
		}
		cc.Args = append(cc.Args, a)
	}
	return &cc
}

func runHead(c *Call) error {
	cc := obsoleteCount(c)
	o, ops, err := parseOpts(cc, []optDef{
		{key: "n", short: 'n', long: "lines", arg: true}, {key: "c", short: 'c', long: "bytes", arg: true},
		{key: "q", short: 'q', long: "quiet"},
	})
	if err != nil {
		return err
	}
	bytesMode := o.has("c")
	count, neg := int64(10), false
	if bytesMode {
		if count, _, neg, err = headTailCount(c, o.val("c"), "bytes"); err != nil {
			return err
		}
	} else if o.has("n") {
		if count, _, neg, err = headTailCount(c, o.val("n"), "lines"); err != nil {
			return err
		}
	}
	multi := len(ops) > 1 && !o.has("q")
	first := true
	return inputs(c, ops, func(name string, data []byte) error {
		if multi {
			if !first {
				fmt.Fprintln(c.Stdout)
			}
			shown := name
			if name == "-" {
				shown = "standard input"
			}
			fmt.Fprintf(c.Stdout, "==> %s <==\n", shown)
		}
		first = false
		if bytesMode {
			n := min(count, int64(len(data)))
			if neg {
				n = max(int64(len(data))-count, 0)
			}
			_, err := c.Stdout.Write(data[:n])
			return err
		}
		lines := splitKeep(data, '\n')
		n := min(count, int64(len(lines)))
		if neg {
			n = max(int64(len(lines))-count, 0)
		}
		for _, l := range lines[:n] {
			if _, err := c.Stdout.Write(l); err != nil {
				return err
			}
		}
		return nil
	})
}

func runTail(c *Call) error {
	cc := obsoleteCount(c)
	o, ops, err := parseOpts(cc, []optDef{
		{key: "n", short: 'n', long: "lines", arg: true}, {key: "c", short: 'c', long: "bytes", arg: true},
		{key: "q", short: 'q', long: "quiet"},
	})
	if err != nil {
		return err
	}
	bytesMode := o.has("c")
	count, plus := int64(10), false
	if bytesMode {
		if count, plus, _, err = headTailCount(c, o.val("c"), "bytes"); err != nil {
			return err
		}
	} else if o.has("n") {
		if count, plus, _, err = headTailCount(c, o.val("n"), "lines"); err != nil {
			return err
		}
	}
	multi := len(ops) > 1 && !o.has("q")
	first := true
	return inputs(c, ops, func(name string, data []byte) error {
		if multi {
			if !first {
				fmt.Fprintln(c.Stdout)
			}
			fmt.Fprintf(c.Stdout, "==> %s <==\n", name)
		}
		first = false
		if bytesMode {
			start := max(int64(len(data))-count, 0)
			if plus {
				start = min(max(count-1, 0), int64(len(data)))
			}
			_, err := c.Stdout.Write(data[start:])
			return err
		}
		lines := splitKeep(data, '\n')
		start := max(int64(len(lines))-count, 0)
		if plus {
			start = min(max(count-1, 0), int64(len(lines)))
		}
		for _, l := range lines[start:] {
			if _, err := c.Stdout.Write(l); err != nil {
				return err
			}
		}
		return nil
	})
}

// cutList parses cut's LIST (N, N-, N-M, -M, comma separated) into a
// predicate over 1-based positions.
func cutList(s string) (func(int) bool, bool) {
	type rng struct{ lo, hi int }
	var rs []rng
	for _, part := range strings.Split(s, ",") {
		lo, hi, dash := strings.Cut(part, "-")
		r := rng{1, math.MaxInt}
		var err error
		if lo != "" {
			if r.lo, err = strconv.Atoi(lo); err != nil || r.lo < 1 {
				return nil, false
			}
		}
		switch {
		case !dash:
			r.hi = r.lo
		case hi != "":
			if r.hi, err = strconv.Atoi(hi); err != nil || r.hi < r.lo {
				return nil, false
			}
		case lo == "":
			return nil, false
		}
		rs = append(rs, r)
	}
	return func(i int) bool {
		for _, r := range rs {
			if i >= r.lo && i <= r.hi {
				return true
			}
		}
		return false
	}, true
}

func runCut(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{
		{key: "f", short: 'f', long: "fields", arg: true}, {key: "d", short: 'd', long: "delimiter", arg: true},
		{key: "c", short: 'c', long: "characters", arg: true}, {key: "b", short: 'b', long: "bytes", arg: true},
		{key: "s", short: 's', long: "only-delimited"}, {key: "complement", long: "complement"},
		{key: "output-delimiter", long: "output-delimiter", arg: true},
	})
	if err != nil {
		return err
	}
	modes := 0
	for _, k := range []string{"f", "c", "b"} {
		if o.has(k) {
			modes++
		}
	}
	if modes != 1 {
		if modes == 0 {
			return usageError(c, "you must specify a list of bytes, characters, or fields")
		}
		return usageError(c, "only one list may be specified")
	}
	list := o.val("f") + o.val("c") + o.val("b")
	sel, ok := cutList(list)
	if !ok {
		fmt.Fprintf(c.Stderr, "cut: invalid field value %s\n", quoteName(list))
		return usageError(c, "%s", "")
	}
	if o.has("complement") {
		in := sel
		sel = func(i int) bool { return !in(i) }
	}
	delim := "\t"
	if o.has("d") {
		delim = o.val("d")
		if len(delim) != 1 {
			return usageError(c, "the delimiter must be a single character")
		}
	}
	outDelim := delim
	if o.has("output-delimiter") {
		outDelim = o.val("output-delimiter")
	}
	return inputs(c, ops, func(name string, data []byte) error {
		var out bytes.Buffer
		for _, line := range splitKeep(data, '\n') {
			body := bytes.TrimSuffix(line, []byte("\n"))
			if o.has("f") {
				if !bytes.Contains(body, []byte(delim)) {
					if !o.has("s") {
						out.Write(body)
						out.WriteByte('\n')
					}
					continue
				}
				var kept [][]byte
				for i, f := range bytes.Split(body, []byte(delim)) {
					if sel(i + 1) {
						kept = append(kept, f)
					}
				}
				out.Write(bytes.Join(kept, []byte(outDelim)))
			} else {
				for i, b := range body {
					if sel(i + 1) {
						out.WriteByte(b)
					}
				}
			}
			out.WriteByte('\n')
		}
		_, err := c.Stdout.Write(out.Bytes())
		return err
	})
}

// trSet expands a tr SET (ranges, [:class:], escapes, [c*n] refused).
func trSet(s string) ([]byte, bool) {
	var out []byte
	b := []byte(s)
	unesc := func(i int) (byte, int) {
		if b[i] != '\\' || i+1 >= len(b) {
			return b[i], i + 1
		}
		switch b[i+1] {
		case 'n':
			return '\n', i + 2
		case 't':
			return '\t', i + 2
		case 'r':
			return '\r', i + 2
		case '\\':
			return '\\', i + 2
		case 'a':
			return 7, i + 2
		case 'b':
			return 8, i + 2
		case 'f':
			return 12, i + 2
		case 'v':
			return 11, i + 2
		}
		if b[i+1] >= '0' && b[i+1] <= '7' {
			v, j := 0, i+1
			for j < len(b) && j < i+4 && b[j] >= '0' && b[j] <= '7' {
				v = v*8 + int(b[j]-'0')
				j++
			}
			return byte(v), j
		}
		return b[i+1], i + 2
	}
	classes := map[string]func(byte) bool{
		"upper": func(c byte) bool { return c >= 'A' && c <= 'Z' },
		"lower": func(c byte) bool { return c >= 'a' && c <= 'z' },
		"digit": func(c byte) bool { return c >= '0' && c <= '9' },
		"alpha": func(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' },
		"alnum": func(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' },
		"space": func(c byte) bool { return c == ' ' || c >= 9 && c <= 13 },
		"blank": func(c byte) bool { return c == ' ' || c == '\t' },
		"punct": func(c byte) bool {
			return c > 32 && c < 127 && !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9')
		},
		"cntrl":  func(c byte) bool { return c < 32 || c == 127 },
		"print":  func(c byte) bool { return c >= 32 && c < 127 },
		"graph":  func(c byte) bool { return c > 32 && c < 127 },
		"xdigit": func(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' },
	}
	for i := 0; i < len(b); {
		if b[i] == '[' && i+1 < len(b) && b[i+1] == ':' {
			if end := strings.Index(s[i+2:], ":]"); end >= 0 {
				f, ok := classes[s[i+2:i+2+end]]
				if !ok {
					return nil, false
				}
				for ch := 0; ch < 256; ch++ {
					if f(byte(ch)) {
						out = append(out, byte(ch))
					}
				}
				i += end + 4
				continue
			}
		}
		if b[i] == '[' && (i+2 < len(b) && b[i+2] == '*' || strings.HasPrefix(s[i:], "[=")) {
			return nil, false
		}
		lo, j := unesc(i)
		if j < len(b)-1 && b[j] == '-' {
			hi, k := unesc(j + 1)
			if hi < lo {
				return nil, false
			}
			for ch := int(lo); ch <= int(hi); ch++ {
				out = append(out, byte(ch))
			}
			i = k
			continue
		}
		out = append(out, lo)
		i = j
	}
	return out, true
}

func runTr(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{
		{key: "d", short: 'd', long: "delete"}, {key: "s", short: 's', long: "squeeze-repeats"},
		{key: "c", short: 'c', long: "complement"}, {key: "c", short: 'C'},
	})
	if err != nil {
		return err
	}
	del, squeeze, comp := o.has("d"), o.has("s"), o.has("c")
	want := 2
	if del && !squeeze || squeeze && !del && len(ops) == 1 {
		want = 1
	}
	if len(ops) < want {
		if len(ops) == 0 {
			return usageError(c, "missing operand")
		}
		return usageError(c, "missing operand after %s", quoteName(ops[len(ops)-1]))
	}
	if len(ops) > want && !(del && squeeze) {
		return usageError(c, "extra operand %s", quoteName(ops[want]))
	}
	set1, ok := trSet(ops[0])
	if !ok {
		return Refuse("tr "+ops[0], "set form not implemented")
	}
	var in1 [256]bool
	for _, ch := range set1 {
		in1[ch] = true
	}
	if comp {
		for i := range in1 {
			in1[i] = !in1[i]
		}
		set1 = set1[:0]
		for i := range in1 {
			if in1[i] {
				set1 = append(set1, byte(i))
			}
		}
	}
	var set2 []byte
	if len(ops) > 1 {
		if set2, ok = trSet(ops[1]); !ok {
			return Refuse("tr "+ops[1], "set form not implemented")
		}
	}
	var tbl [256]byte
	for i := range tbl {
		tbl[i] = byte(i)
	}
	translate := !del && len(set2) > 0
	if translate {
		if comp {
			return Refuse("tr -c SET1 SET2", "complemented translation not implemented")
		}
		for i, ch := range set1 {
			j := min(i, len(set2)-1)
			tbl[ch] = set2[j]
		}
	}
	var sq [256]bool
	sqSet := set1
	if del || translate {
		sqSet = set2
	}
	for _, ch := range sqSet {
		sq[ch] = true
	}
	data, err := readStdin(c)
	if err != nil {
		return err
	}
	out := make([]byte, 0, len(data))
	last := -1
	for _, ch := range data {
		if del && in1[ch] {
			continue
		}
		ch = tbl[ch]
		if squeeze && sq[ch] && int(ch) == last {
			continue
		}
		out = append(out, ch)
		last = int(ch)
	}
	_, err = c.Stdout.Write(out)
	return err
}

func readStdin(c *Call) ([]byte, error) {
	var b bytes.Buffer
	if _, err := b.ReadFrom(c.Stdin); err != nil {
		return nil, fmt.Errorf("%s: read stdin: %w", c.Name, err)
	}
	return b.Bytes(), nil
}

func runSort(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{
		{key: "u", short: 'u', long: "unique"}, {key: "r", short: 'r', long: "reverse"},
		{key: "n", short: 'n', long: "numeric-sort"}, {key: "g", short: 'g', long: "general-numeric-sort"},
		{key: "V", short: 'V', long: "version-sort"}, {key: "z", short: 'z', long: "zero-terminated"},
		{key: "o", short: 'o', long: "output", arg: true},
	})
	if err != nil {
		return err
	}
	sep := byte('\n')
	if o.has("z") {
		sep = 0
	}
	var lines []string
	if err := inputs(c, ops, func(_ string, data []byte) error {
		for _, l := range splitKeep(data, sep) {
			lines = append(lines, strings.TrimSuffix(string(l), string(sep)))
		}
		return nil
	}); err != nil {
		if st, ok := err.(ExitStatus); ok && st == 1 {
			return ExitStatus(2)
		}
		return err
	}
	numeric := o.has("n") || o.has("g")
	cmp := func(a, b string) int {
		if numeric {
			var x, y float64
			if o.has("g") {
				x, y = generalNumber(a), generalNumber(b)
			} else {
				x, y = leadingNumber(a), leadingNumber(b)
			}
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			if o.has("u") {
				return 0
			}
		} else if o.has("V") {
			if r := apt.CompareVersionPart(a, b); r != 0 || o.has("u") {
				return r
			}
		}
		return strings.Compare(a, b)
	}
	sort.SliceStable(lines, func(i, j int) bool {
		r := cmp(lines[i], lines[j])
		if o.has("r") {
			return r > 0
		}
		return r < 0
	})
	var out bytes.Buffer
	for i, l := range lines {
		if o.has("u") && i > 0 && cmp(lines[i-1], l) == 0 {
			continue
		}
		out.WriteString(l)
		out.WriteByte(sep)
	}
	if o.has("o") {
		return writeFileOp(c, o.val("o"), out.Bytes(), false)
	}
	_, err = c.Stdout.Write(out.Bytes())
	return err
}

// leadingNumber is sort -n's key: an optional '-', digits, a '.' and
// digits at the start of the line (after blanks); else 0.
func leadingNumber(s string) float64 {
	s = strings.TrimLeft(s, " \t")
	end := 0
	if end < len(s) && s[end] == '-' {
		end++
	}
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || s[end] == '.') {
		end++
	}
	v, err := strconv.ParseFloat(s[:end], 64)
	if err != nil {
		return 0
	}
	return v
}

// generalNumber is sort -g's key (strtod); lines that are not numbers sort
// first, as -inf.
func generalNumber(s string) float64 {
	s = strings.TrimLeft(s, " \t")
	for end := len(s); end > 0; end-- {
		if v, err := strconv.ParseFloat(s[:end], 64); err == nil {
			return v
		}
	}
	return math.Inf(-1)
}

func runUniq(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{
		{key: "c", short: 'c', long: "count"}, {key: "d", short: 'd', long: "repeated"},
		{key: "u", short: 'u', long: "unique"},
	})
	if err != nil {
		return err
	}
	if len(ops) > 1 {
		return Refuse("uniq INPUT OUTPUT", "writing to an output file operand is not implemented")
	}
	return inputs(c, ops, func(_ string, data []byte) error {
		var out bytes.Buffer
		lines := splitKeep(data, '\n')
		for i := 0; i < len(lines); {
			j := i + 1
			key := bytes.TrimSuffix(lines[i], []byte("\n"))
			for j < len(lines) && bytes.Equal(bytes.TrimSuffix(lines[j], []byte("\n")), key) {
				j++
			}
			n := j - i
			if (o.has("d") && n < 2) || (o.has("u") && n > 1) {
				i = j
				continue
			}
			if o.has("c") {
				fmt.Fprintf(&out, "%7d ", n)
			}
			out.Write(key)
			out.WriteByte('\n')
			i = j
		}
		_, err := c.Stdout.Write(out.Bytes())
		return err
	})
}

func runWc(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{
		{key: "l", short: 'l', long: "lines"}, {key: "w", short: 'w', long: "words"},
		{key: "c", short: 'c', long: "bytes"}, {key: "m", short: 'm', long: "chars"},
		{key: "L", short: 'L', long: "max-line-length"},
	})
	if err != nil {
		return err
	}
	if o.has("L") {
		return Refuse("wc -L", "option not implemented")
	}
	show := []string{}
	for _, k := range []string{"l", "w", "m", "c"} {
		if o.has(k) {
			show = append(show, k)
		}
	}
	if len(show) == 0 {
		show = []string{"l", "w", "c"}
	}
	type counts map[string]int64
	var rows []counts
	var names []string
	total := counts{}
	err = inputs(c, ops, func(name string, data []byte) error {
		r := counts{"l": int64(bytes.Count(data, []byte("\n"))), "w": int64(len(bytes.Fields(data))),
			"c": int64(len(data)), "m": int64(len(data))}
		rows = append(rows, r)
		names = append(names, name)
		for k, v := range r {
			total[k] += v
		}
		return nil
	})
	if _, ok := err.(ExitStatus); err != nil && !ok {
		return err
	}
	// Width: 7 when reading stdin; else the digits of the total bytes.
	width := 1
	stdin := len(ops) == 0
	for _, n := range ops {
		if n == "-" {
			stdin = true
		}
	}
	if stdin {
		width = 7
	} else {
		width = len(strconv.FormatInt(total["c"], 10))
	}
	if len(show) == 1 && len(rows) == 1 {
		width = 1
	}
	line := func(r counts, name string) {
		parts := make([]string, 0, len(show)+1)
		for _, k := range show {
			parts = append(parts, fmt.Sprintf("%*d", width, r[k]))
		}
		if name != "" {
			parts = append(parts, name)
		}
		fmt.Fprintln(c.Stdout, strings.Join(parts, " "))
	}
	for i, r := range rows {
		name := names[i]
		if len(ops) == 0 {
			name = ""
		}
		line(r, name)
	}
	if len(rows) > 1 {
		line(total, "total")
	}
	return err
}

func runTee(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{{key: "a", short: 'a', long: "append"}})
	if err != nil {
		return err
	}
	data, err := readStdin(c)
	if err != nil {
		return err
	}
	if _, err := c.Stdout.Write(data); err != nil {
		return err
	}
	status := error(nil)
	for _, op := range ops {
		if err := writeFileOp(c, op, data, o.has("a")); err != nil {
			if _, ok := err.(ExitStatus); !ok {
				return err
			}
			status = err
		}
	}
	return status
}

// writeFileOp writes (or appends) data to a file operand, created with
// 0666 less the umask.
func writeFileOp(c *Call, name string, data []byte, appendTo bool) error {
	flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if appendTo {
		flag = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	p := c.Abs(name)
	f, err := c.FS.OpenFile(p, flag, 0o666&^c.Umask)
	if err != nil {
		if fe := fsFailure(c, err); fe != nil {
			return fe
		}
		fmt.Fprintf(c.Stderr, "%s: %s: %s\n", c.Name, name, errText(err))
		return ExitStatus(1)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("%s: write %s: %w", c.Name, p, err)
	}
	c.Effect("wrote %s", p)
	return f.Close()
}

func hashsumCommand(name string) Command {
	newHash := map[string]func() hash.Hash{"md5sum": md5.New, "sha1sum": sha1.New,
		"sha256sum": sha256.New, "sha512sum": sha512.New}[name]
	return func(c *Call) error {
		o, ops, err := parseOpts(c, []optDef{
			{key: "b", short: 'b', long: "binary"}, {key: "t", short: 't', long: "text"},
			{key: "c", short: 'c', long: "check"}, {key: "tag", long: "tag"},
		})
		if err != nil {
			return err
		}
		if o.has("c") || o.has("tag") {
			return Refuse(name+" --check/--tag", "option not implemented")
		}
		mark := " "
		if o.has("b") {
			mark = "*"
		}
		return inputs(c, ops, func(n string, data []byte) error {
			h := newHash()
			h.Write(data)
			_, err := fmt.Fprintf(c.Stdout, "%s %s%s\n", hex.EncodeToString(h.Sum(nil)), mark, n)
			return err
		})
	}
}

// runCmp is diffutils' cmp: status 0 same, 1 different, 2 trouble.
func runCmp(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{{key: "s", short: 's', long: "silent"}, {key: "s", long: "quiet"}})
	if err != nil {
		return err
	}
	if len(ops) < 1 || len(ops) > 2 {
		if len(ops) == 0 {
			fmt.Fprintf(c.Stderr, "cmp: missing operand after 'cmp'\ncmp: Try 'cmp --help' for more information.\n")
		} else {
			fmt.Fprintf(c.Stderr, "cmp: invalid --ignore-initial value %s\ncmp: Try 'cmp --help' for more information.\n", quoteName(ops[2]))
		}
		return ExitStatus(2)
	}
	if len(ops) == 1 {
		ops = append(ops, "-")
	}
	var data [2][]byte
	for i, n := range ops {
		var err error
		if n == "-" {
			data[i], err = readStdin(c)
			if err != nil {
				return err
			}
			continue
		}
		data[i], err = readAllFile(c, n)
		if err != nil {
			if fe := fsFailure(c, err); fe != nil {
				return fe
			}
			if o.has("s") {
				return ExitStatus(2)
			}
			fmt.Fprintf(c.Stderr, "cmp: %s: %s\n", n, errText(err))
			return ExitStatus(2)
		}
	}
	a, b := data[0], data[1]
	line := 1
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			if !o.has("s") {
				fmt.Fprintf(c.Stdout, "%s %s differ: char %d, line %d\n", ops[0], ops[1], i+1, line)
			}
			return ExitStatus(1)
		}
		if a[i] == '\n' {
			line++
		}
	}
	if len(a) != len(b) {
		if !o.has("s") {
			short, n := ops[0], len(a)
			if len(b) < len(a) {
				short, n = ops[1], len(b)
			}
			if n == 0 {
				fmt.Fprintf(c.Stderr, "cmp: EOF on %s which is empty\n", short)
			} else {
				lines := bytes.Count(a[:n], []byte("\n"))
				if n > 0 && a[n-1] != '\n' {
					fmt.Fprintf(c.Stderr, "cmp: EOF on %s after byte %d, in line %d\n", short, n, lines+1)
				} else {
					fmt.Fprintf(c.Stderr, "cmp: EOF on %s after byte %d, line %d\n", short, n, lines)
				}
			}
		}
		return ExitStatus(1)
	}
	return nil
}

// runSeq prints integer sequences (FIRST, INCREMENT and LAST as integers;
// -s SEP, -w). Decimals are refused.
func runSeq(c *Call) error {
	// Negative numbers are operands, not options.
	var optArgs, nums []string
	for i := 0; i < len(c.Args); i++ {
		a := c.Args[i]
		if len(a) > 1 && a[0] == '-' && !(a[1] >= '0' && a[1] <= '9') && len(nums) == 0 {
			optArgs = append(optArgs, a)
			if (a == "-s" || a == "-f") && i+1 < len(c.Args) {
				i++
				optArgs = append(optArgs, c.Args[i])
			}
			continue
		}
		nums = append(nums, a)
	}
	cc := *c
	cc.Args = optArgs
	o, _, err := parseOpts(&cc, []optDef{
		{key: "s", short: 's', long: "separator", arg: true}, {key: "w", short: 'w', long: "equal-width"},
	})
	if err != nil {
		return err
	}
	if len(nums) == 0 || len(nums) > 3 {
		if len(nums) == 0 {
			return usageError(c, "missing operand")
		}
		return usageError(c, "extra operand %s", quoteName(nums[3]))
	}
	var v []int64
	for _, n := range nums {
		x, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			if _, ferr := strconv.ParseFloat(n, 64); ferr == nil {
				return Refuse("seq "+n, "non-integer sequences not implemented")
			}
			fmt.Fprintf(c.Stderr, "seq: invalid floating point argument: %s\n", quoteName(n))
			return usageError(c, "%s", "")
		}
		v = append(v, x)
	}
	first, inc, last := int64(1), int64(1), v[len(v)-1]
	switch len(v) {
	case 2:
		first = v[0]
	case 3:
		first, inc = v[0], v[1]
	}
	if inc == 0 {
		fmt.Fprintf(c.Stderr, "seq: invalid Zero increment value: %s\n", quoteName(nums[1]))
		return usageError(c, "%s", "")
	}
	sep := "\n"
	if o.has("s") {
		sep = o.val("s")
	}
	width := 0
	if o.has("w") {
		width = max(len(strconv.FormatInt(first, 10)), len(strconv.FormatInt(last, 10)))
	}
	var out strings.Builder
	n := 0
	for x := first; (inc > 0 && x <= last) || (inc < 0 && x >= last); x += inc {
		if n > 0 {
			out.WriteString(sep)
		}
		if width > 0 {
			fmt.Fprintf(&out, "%0*d", width, x)
		} else {
			out.WriteString(strconv.FormatInt(x, 10))
		}
		n++
	}
	if n > 0 {
		out.WriteString("\n")
	}
	_, err = c.Stdout.Write([]byte(out.String()))
	return err
}
