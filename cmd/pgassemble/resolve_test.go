package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pgassemble/pgassemble/internal/debtest"
	"github.com/pgassemble/pgassemble/pkg/apt/apttest"
)

// runCLI runs the command in-process and returns its output and exit code.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runWith(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func resolveRepo(t *testing.T) *apttest.Repo {
	deb := func(kv ...string) debtest.Deb {
		return debtest.Deb{Control: debtest.Control(kv...), Files: []debtest.File{{Path: "/usr/share/doc/" + kv[1] + "/copyright", Body: kv[1]}}}
	}
	return apttest.NewRepo(t, apttest.Config{
		Suite: "trixie", Components: []string{"main"}, Arches: []string{"amd64", "arm64"},
		Packages: map[string][]debtest.Deb{"main": {
			deb("Package", "app", "Version", "1.0-1", "Architecture", "amd64",
				"Depends", "libfoo1 (>= 2) | libfoo-compat, base-files (>= 13)"),
			deb("Package", "app", "Version", "1.0-1", "Architecture", "arm64",
				"Depends", "libfoo1 (>= 2) | libfoo-compat, base-files (>= 13)"),
			deb("Package", "libfoo1", "Version", "2.0-1", "Architecture", "amd64", "Multi-Arch", "same"),
			deb("Package", "libfoo1", "Version", "2.0-1", "Architecture", "arm64", "Multi-Arch", "same"),
			deb("Package", "base-files", "Version", "13", "Architecture", "all", "Essential", "yes"),
			deb("Package", "broken", "Version", "1", "Architecture", "all", "Depends", "missing-thing (>= 1)"),
			deb("Package", "left", "Version", "1", "Architecture", "all", "Conflicts", "right"),
			deb("Package", "right", "Version", "1", "Architecture", "all"),
		}},
	})
}

const baseStatus = `Package: base-files
Status: install ok installed
Priority: required
Essential: yes
Version: 12
Architecture: all

`

func TestResolveCommand(t *testing.T) {
	r := resolveRepo(t)
	dir := t.TempDir()
	status := filepath.Join(dir, "status")
	if err := os.WriteFile(status, []byte(baseStatus), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"resolve", "--source", r.SourceLine(), "--keyring", r.KeyringFile, "--cache-dir", filepath.Join(dir, "cache")}
	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		stdout     string
		stderrHas  []string
		downloaded []string
	}{
		{
			name:   "install order and upgrade",
			args:   []string{"--arch", "amd64", "--status", status, "app"},
			stdout: "libfoo1 2.0-1 amd64\nbase-files 13 all  # upgrade from 12\napp 1.0-1 amd64\n",
		},
		{
			name: "why",
			args: []string{"--arch", "arm64", "--status", status, "--why", "app"},
			stdout: "libfoo1 2.0-1 arm64  # app Depends: libfoo1 (>= 2) | libfoo-compat\n" +
				"base-files 13 all  # upgrade from 12; app Depends: base-files (>= 13)\n" +
				"app 1.0-1 arm64  # requested\n",
		},
		{
			name:       "download",
			args:       []string{"--arch", "amd64", "--download", filepath.Join(dir, "debs"), "app"},
			stdout:     "libfoo1 2.0-1 amd64\nbase-files 13 all\napp 1.0-1 amd64\n",
			downloaded: []string{"app_1.0-1_amd64.deb", "base-files_13_all.deb", "libfoo1_2.0-1_amd64.deb"},
		},
		{
			name: "unsatisfiable", args: []string{"--arch", "amd64", "broken"}, code: 1,
			stderrHas: []string{"unsatisfiable", "broken", "missing-thing"},
		},
		{
			name: "conflict", args: []string{"--arch", "amd64", "left", "right"}, code: 1,
			stderrHas: []string{"conflict", "left", "right"},
		},
		{
			name: "unknown package", args: []string{"--arch", "amd64", "nosuchpackage"}, code: 1,
			stderrHas: []string{"nosuchpackage"},
		},
		{name: "no package", args: nil, code: 2, stderrHas: []string{"PACKAGE"}},
		{name: "bad flag", args: []string{"--no-such-flag", "app"}, code: 2, stderrHas: []string{"no-such-flag"}},
		{name: "bad source", args: []string{"--source", "mirror.example/debian trixie main", "app"}, code: 2, stderrHas: []string{"no scheme"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, append(append([]string{}, common...), tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			// The order among independent packages is the resolver's
			// business; what must hold is the set of lines and that the
			// requested package comes after its dependencies.
			if tc.code == 0 {
				got, want := lines(stdout), lines(tc.stdout)
				if strings.Join(sorted(got), "\n") != strings.Join(sorted(want), "\n") || got[len(got)-1] != want[len(want)-1] {
					t.Errorf("stdout:\n%s\nwant (in some dependency order):\n%s", stdout, tc.stdout)
				}
			}
			for _, s := range tc.stderrHas {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr does not mention %q:\n%s", s, stderr)
				}
			}
			for _, name := range tc.downloaded {
				b, err := os.ReadFile(filepath.Join(dir, "debs", name))
				if err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(b)
				var want string
				for _, arch := range []string{"amd64", "all"} {
					parts := strings.Split(strings.TrimSuffix(name, ".deb"), "_")
					if parts[2] == arch {
						want = r.Deb(parts[0], parts[1], arch).SHA256
					}
				}
				if hex.EncodeToString(sum[:]) != want {
					t.Errorf("%s: content differs from the repository's", name)
				}
			}
		})
	}
}

