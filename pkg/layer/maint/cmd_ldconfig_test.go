package maint

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// TestLdconfigOracle builds a small root with real libraries of the host,
// runs the host's ldconfig -r on it and the Go ldconfig on the same tree,
// and compares the cache bytes and the links ldconfig made.
func TestLdconfigOracle(t *testing.T) {
	ldconfig, err := exec.LookPath("ldconfig")
	if err != nil || runtime.GOARCH != "amd64" || os.Geteuid() != 0 {
		t.Skip("needs the host's ldconfig on amd64 as root (ldconfig -r chroots)")
	}
	libdir := "/usr/lib/x86_64-linux-gnu"
	libs := []string{"libffi.so.8.1.2", "libcrypt.so.1.1.0", "libpq.so.5.15"}
	for _, l := range libs {
		if _, err := os.Stat(libdir + "/" + l); err != nil {
			t.Skipf("host lacks %s", l)
		}
	}
	root := t.TempDir()
	tfs := newTestFS()
	mk := func(p, content string) {
		os.MkdirAll(filepath.Dir(root+p), 0o755)
		if err := os.WriteFile(root+p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		tfs.add(map[string]string{p: content})
	}
	mk("/etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n")
	mk("/etc/ld.so.conf.d/x86_64-linux-gnu.conf", "# Multiarch support\n/usr/local/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n")
	mk("/etc/ld.so.conf.d/libc.conf", "/usr/local/lib\n")
	os.MkdirAll(root+libdir, 0o755)
	tfs.mkdirAll(libdir)
	tfs.mkdirAll("/usr/local/lib")
	os.MkdirAll(root+"/usr/local/lib", 0o755)
	for _, l := range []string{"lib", "lib64"} {
		os.Symlink("usr/"+l, root+"/"+l)
		tfs.add(map[string]string{"/" + l: "-> usr/" + l})
	}
	tfs.mkdirAll("/usr/lib64")
	os.MkdirAll(root+"/usr/lib64", 0o755)
	run := func() {
		cmd := exec.Command(ldconfig, "-r", root)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("host ldconfig: %v %s", err, out)
		}
	}
	// An empty cache first: the generator string is the host's.
	run()
	b, err := os.ReadFile(root + "/etc/ld.so.cache")
	if err != nil {
		t.Fatal(err)
	}
	tfs.add(map[string]string{"/etc/ld.so.cache": string(b)})
	for _, l := range libs {
		data, err := os.ReadFile(libdir + "/" + l)
		if err != nil {
			t.Fatal(err)
		}
		mk(libdir+"/"+l, string(data))
	}
	// libpq's SONAME link is missing: ldconfig makes it; libffi's dev link is there.
	os.Symlink("libffi.so.8.1.2", root+libdir+"/libffi.so")
	tfs.add(map[string]string{libdir + "/libffi.so": "-> libffi.so.8.1.2"})
	os.Symlink("libcrypt.so.1.1.0", root+libdir+"/libcrypt.so.1")
	tfs.add(map[string]string{libdir + "/libcrypt.so.1": "-> libcrypt.so.1.1.0"})
	run()
	r := runCmd(tfs, &testHost{}, "", runLdconfig, "ldconfig")
	if r.err != nil {
		t.Fatal(r.err, r.stderr)
	}
	want, _ := os.ReadFile(root + "/etc/ld.so.cache")
	got := []byte(tfs.read(t, "/etc/ld.so.cache"))
	if !bytes.Equal(got, want) {
		t.Errorf("ld.so.cache differs (%d bytes, want %d)\n%q\n%q", len(got), len(want), got, want)
	}
	for _, l := range []string{"libpq.so.5", "libffi.so.8"} {
		tgt, err := os.Readlink(root + libdir + "/" + l)
		if err != nil {
			t.Fatalf("host ldconfig made no %s: %v", l, err)
		}
		if g, err := tfs.Readlink(libdir + "/" + l); err != nil || g != tgt {
			t.Errorf("%s -> %q (%v), want %q", l, g, err, tgt)
		}
	}
	p := runCmd(tfs, &testHost{}, "", runLdconfig, "ldconfig", "-p")
	if p.err != nil || !bytes.Contains([]byte(p.stdout), []byte("libpq.so.5 (libc6,x86-64) => /lib/x86_64-linux-gnu/libpq.so.5")) {
		t.Errorf("ldconfig -p: %v\n%s", p.err, p.stdout)
	}
}
