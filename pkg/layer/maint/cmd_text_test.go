package maint

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// The forms of grep, sed, awk, find and xargs the census found in Debian's
// maintainer scripts, compared with the host's GNU grep/sed/findutils and
// Debian's awk (mawk).

func TestGrepOracle(t *testing.T) {
	conf := "# comment\nssl = true\nValue: 1\nshadow:x:42:\n\npostgres ssl-cert\nbyte-compile = optimize\n"
	tree := []treeEntry{tFile("conf", conf), tFile("other", "nothing\n"), tDir("dir"), tFile("bin", "a\x00match\n")}
	runOracle(t, []oracleCase{
		{name: "grep -q hit", tree: tree, argv: []string{"grep", "-q", "^ssl", "conf"}, skipTree: true},
		{name: "grep -q miss", tree: tree, argv: []string{"grep", "-q", "^nope", "conf"}, skipTree: true},
		{name: "grep lines", tree: tree, argv: []string{"grep", "s", "conf"}, skipTree: true},
		{name: "grep -v", tree: tree, argv: []string{"grep", "-v", "^#", "conf"}, skipTree: true},
		{name: "grep -E", tree: tree, argv: []string{"grep", "-E", "^(ssl|Value):?", "conf"}, skipTree: true},
		{name: "grep -E alternation stdin", tree: tree, argv: []string{"grep", "-E", "(^openssh-server .* unpacked|installed) (all|amd64)$"},
			stdin: "openssh-server 1 unpacked all\nfoo installed amd64\nbar x\n", skipTree: true},
		{name: "grep -qw", tree: tree, argv: []string{"grep", "-qw", "ssl-cert"}, stdin: "postgres ssl-cert\n", skipTree: true},
		{name: "grep -w no", tree: tree, argv: []string{"grep", "-w", "ssl"}, stdin: "ssl-cert\nsslx\n", skipTree: true},
		{name: "grep -w yes", tree: tree, argv: []string{"grep", "-w", "ssl"}, stdin: "a ssl b\nssl\n", skipTree: true},
		{name: "grep -x -F", tree: tree, argv: []string{"grep", "-F", "-x", "a.b"}, stdin: "a.b\naxb\na.bc\n", skipTree: true},
		{name: "grep -qxF", tree: tree, argv: []string{"grep", "-qxF", "a*b"}, stdin: "a*b\n", skipTree: true},
		{name: "grep -c", tree: tree, argv: []string{"grep", "-c", "s", "conf", "other"}, skipTree: true},
		{name: "grep -l", tree: tree, argv: []string{"grep", "-l", "ssl", "conf", "other"}, skipTree: true},
		{name: "grep -n", tree: tree, argv: []string{"grep", "-n", "ssl", "conf"}, skipTree: true},
		{name: "grep -o", tree: tree, argv: []string{"grep", "-o", "[0-9][0-9]*", "conf"}, skipTree: true},
		{name: "grep -i", tree: tree, argv: []string{"grep", "-i", "VALUE", "conf"}, skipTree: true},
		{name: "grep missing", tree: tree, argv: []string{"grep", "x", "missing", "conf"}, skipTree: true},
		{name: "grep -s missing", tree: tree, argv: []string{"grep", "-s", "x", "missing"}, skipTree: true},
		{name: "grep -qs missing", tree: tree, argv: []string{"grep", "-qs", "/bin/ip", "missing"}, skipTree: true},
		{name: "grep -q missing and match", tree: tree, argv: []string{"grep", "-q", "ssl", "missing", "conf"}, skipTree: true},
		{name: "grep -sq", tree: tree, argv: []string{"grep", "-sq", "^byte-compile[^#]*optimize", "conf"}, skipTree: true},
		{name: "grep dir", tree: tree, argv: []string{"grep", "x", "dir"}, skipTree: true},
		{name: "grep bre interval and group", tree: tree, argv: []string{"grep", `^\(sh\)\{1\}adow:[^:]*:42`, "conf"}, skipTree: true},
		{name: "grep bre literal plus", tree: tree, argv: []string{"grep", "a+b"}, stdin: "a+b\naab\n", skipTree: true},
		{name: "grep bre gnu plus", tree: tree, argv: []string{"grep", `a\+b`}, stdin: "a+b\naab\n", skipTree: true},
		{name: "grep bre star first", tree: tree, argv: []string{"grep", "*x"}, stdin: "*x\nx\n", skipTree: true},
		{name: "grep space class", tree: tree, argv: []string{"grep", "-q", "^([[:space:]]*,)*[[:space:]]*$"}, stdin: " , ,\n", skipTree: true},
		{name: "egrep", tree: tree, argv: []string{"egrep", "^Package:|^Status:"}, stdin: "Package: a\nStatus: b\nOther: c\n", skipTree: true},
		{name: "grep -e -e", tree: tree, argv: []string{"grep", "-e", "ssl", "-e", "Value", "conf"}, skipTree: true},
		{name: "grep \\b", tree: tree, argv: []string{"grep", "-q", `\bEurope/Paris\b`}, stdin: "x Europe/Paris y\n", skipTree: true},
		{name: "grep -z", tree: tree, argv: []string{"grep", "-qz", "^container="}, stdin: "PATH=/bin\x00container=podman\x00", skipTree: true},
		{name: "grep dollar middle bre", tree: tree, argv: []string{"grep", "a$b"}, stdin: "a$b\nab\n", skipTree: true},
		{name: "grep bracket backslash", tree: tree, argv: []string{"grep", `[\.]`}, stdin: "a\\b\nc.d\nef\n", skipTree: true},
		{name: "grep no pattern", tree: tree, argv: []string{"grep"}, skipTree: true},
		{name: "grep binary", tree: tree, argv: []string{"grep", "match", "bin"}, skipTree: true},
	})
}

