package maint

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

const testTemplates = `Template: pga/ssl
Type: boolean
Default: true
Description: Enable SSL by default?
 PostgreSQL supports SSL-encrypted connections. This is usually a good
 thing.
 .
 If unsure, enable SSL.
Description-de.UTF-8: SSL standardmäßig aktivieren?
 PostgreSQL unterstützt SSL.
 .
 Im Zweifelsfall aktivieren.

Template: pga/mode
Type: select
Choices: fast, safe\, slow, ${extra}
Default: none
Description: Mode for ${what}:
 Verbatim follows:
   line one
   line two
 back to text.

Template: pga/name
Type: string
Description: A name

Template: pga/note
Type: note
Description: A note
 read it.

Template: pga/pw
Type: password
Description: A password
`

var debconfSteps = []string{
	"VERSION 2.0",
	"CAPB backup",
	"INPUT high pga/ssl",
	"INPUT low pga/name",
	"INPUT critical pga/mode",
	"INPUT high pga/note",
	"INPUT high pga/nosuch",
	"SUBST pga/mode extra more",
	"SUBST pga/mode what the cluster",
	"GO",
	"GET pga/ssl",
	"GET pga/mode",
	"SET pga/name  two  words",
	"GET pga/name",
	"METAGET pga/mode description",
	"METAGET pga/ssl extended_description",
	"METAGET pga/ssl Type",
	"METAGET pga/mode choices-c",
	"METAGET pga/ssl description-de.utf-8",
	"METAGET pga/ssl nosuchfield",
	"FGET pga/ssl seen",
	"FSET pga/name seen true",
	"FGET pga/name seen",
	"REGISTER pga/name pga/alias",
	"SET pga/alias aliased",
	"GET pga/alias",
	"SET pga/pw secret",
	"RESET pga/ssl",
	"EXIST pga/alias",
	"EXIST pga/none",
	"UNREGISTER pga/note",
	"INPUT bogus pga/ssl",
	"FROB",
}

// TestDebconfOracle loads the same templates and sends the same protocol
// commands to the host's debconf (noninteractive frontend, a private
// database) and to the Go implementation, and compares the replies and
// the database files.
func TestDebconfOracle(t *testing.T) {
	for _, tool := range []string{"debconf-communicate"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s on this host to compare with", tool)
		}
	}
	for _, seen := range []string{"", "true"} {
		t.Run("seen="+seen, func(t *testing.T) {
			dir := t.TempDir()
			conf := "Config: configdb\nTemplates: templatedb\n\n" +
				"Name: config\nDriver: File\nMode: 644\nReject-Type: password\nFilename: " + dir + "/config.dat\n\n" +
				"Name: passwords\nDriver: File\nMode: 600\nBackup: false\nRequired: false\nAccept-Type: password\nFilename: " + dir + "/passwords.dat\n\n" +
				"Name: configdb\nDriver: Stack\nStack: config, passwords\n\n" +
				"Name: templatedb\nDriver: File\nMode: 644\nFilename: " + dir + "/templates.dat\n"
			if err := os.WriteFile(dir+"/debconf.conf", []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dir+"/pga.templates", []byte(testTemplates), 0o644); err != nil {
				t.Fatal(err)
			}
			env := []string{"DEBCONF_SYSTEMRC=" + dir + "/debconf.conf", "DEBIAN_FRONTEND=noninteractive", "LANG=C", "PATH=/usr/bin:/bin", "HOME=" + dir}
			if seen != "" {
				env = append(env, "DEBCONF_NONINTERACTIVE_SEEN="+seen)
			}
			// Templates loaded as the frontend does, then the script's commands.
			load := exec.Command("debconf-communicate", "pga")
			load.Env = env
			load.Stdin = strings.NewReader("X_LOADTEMPLATEFILE " + dir + "/pga.templates\n")
			if out, err := load.CombinedOutput(); err != nil || string(out) != "0 \n" && string(out) != "0\n" {
				t.Fatalf("loading templates: %v %q", err, out)
			}
			comm := exec.Command("debconf-communicate", "pga")
			comm.Env = env
			comm.Stdin = strings.NewReader(strings.Join(debconfSteps, "\n") + "\n")
			hout, _ := comm.Output()
			want := splitLines(hout)

			tfs := newTestFS().add(map[string]string{"/var/lib/dpkg/info/pga.templates": testTemplates})
			host := &testHost{}
			genv := map[string]string{"DEBCONF_NONINTERACTIVE_SEEN": seen}
			c := &Call{Ctx: t.Context(), FS: tfs, Host: host, Env: func(n string) string { return genv[n] }, Package: "pga", Script: "postinst"}
			db, err := openDebconf(c)
			if err != nil {
				t.Fatal(err)
			}
			db.owner = "pga"
			if err := db.loadTemplates([]byte(testTemplates), "pga"); err != nil {
				t.Fatal(err)
			}
			if err := db.save(); err != nil {
				t.Fatal(err)
			}
			db2, err := openDebconf(c)
			if err != nil {
				t.Fatal(err)
			}
			db2.owner = "pga"
			var got []string
			for _, s := range debconfSteps {
				code, text := db2.command(s)
				if code != dcEscaped {
					text, _, _ = strings.Cut(text, "\n")
				}
				got = append(got, strings.TrimRight(strconv.Itoa(code)+" "+text, " "))
			}
			if err := db2.finish(); err != nil {
				t.Fatal(err)
			}
			for i := range debconfSteps {
				w := ""
				if i < len(want) {
					w = strings.TrimRight(want[i], " ")
				}
				if got[i] != w {
					t.Errorf("%s: %q, debconf says %q", debconfSteps[i], got[i], w)
				}
			}
			for _, f := range []string{"config.dat", "templates.dat", "passwords.dat", "config.dat-old", "templates.dat-old"} {
				hb, herr := os.ReadFile(dir + "/" + f)
				gb, _ := readImageFileOpt(tfs, "/var/cache/debconf/"+f)
				if herr != nil && gb == nil {
					continue
				}
				if string(hb) != string(gb) {
					t.Errorf("%s:\n%s\nwant\n%s", f, gb, hb)
				}
			}
		})
	}
}

