package replay

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseScriptCommands(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string // Command.String() of each command, in order found
	}{
		{"simple", "set -e\nfoo bar baz\n", []string{"set -e", "foo bar baz"}},
		{"and-or-pipe", "a && b || c | d; e & f\n", []string{"a", "b", "c", "d", "e", "f"}},
		{"if", "if [ \"$1\" = configure ]; then\n  adduser --system x\nfi\n",
			[]string{"[ $1 = configure ]", "adduser --system x"}},
		{"negation", "if ! getent passwd x >/dev/null; then addgroup y; fi",
			[]string{"getent passwd x", "addgroup y"}},
		{"assignments", "A=1 B=\"two words\"\nC=$(which d) e\n", []string{"e", "which d"}},
		{"case", "case \"$1\" in\n  configure|upgrade)\n    touch /x ;;\n  *) echo no ;;\nesac\nafter\n",
			[]string{"touch /x", "echo no", "after"}},
		{"for", "for i in a b c; do rm -f $i; done\n", []string{"rm -f $i"}},
		{"continuation", "update-alternatives --install /a a /b 10 \\\n  --slave /c c /d\n",
			[]string{"update-alternatives --install /a a /b 10 --slave /c c /d"}},
		{"comments", "# adduser in a comment\nfoo # trailing\n", []string{"foo"}},
		{"backticks", "X=`id -u postgres`\n", []string{"id -u postgres"}},
		{"subshell", "(echo a; echo b) | sort\n", []string{"echo a", "echo b", "sort"}},
		{"redirect stripped", "echo hi > /etc/x 2>&1\n", []string{"echo hi"}},
		{"heredoc skipped", "cat > /etc/f <<EOF\nadduser evil\nEOF\nnext\n", []string{"cat", "next"}},
		{"quoted keyword", "echo 'if then fi'\n", []string{"echo 'if then fi'"}},
		{"function", "f() {\n  chown a /b\n}\nf\n", []string{"chown a /b", "f"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ParseScript(tt.src)
			var got []string
			for _, c := range s.Commands {
				got = append(got, c.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("commands:\n got  %q\n want %q", got, tt.want)
			}
		})
	}
}

func TestParseScriptDetails(t *testing.T) {
	s := ParseScript("#!/bin/sh\nmk() {\n  mkdir /x\n}\nunused() { rm -rf /; }\nmk\ncat > \"$T\" <<-EOF\n\tline one\n\tline two\n\tEOF\necho x >> /var/log/y\n")
	if s.Interpreter != "/bin/sh" {
		t.Errorf("interpreter %q", s.Interpreter)
	}
	if !s.Functions["mk"] || !s.Functions["unused"] {
		t.Errorf("functions %v", s.Functions)
	}
	if !s.Called("mk") || s.Called("unused") {
		t.Errorf("Called: mk=%v unused=%v", s.Called("mk"), s.Called("unused"))
	}
	if len(s.Heredocs) != 1 || s.Heredocs[0].Target != "$T" || s.Heredocs[0].Body != "line one\nline two\n" {
		t.Errorf("heredocs %+v", s.Heredocs)
	}
	var echo Command
	for _, c := range s.Commands {
		if c.Name == "echo" {
			echo = c
		}
		if c.Name == "mkdir" && c.Func != "mk" {
			t.Errorf("mkdir in function %q, want mk", c.Func)
		}
	}
	if !reflect.DeepEqual(echo.Redirects, []string{"/var/log/y"}) {
		t.Errorf("redirects %q", echo.Redirects)
	}
}