func TestSedOracle(t *testing.T) {
	conf := "ssl = true\n# keep\nport = 5432\n\nlast\n"
	tree := []treeEntry{tFile("conf", conf), tFile("noeol", "a\nb"), tFileMode("exec", "x=1\n", 0o755)}
	runOracle(t, []oracleCase{
		{name: "s", tree: tree, argv: []string{"sed", "-e", "s/^ssl =.*/ssl = false/", "conf"}, skipTree: true},
		{name: "s g", tree: tree, argv: []string{"sed", "s/o/0/g", "conf"}, skipTree: true},
		{name: "s nth", tree: tree, argv: []string{"sed", "s/o/0/2"}, stdin: "foo boo\n", skipTree: true},
		{name: "s empty matches g", tree: tree, argv: []string{"sed", "s/x*/-/g"}, stdin: "abc\n", skipTree: true},
		{name: "s groups", tree: tree, argv: []string{"sed", `s/\([0-9]*\)\.\([0-9]*\).*/\1 \* 100 + \2/`}, stdin: "2.36-9\n", skipTree: true},
		{name: "s status", tree: tree, argv: []string{"sed", "-e", `s/^Status: \(.*\) \(.*\) \(.*\)/\3/g`}, stdin: "Status: install ok installed\n", skipTree: true},
		{name: "s &", tree: tree, argv: []string{"sed", "s/[0-9][0-9]*/<&>/"}, stdin: "port 5432\n", skipTree: true},
		{name: "s delimiter", tree: tree, argv: []string{"sed", "-e", "s|a, ||", "-e", "s|b$||"}, stdin: "a, x, b\n", skipTree: true},
		{name: "s escaped delim", tree: tree, argv: []string{"sed", "-e", `s/postgresql\/17\/man/man/`}, stdin: "postgresql/17/man/x\n", skipTree: true},
		{name: "s class", tree: tree, argv: []string{"sed", "-e", "s/^[[:space:]]*//"}, stdin: "   x y\n", skipTree: true},
		{name: "s two -e", tree: tree, argv: []string{"sed", "-e", `s/^[[:space:]]*2[[:space:]]*//`, "-e", `s/^[[:space:]]*1[[:space:]]*/!/`}, stdin: " 2 a\n1 b\n", skipTree: true},
		{name: "s \\s \\+", tree: tree, argv: []string{"sed", "-e", `s/^..\s\+libc6[0-9a-z:]*\s\+//;s/\s.*//g`}, stdin: "ii  libc6:amd64  2.36 x\n", skipTree: true},
		{name: "s newline repl", tree: tree, argv: []string{"sed", `s/,/\n/g`}, stdin: "a,b\n", skipTree: true},
		{name: "s word boundary", tree: tree, argv: []string{"sed", "-es/\\bat\\b/atd/g", "-es/\\bexim4-base\\b/exim4/g"}, stdin: "at exim4-base cat\n", skipTree: true},
		{name: "s icase", tree: tree, argv: []string{"sed", "s/SSL/TLS/I", "conf"}, skipTree: true},
		{name: "-n p", tree: tree, argv: []string{"sed", "-n", "/^port/p", "conf"}, skipTree: true},
		{name: "-ne s p", tree: tree, argv: []string{"sed", "-ne", `s/^Catalog version number: *\([0-9]\+\)/\1/p`}, stdin: "x\nCatalog version number:               202307071\n", skipTree: true},
		{name: "-n block q", tree: tree, argv: []string{"sed", "-n", `/^\(DIR_MODE=\)/{s///;p;q;}`}, stdin: "A=1\nDIR_MODE=0700\nDIR_MODE=0755\n", skipTree: true},
		{name: "d", tree: tree, argv: []string{"sed", "-e", "/^#/d", "-e", "/^$/d", "conf"}, skipTree: true},
		{name: "!d", tree: tree, argv: []string{"sed", "-e", `/^[a-z][a-z]\s/!d;/^.[nc]/d;`}, stdin: "ii a\nrc b\nxx\n", skipTree: true},
		{name: "ranges", tree: tree, argv: []string{"sed", "-n", "-e1,/keep/p;\n/port/,/last/p;\n/^$/,$p", "conf"}, skipTree: true},
		{name: "line range", tree: tree, argv: []string{"sed", "2,3d", "conf"}, skipTree: true},
		{name: "$ last", tree: tree, argv: []string{"sed", "-n", "$p", "conf", "noeol"}, skipTree: true},
		{name: "no eol kept", tree: tree, argv: []string{"sed", "s/b/B/", "noeol"}, skipTree: true},
		{name: "a i c", tree: tree, argv: []string{"sed", "/port/a\\\nappended\n/ssl/i inserted\n/keep/c\\\nchanged", "conf"}, skipTree: true},
		{name: "y", tree: tree, argv: []string{"sed", "y/abc/xyz/"}, stdin: "aabbcc\n", skipTree: true},
		{name: "=", tree: tree, argv: []string{"sed", "-n", "/port/=", "conf"}, skipTree: true},
		{name: "N P D", tree: tree, argv: []string{"sed", "$!N;P;D"}, stdin: "1\n2\n3\n", skipTree: true},
		{name: "hold", tree: tree, argv: []string{"sed", "-n", "1h;1!H;${g;p}"}, stdin: "a\nb\nc\n", skipTree: true},
		{name: "branch", tree: tree, argv: []string{"sed", ":a;s/aa/a/;ta"}, stdin: "aaaab\n", skipTree: true},
		{name: "q exit", tree: tree, argv: []string{"sed", "2q5"}, stdin: "1\n2\n3\n", skipTree: true},
		{name: "-E", tree: tree, argv: []string{"sed", "-E", "s/(a|b)+/X/"}, stdin: "abab c\n", skipTree: true},
		{name: "-E -i -e", tree: tree, argv: []string{"sed", "-E", "-i", "-e", `s/^x=\$\{x\}/x=\$\{x-'a4'\}/`, "exec"}},
		{name: "-i", tree: tree, argv: []string{"sed", "-i", "s/5432/5433/", "conf"}},
		{name: "-i keeps mode", tree: tree, argv: []string{"sed", "-i", "s/1/2/", "exec"}},
		{name: "-i.bak", tree: tree, argv: []string{"sed", "-i.bak", "s/5432/5433/", "conf"}},
		{name: "-n /re/p python", tree: tree, argv: []string{"sed", "-n", `/^\/usr\/lib\/python3.13\/.*\.py$/p`},
			stdin: "/usr/lib/python3.13/os.py\n/usr/lib/python3.13/x.txt\n", skipTree: true},
		{name: "s . star", tree: tree, argv: []string{"sed", "-e", `s/.*\.\(.*\)\..*/man\1/`}, stdin: "psql.1.gz\n", skipTree: true},
		{name: "s ^.../", tree: tree, argv: []string{"sed", `s/^\(...\).*/\1/`}, stdin: "3.13.1\n", skipTree: true},
		{name: "sed -n quoted", tree: tree, argv: []string{"sed", "-n", "-e", `\' FOO ' { s/ obsolete$//; s/.* //; p }`},
			stdin: "a FOO x obsolete\nb BAR y\n", skipTree: true},
		{name: "missing file", tree: tree, argv: []string{"sed", "p", "missing", "conf"}, skipTree: true},
		{name: "s e flag", tree: tree, argv: []string{"sed", "-En", "-e", `/^(.*)\/(.+)\.py$/s,,echo "\1/__pycache__/\2".*,e`},
			stdin: "/usr/lib/python3/dist-packages/a/b.py\n/x/y.txt\n", skipTree: true},
	})
}