// TestConfmoduleShim runs a postinst that sources the confmodule through
// the real interpreter and VFS: templates loaded, config script run first,
// answers from the preseed, the database written.
func TestConfmoduleShim(t *testing.T) {
	fsys := NewMemFS(
		MemFile("/var/lib/dpkg/info/test.templates", testTemplates),
		MemFile("/var/lib/dpkg/info/test.config", "#!/bin/sh\nset -e\n. /usr/share/debconf/confmodule\ndb_version 2.0\ndb_input high pga/ssl || true\ndb_go\ndb_set pga/name from-config\n"),
		MemFile("/usr/share/debconf/confmodule", "echo the real confmodule must not be read; exit 99\n"),
		MemFile("/usr/bin/pgassemble-placeholder", ""),
		MemDir("/var/cache"),
	)
	sh := kitShell(t, fsys)
	sh.Host.(*kitHost).policy.Debconf = map[string]string{"pga/mode": "safe, slow"}
	out, err := kitRun(t, sh, "postinst", `set -e
. /usr/share/debconf/confmodule
db_get pga/name
echo "name=$RET"
db_get pga/mode
echo "mode=$RET"
db_get pga/ssl
echo "ssl=$RET"
if db_get pga/nosuch; then echo bad; else echo "status=$? ret=$RET"; fi
db_input low pga/mode || echo "input=$?"
db_stop
`, "configure", "")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"name=from-config", "mode=safe, slow", "ssl=true", "status=10 ret=10 pga/nosuch doesn't exist", "input=30"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	cfg, err := fsys.ReadFile("/var/cache/debconf/config.dat")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Name: pga/mode\nTemplate: pga/mode\nValue: safe, slow\nOwners: test\nFlags: seen\n", "Name: pga/name\nTemplate: pga/name\nValue: from-config\nOwners: test\n", "Name: pga/ssl\nTemplate: pga/ssl\nValue: true\nOwners: test\n"} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("config.dat lacks %q:\n%s", want, cfg)
		}
	}
	// A script's own EXIT trap replaces the shim's: db_stop still ends the run.
	sh.Env = append(sh.Env, "DEBCONF_NONINTERACTIVE_SEEN=true")
	if out, err := kitRun(t, sh, "postinst", "set -e\n. /usr/share/debconf/confmodule\ntrap 'true' EXIT\ndb_input high pga/name || true\ndb_go\ndb_stop\n", "configure", ""); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	cfg, err = fsys.ReadFile("/var/cache/debconf/config.dat")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Name: pga/name\nTemplate: pga/name\nValue: from-config\nOwners: test\nFlags: seen\n"} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("config.dat lacks %q:\n%s", want, cfg)
		}
	}
}
