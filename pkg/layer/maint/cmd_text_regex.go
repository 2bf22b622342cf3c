package maint

import (
	"fmt"
	"regexp"
	"strings"
)

// POSIX regular expressions (GNU's BRE and ERE, C locale) translated to Go's
// RE2 syntax, matched leftmost-longest as POSIX requires. What RE2 cannot
// do (back-references) is refused; GNU extensions scripts use (\+, \?, \|,
// \s, \S, \w, \W, \b, \B) are kept.

// regexError is a pattern RE2 cannot express or that does not parse.
type regexError struct{ msg string }

func (e *regexError) Error() string { return e.msg }

// translateRegex converts a BRE (ere false) or ERE to RE2 syntax. delim,
// when not 0, is sed's delimiter: "\<delim>" stands for the character.
func translateRegex(pat string, ere bool, delim byte) (string, error) {
	var b strings.Builder
	atStart := true // where '*' is literal and '^' an anchor (BRE)
	for i := 0; i < len(pat); i++ {
		ch := pat[i]
		start := atStart
		atStart = false
		switch {
		case ch == '\\' && i+1 < len(pat):
			i++
			n := pat[i]
			if delim != 0 && n == delim && delim != '\n' {
				b.WriteString(regexp.QuoteMeta(string(n)))
				continue
			}
			switch n {
			case '(', ')', '{', '}', '|', '+', '?':
				if ere {
					b.WriteString(`\` + string(n))
				} else {
					b.WriteByte(n)
					if n == '(' || n == '|' {
						atStart = true
					}
				}
			case '1', '2', '3', '4', '5', '6', '7', '8', '9':
				return "", &regexError{fmt.Sprintf("back-reference \\%c", n)}
			case '<', '>', '`', '\'':
				return "", &regexError{fmt.Sprintf("anchor \\%c", n)}
			case 'w', 'W', 's', 'S', 'b', 'B':
				b.WriteString(`\` + string(n))
			case 'n':
				b.WriteString(`\n`)
			case 't':
				b.WriteString(`\t`)
			default:
				b.WriteString(regexp.QuoteMeta(string(n)))
			}
		case ch == '[':
			end, cls, err := bracket(pat, i)
			if err != nil {
				return "", err
			}
			b.WriteString(cls)
			i = end
		case ch == '*':
			if start {
				b.WriteString(`\*`)
			} else {
				b.WriteByte('*')
			}
		case ch == '^':
			if ere || start {
				b.WriteByte('^')
				atStart = true
			} else {
				b.WriteString(`\^`)
			}
		case ch == '$':
			rest := pat[i+1:]
			if ere || rest == "" || strings.HasPrefix(rest, `\)`) || strings.HasPrefix(rest, `\|`) {
				b.WriteByte('$')
			} else {
				b.WriteString(`\$`)
			}
		case !ere && strings.IndexByte("(){}|+?", ch) >= 0:
			b.WriteString(`\` + string(ch))
		case ere && (ch == '(' || ch == '|'):
			b.WriteByte(ch)
			atStart = true
		case ere && ch == '{':
			// A brace that does not start a valid interval is literal.
			if j := strings.IndexByte(pat[i:], '}'); j > 0 && validInterval(pat[i+1:i+j]) && !start {
				b.WriteString(pat[i : i+j+1])
				i += j
			} else {
				b.WriteString(`\{`)
			}
		case ch == '.' || ere && (ch == ')' || ch == '+' || ch == '?'):
			b.WriteByte(ch)
		default:
			b.WriteString(regexp.QuoteMeta(string(ch)))
		}
	}
	return b.String(), nil
}

func validInterval(s string) bool {
	if s == "" {
		return false
	}
	lo, hi, comma := strings.Cut(s, ",")
	digits := func(x string) bool { return strings.Trim(x, "0123456789") == "" }
	return digits(lo) && lo != "" && (!comma || digits(hi))
}

// bracket copies a bracket expression starting at pat[i] == '[' into RE2
// syntax: backslash is literal inside, classes kept.
func bracket(pat string, i int) (int, string, error) {
	var b strings.Builder
	b.WriteByte('[')
	j := i + 1
	if j < len(pat) && pat[j] == '^' {
		b.WriteByte('^')
		j++
	}
	first := true
	for ; j < len(pat); j++ {
		ch := pat[j]
		switch {
		case ch == ']' && !first:
			b.WriteByte(']')
			return j, b.String(), nil
		case ch == '[' && j+1 < len(pat) && (pat[j+1] == ':' || pat[j+1] == '=' || pat[j+1] == '.'):
			kind := pat[j+1]
			end := strings.Index(pat[j+2:], string(kind)+"]")
			if end < 0 {
				return 0, "", &regexError{"unterminated character class"}
			}
			name := pat[j+2 : j+2+end]
			switch kind {
			case ':':
				b.WriteString("[:" + name + ":]")
			default:
				if len(name) != 1 {
					return 0, "", &regexError{"collating element [" + string(kind) + name + string(kind) + "]"}
				}
				b.WriteString(regexp.QuoteMeta(name))
			}
			j += 2 + end + 1
		case ch == '\\' || ch == '[' || ch == ']' || ch == '^':
			b.WriteString(`\` + string(ch))
		default:
			b.WriteByte(ch)
		}
		first = false
	}
	return 0, "", &regexError{"unterminated ["}
}

// compilePOSIX compiles a translated pattern, leftmost-longest.
func compilePOSIX(pat string, ere, icase, dotNL bool, delim byte) (*regexp.Regexp, error) {
	tr, err := translateRegex(pat, ere, delim)
	if err != nil {
		return nil, err
	}
	flags := ""
	if icase {
		flags += "i"
	}
	if dotNL {
		flags += "s"
	}
	if flags != "" {
		tr = "(?" + flags + ")" + tr
	}
	re, err := regexp.Compile(tr)
	if err != nil {
		return nil, &regexError{err.Error()}
	}
	re.Longest()
	return re, nil
}
