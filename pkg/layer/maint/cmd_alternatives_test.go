package maint

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// snapshotHost lists the files and links under root as "path kind content".
func snapshotHost(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case strings.HasSuffix(p, ".dpkg-tmp"): // left by a failed run
		case d.Type()&fs.ModeSymlink != 0:
			tgt, _ := os.Readlink(p)
			out = append(out, p+" -> "+tgt)
		case d.Type().IsRegular():
			b, _ := os.ReadFile(p)
			out = append(out, p+" = "+string(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func snapshotTest(f *testFS, root string) []string {
	var out []string
	for p, n := range f.nodes {
		if !strings.HasPrefix(p, root+"/") {
			continue
		}
		switch {
		case n.mode&fs.ModeSymlink != 0:
			out = append(out, p+" -> "+n.target)
		case n.mode.IsRegular():
			out = append(out, p+" = "+string(n.data))
		}
	}
	sort.Strings(out)
	return out
}

var logStamp = regexp.MustCompile(`update-alternatives \d{4}-\d\d-\d\d \d\d:\d\d:\d\d: `)

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	var es ExitStatus
	if errors.As(err, &es) {
		return int(es)
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestUpdateAlternativesOracle runs the same sequences through the host's
// update-alternatives (dpkg's, in a temporary --altdir/--admindir) and the
// Go implementation, and compares every file, link, message and exit status.
func TestUpdateAlternativesOracle(t *testing.T) {
	host, err := exec.LookPath("update-alternatives")
	if err != nil {
		t.Skip("no update-alternatives on this host to compare with (dpkg not installed)")
	}
	type step []string
	cases := []struct {
		name  string
		files []string // regular files to create first (relative to root)
		real  []string // regular files where links will be wanted
		steps []step
	}{
		{"install two with slaves, higher wins", []string{"usr/bin/b1", "usr/bin/b2", "usr/bin/s1"}, nil, []step{
			{"--install", "@usr/bin/x", "xx", "@usr/bin/b1", "10", "--slave", "@usr/bin/y", "yy", "@usr/bin/s1", "--slave", "@usr/bin/a", "aa", "@usr/bin/s1"},
			{"--install", "@usr/bin/x", "xx", "@usr/bin/b2", "20", "--slave", "@usr/bin/y", "yy", "@usr/bin/nonexist"},
			{"--query", "xx"}, {"--display", "xx"}, {"--list", "xx"}, {"--get-selections"},
		}},
		{"lower priority second keeps first", []string{"usr/bin/b1", "usr/bin/b2", "usr/bin/s2"}, nil, []step{
			{"--install", "@usr/bin/x", "xx", "@usr/bin/b2", "50", "--slave", "@usr/share/man/man1/x.1.gz", "xx.1.gz", "@usr/bin/s2"},
			{"--install", "@usr/bin/x", "xx", "@usr/bin/b1", "30"},
			{"--install", "@usr/bin/x", "xx", "@usr/bin/b1", "30"},
			{"--remove", "xx", "@usr/bin/b2"},
			{"--remove", "xx", "@usr/bin/b1"},
			{"--remove", "xx", "@usr/bin/b1"},
		}},
		{"manual mode kept, remove switches to auto", []string{"usr/bin/b1", "usr/bin/b2"}, nil, []step{
			{"--install", "@usr/bin/x", "xx", "@usr/bin/b1", "10"},
			{"--install", "@usr/bin/x", "xx", "@usr/bin/b2", "20"},
			{"--set", "xx", "@usr/bin/b1"},
			{"--install", "@usr/bin/x", "xx", "@usr/bin/b2", "40"},
			{"--query", "xx"},
			{"--remove", "xx", "@usr/bin/b1"},
			{"--set", "xx", "@usr/bin/nope"},
			{"--auto", "xx"},
			{"--remove-all", "xx"},
		}},
		{"real file at the link", []string{"usr/bin/b1"}, []string{"usr/bin/r"}, []step{
			{"--install", "@usr/bin/r", "rr", "@usr/bin/b1", "5"},
			{"--remove", "rr", "@usr/bin/b1"},
			{"--force", "--install", "@usr/bin/r", "rr", "@usr/bin/b1", "5"},
		}},
		{"errors", []string{"usr/bin/b1", "usr/bin/b2"}, nil, []step{
			{"--query", "nn"}, {"--auto", "nn"}, {"--remove", "nn", "/x"},
			{"--install", "@usr/bin/x", "xx", "@nonexist", "5"},
			{"--install", "@usr/bin/x", "xx", "@usr/bin/b1", "x5"},
			{"--install", "@usr/bin/x", "xx", "@usr/bin/b1", "5"},
			{"--install", "@usr/bin/x", "yy", "@usr/bin/b2", "5"},
			{"--install", "@usr/bin/z", "zz", "@usr/bin/b2", "5", "--slave", "@usr/bin/w", "xx", "@usr/bin/b1"},
			{"--quiet", "--install", "@usr/bin/x2", "xx", "@usr/bin/b1", "5"},
		}},
		{"slave vanishes and renames", []string{"usr/bin/b1", "usr/bin/s1", "usr/bin/s2"}, nil, []step{
			{"--install", "@usr/bin/x", "xx", "@usr/bin/b1", "10", "--slave", "@usr/bin/y", "yy", "@usr/bin/s1"},
			{"--install", "@usr/bin/x", "xx", "@usr/bin/b1", "10", "--slave", "@usr/bin/y2", "yy", "@usr/bin/s2"},
			{"--install", "@usr/bin/x", "xx", "@usr/bin/b1", "10"},
			{"--display", "xx"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			alt, admin, logf := root+"/etc/alternatives", root+"/var/lib/dpkg/alternatives", root+"/var/log/alternatives.log"
			tfs := newTestFS()
			for _, d := range []string{alt, admin, root + "/var/log"} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
				tfs.mkdirAll(d)
			}
			for _, f := range append(append([]string{}, tc.files...), tc.real...) {
				p := root + "/" + f
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
					t.Fatal(err)
				}
				tfs.add(map[string]string{p: f})
			}
			th := &testHost{}
			for i, st := range tc.steps {
				args := []string{"--altdir", alt, "--admindir", admin, "--log", logf}
				for _, a := range st {
					if strings.HasPrefix(a, "@") {
						a = root + "/" + a[1:]
					}
					args = append(args, a)
				}
				cmd := exec.Command(host, args...)
				var hout, herr strings.Builder
				cmd.Stdout, cmd.Stderr = &hout, &herr
				herrc := cmd.Run()
				got := runCmd(tfs, th, "", runUpdateAlternatives, "update-alternatives", args...)
				if exitCode(herrc) != exitCode(got.err) {
					t.Errorf("step %d %v: exit %d, update-alternatives exits %d (%v)", i, st, exitCode(got.err), exitCode(herrc), herr.String())
				}
				if got.stdout != hout.String() {
					t.Errorf("step %d %v: stdout\n%s\nwant\n%s", i, st, got.stdout, hout.String())
				}
				if got.stderr != herr.String() {
					t.Errorf("step %d %v: stderr\n%s\nwant\n%s", i, st, got.stderr, herr.String())
				}
				want := snapshotHost(t, root)
				have := snapshotTest(tfs, root)
				for j := range want {
					want[j] = logStamp.ReplaceAllString(want[j], "update-alternatives TS: ")
				}
				for j := range have {
					have[j] = logStamp.ReplaceAllString(have[j], "update-alternatives TS: ")
				}
				if strings.Join(want, "\n") != strings.Join(have, "\n") {
					t.Fatalf("step %d %v: image\n%s\nwant\n%s", i, st, strings.Join(have, "\n"), strings.Join(want, "\n"))
				}
			}
		})
	}
}

func TestUpdateAlternativesLogStamp(t *testing.T) {
	tfs := newTestFS().add(map[string]string{"/usr/bin/b1": "", "/etc/alternatives/": "", "/var/lib/dpkg/alternatives/": ""})
	r := runCmd(tfs, &testHost{}, "", runUpdateAlternatives, "update-alternatives", "--install", "/usr/bin/x", "x", "/usr/bin/b1", "1")
	if r.err != nil {
		t.Fatal(r.err, r.stderr)
	}
	want := "update-alternatives 2023-11-14 22:13:20: run with --install /usr/bin/x x /usr/bin/b1 1\n" +
		"update-alternatives 2023-11-14 22:13:20: link group x updated to point to /usr/bin/b1\n"
	if got := tfs.read(t, "/var/log/alternatives.log"); got != want {
		t.Errorf("log:\n%s\nwant\n%s", got, want)
	}
	if got := tfs.read(t, "/var/lib/dpkg/alternatives/x"); got != "auto\n/usr/bin/x\n\n/usr/bin/b1\n1\n\n" {
		t.Errorf("admin file %q", got)
	}
	if r := runCmd(tfs, &testHost{}, "", runUpdateAlternatives, "update-alternatives", "--config", "x"); !errors.Is(r.err, ErrRefused) {
		t.Errorf("--config: %v, want refused", r.err)
	}
}
