package maint

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// accountsBase is trixie's base-passwd databases (testdata/accounts) with
// shadow files as a fresh image has them and login.defs' settings.
func accountsBase(t *testing.T) map[string]string {
	t.Helper()
	read := func(n string) string {
		b, err := os.ReadFile("testdata/accounts/" + n)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	passwd, group := read("passwd"), read("group")
	var shadow, gshadow strings.Builder
	for _, l := range splitLines([]byte(passwd)) {
		n, _, _ := strings.Cut(l, ":")
		shadow.WriteString(n + ":*:19000:0:99999:7:::\n")
	}
	for _, l := range splitLines([]byte(group)) {
		n, _, _ := strings.Cut(l, ":")
		gshadow.WriteString(n + ":*::\n")
	}
	return map[string]string{
		"/etc/passwd": passwd, "/etc/group": group, "/etc/shadow": shadow.String(), "/etc/gshadow": gshadow.String(),
		"/etc/login.defs": read("login.defs"), "/etc/default/useradd": "SHELL=/bin/sh\n",
	}
}

var accountFiles = []string{"/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow", "/etc/passwd-", "/etc/group-", "/etc/shadow-", "/etc/gshadow-"}

// TestShadowToolsOracle runs useradd/groupadd/usermod/gpasswd through the
// host's shadow tools (--prefix on a copy of the image's databases) and the
// Go implementations, and compares the databases after each step.
func TestShadowToolsOracle(t *testing.T) {
	for _, tool := range []string{"useradd", "groupadd", "usermod"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s on this host to compare with", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("the host's shadow tools need root to write even under --prefix")
	}
	root := t.TempDir()
	files := accountsBase(t)
	tfs := newTestFS().add(files)
	for n, v := range files {
		if err := os.MkdirAll(filepath.Dir(root+n), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(root+n, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(root+"/home", 0o755); err != nil {
		t.Fatal(err)
	}
	tfs.mkdirAll("/home")
	run := map[string]Command{"useradd": runUseradd, "groupadd": runGroupadd, "usermod": runUsermod}
	steps := [][]string{
		{"groupadd", "-r", "bar"},
		{"useradd", "-r", "foo"},
		{"useradd", "-r", "-g", "bar", "-s", "/bin/false", "-d", "/var/lib/foo", "-c", "Foo Bar", "foo2"},
		{"useradd", "-m", "baz"},
		{"useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "--user-group", "svc"},
		{"usermod", "-a", "-G", "bar", "foo"},
		{"usermod", "-a", "-G", "bar,users", "baz"},
		{"usermod", "-u", "26", "foo2"},
		{"usermod", "-c", "Changed", "-s", "/bin/bash", "foo"},
		{"groupadd", "-g", "42", "shadow"},
		{"groupadd", "-f", "shadow"},
		{"groupadd", "-g", "999", "x"},
		{"groupadd", "-g", "4242", "y"},
		{"useradd", "foo"},
		{"useradd", "-u", "0", "dup"},
		{"usermod", "-u", "1", "nosuch"},
	}
	for i, st := range steps {
		cmd := exec.Command(st[0], append([]string{"--prefix", root}, st[1:]...)...)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "SOURCE_DATE_EPOCH=1700000000", "LC_ALL=C"}
		var herr strings.Builder
		cmd.Stderr = &herr
		want := exitCode(cmd.Run())
		got := runCmd(tfs, &testHost{}, "", run[st[0]], st[0], st[1:]...)
		if errors.Is(got.err, ErrRefused) {
			t.Fatalf("step %d %v refused: %v", i, st, got.err)
		}
		if exitCode(got.err) != want {
			t.Errorf("step %d %v: exit %d (%s), %s exits %d (%s)", i, st, exitCode(got.err), got.stderr, st[0], want, herr.String())
		}
		for _, f := range accountFiles {
			hb, herr := os.ReadFile(root + f)
			gb, gerr := readImageFileOpt(tfs, f)
			if (herr == nil) != (gb != nil || gerr != nil) || string(hb) != string(gb) {
				t.Fatalf("step %d %v: %s is\n%s\nwant\n%s", i, st, f, gb, hb)
			}
		}
		hi, herr2 := os.Stat(root + "/home/baz")
		gi, gerr2 := tfs.Stat("/home/baz")
		if (herr2 == nil) != (gerr2 == nil) {
			t.Fatalf("step %d %v: /home/baz exists %v, want %v", i, st, gerr2 == nil, herr2 == nil)
		}
		if herr2 == nil && hi.Mode().Perm() != gi.Mode.Perm() {
			t.Errorf("step %d: /home/baz mode %v, want %v", i, gi.Mode.Perm(), hi.Mode().Perm())
		}
	}
}

// TestAdduser checks adduser's allocation and output files on trixie's
// base databases, the forms Debian's scripts use.
func TestAdduser(t *testing.T) {
	files := accountsBase(t)
	tfs := newTestFS().add(files)
	host := &testHost{}
	steps := []struct {
		prog   string
		args   []string
		status int
	}{
		{"adduser", []string{"--system", "--quiet", "--home", "/var/lib/postgresql", "--no-create-home", "--shell", "/bin/bash", "--group", "--gecos", "PostgreSQL administrator", "postgres"}, 0},
		{"addgroup", []string{"--quiet", "--system", "--force-badname", "ssl-cert"}, 0},
		{"adduser", []string{"--quiet", "postgres", "ssl-cert"}, 0},
		{"adduser", []string{"--quiet", "postgres", "ssl-cert"}, 0},
		{"adduser", []string{"--force-badname", "--system", "--home", "/nonexistent", "--no-create-home", "--quiet", "_svc"}, 0},
		{"adduser", []string{"--system", "--quiet", "_apt"}, adduserWrongProperties},
		{"adduser", []string{"--system", "--home", "/var/lib/svc", "--quiet", "svc"}, 0},
		{"adduser", []string{"--system", "--quiet", "postgres"}, 0},
		{"adduser", []string{"--system", "--quiet", "daemon"}, adduserWrongProperties},
		{"addgroup", []string{"--system", "--gid", "26", "tapes2"}, adduserWrongProperties},
		{"adduser", []string{"nosuch", "users"}, adduserObjectMissing},
		{"adduser", []string{"--system", "--group", "--ingroup", "users", "x"}, adduserExclusiveOptions},
		{"deluser", []string{"--quiet", "postgres", "ssl-cert"}, 0},
		{"gpasswd", []string{"-a", "postgres", "users"}, 0},
		{"gpasswd", []string{"-d", "postgres", "users"}, 0},
		{"gpasswd", []string{"-d", "postgres", "users"}, 3},
	}
	for i, st := range steps {
		run := map[string]Command{"adduser": runAdduser, "addgroup": runAdduser, "deluser": runDeluser, "gpasswd": runGpasswd}[st.prog]
		r := runCmd(tfs, host, "", run, st.prog, st.args...)
		if exitCode(r.err) != st.status {
			t.Fatalf("step %d %s %v: %v (%s), want status %d", i, st.prog, st.args, r.err, r.stderr, st.status)
		}
		if st.status == 0 && st.prog != "gpasswd" && (r.stdout != "" || r.stderr != "") {
			t.Errorf("step %d %s %v printed %q %q; adduser is silent at its default level", i, st.prog, st.args, r.stdout, r.stderr)
		}
	}
	tail := func(f string, n int) string {
		l := splitLines([]byte(tfs.read(t, f)))
		return strings.Join(l[len(l)-n:], "\n")
	}
	if got, want := tail("/etc/passwd", 3), "postgres:x:100:101:PostgreSQL administrator:/var/lib/postgresql:/bin/bash\n"+
		"_svc:x:101:65534::/nonexistent:/usr/sbin/nologin\nsvc:x:102:65534::/var/lib/svc:/usr/sbin/nologin"; got != want {
		t.Errorf("passwd:\n%s\nwant\n%s", got, want)
	}
	if got, want := tail("/etc/shadow", 3), "postgres:!:19675::::::\n_svc:!:19675::::::\nsvc:!:19675::::::"; got != want {
		t.Errorf("shadow:\n%s\nwant\n%s", got, want)
	}
	if got, want := tail("/etc/group", 2), "postgres:x:101:\nssl-cert:x:102:"; got != want {
		t.Errorf("group:\n%s\nwant\n%s", got, want)
	}
	if got, want := tail("/etc/gshadow", 2), "postgres:!::\nssl-cert:!::"; got != want {
		t.Errorf("gshadow:\n%s\nwant\n%s", got, want)
	}
	i, err := tfs.Stat("/var/lib/svc")
	if err != nil || i.Uid != 102 || i.Gid != 65534 || i.Mode.Perm() != 0o755 {
		t.Errorf("home of svc: %+v %v, want 102:65534 0755", i, err)
	}
	if existsImage(tfs, "/var/lib/postgresql") {
		t.Error("--no-create-home created the home")
	}
	if !existsImage(tfs, "/run/adduser") || !existsImage(tfs, "/etc/.pwd.lock") {
		t.Error("adduser's lock file or shadow's .pwd.lock missing")
	}
	if tfs.read(t, "/etc/passwd-") == tfs.read(t, "/etc/passwd") {
		t.Error("passwd- backup is not the previous content")
	}
}

// TestAdduserPolicyUID checks the preset uid replaces the allocation only.
func TestAdduserPolicyUID(t *testing.T) {
	tfs := newTestFS().add(accountsBase(t))
	host := &testHost{policy: Policy{UIDs: map[string]int{"postgres": 26}}}
	r := runCmd(tfs, host, "", runAdduser, "adduser", "--system", "--quiet", "--home", "/var/lib/postgresql", "--no-create-home",
		"--shell", "/bin/bash", "--group", "--gecos", "PostgreSQL administrator", "postgres")
	if r.err != nil {
		t.Fatal(r.err, r.stderr)
	}
	if !strings.Contains(tfs.read(t, "/etc/passwd"), "\npostgres:x:26:101:PostgreSQL administrator:/var/lib/postgresql:/bin/bash\n") {
		t.Errorf("passwd:\n%s", tfs.read(t, "/etc/passwd"))
	}
	if !strings.HasSuffix(tfs.read(t, "/etc/group"), "\npostgres:x:101:\n") {
		t.Errorf("group:\n%s", tfs.read(t, "/etc/group"))
	}
	// An explicit --uid is the script's decision and wins over nothing else.
	r = runCmd(tfs, host, "", runUseradd, "useradd", "-r", "-u", "27", "other")
	if r.err != nil || !strings.Contains(tfs.read(t, "/etc/passwd"), "\nother:x:27:") {
		t.Errorf("useradd -u 27: %v\n%s", r.err, tfs.read(t, "/etc/passwd"))
	}
	if r := runCmd(tfs, host, "", runAdduser, "adduser", "interactive"); !errors.Is(r.err, ErrRefused) {
		t.Errorf("interactive adduser: %v, want refused", r.err)
	}
	_ = fs.ModePerm
}

// TestUpdatePasswd: base-passwd's upgrade check on an image whose accounts
// are the masters plus packages' system users (ids >= 100): no change; a
// changed shell of a managed account is a change (refused, named).
func TestUpdatePasswd(t *testing.T) {
	files := accountsBase(t)
	files["/usr/share/base-passwd/passwd.master"] = files["/etc/passwd"]
	files["/usr/share/base-passwd/group.master"] = files["/etc/group"]
	files["/etc/passwd"] += "postgres:x:101:102:PostgreSQL administrator:/var/lib/postgresql:/bin/bash\n"
	files["/etc/group"] += "postgres:x:102:\n"
	tfs := newTestFS().add(files)
	if r := runCmd(tfs, &testHost{}, "", runUpdatePasswd, "update-passwd", "--dry-run"); r.err != nil || r.stdout != "" {
		t.Errorf("no change: %v %q", r.err, r.stdout)
	}
	if r := runCmd(tfs, &testHost{}, "", runUpdatePasswd, "update-passwd", "--verbose"); r.err != nil || r.stdout != "No changes needed\n" {
		t.Errorf("no change, verbose: %v %q", r.err, r.stdout)
	}
	tfs.nodes["/etc/passwd"].data = []byte(strings.Replace(string(tfs.nodes["/etc/passwd"].data), "/var/mail:/usr/sbin/nologin", "/var/mail:/bin/sh", 1))
	r := runCmd(tfs, &testHost{}, "", runUpdatePasswd, "update-passwd", "--dry-run")
	if !errors.Is(r.err, ErrRefused) || !strings.Contains(r.err.Error(), "change user mail shell") {
		t.Errorf("changed shell: %v", r.err)
	}
}

// TestAdduserBookwormStatus: bookworm's adduser (3.134) exits 1 on errors.
func TestAdduserBookwormStatus(t *testing.T) {
	tfs := newTestFS().add(accountsBase(t))
	host := &testHost{pkgs: map[string]map[string]string{"adduser": {"Package": "adduser", "Version": "3.134", "Status": "install ok installed"}}}
	if r := runCmd(tfs, host, "", runAdduser, "adduser", "--system", "--quiet", "daemon"); exitCode(r.err) != 1 {
		t.Errorf("bookworm: %v, want status 1", r.err)
	}
	host.pkgs["adduser"]["Version"] = "3.152"
	if r := runCmd(tfs, host, "", runAdduser, "adduser", "--system", "--quiet", "daemon"); exitCode(r.err) != adduserWrongProperties {
		t.Errorf("trixie: %v, want status %d", r.err, adduserWrongProperties)
	}
}

// TestShadowConvOracle runs shadowconfig's sequence (pwck -r, grpck -r,
// pwconv, grpconv) through the host's tools on a --root tree and the Go
// ones, on base-passwd's databases, then again after changes.
func TestShadowConvOracle(t *testing.T) {
	for _, tool := range []string{"pwconv", "grpconv", "pwck", "grpck"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s on this host to compare with", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("the host's tools chroot with -R, which needs root")
	}
	root := t.TempDir()
	base := accountsBase(t)
	files := map[string]string{"/etc/passwd": base["/etc/passwd"], "/etc/group": base["/etc/group"], "/etc/login.defs": base["/etc/login.defs"]}
	tfs := newTestFS()
	put := func(p, v string) {
		os.MkdirAll(filepath.Dir(root+p), 0o755)
		os.WriteFile(root+p, []byte(v), 0o644)
		tfs.add(map[string]string{p: v})
		tfs.nodes[p].data = []byte(v)
	}
	for p, v := range files {
		put(p, v)
	}
	run := map[string]Command{"pwck": runPwck, "grpck": runGrpck, "pwconv": func(c *Call) error { return convShadow(c, false) }, "grpconv": func(c *Call) error { return convShadow(c, true) }}
	seq := [][]string{{"pwck", "-q", "-r"}, {"grpck", "-r"}, {"pwconv"}, {"grpconv"}}
	check := func(round int) {
		for _, name := range []string{"/etc/passwd", "/etc/passwd-", "/etc/shadow", "/etc/shadow-", "/etc/group", "/etc/group-", "/etc/gshadow", "/etc/.pwd.lock"} {
			hi, herr := os.Stat(root + name)
			gi, gerr := tfs.Stat(name)
			if (herr == nil) != (gerr == nil) {
				t.Errorf("round %d: %s exists %v, want %v", round, name, gerr == nil, herr == nil)
				continue
			}
			if herr != nil {
				continue
			}
			hb, _ := os.ReadFile(root + name)
			gb, _ := readImageFileOpt(tfs, name)
			if string(hb) != string(gb) {
				t.Errorf("round %d: %s\n%s\nwant\n%s", round, name, gb, hb)
			}
			st := hi.Sys().(*syscall.Stat_t)
			if hi.Mode().Perm() != gi.Mode.Perm() || int(st.Gid) != gi.Gid {
				t.Errorf("round %d: %s mode %v gid %d, want %v gid %d", round, name, gi.Mode.Perm(), gi.Gid, hi.Mode().Perm(), st.Gid)
			}
		}
	}
	for round := 0; round < 2; round++ {
		if round == 1 {
			b, _ := os.ReadFile(root + "/etc/passwd")
			put("/etc/passwd", strings.Replace(string(b), "bin:x:", "bin:secret:", 1)+"extra:*:1000:1000::/home/extra:/bin/sh\n")
			sb, _ := os.ReadFile(root + "/etc/shadow")
			os.WriteFile(root+"/etc/shadow", append(sb, "ghost:*:19000:0:99999:7:::\n"...), 0o440)
			tfs.nodes["/etc/shadow"].data = append(append([]byte{}, sb...), "ghost:*:19000:0:99999:7:::\n"...)
			seq = [][]string{{"pwconv"}, {"grpconv"}}
		}
		for _, st := range seq {
			cmd := exec.Command(st[0], append([]string{"-R", root}, st[1:]...)...)
			cmd.Env = []string{"SOURCE_DATE_EPOCH=1700000000", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
			hout, herr := cmd.CombinedOutput()
			r := runCmd(tfs, &testHost{}, "", run[st[0]], st[0], st[1:]...)
			if exitCode(herr) != exitCode(r.err) {
				t.Fatalf("round %d %v: %v %s, host %v %s", round, st, r.err, r.stderr, herr, hout)
			}
		}
		check(round)
	}
}

// TestShadowCheckReports: pwck/grpck -r report entries missing on either
// side and exit 2, as shadow's tools do (compared with them).
func TestShadowCheckReports(t *testing.T) {
	for _, tool := range []string{"pwck", "grpck"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s on this host to compare with", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("the host's tools chroot with -R, which needs root")
	}
	root := t.TempDir()
	base := accountsBase(t)
	files := map[string]string{"/etc/passwd": base["/etc/passwd"], "/etc/group": base["/etc/group"],
		"/etc/shadow": "root:*:19000:0:99999:7:::\nghost:*:19000:0:99999:7:::\n", "/etc/gshadow": "root:*::\nghost:*::\n"}
	tfs := newTestFS().add(files)
	for p, v := range files {
		os.MkdirAll(filepath.Dir(root+p), 0o755)
		os.WriteFile(root+p, []byte(v), 0o644)
	}
	for _, st := range [][]string{{"pwck", "-q", "-r"}, {"grpck", "-r"}} {
		cmd := exec.Command(st[0], append([]string{"-R", root}, st[1:]...)...)
		var hout strings.Builder
		cmd.Stdout, cmd.Stderr = &hout, &hout
		herr := cmd.Run()
		run := map[string]Command{"pwck": runPwck, "grpck": runGrpck}[st[0]]
		r := runCmd(tfs, &testHost{}, "", run, st[0], st[1:]...)
		if exitCode(herr) != exitCode(r.err) || r.stdout+r.stderr != hout.String() {
			t.Errorf("%v: %v\n%s\nwant %v\n%s", st, r.err, r.stdout+r.stderr, herr, hout.String())
		}
	}
}
