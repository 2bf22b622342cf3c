package coverage

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/apt/archive"
	"github.com/pgassemble/pgassemble/pkg/assemble"
	"github.com/pgassemble/pgassemble/pkg/layer"
	"github.com/pgassemble/pgassemble/pkg/layer/maint"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

// suiteSpec is one suite of the coverage run: the server major whose
// postgresql-MM-* packages are each built as a one-package type over
// standard.
type suiteSpec struct {
	suite, major string
}

var suites = []suiteSpec{{"trixie", "17"}, {"bookworm", "15"}}

// arch is the Debian architecture the images are built for
// (COVERAGE_ARCH, default amd64): scripts never run a program of the
// image, so any architecture runs on any host.
func arch() string { return env("COVERAGE_ARCH", "amd64") }

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// outcome is what one package's build did with its scripts.
type outcome struct {
	pkg      string
	closure  int // packages its stage added
	scripts  int // maintainer scripts run
	refusals []string
	err      error
	took     time.Duration
}

// checkLink says whether the state layer holds the symlink name -> target.
func checkLink(state v1.Layer, name, target string) error {
	rc, err := state.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return fmt.Errorf("state layer has no %s (the alternative its postinst installs)", name)
		}
		if err != nil {
			return err
		}
		if strings.TrimPrefix(h.Name, "./") == name {
			if h.Typeflag != tar.TypeSymlink || h.Linkname != target {
				return fmt.Errorf("%s is %q -> %q, want a symlink to %s", name, h.Typeflag, h.Linkname, target)
			}
			return nil
		}
	}
}

func (o outcome) ok() bool { return o.err == nil && len(o.refusals) == 0 }

