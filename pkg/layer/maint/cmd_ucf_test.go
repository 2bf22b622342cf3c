package maint

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestUcfOracle runs the host's ucf and ucfr (a private state directory
// and debconf database, the noninteractive frontend) and the Go
// implementations through the same life of a configuration file, and
// compares ucf's state, the file and its .ucf-dist.
func TestUcfOracle(t *testing.T) {
	for _, tool := range []string{"ucf", "ucfr", "debconf-communicate"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s on this host to compare with", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("the host's ucf only acts as root")
	}
	tmpl, err := os.ReadFile("/var/lib/dpkg/info/ucf.templates")
	if err != nil {
		t.Skip("the host's ucf has no templates to ask its question with")
	}
	root := t.TempDir()
	dir := t.TempDir()
	conf := "Config: configdb\nTemplates: templatedb\n\nName: config\nDriver: File\nMode: 644\nFilename: " + dir + "/config.dat\n\n" +
		"Name: configdb\nDriver: Stack\nStack: config\n\nName: templatedb\nDriver: File\nMode: 644\nFilename: " + dir + "/templates.dat\n"
	if err := os.WriteFile(dir+"/debconf.conf", []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	state := root + "/var/lib/ucf"
	dest := root + "/etc/pga/pga.conf"
	src := root + "/usr/share/pga/pga.conf"
	for _, d := range []string{filepath.Dir(dest), filepath.Dir(src), state} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tfs := newTestFS().add(map[string]string{"/usr/share/debconf/confmodule": "", "/var/lib/dpkg/info/ucf.templates": string(tmpl),
		filepath.Dir(dest) + "/": "", filepath.Dir(src) + "/": ""})
	host := &testHost{}
	env := []string{"DEBCONF_SYSTEMRC=" + dir + "/debconf.conf", "DEBIAN_FRONTEND=noninteractive", "LANG=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	put := func(p, content string) {
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		tfs.add(map[string]string{p: content})
		tfs.nodes[p].data = []byte(content)
	}
	steps := []struct {
		setup func()
		args  []string
	}{
		{func() { put(src, "a = 1\n") }, []string{"ucf", "--debconf-ok", "--state-dir", state, src, dest}},
		{nil, []string{"ucf", "--state-dir", state, src, dest}},
		{func() { put(src, "a = 2\n") }, []string{"ucf", "--state-dir", state, src, dest}},
		{func() { put(dest, "a = local\n"); put(src, "a = 3\n") }, []string{"ucf", "--three-way", "--state-dir", state, src, dest}},
		{nil, []string{"ucfr", "--state-dir", state, "pga", dest}},
		{nil, []string{"ucfr", "--state-dir", state, "pga", dest}},
		{nil, []string{"ucfr", "--state-dir", state, "other", dest}},
		{nil, []string{"ucfr", "--state-dir", state, "other", root + "/etc/other.conf"}},
		{nil, []string{"ucfr", "--purge", "--state-dir", state, "pga", dest}},
		{nil, []string{"ucf", "--purge", "--state-dir", state, dest}},
	}
	for i, st := range steps {
		if st.setup != nil {
			st.setup()
		}
		cmd := exec.Command(st.args[0], st.args[1:]...)
		cmd.Env = env
		var herr strings.Builder
		cmd.Stderr = &herr
		want := exitCode(cmd.Run())
		run := map[string]Command{"ucf": runUcf, "ucfr": runUcfr}[st.args[0]]
		got := runCmd(tfs, host, "", run, st.args[0], st.args[1:]...)
		if exitCode(got.err) != want {
			t.Fatalf("step %d %v: exit %d (%v %s), %s exits %d (%s)", i, st.args[1:], exitCode(got.err), got.err, got.stderr, st.args[0], want, herr.String())
		}
		if strings.Contains(herr.String(), "Creating config file") != strings.Contains(got.stderr, "Creating config file") {
			t.Errorf("step %d: stderr %q, want %q", i, got.stderr, herr.String())
		}
		var names []string
		filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
			if err == nil && info.Mode().IsRegular() {
				names = append(names, p)
			}
			return nil
		})
		for p := range tfs.nodes {
			if strings.HasPrefix(p, root+"/") && tfs.nodes[p].mode.IsRegular() {
				names = append(names, p)
			}
		}
		sort.Strings(names)
		for _, p := range names {
			hb, herr := os.ReadFile(p)
			gb, gerr := readImageFileOpt(tfs, p)
			if (herr == nil) != (gerr == nil && gb != nil || existsImage(tfs, p)) || string(hb) != string(gb) {
				t.Errorf("step %d %v: %s is %q, want %q (%v)", i, st.args, strings.TrimPrefix(p, root), gb, hb, herr)
			}
		}
	}
	for _, p := range []string{dest + ".ucf-dist", state + "/hashfile.1", state + "/registry.0", state + "/cache/" + strings.ReplaceAll(dest, "/", ":")} {
		if !existsImage(tfs, p) && p != state+"/cache/"+strings.ReplaceAll(dest, "/", ":") {
			t.Errorf("%s missing: the sequence did not reach the conflict and rotation paths", p)
		}
	}
	if got := tfs.read(t, dest); got != "a = local\n" {
		t.Errorf("locally modified file replaced: %q", got)
	}
}
