package maint

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPamAuthUpdateOracle runs the host's pam-auth-update on a --root tree
// (a private debconf database, noninteractive) and the Go implementation on
// the same files: a first configuration (--force, as on a fresh install),
// the upgrade form (--package), and one with a local option change merged.
func TestPamAuthUpdateOracle(t *testing.T) {
	for _, tool := range []string{"pam-auth-update", "perl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s on this host to compare with", tool)
		}
	}
	cfgs, err := os.ReadDir("/usr/share/pam-configs")
	if err != nil {
		t.Skip("host has no pam-configs")
	}
	tmpl, err1 := os.ReadFile("/var/lib/dpkg/info/libpam-runtime.templates")
	if err1 != nil {
		t.Skip("host has no libpam-runtime templates")
	}
	root, dir := t.TempDir(), t.TempDir()
	conf := "Config: configdb\nTemplates: templatedb\n\nName: configdb\nDriver: File\nMode: 644\nFilename: " + dir + "/config.dat\n\n" +
		"Name: templatedb\nDriver: File\nMode: 644\nFilename: " + dir + "/templates.dat\n"
	os.WriteFile(dir+"/debconf.conf", []byte(conf), 0o644)
	tfs := newTestFS().add(map[string]string{"/var/lib/dpkg/info/libpam-runtime.templates": string(tmpl), "/var/cache/": ""})
	put := func(p string, b []byte) {
		os.MkdirAll(filepath.Dir(root+p), 0o755)
		os.WriteFile(root+p, b, 0o644)
		tfs.add(map[string]string{p: string(b)})
		tfs.nodes[p].data = b
	}
	for _, e := range cfgs {
		b, _ := os.ReadFile("/usr/share/pam-configs/" + e.Name())
		put("/usr/share/pam-configs/"+e.Name(), b)
	}
	for _, typ := range pamTypes {
		b, err := os.ReadFile("/usr/share/pam/common-" + typ)
		if err != nil {
			t.Skip("host has no pam templates")
		}
		tfs.add(map[string]string{"/usr/share/pam/common-" + typ: string(b)})
		put("/etc/pam.d/common-"+typ, b)
	}
	os.MkdirAll(root+"/var/lib/pam", 0o755)
	steps := []struct {
		setup func()
		args  []string
	}{
		{nil, []string{"--package", "--force"}},
		{nil, []string{"--package"}},
		{func() {
			b, _ := os.ReadFile(root + "/etc/pam.d/common-auth")
			put("/etc/pam.d/common-auth", []byte(strings.Replace(string(b), "pam_unix.so nullok", "pam_unix.so nullok debug", 1)))
		}, []string{"--package"}},
	}
	host := &testHost{}
	for i, st := range steps {
		if st.setup != nil {
			st.setup()
		}
		cmd := exec.Command("pam-auth-update", append([]string{"--root", root}, st.args...)...)
		cmd.Env = []string{"DEBCONF_SYSTEMRC=" + dir + "/debconf.conf", "DEBIAN_FRONTEND=noninteractive", "LANG=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("host step %d: %v %s", i, err, out)
		}
		env := map[string]string{"DEBIAN_HAS_FRONTEND": "1"}
		var out, errb strings.Builder
		c := &Call{Ctx: t.Context(), Name: "pam-auth-update", Args: st.args, Stdout: &out, Stderr: &errb,
			Env: func(n string) string { return env[n] }, FS: tfs, Host: host, Package: "libpam-runtime", Script: "postinst"}
		if err := runPamAuthUpdate(c); err != nil {
			t.Fatalf("step %d: %v %s", i, err, errb.String())
		}
		for _, p := range []string{"/etc/pam.d/common-auth", "/etc/pam.d/common-account", "/etc/pam.d/common-password",
			"/etc/pam.d/common-session", "/etc/pam.d/common-session-noninteractive", "/var/lib/pam/seen", "/var/lib/pam/auth",
			"/var/lib/pam/session-noninteractive", "/etc/pam.d/common-auth.pam-old"} {
			want, herr := os.ReadFile(root + p)
			got, _ := readImageFileOpt(tfs, p)
			if herr != nil && got == nil {
				continue
			}
			if string(got) != string(want) {
				t.Errorf("step %d %v: %s\n%s\nwant\n%s", i, st.args, p, got, want)
			}
		}
	}
	auth := tfs.read(t, "/etc/pam.d/common-auth")
	if !strings.Contains(auth, "pam_unix.so nullok") || !strings.Contains(auth, "debug") || !strings.Contains(auth, "[success=") {
		t.Errorf("common-auth lacks the generated block or the kept local option:\n%s", auth)
	}
}