// TestCoverage builds, for each suite, the standard type with its
// maintainer scripts executed, then every postgresql-MM-* package of the
// suite as a one-package custom type over it, through the layer builder
// with the script runner (the pipeline `pgassemble build` runs), and
// reports every refusal. It needs the Debian archive (skipped with a
// message when unreachable) and a minbase root filesystem of each suite
// (the end-to-end suite's cached debootstrap tarball; see
// test/fidelity/base.sh). .debs and converted layers are cached in
// COVERAGE_CACHE so a second run downloads nothing.
func TestCoverage(t *testing.T) {
	if testing.Short() {
		t.Skip("coverage: builds ~175 images from the real archive; not in -short")
	}
	cache := env("COVERAGE_CACHE", "/var/cache/pgassemble-coverage")
	results := env("COVERAGE_RESULTS", "/var/tmp/pgassemble-coverage")
	var filter *regexp.Regexp
	if f := os.Getenv("COVERAGE_PACKAGES"); f != "" {
		filter = regexp.MustCompile(f)
	}
	want := strings.Fields(env("COVERAGE_SUITES", "trixie bookworm"))
	if err := os.MkdirAll(results, 0o755); err != nil {
		t.Fatal(err)
	}
	client := archive.New(archive.WithCacheDir(filepath.Join(cache, "archive")),
		archive.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	var report strings.Builder
	for _, s := range suites {
		if !containsStr(want, s.suite) {
			continue
		}
		t.Run(s.suite, func(t *testing.T) {
			start := time.Now()
			outs, note := runSuite(t, client, cache, s, filter)
			writeSuiteReport(&report, s, outs, note, time.Since(start))
			for _, o := range outs {
				if !o.ok() {
					t.Errorf("%s: %s", o.pkg, o.problem())
				}
			}
		})
	}
	if report.Len() > 0 {
		out := filepath.Join(results, "report.md")
		if err := os.WriteFile(out, []byte(report.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("report: %s\n%s", out, report.String())
	}
}

func (o outcome) problem() string {
	var parts []string
	if o.err != nil {
		parts = append(parts, o.err.Error())
	}
	parts = append(parts, o.refusals...)
	return strings.Join(parts, "; ")
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// baseTarball finds the minbase root filesystem of a suite.
func baseTarball(suite string) (string, error) {
	if p := os.Getenv("COVERAGE_BASE_" + strings.ToUpper(suite)); p != "" {
		return p, nil
	}
	dir := env("E2E_CACHE", "/var/cache/pgassemble-e2e")
	m, _ := filepath.Glob(filepath.Join(dir, "base", suite+"-"+arch()+"-*", "rootfs.tar.gz"))
	if len(m) == 0 {
		return "", fmt.Errorf("no %s/%s minbase root filesystem in %s/base (run test/fidelity/base.sh %s %s, or set COVERAGE_BASE_%s)",
			suite, arch(), dir, suite, arch(), strings.ToUpper(suite))
	}
	sort.Strings(m)
	return m[len(m)-1], nil
}

func runSuite(t *testing.T, client *archive.Client, cache string, s suiteSpec, filter *regexp.Regexp) ([]outcome, string) {
	ctx := context.Background()
	tarball, err := baseTarball(s.suite)
	if err != nil {
		t.Skipf("coverage %s: %v", s.suite, err)
	}
	root := t.TempDir()
	if out, err := exec.Command("tar", "-xzf", tarball, "-C", root).CombinedOutput(); err != nil {
		t.Fatalf("extract %s: %v\n%s", tarball, err, out)
	}
	repos := repositories(t, ctx, os.DirFS(root))
	pkgs, err := client.Indexes(ctx, repos, arch())
	if err != nil {
		t.Fatalf("indexes: %v", err)
	}
	u := apt.NewUniverse(arch(), pkgs)
	installed, err := readStatus(filepath.Join(root, "var/lib/dpkg/status"))
	if err != nil {
		t.Fatal(err)
	}
	tg, err := variants.Default().Target(s.major, "standard", s.suite)
	if err != nil {
		t.Fatal(err)
	}
	// Standard, from the suite's own archive: packages it does not carry
	// (bookworm has no postgresql-15-pgvector) are left out, and said so.
	var missing []string
	var stages [][]string
	for _, st := range tg.Stages {
		var names []string
		for _, p := range st.Packages {
			name, _, _ := strings.Cut(p, "=")
			if u.Candidate(name) == nil {
				missing = append(missing, name)
				continue
			}
			names = append(names, name)
		}
		stages = append(stages, names)
	}
	note := ""
	if len(missing) > 0 {
		note = fmt.Sprintf("standard without %s (not in %s main)", strings.Join(missing, ", "), s.suite)
	}
	layerCache := filepath.Join(cache, "layers")
	std := outcome{pkg: "standard"}
	stdStart := time.Now()
	var stdLayers []v1.Layer
	b, rp, err := newBuilder(ctx, root, layerCache, tg)
	if err != nil {
		t.Fatal(err)
	}
	for _, names := range stages {
		set, err := apt.Resolve(u, installed, names, apt.ResolveOptions{})
		if err != nil {
			t.Fatalf("resolve standard %v: %v", names, err)
		}
		debs, err := download(ctx, client, set.Packages)
		if err != nil {
			t.Fatal(err)
		}
		l, err := b.AddStage(ctx, debs)
		if err != nil {
			std.err = err
			break
		}
		stdLayers = append(stdLayers, l)
		std.closure += len(set.Packages)
		installed = set.After(installed)
	}
	if std.err == nil {
		l, err := b.Finish(ctx)
		if err != nil {
			std.err = err
		} else {
			stdLayers = append(stdLayers, l)
		}
	}
	std.refusals, std.scripts = refusals(rp)
	b.Close()
	std.took = time.Since(stdStart)
	if std.err != nil || len(std.refusals) > 0 {
		t.Errorf("standard: %v\n%s", std.err, strings.Join(std.refusals, "\n"))
	}
	if std.err != nil {
		t.FailNow()
	}
	for _, l := range stdLayers {
		if err := layer.ApplyToDir(ctx, l, root); err != nil {
			t.Fatalf("apply standard: %v", err)
		}
	}
	outs := []outcome{std}
	// The system type: standard plus Barman Cloud from the archive.
	if filter == nil || filter.MatchString("barman-cli-cloud") {
		if sys := variantsSystemPackages(s); len(sys) > 0 {
			o := outcome{pkg: "system (" + strings.Join(sys, " ") + ")"}
			start := time.Now()
			o.closure, o.scripts, o.refusals, o.err = onePackage(ctx, client, u, installed, root, layerCache, tg, nil, sys...)
			o.took = time.Since(start)
			t.Logf("%s: %d packages, %d scripts, %d refusals, %v (%s)", o.pkg, o.closure, o.scripts, len(o.refusals), o.err, o.took.Round(time.Millisecond))
			outs = append(outs, o)
		}
	}
	var names []string
	for _, p := range pkgs {
		if strings.HasPrefix(p.Name, "postgresql-"+s.major+"-") && (filter == nil || filter.MatchString(p.Name)) && !containsStr(names, p.Name) {
			names = append(names, p.Name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		o := outcome{pkg: name}
		start := time.Now()
		var check func(v1.Layer) error
		if strings.HasSuffix(name, "-postgis-3-scripts") {
			// The issue's own example: the extension's control file is an
			// alternative its postinst installs; without it CREATE
			// EXTENSION postgis fails.
			check = func(l v1.Layer) error {
				return checkLink(l, fmt.Sprintf("usr/share/postgresql/%s/extension/postgis.control", s.major),
					fmt.Sprintf("/etc/alternatives/postgresql-%s-postgis.control", s.major))
			}
		}
		o.closure, o.scripts, o.refusals, o.err = onePackage(ctx, client, u, installed, root, layerCache, tg, check, name)
		o.took = time.Since(start)
		t.Logf("%s: %d packages, %d scripts, %d refusals, %v (%s)", name, o.closure, o.scripts, len(o.refusals), o.err, o.took.Round(time.Millisecond))
		outs = append(outs, o)
	}
	return outs, note
}

// onePackage builds names as a one-stage type over the standard tree.
// check, when set, is run on the state layer before the builder closes.
func onePackage(ctx context.Context, client *archive.Client, u *apt.Universe, installed []*apt.Package, root, layerCache string, tg variants.Target, check func(v1.Layer) error, names ...string) (int, int, []string, error) {
	set, err := apt.Resolve(u, installed, names, apt.ResolveOptions{})
	if err != nil {
		return 0, 0, nil, fmt.Errorf("resolve: %w", err)
	}
	debs, err := download(ctx, client, set.Packages)
	if err != nil {
		return 0, 0, nil, err
	}
	b, rp, err := newBuilder(ctx, root, layerCache, tg)
	if err != nil {
		return 0, 0, nil, err
	}
	defer b.Close()
	var state v1.Layer
	if _, err = b.AddStage(ctx, debs); err == nil {
		state, err = b.Finish(ctx)
	}
	if err == nil && check != nil {
		err = check(state)
	}
	refused, scripts := refusals(rp)
	return len(set.Packages), scripts, refused, err
}

func newBuilder(ctx context.Context, root, layerCache string, tg variants.Target) (*layer.Builder, layer.Replayer, error) {
	epoch := time.Unix(layer.DefaultEpochUnix, 0).UTC()
	var out io.Writer = io.Discard
	if f := os.Getenv("COVERAGE_OUTPUT"); f != "" {
		// the scripts' stdout and stderr, for debugging a failure
		w, err := os.OpenFile(f, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, err
		}
		out = w
	}
	rp, err := layer.NewMaintReplayer(ctx, os.DirFS(root), maint.Options{
		Arch: arch(), Epoch: epoch, Policy: assemble.ScriptPolicy(tg), AllowRefused: true, Output: out,
	})
	if err != nil {
		return nil, nil, err
	}
	// Gzip at level 1: the layers are only digested, never published.
	b, err := layer.NewBuilder(os.DirFS(root), layer.Options{Arch: arch(), Epoch: epoch, CacheDir: layerCache,
		Compression: layer.Gzip, Level: 1, Replayer: rp, Prune: tg.Replay.Prune})
	if err != nil {
		return nil, nil, err
	}
	return b, rp, nil
}

// refusals lists the commands the runner refused (skipped with
// AllowRefused) as "package script:line: command: reason", and counts
// the maintainer scripts run.
func refusals(rp layer.Replayer) ([]string, int) {
	r := layer.MaintRunner(rp)
	if r == nil {
		return []string{"no script runner"}, 0
	}
	var out []string
	scripts := map[string]bool{}
	if dir := os.Getenv("COVERAGE_TRACE"); dir != "" {
		var b strings.Builder
		for _, ev := range r.Trace() {
			fmt.Fprintf(&b, "%s %s %s:%d %s %s %s\n", ev.Package, ev.Script, ev.File, ev.Line, ev.Impl, ev.Command(), ev.Reason)
		}
		_ = os.WriteFile(filepath.Join(dir, "trace.txt"), []byte(b.String()), 0o644)
	}
	for _, ev := range r.Trace() {
		scripts[ev.Package+"/"+ev.Script] = true
		if ev.Impl == maint.ImplSkipped || ev.Impl == maint.ImplRefused {
			where := ev.Script
			if ev.File != "" {
				where += " (" + ev.File + ")"
			}
			out = append(out, fmt.Sprintf("%s %s:%d: `%s`: %s", ev.Package, where, ev.Line, ev.Command(), ev.Reason))
		}
	}
	return out, len(scripts)
}

func download(ctx context.Context, client *archive.Client, planned []apt.Planned) ([]layer.Deb, error) {
	pkgs := make([]*apt.Package, len(planned))
	for i, p := range planned {
		pkgs[i] = p.Package
	}
	paths, err := client.Download(ctx, pkgs)
	if err != nil {
		return nil, err
	}
	debs := make([]layer.Deb, len(planned))
	for i, p := range planned {
		debs[i] = layer.Deb{Path: paths[i], SHA256: p.SHA256, Package: p.Package, Auto: p.Reason != "requested"}
	}
	return debs, nil
}

func readStatus(file string) ([]*apt.Package, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return apt.ParseStatus(f)
}

// repositories reads the apt sources of a root and skips the test, with a
// message, when the archive they name does not answer.
func repositories(t *testing.T, ctx context.Context, fsys fs.FS) []archive.Repo {
	t.Helper()
	sources, err := archive.ReadSources(fsys)
	if err != nil {
		t.Fatal(err)
	}
	repos, err := archive.Repos(fsys, sources)
	if err != nil || len(repos) == 0 {
		t.Fatalf("apt sources of the base: %v (%d repositories)", err, len(repos))
	}
	if err := reachable(ctx, repos); err != nil {
		t.Skipf("the Debian archive is unreachable: %v", err)
	}
	return repos
}

// stateStatus returns var/lib/dpkg/status as a state layer carries it.
func stateStatus(state v1.Layer) (string, error) {
	rc, err := state.Uncompressed()
	if err != nil {
		return "", err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return "", errors.New("the state layer has no var/lib/dpkg/status")
		}
		if err != nil {
			return "", err
		}
		if strings.TrimPrefix(h.Name, "./") == "var/lib/dpkg/status" {
			b, err := io.ReadAll(tr)
			return string(b), err
		}
	}
}

// reachable checks the first repository answers, with a short timeout.
func reachable(ctx context.Context, repos []archive.Repo) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	u := repos[0].URI
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, strings.TrimSuffix(u, "/")+"/", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return errors.New(resp.Status)
	}
	return nil
}

// variantsSystemPackages lists what the system type adds to standard.
func variantsSystemPackages(s suiteSpec) []string {
	tg, err := variants.Default().Target(s.major, "system", s.suite)
	if err != nil {
		return nil
	}
	std, err := variants.Default().Target(s.major, "standard", s.suite)
	if err != nil {
		return nil
	}
	have := map[string]bool{}
	for _, st := range std.Stages {
		for _, p := range st.Packages {
			have[p] = true
		}
	}
	var out []string
	for _, st := range tg.Stages {
		for _, p := range st.Packages {
			if !have[p] {
				name, _, _ := strings.Cut(p, "=")
				out = append(out, name)
			}
		}
	}
	return out
}

func writeSuiteReport(w *strings.Builder, s suiteSpec, outs []outcome, note string, took time.Duration) {
	pass, total := 0, 0
	for _, o := range outs[1:] {
		if !strings.HasPrefix(o.pkg, "postgresql-") {
			continue
		}
		total++
		if o.ok() {
			pass++
		}
	}
	fmt.Fprintf(w, "### %s/%s: postgresql-%s-* over standard\n\n", s.suite, arch(), s.major)
	fmt.Fprintf(w, "%d of %d packages run their scripts with no refusal (%s, %d scripts for standard)", pass, total, took.Round(time.Second), outs[0].scripts)
	for _, o := range outs[1:] {
		if strings.HasPrefix(o.pkg, "system") {
			verdict := "no refusal"
			if !o.ok() {
				verdict = "refusals below"
			}
			fmt.Fprintf(w, "; %s: %d packages, %d scripts, %s", o.pkg, o.closure, o.scripts, verdict)
		}
	}
	if note != "" {
		fmt.Fprintf(w, "; %s", note)
	}
	fmt.Fprintln(w, ".")
	fmt.Fprintln(w)
	for _, o := range outs {
		if o.ok() {
			continue
		}
		fmt.Fprintf(w, "- %s: %s\n", o.pkg, o.problem())
	}
	fmt.Fprintln(w)
}
