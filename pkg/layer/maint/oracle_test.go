package maint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The oracle: the same command line run by the host's real program (GNU
// coreutils, grep, sed, findutils in a temporary directory, LC_ALL=C,
// umask 022) and by the Go implementation over a virtual root whose base
// is an identical directory. Output, diagnostics, exit status and the
// resulting tree (types, modes, owners, contents, link targets) must be
// the same. Paths in the cases are relative: the real program runs in
// its directory, the Go one in "/" of the virtual root.

// oracleCase is one command line over a starting tree.
type oracleCase struct {
	name  string
	tree  []treeEntry
	argv  []string
	stdin string
	// skipTree: compare output and status only (read-only commands).
	skipTree bool
	// sortOut: compare stdout's lines sorted (find lists directories in
	// the host filesystem's order, the image's are sorted).
	sortOut bool
}

// treeEntry is a file ("content"), a directory (dir) or a symlink.
type treeEntry struct {
	path, content, link string
	dir                 bool
	mode                fs.FileMode
	uid, gid            int
}

func tFile(p, content string) treeEntry { return treeEntry{path: p, content: content, mode: 0o644} }
func tFileMode(p, content string, m fs.FileMode) treeEntry {
	return treeEntry{path: p, content: content, mode: m}
}
func tDir(p string) treeEntry                    { return treeEntry{path: p, dir: true, mode: 0o755} }
func tDirMode(p string, m fs.FileMode) treeEntry { return treeEntry{path: p, dir: true, mode: m} }
func tLink(p, target string) treeEntry           { return treeEntry{path: p, link: target} }

// hostPasswd and hostGroup are the accounts both sides resolve names with:
// the Go side reads the tree's etc/passwd, the host program the host's,
// so cases use names whose ids are the same in both (Debian's static ids).
const hostPasswd = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nbin:x:2:2:bin:/bin:/usr/sbin/nologin\n"
const hostGroup = "root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nadm:x:4:\n"