func classifyOne(t *testing.T, pkg, src string, mainOn bool) []Classification {
	t.Helper()
	return ClassifyScript(pkg, "postinst", []byte(src), EffectsFor(pkg), mainOn)
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name, pkg, src string
		mainOn         bool
		want           []Verdict
	}{
		{"shell builtins", "anything", "set -e\n[ -d /x ] || true\nexit 0\n", false, []Verdict{NoOp, NoOp, NoOp, NoOp}},
		{"systemd", "anything", "deb-systemd-helper enable x.service\nsystemctl daemon-reload\ninvoke-rc.d x start\ndeb-systemd-helper unmask x.service\n", false, []Verdict{Handled, NoOp, NoOp, NoOp}},
		{"unknown command", "anything", "frobnicate --hard\n", false, []Verdict{Unhandled}},
		{"adduser without table entry", "anything", "adduser --system foo\n", false, []Verdict{Unhandled}},
		{"adduser in table", "postgresql-common", "adduser --system --home /var/lib/postgresql --group postgres\n", false, []Verdict{Handled}},
		{"filter writing a file", "anything", "sed -e s/a/b/ /x > /etc/y\n", false, []Verdict{Unhandled}},
		{"filter to dev null", "anything", "grep -q x /etc/y > /dev/null\n", false, []Verdict{NoOp}},
		{"sed in place", "anything", "sed -i s/a/b/ /etc/x\n", false, []Verdict{Unhandled}},
		{"ucf", "postgresql-common", "ucf --debconf-ok $T $C\nucfr postgresql-common $C\n", false, []Verdict{Handled, Handled}},
		{"snakeoil not replayed", "ssl-cert", "make-ssl-cert generate-default-snakeoil\n", false, []Verdict{NoOp}},
		{"upgrade-only helper", "anything", "dpkg-maintscript-helper rm_conffile /etc/x 1.0 -- \"$@\"\n", false, []Verdict{NoOp}},
		{"alternative in table", "pinentry-curses", "update-alternatives --quiet --install /usr/bin/pinentry pinentry /usr/bin/pinentry-curses 50 --slave /a b /c\n", false, []Verdict{Handled}},
		{"alternative not in table", "anything", "update-alternatives --install /usr/bin/x x /usr/bin/y 50\n", false, []Verdict{Unhandled}},
		{"alternative removal", "anything", "update-alternatives --remove x /usr/bin/y\n", false, []Verdict{NoOp}},
		{"server configure, cluster disabled", "postgresql-17", "configure_version $VERSION \"$2\"\n", false, []Verdict{Handled}},
		{"server configure, cluster enabled", "postgresql-17", "configure_version $VERSION \"$2\"\n", true, []Verdict{Unhandled}},
		{"extension packages are not servers", "postgresql-17-pgvector", "configure_version 17\n", false, []Verdict{Unhandled}},
		{"uncalled function", "anything", "f() { chown x /y; }\n", false, []Verdict{NoOp}},
		{"called function", "anything", "f() { chown x /y; }\nf\n", false, []Verdict{Unhandled, NoOp}},
		{"computed command", "anything", "$CMD arg\n", false, []Verdict{Unhandled}},
		{"not a shell script", "anything", "#!/usr/bin/perl\nprint 1;\n", false, []Verdict{Unhandled}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cls := classifyOne(t, tt.pkg, tt.src, tt.mainOn)
			var got []Verdict
			for _, c := range cls {
				got = append(got, c.Verdict)
				if c.Reason == "" {
					t.Errorf("%q: empty reason", c.Command)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("verdicts %v, want %v (%+v)", got, tt.want, cls)
			}
		})
	}
}

func TestEffectsFor(t *testing.T) {
	tests := map[string]string{
		"postgresql-17":            "postgresql-[0-9]*",
		"postgresql-15":            "postgresql-[0-9]*",
		"postgresql-client-17":     "postgresql-client-[0-9]*",
		"postgresql-17-pgvector":   "",
		"postgresql-common":        "postgresql-common",
		"postgresql-client-common": "",
		"unknown":                  "",
	}
	for pkg, want := range tests {
		e := EffectsFor(pkg)
		got := ""
		if e != nil {
			got = e.Package
		}
		if got != want {
			t.Errorf("EffectsFor(%s) = %q, want %q", pkg, got, want)
		}
	}
}

func TestUnhandledError(t *testing.T) {
	pkgs := []Package{{Name: "foo", Version: "1", Arch: "amd64",
		Scripts: map[string][]byte{"postinst": []byte("#!/bin/sh\nset -e\nfrobnicate --now /etc/foo\n")}}}
	p, err := New(emptyBase(), Options{Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	err = p.AddPackages(pkgs)
	var ue *UnhandledError
	if !errors.As(err, &ue) || !errors.Is(err, ErrUnhandled) {
		t.Fatalf("err = %v, want *UnhandledError", err)
	}
	if len(ue.Commands) != 1 || ue.Commands[0].Package != "foo" || ue.Commands[0].Script != "postinst" {
		t.Errorf("commands %+v", ue.Commands)
	}
	for _, s := range []string{"foo", "postinst", "frobnicate --now /etc/foo", "--allow-unhandled-scripts"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %q", err, s)
		}
	}

	p, _ = New(emptyBase(), Options{Arch: "amd64", AllowUnhandled: true})
	if err := p.AddPackages(pkgs); err != nil {
		t.Fatalf("AllowUnhandled: %v", err)
	}
	ex := p.Explain()
	if len(ex) != 2 || ex[1].Verdict != Unhandled || ex[0].Verdict != NoOp {
		t.Errorf("Explain = %+v", ex)
	}
}

func FuzzParseScript(f *testing.F) {
	for _, s := range []string{
		"set -e\nif [ \"$1\" = configure ]; then adduser --system x; fi\n",
		"case $1 in a) b ;; esac", "cat <<EOF\nx\nEOF\n", "f() { g; }\n", "$(a `b` \"$(c)\")",
		"'unterminated", "\"$(", "<<", "a >", "for x in; do done",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		s := ParseScript(src)
		for _, c := range s.Commands {
			_ = c.String()
		}
	})
}
