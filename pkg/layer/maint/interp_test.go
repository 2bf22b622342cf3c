package maint

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"testing"
)

// Test-only commands: the real families live in cmd_*.go.
var (
	testWrite = Spec{Name: "t-write", Run: func(c *Call) error {
		f, err := c.FS.OpenFile(c.Abs(c.Args[0]), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.WriteString(f, strings.Join(c.Args[1:], " "))
		c.Effect("wrote %s", c.Abs(c.Args[0]))
		return err
	}}
	testCat = Spec{Name: "t-cat", Run: func(c *Call) error {
		if len(c.Args) == 0 {
			_, err := io.Copy(c.Stdout, c.Stdin)
			return err
		}
		b, err := fs.ReadFile(fsAdapter{c.FS}, c.Abs(c.Args[0]))
		if err != nil {
			return ExitStatus(1)
		}
		_, err = c.Stdout.Write(b)
		return err
	}}
	testFail   = Spec{Name: "t-fail", Run: func(c *Call) error { return ExitStatus(3) }}
	testRefuse = Spec{Name: "t-refuse", Run: func(c *Call) error { return Refuse("t-refuse --x", "not supported") }}
	testEnv    = Spec{Name: "t-env", Run: func(c *Call) error {
		for _, a := range c.Args {
			io.WriteString(c.Stdout, a+"="+c.Env(a)+"\n")
		}
		return nil
	}}
	testXargs = Spec{Name: "t-run", Run: func(c *Call) error { return c.Exec(c.Args, c.Stdin, c.Stdout, c.Stderr) }}
	testTool  = Spec{Name: "t-tool", Paths: []string{"/usr/sbin/t-tool"}, Run: func(c *Call) error {
		io.WriteString(c.Stdout, "go t-tool\n")
		return nil
	}}
	testNoop = Spec{Name: "t-noop", Kind: NoOp, Reason: "nothing to start in an image", Run: func(*Call) error { return nil }}
)

// fsAdapter lets a test read through fs.ReadFile.
type fsAdapter struct{ f FS }

func (a fsAdapter) Open(name string) (fs.File, error) { return nil, fs.ErrInvalid }
func (a fsAdapter) ReadFile(name string) ([]byte, error) {
	r, err := a.f.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func testShellFS(t *testing.T, entries ...MemEntry) (*Shell, *VFS, *[]Event) {
	t.Helper()
	v := NewMemFS(append([]MemEntry{MemDir("/tmp"), MemDir("/usr/bin"), MemDir("/usr/sbin"), MemDir("/etc")}, entries...)...)
	sh := kitShell(t, v, testWrite, testCat, testFail, testRefuse, testEnv, testXargs, testTool, testNoop)
	var evs []Event
	sh.Trace = func(e Event) { evs = append(evs, e) }
	return sh, v, &evs
}

func TestShellRedirectionsAndCommands(t *testing.T) {
	sh, v, evs := testShellFS(t, MemFile("/etc/in", "hello\n"))
	out, err := kitRun(t, sh, "postinst", `set -e
echo "$1 $2" > /etc/out
t-cat < /etc/in >> /etc/out
cat_out=$(t-cat /etc/in)
t-write /etc/w "$cat_out" "$DPKG_MAINTSCRIPT_ARCH"
cd /etc && t-write rel x
for f in /etc/i* /etc/o*; do echo "glob $f"; done
t-cat <<HEREDOC > /tmp/here
line $HOME
HEREDOC
if [ -e /etc/w ] && test -f /etc/rel; then echo ok; fi
t-noop start
echo err >&2 2>/dev/null
echo gone > /dev/null
`, "configure", "1.0")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	for name, want := range map[string]string{
		"/etc/out": "configure 1.0\nhello\n", "/etc/w": "hello amd64", "/etc/rel": "x", "/tmp/here": "line /root\n",
	} {
		if got := readAll(t, v, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if !strings.Contains(out, "glob /etc/in\nglob /etc/out\n") || !strings.Contains(out, "ok\n") {
		t.Errorf("output: %q", out)
	}
	var impls []string
	for _, e := range *evs {
		impls = append(impls, e.Args[0]+":"+string(e.Impl))
	}
	if got := strings.Join(impls, " "); got != "t-cat:go t-cat:go t-write:go t-write:go t-cat:go t-noop:no-op" {
		t.Errorf("trace: %s", got)
	}
	if (*evs)[2].Line != 5 || len((*evs)[2].Effects) != 1 {
		t.Errorf("event: %+v", (*evs)[2])
	}
}

func TestShellEnvironmentIsFixed(t *testing.T) {
	t.Setenv("PGASSEMBLE_HOST_SECRET", "leak")
	sh, _, _ := testShellFS(t)
	sh.Env = append(sh.Env, "DPKG_MAINTSCRIPT_PACKAGE=test")
	out, err := kitRun(t, sh, "postinst", `echo "[$PGASSEMBLE_HOST_SECRET] $PATH $HOME $DPKG_MAINTSCRIPT_PACKAGE $$ $RANDOM $(pwd)"
t-env PATH DEBIAN_FRONTEND`)
	if err != nil {
		t.Fatal(err)
	}
	want := "[] " + DefaultPath + " /root test 4242 4 /\nPATH=" + DefaultPath + "\nDEBIAN_FRONTEND=noninteractive\n"
	if out != want {
		t.Errorf("got %q\nwant %q", out, want)
	}
}

func TestShellExitAndRefusal(t *testing.T) {
	sh, _, _ := testShellFS(t)
	_, err := kitRun(t, sh, "postinst", "set -e\ntrue\nt-fail\necho not reached\n")
	var se *ScriptError
	if !errors.As(err, &se) || se.Status != 3 || se.Package != "test" || se.Script != "postinst" {
		t.Fatalf("exit: %v", err)
	}
	if _, err := kitRun(t, sh, "postinst", "t-fail || echo tolerated\n"); err != nil {
		t.Errorf("|| : %v", err)
	}
	_, err = kitRun(t, sh, "preinst", "# comment\n\nif true; then\n  t-refuse --x || true\nfi\n")
	if !errors.As(err, &se) || !errors.Is(err, ErrRefused) || se.Line != 4 || !strings.Contains(se.Error(), "test preinst line 4") {
		t.Fatalf("refusal: %v", err)
	}
	sh.AllowRefused = true
	var evs []Event
	sh.Trace = func(e Event) { evs = append(evs, e) }
	if _, err := kitRun(t, sh, "preinst", "set -e\nt-refuse --x\n"); err != nil {
		t.Fatalf("allowed refusal: %v", err)
	}
	if len(evs) != 1 || evs[0].Impl != ImplSkipped {
		t.Errorf("trace: %+v", evs)
	}
}

func TestShellImagePrograms(t *testing.T) {
	sh, v, evs := testShellFS(t,
		MemEntry{Path: "/usr/bin/helper", Mode: 0o755, Data: "#!/bin/sh\nset -e\necho \"helper $0 $*\"\nt-write /etc/by-helper \"$FOO\"\nexit 4\n"},
		MemEntry{Path: "/usr/bin/elf", Mode: 0o755, Data: "\x7fELF\x02\x01"},
		MemEntry{Path: "/usr/bin/perlish", Mode: 0o755, Data: "#!/usr/bin/perl -w\nprint 1;\n"},
		MemEntry{Path: "/usr/bin/noexec", Mode: 0o644, Data: "echo x\n"},
		MemEntry{Path: "/usr/sbin/t-tool", Mode: 0o755, Data: "\x7fELF"},
		MemFile("/usr/share/lib.sh", "libfn() { echo \"lib $1\"; }\n"),
	)
	out, err := kitRun(t, sh, "postinst", `export FOO=bar
helper a b || echo "status $?"
. /usr/share/lib.sh
libfn 1
command -v helper t-tool libfn nothing || echo "cv $?"
sh -c 'echo "inner $0 $1"' zero one
t-run helper c || echo "via exec $?"
noexec || echo "noexec $?"
missing-cmd || echo "missing $?"
t-tool
`)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := "helper /usr/bin/helper a b\nstatus 4\nlib 1\n/usr/bin/helper\n/usr/sbin/t-tool\nlibfn\ncv 1\ninner zero one\nhelper /usr/bin/helper c\nvia exec 4\nnoexec: not found\nnoexec 127\nmissing-cmd: not found\nmissing 127\ngo t-tool\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	if readAll(t, v, "/etc/by-helper") != "bar" {
		t.Error("exported variable not passed to the image script")
	}
	nested := 0
	for _, e := range *evs {
		if e.File == "/usr/bin/helper" && e.Args[0] == "t-write" && e.Line == 4 && e.Depth == 1 {
			nested++
		}
	}
	if nested != 2 {
		t.Errorf("nested trace events: %d: %+v", nested, *evs)
	}
	for _, prog := range []string{"elf", "perlish"} {
		_, err := kitRun(t, sh, "postinst", prog+" --flag\n")
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "/usr/bin/"+prog) {
			t.Errorf("%s: %v", prog, err)
		}
	}
}

func TestShellRefusesEscapes(t *testing.T) {
	sh, _, _ := testShellFS(t)
	for _, body := range []string{
		"t-write /tmp/x a &\n",
		"t-cat <(echo x)\n",
		"eval 't-write /tmp/x &'\n",
	} {
		if _, err := kitRun(t, sh, "postinst", body); !errors.Is(err, ErrRefused) {
			t.Errorf("%q: %v", body, err)
		}
	}
}

func TestShellShim(t *testing.T) {
	v := NewMemFS(MemFile("/usr/share/debconf/confmodule", "exec /usr/share/debconf/frontend\n"))
	sh := kitShell(t, v)
	sh.Registry = NewRegistry().WithShims(Shim{Path: "/usr/share/debconf/confmodule", Text: "db_get() { RET=shimmed; }\n"})
	out, err := kitRun(t, sh, "postinst", ". /usr/share/debconf/confmodule\ndb_get x\necho $RET\n")
	if err != nil || out != "shimmed\n" {
		t.Errorf("shim: %q %v", out, err)
	}
}

func TestShellBrokenPipe(t *testing.T) {
	big := Spec{Name: "t-big", Run: func(c *Call) error {
		for i := 0; i < 100000; i++ {
			if _, err := io.WriteString(c.Stdout, "0123456789abcdef0123456789abcdef\n"); err != nil {
				return err
			}
		}
		return nil
	}}
	v := NewMemFS(MemDir("/tmp"))
	sh := kitShell(t, v, big, testFail)
	out, err := kitRun(t, sh, "postinst", "set -e\nt-big | t-fail || echo \"status $?\"\nt-big | true\necho done\n")
	if err != nil || out != "status 3\ndone\n" {
		t.Errorf("%q %v", out, err)
	}
}

func TestShellTrap(t *testing.T) {
	sh, _, _ := testShellFS(t)
	out, err := kitRun(t, sh, "postinst", "trap 'echo bye' 0 HUP INT\ntrap 'echo sig' TERM\ntrap -- 'echo err' ERR\necho hi\n")
	if err != nil || out != "hi\nbye\n" {
		t.Errorf("%q %v", out, err)
	}
}

func TestShellSu(t *testing.T) {
	v := NewMemFS(MemDir("/tmp"),
		MemFile("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\npostgres:x:26:26:PostgreSQL:/var/lib/postgresql:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"),
		MemFile("/etc/group", "root:x:0:\npostgres:x:26:\n"),
		MemEntry{Path: "/var/lib/postgresql", Mode: fs.ModeDir | 0o755, Uid: 26, Gid: 26},
		MemEntry{Path: "/usr/bin/su", Mode: 0o755, Data: "\x7fELF"},
		MemEntry{Path: "/usr/sbin/runuser", Mode: 0o755, Data: "\x7fELF"})
	sh := kitShell(t, v)
	out, err := kitRun(t, sh, "postinst", `if su -s /bin/sh postgres -c "test -O /var/lib/postgresql &&
  test -G /var/lib/postgresql"; then echo owned; fi
[ -O /var/lib/postgresql ] || echo "not root's"
su postgres -c 'echo $HOME $USER'
runuser -u postgres -- sh -c 'test -O /var/lib/postgresql && echo runuser'
su nobody -c true || echo "nologin $?"
`)
	if err != nil {
		t.Fatal(err)
	}
	if want := "owned\nnot root's\n/var/lib/postgresql postgres\nrunuser\nThis account is currently not available.\nnologin 1\n"; out != want {
		t.Errorf("got %q\nwant %q", out, want)
	}
}
