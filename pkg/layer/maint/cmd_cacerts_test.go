package maint

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestUpdateCACertificatesOracle runs the host's update-ca-certificates
// (its openssl rehash) and the Go implementation over the same trees of
// real certificates, and compares /etc/ssl/certs after each run.
func TestUpdateCACertificatesOracle(t *testing.T) {
	for _, tool := range []string{"update-ca-certificates", "openssl", "run-parts"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s on this host to compare with", tool)
		}
	}
	src := "/usr/share/ca-certificates/mozilla"
	ents, err := os.ReadDir(src)
	if err != nil || len(ents) < 40 {
		t.Skip("the host has no Mozilla certificates to work with")
	}
	root := t.TempDir()
	certs, local, etc, hooks, conf := root+"/usr/share/ca-certificates", root+"/usr/local/share/ca-certificates", root+"/etc/ssl/certs", root+"/etc/ca-certificates/update.d", root+"/etc/ca-certificates.conf"
	tfs := newTestFS()
	for _, d := range []string{certs + "/mozilla", local + "/corp", etc, hooks} {
		os.MkdirAll(d, 0o755)
		tfs.mkdirAll(d)
	}
	var lines []string
	for _, e := range ents[:40] {
		b, err := os.ReadFile(src + "/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		p := certs + "/mozilla/" + e.Name()
		os.WriteFile(p, b, 0o644)
		tfs.add(map[string]string{p: string(b)})
		lines = append(lines, "mozilla/"+e.Name())
	}
	// A local certificate (a copy of one already trusted: same hash, skipped by rehash).
	b, _ := os.ReadFile(src + "/" + ents[3].Name())
	os.WriteFile(local+"/corp/Corp Root (test).crt", b, 0o644)
	tfs.add(map[string]string{local + "/corp/Corp Root (test).crt": string(b)})
	hook := "#!/bin/sh\ncat > /dev/null\n"
	os.WriteFile(hooks+"/noop", []byte(hook), 0o755)
	tfs.add(map[string]string{hooks + "/noop": hook})
	tfs.nodes[hooks+"/noop"].mode = 0o755
	write := func(s string) {
		os.WriteFile(conf, []byte(s), 0o644)
		tfs.add(map[string]string{conf: s})
		tfs.nodes[conf].data = []byte(s)
	}
	confs := []string{
		strings.Join(lines, "\n") + "\n",
		"# header\n" + strings.Join(lines[:30], "\n") + "\n!" + strings.Join(lines[30:35], "\n!") + "\n" + strings.Join(lines[35:], "\n") + "\nmozilla/Missing.crt\n",
	}
	for i, cf := range confs {
		write(cf)
		args := []string{"--certsconf", conf, "--certsdir", certs, "--localcertsdir", local, "--etccertsdir", etc, "--hooksdir", hooks}
		cmd := exec.Command("update-ca-certificates", args...)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
		var hout, herr strings.Builder
		cmd.Stdout, cmd.Stderr = &hout, &herr
		if err := cmd.Run(); err != nil {
			t.Fatalf("host: %v %s", err, herr.String())
		}
		host := &testHost{}
		var out, errb strings.Builder
		c2 := &Call{Ctx: t.Context(), Name: "update-ca-certificates", Args: args, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
			Env: func(string) string { return "" }, Dir: "/", FS: tfs, Host: host}
		ran := 0
		c2.Exec = func(argv []string, _ io.Reader, _, _ io.Writer) error { ran++; return nil }
		if err := runUpdateCACertificates(c2); err != nil {
			t.Fatal(err, errb.String())
		}
		if ran != 1 {
			t.Errorf("run %d: hooks run %d times, want 1", i, ran)
		}
		if out.String() != hout.String() || errb.String() != herr.String() {
			t.Errorf("run %d: output %q %q, want %q %q", i, out.String(), errb.String(), hout.String(), herr.String())
		}
		w, g := snapshotTree(t, etc), snapshotTestTree(tfs)
		var gg []string
		for _, x := range g {
			if strings.HasPrefix(x, etc+"/") && x != etc+"/" {
				gg = append(gg, strings.TrimPrefix(x, etc))
			}
		}
		if strings.Join(w, "\n") != strings.Join(gg, "\n") {
			t.Fatalf("run %d: %s\n%s\nwant\n%s", i, etc, strings.Join(gg, "\n"), strings.Join(w, "\n"))
		}
	}
}
