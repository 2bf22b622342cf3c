package maint

import (
	"regexp"
	"testing"
)

// Fuzz targets of the text tools' parsers: whatever a script passes, sed
// and awk programs and POSIX patterns are either run or refused, never a
// panic (the runner would stop the build on one), and a translated pattern
// is valid RE2.

func FuzzSedScript(f *testing.F) {
	for _, s := range []string{`s/^ssl =.*/ssl = false/`, `/^\(DIR_MODE=\)/{s///;p;q;}`, "1,/keep/p;\n/a/,$p", `$!N;P;D`,
		`:a;s/aa/a/;ta`, `y/abc/xyz/`, "/x/a\\\ntext", `s,,rm "\1".*,e`, `0,/re/d`, `2~3p`, `/a/,+2d`, `s/x/\n/2g`} {
		f.Add(s, "line one\nline two\n\nlast")
	}
	f.Fuzz(func(t *testing.T, script, input string) {
		fsys := NewMemFS(MemFile("/in", input))
		oracleRunGo(t, fsys, newKitHost(), []string{"sed", "-n", "-e", script, "/in"}, "")
		oracleRunGo(t, fsys, newKitHost(), []string{"sed", "-E", script, "/in"}, "")
	})
}

func FuzzAwkProgram(f *testing.F) {
	for _, s := range []string{`{ print $1 }`, `$1 ~ /^[^#]/ { print $1 }`, `BEGIN {OFS="/"} /\.py$/ {$NF=sprintf("%s.*", substr($NF,1,length($NF)-3)); print}`,
		`{NF--; print}`, `/Maximum length/ {print int($NF / 4)}`, `{if ($1 ~ /^P:/) { p=$2 } else if ($0 ~ / installed$/) { print p }}`,
		`NF == 3 && int($2*72/2.54 + 0.5) == w {print $1; exit}`, `{n++} END {print n, NR}`, `{gsub("a", "b"); sub(/x/, "&y")} 1`,
		`{printf "%s=%d;%5.2f|%-4s|%c\n", $1, $2, $2/3, $1, 65}`, `BEGIN { for (i = 0; i < 3; i++) print i; while (j < 2) j++ }`} {
		f.Add(s, "a 1 x\nb 2 y\nMaximum length: 100\n")
	}
	f.Fuzz(func(t *testing.T, prog, input string) {
		fsys := NewMemFS(MemFile("/in", input))
		oracleRunGo(t, fsys, newKitHost(), []string{"awk", "-v", "w=595", prog, "/in"}, "")
	})
}

func FuzzPOSIXRegex(f *testing.F) {
	for _, s := range []string{`^\(sh\)\{1\}adow:[^:]*:42`, `[\.]`, `a\+b`, `*x`, `^([[:space:]]*,)*$`, `a{`, `x{1,2}`, `[]a]`, `[^]a]`, `\bat\b`, `a$b`, `[[:alpha:]-]`} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, pat string, ere bool) {
		tr, err := translateRegex(pat, ere, 0)
		if err != nil {
			return
		}
		if _, err := regexp.Compile(tr); err != nil {
			// A pattern GNU would reject may translate to an invalid one;
			// the commands report that as grep/sed do. Only a panic is a bug.
			return
		}
	})
}
