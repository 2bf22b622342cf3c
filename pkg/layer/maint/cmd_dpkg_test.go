package maint

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompareVersionsOracle checks dpkg --compare-versions against the
// host's dpkg on every relation, blank versions and bad syntax.
func TestCompareVersionsOracle(t *testing.T) {
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		t.Skip("no dpkg on this host to compare with")
	}
	versions := []string{"", "1.0", "1.0-1", "1:0.9", "1.0~rc1", "1.0+b1", "2.36-9+deb12u4", "<unknown>", "a1.0", "1.0 2", "1:", "17.5-1.pgdg120+1"}
	rels := []string{"lt", "le", "eq", "ne", "ge", "gt", "lt-nl", "le-nl", "ge-nl", "gt-nl", "<", "<<", "<=", "=", ">=", ">>", ">", "xx"}
	for _, a := range versions {
		for _, b := range versions[:8] {
			for _, r := range rels {
				cmd := exec.Command(dpkg, "--compare-versions", a, r, b)
				var herr strings.Builder
				cmd.Stderr = &herr
				want := exitCode(cmd.Run())
				got := runCmd(newTestFS(), &testHost{}, "", runDpkg, "dpkg", "--compare-versions", a, r, b)
				if exitCode(got.err) != want {
					t.Errorf("dpkg --compare-versions %q %s %q: %d, dpkg says %d (%s)", a, r, b, exitCode(got.err), want, herr.String())
				}
				if want != 2 && got.stderr != herr.String() {
					t.Errorf("dpkg --compare-versions %q %s %q: stderr %q, want %q", a, r, b, got.stderr, herr.String())
				}
			}
		}
	}
}