func TestAwkOracle(t *testing.T) {
	tree := []treeEntry{tFile("papersize", "# comment\na4\n"), tFile("status", "Package: a\nStatus: install ok installed\n\nPackage: b\nStatus: deinstall ok config-files\n\nPackage: c\nStatus: install ok installed\n")}
	runOracle(t, []oracleCase{
		{name: "print $1", tree: tree, argv: []string{"awk", "{ print $1 }"}, stdin: "d41d8cd98f00b204e9800998ecf8427e  /etc/mysql/my.cnf\n", skipTree: true},
		{name: "pattern file", tree: tree, argv: []string{"awk", "$1 ~ /^[^#]/ { print $1 }", "papersize"}, skipTree: true},
		{name: "regex print $2", tree: tree, argv: []string{"awk", "/^Version:/ {print $2}"}, stdin: "Package: x\nVersion: 3.13.5-2\n", skipTree: true},
		{name: "dynamic regex", tree: tree, argv: []string{"awk", "/^15 / { print $2 }"}, stdin: "15 main 5432\n17 main 5433\n", skipTree: true},
		{name: "int div", tree: tree, argv: []string{"awk", "/Maximum length/ {print int($NF / 4)}"},
			stdin: "Maximum length of command we could actually use: 2090895\n", skipTree: true},
		{name: "sprintf substr", tree: tree, argv: []string{"awk", "-F/", `BEGIN {OFS="/"} /\.py$/ {$NF=sprintf("__pycache__/%s.*.py[co]", substr($NF,1,length($NF)-3)); print}`},
			stdin: "/usr/lib/python3.13/os.py\n/usr/lib/python3.13/x.txt\n/usr/lib/python3.13/a/b.py\n", skipTree: true},
		{name: "NF--", tree: tree, argv: []string{"awk", "-F/", `BEGIN {OFS="/"} /\.py$/ {NF--; print}`},
			stdin: "/usr/share/gcc/python/libstdcxx/v6/printers.py\nREADME\n", skipTree: true},
		{name: "state machine", tree: tree, argv: []string{"awk", `{if ($1 ~ /^Package:/) { package=$2 } else if ($0 ~ /^Status: .* installed$/) { print package }}`, "status"}, skipTree: true},
		{name: "and NF", tree: tree, argv: []string{"awk", "$2 ~ /console/ && $NF ~ /:[0-9]/ { print $NF }\n                                  $2 ~ /:[0-9]/ { print $2 }"},
			stdin: "user console 2024 :0\nuser :1 x\n", skipTree: true},
		{name: "-v numeric compare", tree: tree, argv: []string{"awk", "-v", "w=595", "-v", "h=842", `NF == 3 && int($2*72/2.54 + 0.5) == w && int($3*72/2.54 + 0.5) == h {
		    print $1;
		    exit}
   	NF == 4 && $2 == w && $3 == h {
		    print $1;
		    exit
		 }`}, stdin: "letter 8.5 11 in\na4 21 29.7\na3 29.7 42\n", skipTree: true},
		{name: "END count", tree: tree, argv: []string{"awk", "{n++} END {print n, NR}"}, stdin: "a\nb\n", skipTree: true},
		{name: "printf", tree: tree, argv: []string{"awk", `{printf "%s=%d;%5.2f|%-4s|\n", $1, $2, $2/3, $1}`}, stdin: "x 10\n", skipTree: true},
		{name: "string compare", tree: tree, argv: []string{"awk", `$1 < $2 {print "lt"} $1 == "10" {print "eq"}`}, stdin: "10 9\nabc abd\n", skipTree: true},
		{name: "concat number", tree: tree, argv: []string{"awk", `{x = $1 + 0.5; print x "" 1/4, 1e6, 1234567.5}`}, stdin: "2\n", skipTree: true},
	})
}