func oracleMaterialize(t *testing.T, root string, tree []treeEntry) {
	t.Helper()
	for _, e := range tree {
		p := filepath.Join(root, e.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case e.dir:
			err = os.Mkdir(p, 0o755)
			if err == nil {
				err = os.Chmod(p, toOSMode(e.mode))
			}
		case e.link != "":
			err = os.Symlink(e.link, p)
		default:
			err = os.WriteFile(p, []byte(e.content), 0o644)
			if err == nil {
				err = os.Chmod(p, toOSMode(e.mode))
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		if e.uid != 0 || e.gid != 0 {
			if err := os.Lchown(p, e.uid, e.gid); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func sortLines(s string) string {
	l := strings.Split(s, "\n")
	sort.Strings(l)
	return strings.Join(l, "\n")
}

func toOSMode(m fs.FileMode) os.FileMode { return os.FileMode(m) }

func ownerOf(fi fs.FileInfo) (int, int) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return -1, -1
}

// oracleHostTree describes a host directory tree.
func oracleHostTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		uid, gid := ownerOf(fi)
		line := fmt.Sprintf("/%s %s %d:%d", rel, modeString(fi.Mode()), uid, gid)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			tgt, _ := os.Readlink(p)
			line += " -> " + tgt
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			line += fmt.Sprintf(" %q", b)
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// oracleFSTree describes the virtual root the same way.
func oracleFSTree(t *testing.T, fsys FS) []string {
	t.Helper()
	var out []string
	var walk func(dir string)
	walk = func(dir string) {
		entries, err := fsys.ReadDir(dir)
		if err != nil {
			t.Fatalf("readdir %s: %v", dir, err)
		}
		for _, e := range entries {
			p := joinAbs(dir, e.Name)
			i, err := fsys.Lstat(p)
			if err != nil {
				t.Fatalf("lstat %s: %v", p, err)
			}
			line := fmt.Sprintf("%s %s %d:%d", p, modeString(i.Mode), i.Uid, i.Gid)
			switch {
			case i.Mode&fs.ModeSymlink != 0:
				line += " -> " + i.Target
			case i.Mode.IsRegular():
				f, err := fsys.OpenFile(p, os.O_RDONLY, 0)
				if err != nil {
					t.Fatalf("open %s: %v", p, err)
				}
				b, _ := io.ReadAll(f)
				f.Close()
				line += fmt.Sprintf(" %q", b)
			}
			out = append(out, line)
			if i.IsDir() {
				walk(p)
			}
		}
	}
	walk("/")
	sort.Strings(out)
	return out
}

// oracleRunHost runs argv with the host's program in dir.
func oracleRunHost(t *testing.T, dir string, argv []string, stdin string) (string, string, int) {
	t.Helper()
	if _, err := exec.LookPath(argv[0]); err != nil {
		t.Skipf("host has no %s: %v", argv[0], err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", append([]string{"-c", `umask 022; exec "$@"`, "sh"}, argv...)...)
	cmd.Dir = dir
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TZ=UTC", "SOURCE_DATE_EPOCH=946684800"}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	status := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		status = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", argv, err)
	}
	return out.String(), errb.String(), status
}

// oracleRunGo runs argv with the registry's implementation over fsys.
func oracleRunGo(t *testing.T, fsys FS, host Host, argv []string, stdin string) (string, string, int, error) {
	t.Helper()
	reg := DefaultRegistry()
	spec, ok := reg.Lookup(argv[0])
	if !ok {
		t.Fatalf("no Go implementation of %s", argv[0])
	}
	var out, errb bytes.Buffer
	env := map[string]string{"SOURCE_DATE_EPOCH": "946684800", "TZ": "UTC", "PATH": DefaultPath}
	var c *Call
	c = &Call{Ctx: context.Background(), Name: argv[0], Args: argv[1:], Stdin: strings.NewReader(stdin),
		Stdout: &out, Stderr: &errb, Env: func(n string) string { return env[n] }, Dir: "/", FS: fsys,
		Host: host, Package: "test", Script: "postinst", Line: 1, Effect: func(string, ...any) {}, Umask: 0o022,
		Exec: func(args []string, in io.Reader, o, e io.Writer) error {
			if vfs, isVFS := fsys.(*VFS); isVFS && args[0] == "sh" && len(args) == 3 && args[1] == "-c" {
				// a shell command line (sed's e flag): the runner's shell
				sh := &Shell{FS: vfs, Host: host, Registry: reg, Env: BaseEnv("amd64", time.Unix(946684800, 0)), Output: o}
				err := sh.Run(context.Background(), Script{Package: "test", Name: "postinst", Body: []byte(args[2])})
				if err != nil {
					fmt.Fprintln(e, err)
					return ExitStatus(1)
				}
				return nil
			}
			s, ok := reg.Lookup(args[0])
			if !ok {
				fmt.Fprintf(e, "%s: not found\n", args[0])
				return ExitStatus(127)
			}
			cc := *c
			cc.Name, cc.Args, cc.Stdin, cc.Stdout, cc.Stderr = args[0], args[1:], in, o, e
			return s.Run(&cc)
		}}
	err := spec.Run(c)
	status := 0
	if err != nil {
		var st ExitStatus
		if errors.As(err, &st) {
			status = int(st)
			err = nil
		}
	}
	return out.String(), errb.String(), status, err
}

func runOracle(t *testing.T, cases []oracleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tree := append([]treeEntry{tFile("etc/passwd", hostPasswd), tFile("etc/group", hostGroup)}, tc.tree...)
			hostDir, goDir := t.TempDir(), t.TempDir()
			oracleMaterialize(t, hostDir, tree)
			oracleMaterialize(t, goDir, tree)
			hout, herr, hst := oracleRunHost(t, hostDir, tc.argv, tc.stdin)
			// Absolute names the host program printed are inside its
			// directory; the Go side's root is that directory.
			hout, herr = strings.ReplaceAll(hout, hostDir, ""), strings.ReplaceAll(herr, hostDir, "")
			fsys := NewVFS(os.DirFS(goDir))
			gout, gerr, gst, err := oracleRunGo(t, fsys, newKitHost(), tc.argv, tc.stdin)
			if err != nil {
				t.Fatalf("%v: Go implementation failed: %v", tc.argv, err)
			}
			if tc.sortOut || tc.argv[0] == "find" {
				hout, gout = sortLines(hout), sortLines(gout)
			}
			if gout != hout || gerr != herr || gst != hst {
				t.Errorf("%v:\n host: status %d stdout %q stderr %q\n   go: status %d stdout %q stderr %q",
					tc.argv, hst, hout, herr, gst, gout, gerr)
			}
			if tc.skipTree {
				return
			}
			want, got := oracleHostTree(t, hostDir), oracleFSTree(t, fsys)
			if strings.Join(want, "\n") != strings.Join(got, "\n") {
				t.Errorf("%v: trees differ\n host:\n  %s\n   go:\n  %s", tc.argv, strings.Join(want, "\n  "), strings.Join(got, "\n  "))
			}
		})
	}
}