func lines(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

func TestResolveCommandVerificationFailures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, r *apttest.Repo) []string
		msg   []string
	}{
		{
			name:  "bad signature",
			setup: func(t *testing.T, r *apttest.Repo) []string { r.TamperRelease("trixie"); return nil },
			msg:   []string{"bad OpenPGP signature", "/dists/trixie/InRelease"},
		},
		{
			name: "unknown key",
			setup: func(t *testing.T, r *apttest.Repo) []string {
				other := apttest.NewKey(t, "other")
				kr := filepath.Join(t.TempDir(), "other.asc")
				if err := apttest.WriteKeyring(kr, other, true); err != nil {
					t.Fatal(err)
				}
				return []string{"--keyring", kr}
			},
			msg: []string{"signed by a key not in the keyring", "other.asc"},
		},
		{
			name: "deb checksum",
			setup: func(t *testing.T, r *apttest.Repo) []string {
				r.Corrupt(r.Deb("app", "1.0-1", "amd64").Path)
				return []string{"--download", t.TempDir()}
			},
			msg: []string{"checksum mismatch", "app=1.0-1:amd64"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := resolveRepo(t)
			extra := tc.setup(t, r)
			kr := []string{"--keyring", r.KeyringFile}
			if extra != nil && extra[0] == "--keyring" {
				kr, extra = extra, nil
			}
			cache := t.TempDir()
			args := append([]string{"resolve", "--source", r.SourceLine(), "--arch", "amd64", "--cache-dir", cache}, kr...)
			args = append(append(args, extra...), "app")
			_, stderr, code := runCLI(t, args...)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr)
			}
			for _, m := range tc.msg {
				if !strings.Contains(stderr, m) {
					t.Errorf("stderr does not mention %q:\n%s", m, stderr)
				}
			}
			// Nothing unverified stays: no temporary files, not the bad .deb
			// (the good ones downloaded in parallel may stay), and
			// after a signature failure nothing at all.
			filepath.WalkDir(cache, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(cache, p)
				bad := r.Deb("app", "1.0-1", "amd64").SHA256
				if strings.Contains(rel, ".tmp-") || strings.Contains(rel, bad) || tc.name != "deb checksum" {
					t.Errorf("left in the cache: %s", rel)
				}
				return nil
			})
		})
	}
}

func TestResolveHelpTeaches(t *testing.T) {
	stdout, _, code := runCLI(t, "resolve", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, s := range []string{"--source", "--keyring", "--status", "--why", "--download", "--ignore-valid-until", "Examples:", "Exit status"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("help lacks %q", s)
		}
	}
}