func hostRoot(t *testing.T, files map[string]string) (string, *testFS) {
	t.Helper()
	root := t.TempDir()
	tfs := newTestFS().add(files)
	for n, v := range files {
		p := root + n
		if strings.HasSuffix(n, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root, tfs
}

// compareWithHost runs the same command lines through a host tool (with
// --admindir/--instdir under root) and the Go implementation, and compares
// outputs, statuses and the files listed.
func compareWithHost(t *testing.T, tool string, run Command, files map[string]string, env []string, check []string, steps [][]string) {
	t.Helper()
	bin, err := exec.LookPath(tool)
	if err != nil {
		t.Skipf("no %s on this host to compare with", tool)
	}
	root, tfs := hostRoot(t, files)
	host := &testHost{pkgs: map[string]map[string]string{}}
	for i, st := range steps {
		hargs := append([]string{"--admindir", root + "/var/lib/dpkg", "--instdir", root}, st...)
		cmd := exec.Command(bin, hargs...)
		cmd.Env = append([]string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin", "LC_ALL=C"}, env...)
		var hout, herr strings.Builder
		cmd.Stdout, cmd.Stderr = &hout, &herr
		want := exitCode(cmd.Run())
		var out, errb strings.Builder
		envm := map[string]string{}
		for _, e := range env {
			k, v, _ := strings.Cut(e, "=")
			envm[k] = v
		}
		c := &Call{Ctx: t.Context(), Name: tool, Args: st, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
			Env: func(n string) string { return envm[n] }, Dir: "/", FS: tfs, Host: host}
		gerr := run(c)
		if errors.Is(gerr, ErrRefused) {
			t.Fatalf("step %d %v refused: %v", i, st, gerr)
		}
		norm := func(s string) string { return strings.ReplaceAll(s, root, "") }
		if got := exitCode(gerr); got != want {
			t.Errorf("step %d %v: exit %d, %s exits %d (%s)", i, st, got, tool, want, herr.String())
		}
		if out.String() != norm(hout.String()) {
			t.Errorf("step %d %v: stdout %q, want %q", i, st, out.String(), norm(hout.String()))
		}
		if want != 2 && errb.String() != norm(herr.String()) {
			t.Errorf("step %d %v: stderr %q, want %q", i, st, errb.String(), norm(herr.String()))
		}
		for _, f := range check {
			hb, herr := os.ReadFile(root + f)
			gb, gerr := readImageFileOpt(tfs, f)
			if herr != nil && gb != nil || herr == nil && (gerr != nil || string(gb) != string(hb)) {
				t.Errorf("step %d %v: %s is\n%s\nwant\n%s", i, st, f, gb, hb)
			}
		}
		for _, f := range []string{"/usr/bin/a", "/usr/bin/a.distrib", "/usr/bin/b", "/usr/bin/b.real"} {
			_, herr := os.Lstat(root + f)
			if (herr == nil) != existsImage(tfs, f) {
				t.Errorf("step %d %v: %s exists %v, want %v", i, st, f, existsImage(tfs, f), herr == nil)
			}
		}
	}
}

func TestDpkgDivertOracle(t *testing.T) {
	files := map[string]string{"/var/lib/dpkg/diversions": "", "/usr/bin/a": "a", "/usr/bin/b": "b", "/usr/lib/x/": ""}
	check := []string{"/var/lib/dpkg/diversions", "/var/lib/dpkg/diversions-old"}
	compareWithHost(t, "dpkg-divert", runDpkgDivert, files, nil, check, [][]string{
		{"--add", "/usr/bin/a"},
		{"--package", "foo", "--divert", "/usr/bin/b.real", "--rename", "--add", "/usr/bin/b"},
		{"--package", "foo", "--no-rename", "--add", "/usr/bin/c"},
		{"--no-rename", "--add", "/usr/bin/c"},
		{"--package", "foo", "--divert", "/usr/bin/b.real", "--add", "/usr/bin/b"},
		{"--no-rename", "--package", "foo", "/usr/bin/0"},
		{"--no-rename", "--package=foo", "/usr/bin/zz"},
		{"--no-rename", "--local", "--divert", "/usr/lib/x86_64-linux-gnu/libtirpc.so.3.usr-is-merged", "/lib/x86_64-linux-gnu/libtirpc.so.3"},
		{"--list"}, {"--list", "foo"}, {"--list", "*zz*"},
		{"--listpackage", "/usr/bin/b"}, {"--listpackage", "/usr/bin/a"}, {"--listpackage", "/nope"},
		{"--truename", "/usr/bin/b"}, {"--truename", "/usr/bin/zz9"},
		{"--remove", "/usr/bin/zz9"},
		{"--package", "bar", "--remove", "/usr/bin/b"},
		{"--package", "foo", "--divert", "/x", "--remove", "/usr/bin/b"},
		{"--package", "foo", "--rename", "--remove", "/usr/bin/b"},
		{"--quiet", "--no-rename", "--remove", "/usr/bin/a"},
		{"--add", "/usr/lib/x"},
		{"--add", "relative"},
		{"--no-rename", "--add", "/usr/bin/q", "--divert", "/usr/bin/q"},
	})
	// In a maintainer script, the package defaults to the script's.
	compareWithHost(t, "dpkg-divert", runDpkgDivert, files, []string{"DPKG_MAINTSCRIPT_PACKAGE=libfoo"}, check, [][]string{
		{"--no-rename", "--add", "/usr/bin/a"},
		{"--no-rename", "--remove", "/usr/bin/a"},
	})
}

func TestDpkgStatoverrideOracle(t *testing.T) {
	passwd, err1 := os.ReadFile("/etc/passwd")
	group, err2 := os.ReadFile("/etc/group")
	if err1 != nil || err2 != nil {
		t.Skip("host has no /etc/passwd or /etc/group to resolve names as the host tool does")
	}
	files := map[string]string{"/var/lib/dpkg/statoverride": "", "/usr/bin/crontab": "", "/etc/ssl/private/": "",
		"/etc/passwd": string(passwd), "/etc/group": string(group)}
	check := []string{"/var/lib/dpkg/statoverride", "/var/lib/dpkg/statoverride-old"}
	compareWithHost(t, "dpkg-statoverride", runDpkgStatoverride, files, nil, check, [][]string{
		{"--add", "root", "root", "0755", "/zz"},
		{"--update", "--add", "root", "nosuchgroup", "2755", "/usr/bin/crontab"},
		{"--update", "--add", "root", "root", "710", "/etc/ssl/private"},
		{"--add", "#5", "#7", "644", "/a/b"},
		{"--add", "root", "root", "644", "/a/b"},
		{"--update", "--add", "root", "root", "4755", "/nonexist"},
		{"--list"}, {"--list", "/etc/ssl/private"}, {"--list", "/nope"}, {"--list", "/a/*"},
		{"--remove", "/nope"}, {"--force", "--remove", "/nope"},
		{"--remove", "/a/b"},
	})
}

func TestDpkgQuery(t *testing.T) {
	host := &testHost{pkgs: map[string]map[string]string{
		"libc6": {"Package": "libc6", "Status": "install ok installed", "Version": "2.41-12", "Architecture": "amd64",
			"Multi-Arch": "same", "Source": "glibc", "Essential": "no", "Description": "GNU C Library\n more"},
		"base-files": {"Package": "base-files", "Status": "install ok installed", "Version": "13.8", "Architecture": "amd64", "Essential": "yes"},
		"half":       {"Package": "half", "Status": "install reinstreq half-configured", "Version": "1", "Architecture": "all"},
	}}
	tfs := newTestFS().add(map[string]string{
		"/var/lib/dpkg/info/base-files.list":     "/.\n/etc\n/etc/debian_version\n/usr/lib/os-release\n",
		"/var/lib/dpkg/info/libc6:amd64.list":    "/.\n/etc\n/etc/ld.so.conf.d\n",
		"/var/lib/dpkg/info/base-files.postinst": "#!/bin/sh\n",
		"/var/lib/dpkg/diversions":               "/etc/debian_version\n/etc/debian_version.real\nother\n",
	})
	cases := []struct {
		args   []string
		stdout string
		status int
	}{
		{[]string{"-W", "-f=${Version}", "base-files"}, "13.8", 0},
		{[]string{"-f", "${db:Status-Abbrev} ${binary:Package}\\n", "-W", "libc6", "half"}, "ii  libc6:amd64\niFR half\n", 0},
		{[]string{"-W", "-f=${binary:Package} ${Status} ${Architecture}\\n", "libc6"}, "libc6:amd64 install ok installed amd64\n", 0},
		{[]string{"-W", "-f=${db:Status-Want}", "locales-all"}, "", 1},
		{[]string{"--show", "--showformat=${Package;-12}|${source:Package}|${binary:Summary}\\n", "libc6"}, "libc6       |glibc|GNU C Library\n", 0},
		{[]string{"-W", "base-*"}, "base-files\t13.8\n", 0},
		{[]string{"-L", "base-files"}, "/.\n/etc\n/etc/debian_version\ndiverted by other to: /etc/debian_version.real\n/usr/lib/os-release\n", 0},
		{[]string{"-S", "/etc/ld.so.conf.d"}, "libc6:amd64: /etc/ld.so.conf.d\n", 0},
		{[]string{"-S", "/etc"}, "base-files, libc6:amd64: /etc\n", 0},
		{[]string{"-S", "os-rel"}, "base-files: /usr/lib/os-release\n", 0},
		{[]string{"-S", "/nope"}, "", 1},
		{[]string{"--control-path", "base-files"}, "/var/lib/dpkg/info/base-files.postinst\n", 0},
	}
	for _, tc := range cases {
		r := runCmd(tfs, host, "", runDpkgQuery, "dpkg-query", tc.args...)
		if r.stdout != tc.stdout || exitCode(r.err) != tc.status {
			t.Errorf("dpkg-query %q: %q status %d (%v %s), want %q status %d", tc.args, r.stdout, exitCode(r.err), r.err, r.stderr, tc.stdout, tc.status)
		}
	}
	if r := runCmd(tfs, host, "", runDpkg, "dpkg", "--print-architecture"); r.stdout != "amd64\n" {
		t.Errorf("--print-architecture: %q", r.stdout)
	}
	if r := runCmd(tfs, host, "", runDpkg, "dpkg", "--compare-versions", "--", "1.0", "le-nl", ""); r.err != nil {
		t.Errorf("--compare-versions with --: %v %s", r.err, r.stderr)
	}
	if r := runCmd(tfs, host, "", runDpkg, "dpkg", "--validate-version", "--", "1.0-1"); r.err != nil {
		t.Errorf("--validate-version 1.0-1: %v", r.err)
	}
	if r := runCmd(tfs, host, "", runDpkg, "dpkg", "--validate-version", "--", "1.0 2"); exitCode(r.err) != 2 {
		t.Errorf("--validate-version '1.0 2': %v", r.err)
	}
	if r := runCmd(tfs, host, "", runDpkg, "dpkg", "--validate-version", "a1.0"); exitCode(r.err) != 1 || !strings.Contains(r.stderr, "warning") {
		t.Errorf("--validate-version a1.0: %v %q", r.err, r.stderr)
	}
	if r := runCmd(tfs, host, "", runDpkg, "dpkg", "--assert-multi-arch"); r.err != nil {
		t.Errorf("--assert-multi-arch: %v", r.err)
	}
	if r := runCmd(tfs, host, "", runDpkg, "dpkg", "-s", "base-files"); !strings.HasPrefix(r.stdout, "Package: base-files\nEssential: yes\nStatus: install ok installed\n") {
		t.Errorf("dpkg -s: %q", r.stdout)
	}
	if r := runCmd(tfs, host, "", runDpkg, "dpkg", "--configure", "-a"); !errors.Is(r.err, ErrRefused) {
		t.Errorf("dpkg --configure: %v, want refused", r.err)
	}
	r := runCmd(tfs, host, "", runDpkgTrigger, "dpkg-trigger", "--no-await", "ldconfig")
	if r.err != nil || len(host.triggers) != 1 || host.triggers[0] != "ldconfig noawait" {
		t.Errorf("dpkg-trigger: %v %v", r.err, host.triggers)
	}
	if r := runCmd(tfs, &testHost{arch: "arm64"}, "", runDpkgArchitecture, "dpkg-architecture", "-qDEB_HOST_MULTIARCH"); r.stdout != "aarch64-linux-gnu\n" {
		t.Errorf("dpkg-architecture: %q %v", r.stdout, r.err)
	}
}

func TestDpkgRealpath(t *testing.T) {
	tfs := newTestFS().add(map[string]string{"/usr/bin/": "", "/usr/lib/x/": "", "/bin": "-> usr/bin", "/lib": "-> /usr/lib", "/usr/lib/y": "-> x/../../bin"})
	for in, want := range map[string]string{"/etc": "/etc", "/bin": "/usr/bin", "/bin/sh": "/usr/bin/sh", "/lib/y/z": "/usr/bin/z", "/../lib/./x": "/usr/lib/x", "/": "/"} {
		r := runCmd(tfs, &testHost{}, "", runDpkgRealpath, "dpkg-realpath", "--root", "", in)
		if r.err != nil || r.stdout != want+"\n" {
			t.Errorf("dpkg-realpath %s: %q %v, want %s", in, r.stdout, r.err, want)
		}
	}
}
