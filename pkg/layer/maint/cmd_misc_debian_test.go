package maint

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

func TestPgConftool(t *testing.T) {
	tfs := newTestFS().add(map[string]string{
		"/etc/postgresql-common/createcluster.conf": "# comment\nssl = on\ncreate_main_cluster = false\nwaldir = '/var/lib/postgresql/wal/%v/%c/pg_wal'\ninitdb_options = ''\n",
		"/etc/postgresql/17/main/postgresql.conf":   "port = 5433\ndata_directory = '/var/lib/postgresql/17/main'\n",
	})
	cases := []struct {
		args   []string
		out    string
		status int
	}{
		{[]string{"/etc/postgresql-common/createcluster.conf", "show", "-bs", "create_main_cluster"}, "off\n", 0},
		{[]string{"-b", "-s", "/etc/postgresql-common/createcluster.conf", "show", "ssl"}, "on\n", 0},
		{[]string{"/etc/postgresql-common/createcluster.conf", "show", "waldir"}, "waldir = '/var/lib/postgresql/wal/%v/%c/pg_wal'\n", 0},
		{[]string{"/etc/postgresql-common/createcluster.conf", "get", "nosuch"}, "", 1},
		{[]string{"-s", "17", "main", "show", "data_directory"}, "/var/lib/postgresql/17/main\n", 0},
		{[]string{"-s", "16", "main", "show", "port"}, "", 1},
	}
	for _, tc := range cases {
		r := runCmd(tfs, &testHost{}, "", runPgConftool, "pg_conftool", tc.args...)
		if r.stdout != tc.out || exitCode(r.err) != tc.status {
			t.Errorf("pg_conftool %q: %q %v, want %q status %d", tc.args, r.stdout, r.err, tc.out, tc.status)
		}
	}
	if r := runCmd(tfs, &testHost{}, "", runPgConftool, "pg_conftool", "/x.conf", "set", "a", "b"); !errors.Is(r.err, ErrRefused) {
		t.Errorf("set: %v, want refused", r.err)
	}
}

func TestPgLsclustersAndUpdatedicts(t *testing.T) {
	tfs := newTestFS().add(map[string]string{
		"/usr/lib/postgresql/17/bin/postgres":            "",
		"/usr/share/postgresql/17/tsearch_data/":         "",
		"/usr/share/postgresql/17/tsearch_data/old.dict": "-> /var/cache/postgresql/dicts/old.dict",
		"/usr/share/hunspell/en_US.aff":                  "SET UTF-8\nTRY abc\n",
		"/usr/share/hunspell/en_US.dic":                  "2\nhello\nworld\n",
		"/usr/share/hunspell/de_DE.aff":                  "-> ../myspell/de.aff",
		"/var/cache/postgresql/dicts/old.dict":           "stale",
	})
	tfs.nodes["/usr/lib/postgresql/17/bin/postgres"].mode = 0o755
	if r := runCmd(tfs, &testHost{}, "", runPgLsclusters, "pg_lsclusters", "-h"); r.err != nil || r.stdout != "" {
		t.Errorf("pg_lsclusters -h: %q %v", r.stdout, r.err)
	}
	r := runCmd(tfs, &testHost{}, "", runPgUpdatedicts, "pg_updatedicts")
	if r.err != nil {
		t.Fatal(r.err, r.stderr)
	}
	want := "Building PostgreSQL dictionaries from installed myspell/hunspell packages...\n  en_us\nRemoving obsolete dictionary files:\n  /var/cache/postgresql/dicts/old.dict\n  /usr/share/postgresql/17/tsearch_data/old.dict\n"
	if r.stdout != want {
		t.Errorf("output %q, want %q", r.stdout, want)
	}
	if got := tfs.read(t, "/var/cache/postgresql/dicts/en_us.dict"); got != "2\nhello\nworld\n" {
		t.Errorf("dict %q", got)
	}
	if tgt, err := tfs.Readlink("/usr/share/postgresql/17/tsearch_data/en_us.affix"); err != nil || tgt != "/var/cache/postgresql/dicts/en_us.affix" {
		t.Errorf("affix link %q %v", tgt, err)
	}
	tfs.add(map[string]string{"/usr/share/myspell/dicts/fr.aff": "SET ISO8859-1\n", "/usr/share/myspell/dicts/fr.dic": "1\n"})
	if r := runCmd(tfs, &testHost{}, "", runPgUpdatedicts, "pg_updatedicts"); !errors.Is(r.err, ErrRefused) {
		t.Errorf("ISO8859-1 dictionary: %v, want refused", r.err)
	}
	tfs.add(map[string]string{"/etc/postgresql/17/main/postgresql.conf": ""})
	if r := runCmd(tfs, &testHost{}, "", runPgLsclusters, "pg_lsclusters", "-h"); !errors.Is(r.err, ErrRefused) {
		t.Errorf("pg_lsclusters with a cluster: %v, want refused", r.err)
	}
}

