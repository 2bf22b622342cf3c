package layer

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgassemble/pgassemble/internal/debtest"
)

// ctlDeb is a package with extra control fields (Replaces, Multi-Arch...).
func ctlDeb(name, arch string, extra []string, files ...debtest.File) debtest.Deb {
	kv := []string{"Package", name, "Version", "1.0-1", "Architecture", arch, "Maintainer", "Test <t@example.org>",
		"Installed-Size", "1"}
	kv = append(kv, extra...)
	kv = append(kv, "Description", "test package\n long")
	return debtest.Deb{Control: debtest.Control(kv...), Files: files}
}

// TestFileConflictsAgainstDpkg installs the same packages with the host's
// dpkg and with the builder, in one stage (one dpkg -i) and in one stage
// per package (one dpkg -i each): both must refuse the same sets, and
// otherwise leave the same tree and database.
func TestFileConflictsAgainstDpkg(t *testing.T) {
	reg := func(p, body string) debtest.File { return debtest.File{Path: p, Body: body} }
	dir := func(p string) debtest.File { return debtest.File{Path: p, Type: tar.TypeDir, Mode: 0o755} }
	sym := func(p, to string) debtest.File { return debtest.File{Path: p, Type: tar.TypeSymlink, Linkname: to} }
	hard := func(p, to string) debtest.File { return debtest.File{Path: p, Type: tar.TypeLink, Linkname: to} }
	tests := []struct {
		name     string
		debs     []debtest.Deb
		conflict bool   // dpkg refuses
		divs     string // var/lib/dpkg/diversions of both roots
	}{
		{"same file without Replaces", []debtest.Deb{
			ctlDeb("a", "amd64", nil, reg("/usr/share/x", "a")),
			ctlDeb("b", "amd64", nil, reg("/usr/share/x", "b"))}, true, ""},
		{"same file, filtered path", []debtest.Deb{
			ctlDeb("a", "amd64", nil, reg("/usr/share/doc/x/README", "a")),
			ctlDeb("b", "amd64", nil, reg("/usr/share/doc/x/README", "b"))}, true, ""},
		{"new package Replaces", []debtest.Deb{
			ctlDeb("a", "amd64", nil, reg("/usr/share/x", "a"), reg("/usr/share/y", "y")),
			ctlDeb("b", "amd64", []string{"Replaces", "a (<< 2)"}, reg("/usr/share/x", "b"))}, false, ""},
		{"Replaces of another version", []debtest.Deb{
			ctlDeb("a", "amd64", nil, reg("/usr/share/x", "a")),
			ctlDeb("b", "amd64", []string{"Replaces", "a (<< 1.0)"}, reg("/usr/share/x", "b"))}, true, ""},
		{"installed package Replaces the new one", []debtest.Deb{
			ctlDeb("a", "amd64", []string{"Replaces", "b"}, reg("/usr/share/x", "a")),
			ctlDeb("b", "amd64", nil, reg("/usr/share/x", "b"), reg("/usr/share/z", "z"))}, false, ""},
		{"shared directory", []debtest.Deb{
			ctlDeb("a", "amd64", nil, dir("/usr/share/common"), reg("/usr/share/common/a", "a")),
			ctlDeb("b", "amd64", nil, dir("/usr/share/common"), reg("/usr/share/common/b", "b"))}, false, ""},
		{"symlink to the same directory", []debtest.Deb{
			ctlDeb("a", "amd64", nil, dir("/usr/share/d"), sym("/usr/share/l", "d")),
			ctlDeb("b", "amd64", nil, sym("/usr/share/l", "d"))}, false, ""},
		{"same symlink to a file", []debtest.Deb{
			ctlDeb("a", "amd64", nil, reg("/usr/share/f", "f"), sym("/usr/share/l", "f")),
			ctlDeb("b", "amd64", nil, sym("/usr/share/l", "f"))}, true, ""},
		{"symlink over a directory", []debtest.Deb{
			ctlDeb("a", "amd64", nil, dir("/usr/share/d"), reg("/usr/share/d/f", "f")),
			ctlDeb("b", "amd64", nil, sym("/usr/share/d", "elsewhere"))}, false, ""},
		{"file over another package's directory", []debtest.Deb{
			ctlDeb("a", "amd64", nil, dir("/usr/share/d")),
			ctlDeb("b", "amd64", nil, reg("/usr/share/d", "f"))}, true, ""},
		{"hardlink to itself", []debtest.Deb{
			ctlDeb("a", "amd64", nil, reg("/usr/bin/x", "x"), hard("/usr/bin/x", "/usr/bin/x"))}, true, ""},
		{"control member named list", []debtest.Deb{withScripts(
			ctlDeb("a", "amd64", nil, reg("/usr/bin/x", "x")), "list", "/etc/passwd\n", "custom", "kept", "dotted.name", "skipped")}, false, ""},
		{"Multi-Arch: same instances, identical", []debtest.Deb{
			ctlDeb("m", "amd64", []string{"Multi-Arch", "same"}, reg("/usr/share/m/x", "same")),
			ctlDeb("m", "i386", []string{"Multi-Arch", "same"}, reg("/usr/share/m/x", "same"))}, false, ""},
		{"Multi-Arch: same instances, different", []debtest.Deb{
			ctlDeb("m", "amd64", []string{"Multi-Arch", "same"}, reg("/usr/share/m/x", "amd64")),
			ctlDeb("m", "i386", []string{"Multi-Arch", "same"}, reg("/usr/share/m/x", "i386"))}, true, ""},
		{"file over a diverted copy", []debtest.Deb{
			ctlDeb("a", "amd64", nil, reg("/usr/bin/tool.distrib", "a"))}, true, "/usr/bin/tool\n/usr/bin/tool.distrib\nother\n"},
		{"diverted file, diverting package ships it too", []debtest.Deb{
			ctlDeb("a", "amd64", nil, reg("/usr/bin/tool", "a")),
			ctlDeb("other", "amd64", []string{}, reg("/usr/bin/tool", "other"))}, false, "/usr/bin/tool\n/usr/bin/tool.distrib\nother\n"},
		{"hardlinked file replaced", []debtest.Deb{
			ctlDeb("a", "amd64", nil, reg("/usr/bin/x", "old"), hard("/usr/bin/y", "/usr/bin/x")),
			ctlDeb("b", "amd64", []string{"Replaces", "a"}, reg("/usr/bin/x", "new"))}, false, ""},
	}
	for _, tt := range tests {
		for _, split := range []bool{false, true} {
			name := tt.name + "/one stage"
			if split {
				name = tt.name + "/stage each"
			}
			t.Run(name, func(t *testing.T) {
				files := writeDebs(t, tt.debs...)
				dpkgOut, dpkgErr := dpkgOracle(t, files, split, tt.divs)
				if dpkgErr != nil && !tt.conflict {
					t.Fatalf("dpkg refused: %v\n%s", dpkgErr, dpkgOut)
				}
				if tt.conflict && dpkgErr == nil {
					t.Fatalf("dpkg accepted:\n%s", dpkgOut)
				}
				ours, err := buildInto(t, files, split, tt.divs)
				if tt.conflict {
					overwrite := strings.Contains(dpkgOut, "trying to overwrite")
					if overwrite && (!errors.Is(err, ErrFileConflict) || !strings.Contains(err.Error(), "trying to overwrite")) ||
						!overwrite && !errors.Is(err, ErrBadDeb) {
						t.Fatalf("builder: %v; dpkg:\n%s", err, dpkgOut)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				compareTrees(t, ours, dpkgRoot(t, dpkgOut))
			})
		}
	}
}

func withScripts(d debtest.Deb, kv ...string) debtest.Deb {
	d.Scripts = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		d.Scripts[kv[i]] = kv[i+1]
	}
	return d
}

// dpkgOracle runs the host's dpkg on a fresh root; it returns dpkg's
// output with the root's path on the first line.
func dpkgOracle(t *testing.T, debs []Deb, split bool, divs string) (string, error) {
	t.Helper()
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		t.Skipf("dpkg not installed on this host (%v); it is the oracle of this test", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: dpkg --root chowns files")
	}
	droot := makeBase(t, baseSpec{files: map[string]string{"var/lib/dpkg/status": baseStatus, "var/lib/dpkg/diversions": divs}})
	os.WriteFile(filepath.Join(droot, "var/lib/dpkg/available"), nil, 0o644)
	os.MkdirAll(filepath.Join(droot, "var/lib/dpkg/updates"), 0o755)
	if out, err := exec.Command(dpkg, "--root="+droot, "--add-architecture", "i386").CombinedOutput(); err != nil {
		t.Fatalf("dpkg --add-architecture: %v\n%s", err, out)
	}
	run := func(ds []Deb) (string, error) {
		args := []string{"--root=" + droot, "--force-depends", "--force-script-chrootless", "--force-not-root",
			"--path-exclude=/usr/share/doc/*", "-i"}
		for _, d := range ds {
			args = append(args, d.Path)
		}
		cmd := exec.Command(dpkg, args...)
		cmd.Env = append(os.Environ(), "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out := droot + "\n"
	if !split {
		o, err := run(debs)
		return out + o, err
	}
	for _, d := range debs {
		o, err := run([]Deb{d})
		out += o
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func dpkgRoot(t *testing.T, out string) string {
	root, _, _ := strings.Cut(out, "\n")
	return root
}

// buildInto converts debs (one stage, or one stage each) and applies the
// layers to a fresh base like dpkgOracle's.
func buildInto(t *testing.T, debs []Deb, split bool, divs string) (string, error) {
	t.Helper()
	ours := makeBase(t, baseSpec{files: map[string]string{"var/lib/dpkg/status": baseStatus, "var/lib/dpkg/diversions": divs,
		"etc/dpkg/dpkg.cfg.d/excludes": "path-exclude=/usr/share/doc/*\n"}})
	b := newTestBuilder(t, ours, Options{})
	stages := [][]Deb{debs}
	if split {
		stages = nil
		for _, d := range debs {
			stages = append(stages, []Deb{d})
		}
	}
	ctx := context.Background()
	for _, st := range stages {
		l, err := b.AddStage(ctx, st)
		if err != nil {
			return "", err
		}
		if err := ApplyToDir(ctx, l, ours); err != nil {
			t.Fatal(err)
		}
	}
	fin, err := b.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ApplyToDir(ctx, fin, ours); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(ours, "etc/dpkg/dpkg.cfg.d/excludes"))
	return ours, nil
}

func compareTrees(t *testing.T, ours, droot string) {
	t.Helper()
	ignore := func(p string) bool {
		return strings.HasPrefix(p, "var/lib/dpkg/") && !strings.HasPrefix(p, "var/lib/dpkg/info/") && p != "var/lib/dpkg/status" ||
			p == "etc/dpkg/dpkg.cfg.d/excludes" || p == "var/lib/dpkg/info/format" || strings.HasSuffix(p, "-old")
	}
	got, want := snapshot(t, ours, ignore), snapshot(t, droot, ignore)
	for _, k := range sortedKeys(want) {
		if got[k] != want[k] {
			t.Errorf("%s:\n dpkg: %s\n ours: %s", k, want[k], got[k])
		}
	}
	for _, k := range sortedKeys(got) {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: only in ours: %s", k, got[k])
		}
	}
}