// TestResolveFromRootSources uses no --source: the repositories and their
// keyrings come from the apt configuration under --root.
func TestResolveFromRootSources(t *testing.T) {
	r := resolveRepo(t)
	root := t.TempDir()
	key, err := os.ReadFile(r.KeyringFile)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"usr/share/keyrings/apttest.gpg": string(key),
		"etc/apt/sources.list.d/apttest.sources": "Types: deb\nURIs: " + r.URL + "\nSuites: trixie\nComponents: main\n" +
			"Signed-By: /usr/share/keyrings/apttest.gpg\n\nTypes: deb\nURIs: http://127.0.0.1:9/off\nSuites: x\nComponents: main\nEnabled: no\n",
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr, code := runCLI(t, "resolve", "--root", root, "--arch", "amd64", "--cache-dir", t.TempDir(), "libfoo1")
	if code != 0 || stdout != "libfoo1 2.0-1 amd64\n" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	// --keyring without --source is a usage error.
	if _, _, code := runCLI(t, "resolve", "--root", root, "--keyring", r.KeyringFile, "libfoo1"); code != 2 {
		t.Errorf("--keyring without --source: exit %d, want 2", code)
	}
	// An empty root has no sources: a clear failure.
	_, stderr, code = runCLI(t, "resolve", "--root", t.TempDir(), "--cache-dir", t.TempDir(), "libfoo1")
	if code != 1 || !strings.Contains(stderr, "no enabled deb sources") {
		t.Errorf("empty root: exit %d, stderr %s", code, stderr)
	}
}

// The archive's trust flags reach the client: a Release dated ten years
// ahead is refused ("not valid yet") unless --no-check-date says the
// clock is not to be trusted; a mirror that stalls is cut by --http-timeout.
func TestResolveTrustFlags(t *testing.T) {
	r := resolveRepo(t)
	r.Update("trixie", func(c *apttest.Config) { c.Date = time.Now().AddDate(10, 0, 0) })
	args := []string{"resolve", "--source", r.SourceLine(), "--keyring", r.KeyringFile, "--arch", "amd64"}
	_, stderr, code := runCLI(t, append(args, "--cache-dir", t.TempDir(), "app")...)
	if code != 1 || !strings.Contains(stderr, "not valid yet") {
		t.Fatalf("future Release: exit %d, stderr:\n%s", code, stderr)
	}
	if _, stderr, code := runCLI(t, append(args, "--cache-dir", t.TempDir(), "--no-check-date", "app")...); code != 0 {
		t.Fatalf("--no-check-date: exit %d, stderr:\n%s", code, stderr)
	}
	r.SetFault("/dists/trixie/InRelease", apttest.Fault{Stall: true})
	_, stderr, code = runCLI(t, append(args, "--cache-dir", t.TempDir(), "--no-check-date", "--http-timeout", "200ms", "--http-retries", "0", "app")...)
	if code != 1 || !strings.Contains(stderr, "no data for 200ms") || !strings.Contains(stderr, r.URL+"/dists/trixie/InRelease") {
		t.Fatalf("stalled mirror: exit %d, stderr:\n%s", code, stderr)
	}
}

// A .deb planted in the cache under a package's hash (another valid .deb)
// is not what `resolve --download` hands out: it is hashed, dropped and
// fetched again.
func TestResolveDownloadRefusesPlantedDeb(t *testing.T) {
	r := resolveRepo(t)
	cache := t.TempDir()
	args := []string{"resolve", "-q", "--source", r.SourceLine(), "--keyring", r.KeyringFile, "--arch", "amd64", "--cache-dir", cache}
	if _, stderr, code := runCLI(t, append(args, "--download", t.TempDir(), "app")...); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	app := r.Deb("app", "1.0-1", "amd64")
	other, err := os.ReadFile(filepath.Join(r.Dir, r.Deb("libfoo1", "2.0-1", "amd64").Path))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cache, "debs", "sha256", app.SHA256+".deb"), other, 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if _, stderr, code := runCLI(t, append(args, "--download", out, "app")...); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, filepath.Base(app.Path)))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != app.SHA256 {
		t.Fatalf("--download wrote a .deb with SHA256 %x, the index says %s", sum, app.SHA256)
	}
}