func TestPythonAndRefusals(t *testing.T) {
	tfs := newTestFS()
	if r := runCmd(tfs, &testHost{}, "", runPython, "python3.13", "-E", "-S", "/usr/lib/python3.13/py_compile.py", "/usr/lib/python3.13/os.py"); r.err != nil {
		t.Errorf("py_compile form: %v", r.err)
	}
	if r := runCmd(tfs, &testHost{}, "", runPython, "python3", "-c", "import sys"); !errors.Is(r.err, ErrRefused) {
		t.Errorf("python3 -c: %v, want refused", r.err)
	}
	if r := runCmd(tfs, &testHost{}, "", runPerlProbe, "perl", "-e", ""); r.err != nil {
		t.Errorf("perl -e '': %v", r.err)
	}
	if r := runCmd(tfs, &testHost{}, "", runPerlProbe, "perl", "-e", "print 1"); !errors.Is(r.err, ErrRefused) {
		t.Errorf("perl -e 'print 1': %v, want refused", r.err)
	}
	if r := runCmd(tfs, &testHost{}, "", runMakeSSLCert, "make-ssl-cert", "generate-default-snakeoil"); !errors.Is(r.err, ErrRefused) || !strings.Contains(r.err.Error(), "private key") {
		t.Errorf("make-ssl-cert: %v, want refused", r.err)
	}
	// Every family registers without a duplicate, and every no-op says why.
	reg := DefaultRegistry()
	for _, n := range []string{"update-alternatives", "dpkg", "adduser", "ucf", "deb-systemd-helper", "ldconfig", "update-ca-certificates", "py3compile", "fc-cache", "pg_updatedicts", "pgassemble-debconf"} {
		s, ok := reg.Lookup(n)
		if !ok {
			t.Errorf("%s not registered", n)
			continue
		}
		if s.Kind == NoOp && s.Reason == "" {
			t.Errorf("%s: no-op without reason", n)
		}
	}
	if _, ok := reg.Shim("/usr/share/debconf/confmodule"); !ok {
		t.Error("confmodule shim not registered")
	}
}

func TestIschrootPaperconfRunParts(t *testing.T) {
	tfs := newTestFS().add(map[string]string{"/etc/cron.daily/a": "", "/etc/cron.daily/b.sh": "", "/etc/cron.daily/c": ""})
	tfs.nodes["/etc/cron.daily/a"].mode = 0o755
	tfs.nodes["/etc/cron.daily/b.sh"].mode = 0o755
	if r := runCmd(tfs, &testHost{}, "", runIschroot, "ischroot"); exitCode(r.err) != 1 {
		t.Errorf("ischroot: %v", r.err)
	}
	if r := runCmd(tfs, &testHost{}, "", runPaperconf, "paperconf"); r.stdout != "a4\n" {
		t.Errorf("paperconf: %q %v", r.stdout, r.err)
	}
	tfs.add(map[string]string{"/etc/papersize": "# comment\nletter\n"})
	if r := runCmd(tfs, &testHost{}, "", runPaperconf, "paperconf"); r.stdout != "letter\n" {
		t.Errorf("paperconf with /etc/papersize: %q %v", r.stdout, r.err)
	}
	if r := runCmd(tfs, &testHost{}, "", runRunParts, "run-parts", "--test", "/etc/cron.daily"); r.stdout != "/etc/cron.daily/a\n" {
		t.Errorf("run-parts --test: %q %v", r.stdout, r.err)
	}
	if r := runCmd(tfs, &testHost{}, "", runRunParts, "run-parts", "--list", "/etc/cron.daily"); r.stdout != "/etc/cron.daily/a\n/etc/cron.daily/c\n" {
		t.Errorf("run-parts --list: %q %v", r.stdout, r.err)
	}
}