func TestFindXargsOracle(t *testing.T) {
	tree := []treeEntry{tDir("lib/pkg/__pycache__"), tDir("lib/pkg/sub/__pycache__"), tFile("lib/pkg/sub/__pycache__/x.pyc", ""),
		tDir("lib/dist-packages/__pycache__"), tFile("lib/pkg/a.py", "a"), tDir("lib/empty"),
		tDir("certs"), tLink("certs/snake.pem", "ssl-cert-snakeoil.pem"), tLink("certs/ca.pem", "/usr/share/ca.crt"), tFile("certs/real.crt", "x"),
		tDir("cache"), tFile("cache/a b", ""), tFile("cache/c", "")}
	runOracle(t, []oracleCase{
		{name: "find -name -type -empty -print0 | xargs rmdir", tree: tree, argv: []string{"find", "lib", "-type", "d", "-name", "__pycache__", "-empty", "-print"}},
		{name: "find prune", tree: tree, argv: []string{"find", "lib", "(", "-name", "dist-packages", "-prune", ")", "-o", "(", "-name", "__pycache__", "-type", "d", "-empty", "-print", ")"}},
		{name: "find prune no parens", tree: tree, argv: []string{"find", "lib", "-name", "dist-packages", "-prune", "-o", "-name", "__pycache__", "-empty", "-print"}},
		{name: "find mindepth maxdepth", tree: tree, argv: []string{"find", "lib/pkg", "-mindepth", "1", "-maxdepth", "1", "-name", "__pycache__", "-type", "d", "-empty"}},
		{name: "find -depth", tree: tree, argv: []string{"find", "lib", "-depth", "-type", "d", "-name", "__pycache__"}, sortOut: true},
		{name: "find -type l", tree: tree, argv: []string{"find", "certs", "-type", "l", "-print"}},
		{name: "find -lname -delete", tree: tree, argv: []string{"find", "certs", "-maxdepth", "1", "-lname", "ssl-cert-snakeoil.pem", "-delete"}},
		{name: "find . -name -print", tree: tree, argv: []string{"find", ".", "-type", "f", "-name", "*.crt", "-print"}},
		{name: "find -exec rm", tree: tree, argv: []string{"find", "certs", "-type", "l", "(", "-name", "*.pem", "-o", "-name", "*.affix", ")", "-exec", "rm", "{}", ";"}},
		{name: "find missing", tree: tree, argv: []string{"find", "missing", "lib/empty"}},
		{name: "find default", tree: tree, argv: []string{"find", "cache"}, sortOut: true},
		{name: "xargs --null -r rmdir", tree: tree, argv: []string{"xargs", "--null", "--no-run-if-empty", "rmdir"}, stdin: "lib/pkg/__pycache__\x00lib/empty\x00"},
		{name: "xargs -r empty", tree: tree, argv: []string{"xargs", "-r", "rmdir"}, stdin: ""},
		{name: "xargs -r rm -rf", tree: tree, argv: []string{"xargs", "-r", "rm", "-rf"}, stdin: "lib/pkg\n'cache/a b'\n"},
		{name: "xargs -0r /bin/rm -f", tree: tree, argv: []string{"xargs", "-0r", "rm", "-f"}, stdin: "cache/a b\x00cache/c\x00"},
		{name: "xargs echo", tree: tree, argv: []string{"xargs", "echo"}, stdin: "a b\n c\n", skipTree: true},
		{name: "xargs --max-chars", tree: tree, argv: []string{"xargs", "--max-chars=12", "echo"}, stdin: "aaa bbb ccc ddd\n", skipTree: true},
		{name: "xargs failing", tree: tree, argv: []string{"xargs", "rmdir"}, stdin: "lib/pkg\n", skipTree: true},
	})
}

