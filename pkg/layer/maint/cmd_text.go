package maint

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// Text tools scripts pipe through: grep/egrep/fgrep (this file), sed
// (cmd_text_sed.go), awk for the small programs the census found
// (cmd_text_awk.go), find and xargs (cmd_text_find.go). Patterns are POSIX
// BRE/ERE translated to RE2 (cmd_text_regex.go); back-references are
// refused.

func textCommands() []Spec {
	return []Spec{
		{Name: "grep", Run: grepCommand("")},
		{Name: "egrep", Run: grepCommand("E")},
		{Name: "fgrep", Run: grepCommand("F")},
		{Name: "sed", Run: runSed},
		{Name: "awk", Run: runAwk},
		{Name: "mawk", Run: runAwk},
		{Name: "gawk", Run: runAwk, Paths: []string{"/usr/bin/gawk"}},
		{Name: "find", Run: runFind},
		{Name: "xargs", Run: runXargs},
	}
}

func grepCommand(mode string) Command {
	return func(c *Call) error { return runGrep(c, mode) }
}

// runGrep is GNU grep for files and stdin: status 0 when a line is
// selected, 1 when none, 2 on trouble (unless -q found a match).
func runGrep(c *Call, mode string) error {
	o, ops, err := parseOpts(c, []optDef{
		{key: "E", short: 'E', long: "extended-regexp"}, {key: "F", short: 'F', long: "fixed-strings"},
		{key: "G", short: 'G', long: "basic-regexp"}, {key: "e", short: 'e', long: "regexp", arg: true},
		{key: "f", short: 'f', long: "file", arg: true},
		{key: "i", short: 'i', long: "ignore-case"}, {key: "i", short: 'y'}, {key: "v", short: 'v', long: "invert-match"},
		{key: "w", short: 'w', long: "word-regexp"}, {key: "x", short: 'x', long: "line-regexp"},
		{key: "c", short: 'c', long: "count"}, {key: "l", short: 'l', long: "files-with-matches"},
		{key: "L", short: 'L', long: "files-without-match"}, {key: "n", short: 'n', long: "line-number"},
		{key: "h", short: 'h', long: "no-filename"}, {key: "H", short: 'H', long: "with-filename"},
		{key: "o", short: 'o', long: "only-matching"}, {key: "q", short: 'q', long: "quiet"}, {key: "q", long: "silent"},
		{key: "s", short: 's', long: "no-messages"}, {key: "z", short: 'z', long: "null-data"},
		{key: "a", short: 'a', long: "text"}, {key: "m", short: 'm', long: "max-count", arg: true},
	})
	if err != nil {
		return err
	}
	ere, fixed := mode == "E" || o.has("E"), mode == "F" || o.has("F")
	var patterns []string
	for _, e := range o.seen["e"] {
		patterns = append(patterns, strings.Split(e, "\n")...)
	}
	for _, f := range o.seen["f"] {
		data, err := readAllFile(c, f)
		if err != nil {
			if fe := fsFailure(c, err); fe != nil {
				return fe
			}
			fmt.Fprintf(c.Stderr, "%s: %s: %s\n", c.Name, f, errText(err))
			return ExitStatus(2)
		}
		patterns = append(patterns, strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")...)
	}
	if !o.has("e") && !o.has("f") {
		if len(ops) == 0 {
			fmt.Fprintf(c.Stderr, "Usage: %s [OPTION]... PATTERNS [FILE]...\nTry '%s --help' for more information.\n", c.Name, c.Name)
			return ExitStatus(2)
		}
		patterns, ops = strings.Split(ops[0], "\n"), ops[1:]
	}
	if o.has("o") && (o.has("w") || o.has("v")) {
		return Refuse(c.Name+" -o -w/-v", "combination not implemented")
	}
	maxCount := -1
	if o.has("m") {
		n, err := strconv.Atoi(o.val("m"))
		if err != nil {
			fmt.Fprintf(c.Stderr, "%s: invalid max count\n", c.Name)
			return ExitStatus(2)
		}
		maxCount = n
	}
	var alts []string
	for _, p := range patterns {
		var tr string
		if fixed {
			tr = regexp.QuoteMeta(p)
		} else {
			var err error
			tr, err = translateRegex(p, ere, 0)
			if err != nil {
				var re *regexError
				if errors.As(err, &re) {
					return Refuse(c.Name+" "+p, "%v", err)
				}
				return err
			}
		}
		alts = append(alts, "(?:"+tr+")")
	}
	expr := strings.Join(alts, "|")
	switch {
	case o.has("x"):
		expr = "^(?:" + expr + ")$"
	case o.has("w"):
		expr = `(?:^|[^[:alnum:]_])(?:` + expr + `)(?:[^[:alnum:]_]|$)`
	}
	flags := ""
	if o.has("i") {
		flags += "i"
	}
	if o.has("z") {
		flags += "s"
	}
	if flags != "" {
		expr = "(?" + flags + ")" + expr
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		fmt.Fprintf(c.Stderr, "%s: %v\n", c.Name, err)
		return ExitStatus(2)
	}
	re.Longest()
	sep := byte('\n')
	if o.has("z") {
		sep = 0
	}
	if len(ops) == 0 {
		ops = []string{"-"}
	}
	withName := (len(ops) > 1 || o.has("H")) && !o.has("h")
	selected, trouble := false, false
	for _, name := range ops {
		var data []byte
		shown := name
		if name == "-" {
			data, err = readStdin(c)
			if err != nil {
				return err
			}
			shown = "(standard input)"
		} else {
			if i, serr := c.FS.Stat(c.Abs(name)); serr == nil && i.IsDir() {
				if !o.has("s") {
					fmt.Fprintf(c.Stderr, "%s: %s: Is a directory\n", c.Name, name)
				}
				trouble = true
				continue
			}
			data, err = readAllFile(c, name)
			if err != nil {
				if fe := fsFailure(c, err); fe != nil {
					return fe
				}
				if !o.has("s") {
					fmt.Fprintf(c.Stderr, "%s: %s: %s\n", c.Name, name, errText(err))
				}
				trouble = true
				continue
			}
		}
		binary := !o.has("a") && !o.has("z") && bytes.IndexByte(data, 0) >= 0
		var out bytes.Buffer
		count := 0
		lines := splitKeep(data, sep)
		for n, line := range lines {
			if maxCount >= 0 && count >= maxCount {
				break
			}
			body := bytes.TrimSuffix(line, []byte{sep})
			match := re.Match(body)
			if match == o.has("v") {
				continue
			}
			count++
			selected = true
			if o.has("q") {
				return nil
			}
			if o.has("l") || o.has("L") || o.has("c") || binary {
				continue
			}
			prefix := ""
			if withName {
				prefix = shown + ":"
			}
			if o.has("n") {
				prefix += strconv.Itoa(n+1) + ":"
			}
			if o.has("o") {
				for _, m := range re.FindAll(body, -1) {
					if len(m) == 0 {
						continue
					}
					out.WriteString(prefix)
					out.Write(m)
					out.WriteByte(sep)
				}
				continue
			}
			out.WriteString(prefix)
			out.Write(body)
			out.WriteByte(sep)
		}
		switch {
		case o.has("c"):
			if withName {
				fmt.Fprintf(&out, "%s:", shown)
			}
			fmt.Fprintf(&out, "%d\n", count)
		case o.has("l"):
			if count > 0 {
				fmt.Fprintf(&out, "%s\n", shown)
			}
		case o.has("L"):
			if count == 0 {
				fmt.Fprintf(&out, "%s\n", shown)
			}
		case binary && count > 0:
			fmt.Fprintf(c.Stderr, "%s: %s: binary file matches\n", c.Name, shown)
		}
		if _, err := c.Stdout.Write(out.Bytes()); err != nil {
			return err
		}
	}
	switch {
	case trouble && !(o.has("q") && selected):
		return ExitStatus(2)
	case selected:
		return nil
	}
	return ExitStatus(1)
}

// globMatch is fnmatch(3) without flags, for find's -name/-lname.
func globMatch(pattern, name string) bool {
	ok, err := path.Match(pattern, name)
	return err == nil && ok
}

// globToRegexp translates an fnmatch pattern without FNM_PATHNAME.
func globToRegexp(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		ch := pattern[i]
		switch ch {
		case '*':
			b.WriteString("(?s:.*)")
		case '?':
			b.WriteString("(?s:.)")
		case '\\':
			if i+1 < len(pattern) {
				i++
				b.WriteString(regexp.QuoteMeta(string(pattern[i])))
			} else {
				b.WriteString(`\\`)
			}
		case '[':
			end := strings.IndexByte(pattern[i+1:], ']')
			if end == 0 && i+2 < len(pattern) {
				end = strings.IndexByte(pattern[i+2:], ']') + 1
			}
			if end < 0 {
				b.WriteString(`\[`)
				continue
			}
			cls := pattern[i+1 : i+1+end]
			if strings.HasPrefix(cls, "!") {
				cls = "^" + cls[1:]
			}
			b.WriteString("[" + strings.ReplaceAll(cls, `\`, `\\`) + "]")
			i += end + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(ch)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}