// TestProbeOfAbsentCommand: the probe Debian's scripts use before an
// optional helper, [ -x "$(command -v systemd-tmpfiles)" ], is false when
// the helper is absent (test -x "" is ENOENT, not the working directory).
func TestProbeOfAbsentCommand(t *testing.T) {
	sh := kitShell(t, NewMemFS(MemDir("/usr/bin")))
	out, err := kitRun(t, sh, "postinst", "if [ -x \"$(command -v systemd-tmpfiles)\" ]; then echo run; fi\nif [ -e \"\" ] || [ -d \"\" ]; then echo exists; fi\necho end\n")
	if err != nil || out != "end\n" {
		t.Errorf("%q %v", out, err)
	}
}

func TestUpdateLocaleAndGio(t *testing.T) {
	tfs := newTestFS().add(map[string]string{"/etc/": "", "/usr/lib/x86_64-linux-gnu/gio/modules/giomodule.cache": "stale"})
	// locales' postinst: "Remove previous definitions" on a fresh image, then set LANG.
	if r := runCmd(tfs, &testHost{}, "", runUpdateLocale, "update-locale", "--no-checks", "LANG"); r.err != nil {
		t.Fatal(r.err)
	}
	if got := tfs.read(t, "/etc/locale.conf"); got != "#  File generated by update-locale\n" {
		t.Errorf("fresh: %q", got)
	}
	if r := runCmd(tfs, &testHost{}, "", runUpdateLocale, "update-locale", "LANG=C.UTF-8"); r.err != nil {
		t.Fatal(r.err)
	}
	if got := tfs.read(t, "/etc/locale.conf"); got != "#  File generated by update-locale\nLANG=C.UTF-8\n" {
		t.Errorf("set: %q", got)
	}
	if r := runCmd(tfs, &testHost{}, "", runUpdateLocale, "update-locale", "--no-checks", "LANG=en_US.UTF-8", "LC_ALL"); r.err != nil {
		t.Fatal(r.err)
	}
	if got := tfs.read(t, "/etc/locale.conf"); got != "#  File generated by update-locale\nLANG=en_US.UTF-8\n" {
		t.Errorf("replace: %q", got)
	}
	if r := runCmd(tfs, &testHost{}, "", runUpdateLocale, "update-locale", "LANG=de_DE.UTF-8"); !errors.Is(r.err, ErrRefused) {
		t.Errorf("checked locale: %v, want refused", r.err)
	}
	if r := runCmd(tfs, &testHost{}, "", runGioQuerymodules, "gio-querymodules", "/usr/lib/x86_64-linux-gnu/gio/modules"); r.err != nil {
		t.Fatal(r.err)
	}
	if existsImage(tfs, "/usr/lib/x86_64-linux-gnu/gio/modules/giomodule.cache") {
		t.Error("stale giomodule.cache left")
	}
	tfs.add(map[string]string{"/usr/lib/x86_64-linux-gnu/gio/modules/libgiognutls.so": ""})
	if r := runCmd(tfs, &testHost{}, "", runGioQuerymodules, "gio-querymodules", "/usr/lib/x86_64-linux-gnu/gio/modules"); !errors.Is(r.err, ErrRefused) {
		t.Errorf("with a module: %v, want refused", r.err)
	}
}

// TestLocaleOracle compares the C locales' answers with the host's locale.
func TestLocaleOracle(t *testing.T) {
	bin, err := exec.LookPath("locale")
	if err != nil {
		t.Skip("no locale on this host to compare with")
	}
	for _, env := range [][]string{{"LANG=C.UTF-8"}, {"LANG=C"}, {"LC_ALL=C"}, {"LANG=C.UTF-8", "LC_PAPER=C"}} {
		for _, args := range [][]string{{"width"}, {"height"}, {"charmap"}, {"-k", "width"}, {"-k", "charmap"}, {}} {
			cmd := exec.Command(bin, args...)
			cmd.Env = env
			want, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]string{}
			for _, e := range env {
				k, v, _ := strings.Cut(e, "=")
				m[k] = v
			}
			var out strings.Builder
			c := &Call{Ctx: t.Context(), Name: "locale", Args: args, Stdout: &out, Stderr: &out, Env: func(n string) string { return m[n] }, FS: newTestFS(), Host: &testHost{}}
			if err := runLocale(c); err != nil || out.String() != string(want) {
				t.Errorf("%v locale %v: %q %v, want %q", env, args, out.String(), err, want)
			}
		}
	}
}