func TestTextRefusals(t *testing.T) {
	fsys := NewMemFS(MemFile("/f", "x\n"))
	for _, argv := range [][]string{
		{"grep", `\(a\)\1`, "/f"}, {"grep", "-r", "x", "/"}, {"sed", "w /out", "/f"}, {"sed", `s/a/\U&/`, "/f"},
		{"sed", "l", "/f"}, {"awk", "{a[$1]++}", "/f"}, {"awk", "{print > \"/out\"}", "/f"}, {"awk", "{getline x}", "/f"},
		{"awk", "{system(\"rm -rf /\")}", "/f"}, {"find", "/", "-newer", "/f"}, {"find", "/", "-type", "s"},
	} {
		_, _, _, err := oracleRunGo(t, fsys, newKitHost(), argv, "")
		if !errors.Is(err, ErrRefused) {
			t.Errorf("%v: %v, want a refusal", argv, err)
		}
	}
}

// A script that loops forever (as real sed and awk would) ends with the
// build's context instead of hanging it.
func TestTextLoopsEndWithContext(t *testing.T) {
	for _, argv := range [][]string{{"sed", ":a;ba", "/in"}, {"awk", "BEGIN { while (1) n++ }"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		var out bytes.Buffer
		spec, _ := DefaultRegistry().Lookup(argv[0])
		c := &Call{Ctx: ctx, Name: argv[0], Args: argv[1:], Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out,
			Env: func(string) string { return "" }, Dir: "/", FS: NewMemFS(MemFile("/in", "x\n")), Host: newKitHost(), Effect: func(string, ...any) {}}
		done := make(chan error, 1)
		go func() { done <- spec.Run(c) }()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%v: %v, want the context's error", argv, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%v did not stop with its context", argv)
		}
		cancel()
	}
}
