package maint

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func snapshotTree(t *testing.T, root string) []string {
	var out []string
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || p == root {
			return nil
		}
		rel := strings.TrimPrefix(p, root)
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			tgt, _ := os.Readlink(p)
			out = append(out, rel+" -> "+tgt)
		case info.IsDir():
			out = append(out, rel+"/")
		default:
			b, _ := os.ReadFile(p)
			out = append(out, rel+" = "+string(b))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func snapshotTestTree(f *testFS) []string {
	var out []string
	for p, n := range f.nodes {
		if p == "/" {
			continue
		}
		switch {
		case n.mode&os.ModeSymlink != 0:
			out = append(out, p+" -> "+n.target)
		case n.mode.IsDir():
			out = append(out, p+"/")
		default:
			out = append(out, p+" = "+string(n.data))
		}
	}
	sort.Strings(out)
	return out
}

// TestServiceLinksOracle runs the host's deb-systemd-helper and update-rc.d
// on a DPKG_ROOT and the Go implementations on the same tree, and compares
// the trees after each step.
func TestServiceLinksOracle(t *testing.T) {
	for _, tool := range []string{"deb-systemd-helper", "update-rc.d", "perl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s on this host to compare with", tool)
		}
	}
	root := t.TempDir()
	files := map[string]string{
		"/usr/lib/systemd/system/cron.service":        "[Unit]\nDescription=cron\n[Service]\nExecStart=/usr/sbin/cron -f\n[Install]\nWantedBy=multi-user.target\n",
		"/usr/lib/systemd/system/pg.service":          "[Install]\nWantedBy=multi-user.target\nAlso=pg@.service\nAlias=postgres.service\n",
		"/usr/lib/systemd/system/pg@.service":         "[Install]\nWantedBy=multi-user.target\nDefaultInstance=main\nRequiredBy=x.target\n",
		"/usr/lib/systemd/user/agent.service":         "[Install]\nWantedBy=default.target\n",
		"/etc/init.d/cron":                            "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: cron\n# Default-Start:     2 3 4 5\n# Default-Stop:\n### END INIT INFO\n",
		"/etc/init.d/pgsql":                           "#!/bin/sh\n### BEGIN INIT INFO\n# Default-Start: 2 3 4 5\n# Default-Stop: 0 1 6\n### END INIT INFO\n",
		"/var/lib/systemd/deb-systemd-helper-masked/": "",
	}
	tfs := newTestFS().add(files)
	tfs.add(map[string]string{"/lib": "-> usr/lib"})
	for n, v := range files {
		p := root + n
		if strings.HasSuffix(n, "/") {
			os.MkdirAll(p, 0o755)
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(v), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("usr/lib", root+"/lib"); err != nil {
		t.Fatal(err)
	}
	steps := [][]string{
		{"deb-systemd-helper", "unmask", "cron.service"},
		{"deb-systemd-helper", "--quiet", "was-enabled", "cron.service"},
		{"deb-systemd-helper", "enable", "cron.service"},
		{"deb-systemd-helper", "--quiet", "was-enabled", "cron.service"},
		{"deb-systemd-helper", "debian-installed", "cron.service"},
		{"deb-systemd-helper", "update-state", "cron.service"},
		{"deb-systemd-helper", "enable", "pg.service"},
		{"deb-systemd-helper", "--user", "enable", "agent.service"},
		{"deb-systemd-helper", "is-enabled", "pg.service"},
		{"deb-systemd-helper", "mask", "cron.service"},
		{"deb-systemd-helper", "unmask", "cron.service"},
		{"deb-systemd-helper", "disable", "pg.service"},
		{"deb-systemd-helper", "purge", "cron.service"},
		{"update-rc.d", "cron", "defaults"},
		{"update-rc.d", "pgsql", "defaults"},
		{"update-rc.d", "pgsql", "defaults"},
		{"update-rc.d", "pgsql", "remove"},
		{"update-rc.d", "pgsql", "defaults-disabled"},
		{"update-rc.d", "nosuch", "defaults"},
	}
	run := map[string]Command{"deb-systemd-helper": runDebSystemdHelper, "update-rc.d": runUpdateRcd}
	for i, st := range steps {
		cmd := exec.Command(st[0], st[1:]...)
		cmd.Env = []string{"DPKG_ROOT=" + root, "DPKG_MAINTSCRIPT_PACKAGE=cron", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "_SKIP_SYSTEMD_NATIVE=1"}
		var hout, herr strings.Builder
		cmd.Stdout, cmd.Stderr = &hout, &herr
		want := exitCode(cmd.Run())
		got := runCmd(tfs, &testHost{}, "", run[st[0]], st[0], st[1:]...)
		if exitCode(got.err) != want {
			t.Errorf("step %d %v: exit %d (%v %s), want %d (%s)", i, st, exitCode(got.err), got.err, got.stderr, want, herr.String())
		}
		if st[0] == "deb-systemd-helper" && got.stderr != herr.String() {
			t.Errorf("step %d %v: stderr %q, want %q", i, st, got.stderr, herr.String())
		}
		w, g := snapshotTree(t, root), snapshotTestTree(tfs)
		if strings.Join(w, "\n") != strings.Join(g, "\n") {
			t.Fatalf("step %d %v: tree\n%s\nwant\n%s", i, st, strings.Join(g, "\n"), strings.Join(w, "\n"))
		}
	}
}
