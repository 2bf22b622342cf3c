package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pgassemble/pgassemble/pkg/apt/archive"
)

const debianKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// hostDebianMirror returns the URI of the host's main Debian source (a
// "deb" source with component main whose suites have no "-updates"/
// "-security" form), read from the host's apt configuration at run time.
func hostDebianMirror(t *testing.T) string {
	t.Helper()
	srcs, err := archive.ReadSources(os.DirFS("/"))
	if err != nil {
		t.Skipf("cannot read the host's apt sources: %v", err)
	}
	for _, s := range srcs {
		if !s.Enabled || !contains(s.Types, "deb") || !contains(s.Components, "main") {
			continue
		}
		for _, suite := range s.Suites {
			if !strings.Contains(suite, "-") && len(s.URIs) > 0 && !strings.Contains(s.URIs[0], "security") {
				return strings.TrimRight(s.URIs[0], "/")
			}
		}
	}
	t.Skip("the host's apt sources name no Debian mirror with a main component")
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var instLine = regexp.MustCompile(`^Inst (\S+) (?:\[\S+\] )?\((\S+) `)

// TestResolveMatchesAptOnRealArchive compares `pgassemble resolve` with
// `apt-get install -s --no-install-recommends` on the real trixie archive,
// for arm64 and amd64, on top of a debootstrap minbase status, apt configured the
// same way (one source, one keyring, a private state directory).
func TestResolveMatchesAptOnRealArchive(t *testing.T) {
	mirror := hostDebianMirror(t)
	for _, arch := range []string{"arm64", "amd64"} {
		t.Run(arch, func(t *testing.T) { compareWithApt(t, mirror, arch) })
	}
}

func compareWithApt(t *testing.T, mirror, arch string) {
	if _, err := os.Stat(debianKeyring); err != nil {
		t.Skipf("%s is absent (package debian-archive-keyring): %v", debianKeyring, err)
	}
	aptGet, err := exec.LookPath("apt-get")
	if err != nil {
		t.Skipf("apt-get is not installed: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	req, _ := http.NewRequestWithContext(ctx, http.MethodHead, mirror+"/dists/trixie/InRelease", nil)
	resp, err := http.DefaultClient.Do(req)
	cancel()
	if err != nil {
		t.Skipf("the host's Debian mirror %s is unreachable: %v", mirror, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Skipf("the host's Debian mirror %s has no trixie InRelease: %s", mirror, resp.Status)
	}
	statusFile, err := filepath.Abs("../../testdata/trixie-minbase-" + arch + ".status")
	if err != nil {
		t.Fatal(err)
	}
	const request = "postgresql-17"

	// pgassemble
	stdout, stderr, code := runCLI(t, "resolve", "--source", mirror+" trixie main", "--keyring", debianKeyring,
		"--arch", arch, "--status", statusFile, "--cache-dir", t.TempDir(), request)
	if code != 0 {
		t.Fatalf("pgassemble resolve: exit %d\n%s", code, stderr)
	}
	var ours []string
	for _, l := range lines(stdout) {
		f := strings.Fields(l)
		ours = append(ours, f[0]+" "+f[1])
	}
	sort.Strings(ours)

	// apt-get, configured alike in a private directory.
	dir := t.TempDir()
	for _, d := range []string{"state/lists/partial", "cache/archives/partial", "etc/parts", "etc/prefs", "etc/trusted"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	list := "deb [arch=" + arch + " signed-by=" + debianKeyring + "] " + mirror + " trixie main\n"
	if err := os.WriteFile(filepath.Join(dir, "etc/sources.list"), []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := os.ReadFile(statusFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state/status"), st, 0o644); err != nil {
		t.Fatal(err)
	}
	opts := []string{
		"-o", "Dir::Etc::sourcelist=" + filepath.Join(dir, "etc/sources.list"),
		"-o", "Dir::Etc::sourceparts=-",
		"-o", "Dir::Etc::parts=" + filepath.Join(dir, "etc/parts"),
		"-o", "Dir::Etc::preferences=" + filepath.Join(dir, "etc/preferences"),
		"-o", "Dir::Etc::preferencesparts=" + filepath.Join(dir, "etc/prefs"),
		"-o", "Dir::Etc::trusted=" + filepath.Join(dir, "etc/trusted.gpg"),
		"-o", "Dir::Etc::trustedparts=" + filepath.Join(dir, "etc/trusted"),
		"-o", "Dir::State=" + filepath.Join(dir, "state"),
		"-o", "Dir::State::status=" + filepath.Join(dir, "state/status"),
		"-o", "Dir::State::Lists=" + filepath.Join(dir, "state/lists"),
		"-o", "Dir::Cache=" + filepath.Join(dir, "cache"),
		"-o", "APT::Architecture=" + arch,
		"-o", "APT::Architectures::=" + arch,
		"-o", "APT::Install-Recommends=0",
		"-o", "Debug::NoLocking=1",
	}
	run := func(args ...string) string {
		cmd := exec.Command(aptGet, append(append([]string{}, opts...), args...)...)
		cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("apt-get %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("-qq", "update")
	var theirs []string
	for _, l := range lines(run("-s", "install", "--no-install-recommends", request)) {
		if m := instLine.FindStringSubmatch(l); m != nil {
			theirs = append(theirs, m[1]+" "+m[2])
		}
	}
	sort.Strings(theirs)
	if len(theirs) == 0 {
		t.Fatal("apt-get -s printed no Inst lines")
	}
	if strings.Join(ours, "\n") != strings.Join(theirs, "\n") {
		t.Errorf("pgassemble and apt-get differ\n--- apt-get (%d)\n%s\n--- pgassemble (%d)\n%s",
			len(theirs), strings.Join(theirs, "\n"), len(ours), strings.Join(ours, "\n"))
	}
	t.Logf("%d packages, same set and versions as apt-get", len(ours))

	// A small real download through the verified cache: netbase is one
	// architecture-independent package without dependencies.
	debs := t.TempDir()
	stdout, stderr, code = runCLI(t, "resolve", "-q", "--source", mirror+" trixie main", "--keyring", debianKeyring,
		"--arch", arch, "--status", statusFile, "--cache-dir", t.TempDir(), "--download", debs, "netbase")
	if code != 0 {
		t.Fatalf("resolve --download netbase: exit %d\n%s", code, stderr)
	}
	got, _ := filepath.Glob(filepath.Join(debs, "netbase_*_all.deb"))
	if len(got) != 1 || !strings.HasPrefix(stdout, "netbase ") {
		t.Fatalf("--download netbase: files %v, output %q", got, stdout)
	}
}

// BenchmarkWarmResolve measures `pgassemble resolve` end to end (in
// process) on the real trixie arm64 archive once its indexes are cached and
// its InRelease is unchanged: one conditional GET, signature check, cached
// index parse, resolution.
func BenchmarkWarmResolve(b *testing.B) {
	srcs, err := archive.ReadSources(os.DirFS("/"))
	if err != nil {
		b.Skipf("cannot read the host's apt sources: %v", err)
	}
	mirror := ""
	for _, s := range srcs {
		if s.Enabled && contains(s.Types, "deb") && contains(s.Components, "main") && len(s.URIs) > 0 && !strings.Contains(s.URIs[0], "security") {
			mirror = strings.TrimRight(s.URIs[0], "/")
			break
		}
	}
	if mirror == "" {
		b.Skip("the host's apt sources name no Debian mirror")
	}
	status, _ := filepath.Abs("../../testdata/trixie-minbase-arm64.status")
	cache := b.TempDir()
	args := []string{"resolve", "-q", "--source", mirror + " trixie main", "--keyring", debianKeyring,
		"--arch", "arm64", "--status", status, "--cache-dir", cache, "postgresql-17"}
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	if err := root.Execute(); err != nil {
		b.Skipf("cold run against %s failed (mirror unreachable?): %v", mirror, err)
	}
	for b.Loop() {
		root := newRootCmd()
		root.SetArgs(args)
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		if err := root.Execute(); err != nil {
			b.Fatal(err)
		}
	}
}
