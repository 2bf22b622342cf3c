//go:build fidelity

package fidelity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgassemble/pgassemble/pkg/assemble"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

// Subtrees whose contents are not compared: kernel and runtime mounts and
// scratch space (the chroots mount their own there). The directories
// themselves are compared. What upstream deletes after every install (apt
// lists, caches, logs) IS compared: pgassemble prunes it too
// (variants.Replay.Prune).
var skipped = []string{"/proc", "/dev", "/sys", "/tmp", "/var/tmp"}

func skipPath(p string) bool { return slices.Contains(skipped, p) }

// pruned reports whether upstream's Dockerfile deletes p after installing
// (rm -rf /var/lib/apt/lists/* /var/cache/* /var/log/*): dpkg -V then calls
// it missing on apt-get's tree, which is expected.
func pruned(p string) bool {
	for _, d := range []string{"/var/lib/apt/lists/", "/var/cache/", "/var/log/"} {
		if strings.HasPrefix(p, d) {
			return true
		}
	}
	return false
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// run is one architecture's run: its directories, timings and findings.
type run struct {
	t       *testing.T
	arch    string
	suite   string
	target  variants.Target
	results string // results directory of this arch
	foreign bool   // arch is not the host's: binaries run under qemu-user
	ours    string // root built by pgassemble
	apt     string // root built by apt-get (compare arches only)
	log     io.Writer
	timings []timing
	mu      sync.Mutex
}

type timing struct {
	name string
	d    time.Duration
}

func (r *run) timed(name string, fn func() error) error {
	start := time.Now()
	err := fn()
	r.mu.Lock()
	r.timings = append(r.timings, timing{name, time.Since(start)})
	r.mu.Unlock()
	r.t.Logf("%s: %s in %s", r.arch, name, time.Since(start).Round(100*time.Millisecond))
	return err
}

// customTypes are the custom types the suite checks beside CloudNativePG's
// own, written as the README's --config example writes them.
const customTypes = `types:
  - {name: postgis, parent: standard, packages: ["postgresql-{{MM}}-postgis-3"]}
  - {name: partman, parent: standard, packages: ["postgresql-{{MM}}-partman"]}
`

// typeChecks are SQL statements (and their expected psql -At output) that
// prove a type's extension works, run after the standard checks.
var typeChecks = map[string]struct{ sql, want string }{
	"postgis": {`-c 'create extension postgis' -c "select ST_Distance('POINT(0 0)'::geometry, 'POINT(3 4)'::geometry)"`, "CREATE EXTENSION\n5\n"},
	"partman": {`-c 'create schema partman' -c 'create extension pg_partman schema partman' -c 'create table public.events (id int, at timestamptz not null) partition by range (at)' -c "select partman.create_parent('public.events', 'at', '1 day')"`,
		"CREATE SCHEMA\nCREATE EXTENSION\nCREATE TABLE\nt\n"},
}

func TestFidelity(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the fidelity suite needs root (chroot, mounts, file owners): run `make fidelity` as root")
	}
	suite := env("FIDELITY_SUITE", "trixie")
	arches := strings.Fields(env("FIDELITY_ARCHES", "amd64 arm64"))
	compare := strings.Fields(env("FIDELITY_COMPARE_ARCHES", "amd64"))
	results := env("FIDELITY_RESULTS", "/var/tmp/pgassemble-fidelity-results")
	cache := env("FIDELITY_CACHE", "/var/cache/pgassemble-fidelity")
	if !slices.Contains(arches, "arm64") {
		t.Logf("NOT CHECKED: arm64 (FIDELITY_ARCHES=%q)", strings.Join(arches, " "))
	}
	// FIDELITY_TYPE: standard (default), system, or the custom types of
	// customTypes, defined as a user would in --config.
	typ := env("FIDELITY_TYPE", "standard")
	cat := variants.Default()
	cfg, err := variants.LoadConfig(strings.NewReader(customTypes))
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	tg, err := cat.Target("17", typ, suite)
	if err != nil {
		t.Fatal(err)
	}
	if typ != "standard" {
		results = filepath.Join(results, typ)
	}
	// The pipeline users run, on a directory root instead of a pulled base:
	// the root's own apt sources (Debian's archive), the layers applied
	// back onto it. Unhandled scripts are reported below, not fatal.
	b, err := assemble.New(assemble.Options{
		ArchiveCacheDir: filepath.Join(cache, "archive"), CacheDir: filepath.Join(cache, "layers"),
		// Upgrade, as pgassemble does by default and upstream's Dockerfile
		// does in each stage (apt-get upgrade -y before the install).
		PGSource: variants.PGSourceDebian, AllowUnhandled: true, Upgrade: true,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range arches {
		t.Run(arch, func(t *testing.T) {
			// The host architecture waits mostly on apt-get and dpkg, the
			// foreign one mostly on qemu: together they fill both cores.
			if os.Getenv("FIDELITY_SERIAL") != "1" {
				t.Parallel()
			}
			r := &run{t: t, arch: arch, suite: suite, target: tg, results: filepath.Join(results, arch)}
			r.main(context.Background(), b, slices.Contains(compare, arch))
		})
	}
}

func (r *run) main(ctx context.Context, b *assemble.Builder, compare bool) {
	t := r.t
	r.foreign = r.arch != hostArch(t)
	if r.foreign {
		if why := os.Getenv("FIDELITY_BINFMT_MISSING"); why != "" {
			t.Fatalf("NOT CHECKED: %s cannot run in a chroot on this host: %s. Install qemu-user-static and binfmt-support, or run with FIDELITY_ARCHES=%s to leave %s out explicitly", r.arch, why, hostArch(t), r.arch)
		}
		if !binfmtEnabled(r.arch) {
			t.Fatalf("NOT CHECKED: %s binaries cannot run here (no enabled qemu entry in /proc/sys/fs/binfmt_misc); run through test/fidelity/run.sh, which sets it up, or set FIDELITY_ARCHES=%s", r.arch, hostArch(t))
		}
	}
	tarball := os.Getenv("FIDELITY_BASE_" + r.arch)
	if tarball == "" {
		t.Fatalf("FIDELITY_BASE_%s is not set: run the suite through `make fidelity` (test/fidelity/run.sh), which builds or finds the %s minbase root", r.arch, r.suite)
	}
	if err := os.RemoveAll(r.results); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(r.results, 0o755); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(r.results, "commands.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	r.log = logf

	work, err := os.MkdirTemp("/var/tmp", "pgassemble-fidelity-"+r.arch+"-")
	if err != nil {
		t.Fatal(err)
	}
	keep := os.Getenv("FIDELITY_KEEP") == "1"
	t.Cleanup(func() {
		if keep {
			t.Logf("kept the trees in %s", work)
			return
		}
		// chroot.sh mounts only in private namespaces, so nothing is mounted here.
		if err := os.RemoveAll(work); err != nil {
			t.Errorf("remove %s: %v", work, err)
		}
	})
	r.ours = filepath.Join(work, "pgassemble")
	r.apt = filepath.Join(work, "apt-get")
	if err := r.timed("extract base", func() error { return extract(tarball, r.ours) }); err != nil {
		t.Fatal(err)
	}
	if compare {
		if err := r.timed("copy base", func() error { return sh("", "cp", "-a", r.ours, r.apt) }); err != nil {
			t.Fatal(err)
		}
	}

	// Resolve every stage against the root's dpkg status and download
	// every .deb: the pipeline's PlanRoot and Fetch.
	var pp *assemble.PlatformPlan
	var debs []string // the cached .deb of each of pp.Packages()
	if err := r.timed("resolve+download", func() (err error) {
		pp, debs, err = r.plan(ctx, b)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	var oursErr, aptErr error
	var unhandled []assemble.ScriptReport
	wg.Add(1)
	go func() {
		defer wg.Done()
		oursErr = r.timed("pgassemble layers+apply", func() (err error) {
			unhandled, err = r.buildOurs(ctx, b, pp)
			return err
		})
	}()
	if compare {
		wg.Add(1)
		go func() {
			defer wg.Done()
			aptErr = r.timed("apt-get install (Dockerfile steps)", func() error { return r.buildApt(pp, debs) })
		}()
	}
	wg.Wait()
	if oursErr != nil {
		t.Fatalf("pgassemble build: %v", oursErr)
	}
	for _, c := range unhandled {
		t.Errorf("replay: unhandled maintainer-script command: %s %s: %q (%s)", c.Package, c.Script, c.Command, c.Reason)
	}
	if aptErr != nil {
		t.Fatalf("apt-get build: %v (see %s)", aptErr, filepath.Join(r.results, "commands.log"))
	}

	var added []string
	for _, st := range pp.Stages {
		for _, p := range st.Packages {
			added = append(added, p.Name)
		}
	}
	if compare {
		r.compareSelections(len(added))
		r.compareTrees()
	}
	var aptChecks *checkResult
	if compare {
		aptChecks = r.checks("apt-get", r.apt, added, nil)
	}
	r.checks("pgassemble", r.ours, added, aptChecks)
	r.writeTimings()
}

func hostArch(t *testing.T) string {
	out, err := exec.Command("dpkg", "--print-architecture").Output()
	if err != nil {
		t.Fatalf("dpkg --print-architecture: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func binfmtEnabled(arch string) bool {
	name := map[string]string{"arm64": "qemu-aarch64", "armhf": "qemu-arm", "ppc64el": "qemu-ppc64le", "s390x": "qemu-s390x"}[arch]
	b, err := os.ReadFile("/proc/sys/fs/binfmt_misc/" + name)
	return err == nil && strings.HasPrefix(string(b), "enabled")
}

func extract(tarball, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return sh("", "tar", "-xzf", tarball, "-C", dir, "--numeric-owner", "--same-permissions")
}

func sh(dir string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// plan resolves each stage of the target against the root's dpkg status
// and downloads every .deb, with the pipeline's PlanRoot and Fetch.
func (r *run) plan(ctx context.Context, b *assemble.Builder) (*assemble.PlatformPlan, []string, error) {
	platform, err := assemble.PlatformOf(r.arch)
	if err != nil {
		return nil, nil, err
	}
	pp, err := b.PlanRoot(ctx, r.target, assemble.Root{FS: os.DirFS(r.ours), Platform: platform, Name: r.ours})
	if err != nil {
		return nil, nil, err
	}
	var plan strings.Builder
	for _, st := range pp.Stages {
		fmt.Fprintf(&plan, "# stage %s\n", st.Name)
		for _, p := range st.Packages {
			fmt.Fprintf(&plan, "%s %s %s\t%s\n", p.Name, p.Version, p.Architecture, p.Reason)
		}
	}
	if err := os.WriteFile(filepath.Join(r.results, "plan.txt"), []byte(plan.String()), 0o644); err != nil {
		return nil, nil, err
	}
	debs, err := b.Fetch(ctx, pp.Planned())
	if err != nil {
		return nil, nil, err
	}
	return pp, debs, nil
}

// buildOurs converts the stages into layers on the untouched base with the
// pipeline's BuildRoot, then applies them onto it, as a runtime would
// unpack the image.
func (r *run) buildOurs(ctx context.Context, b *assemble.Builder, pp *assemble.PlatformPlan) ([]assemble.ScriptReport, error) {
	rb, err := b.BuildRoot(ctx, r.target, pp)
	if rb == nil {
		return nil, err
	}
	// explain.txt is written even when the build failed: it says why.
	var unhandled []assemble.ScriptReport
	var explain strings.Builder
	for _, c := range rb.Scripts {
		fmt.Fprintf(&explain, "%s\t%s\t%s\t%q\t%s\n", c.Package, c.Script, c.Verdict, c.Command, c.Reason)
		if c.Unhandled {
			unhandled = append(unhandled, c)
		}
	}
	if werr := os.WriteFile(filepath.Join(r.results, "explain.txt"), []byte(explain.String()), 0o644); err == nil {
		err = werr
	}
	if err != nil {
		return nil, err
	}
	var desc strings.Builder
	for _, sl := range rb.Layers {
		d, _ := sl.Layer.Digest()
		size, _ := sl.Layer.Size()
		fmt.Fprintf(&desc, "%s\t%s\t%d\n", sl.Stage, d, size)
	}
	if err := rb.ApplyTo(ctx, r.ours); err != nil {
		return nil, err
	}
	return unhandled, os.WriteFile(filepath.Join(r.results, "layers.txt"), []byte(desc.String()), 0o644)
}

// buildApt installs the same packages with apt-get in a chroot of the other
// copy, following upstream's Dockerfile (minimal, then standard). The .debs
// pgassemble downloaded are placed in apt's archive cache first, so apt-get
// verifies and uses them instead of downloading them again; it fetches
// anything else it decides to install.
func (r *run) buildApt(pp *assemble.PlatformPlan, debs []string) error {
	if err := os.WriteFile(filepath.Join(r.apt, "usr/sbin/policy-rc.d"), []byte("#!/bin/sh\nexit 101\n"), 0o755); err != nil {
		return err
	}
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.apt, "etc/resolv.conf"), resolv, 0o644); err != nil {
		return err
	}
	opts := `-o Dpkg::::="--force-confdef" -o Dpkg::::="--force-confold"`
	clean := `apt-get purge -y --auto-remove -o APT::AutoRemove::RecommendsImportant=false && rm -rf /var/lib/apt/lists/* /var/cache/* /var/log/*`
	var minimal, standard []string
	for i, st := range r.target.Stages {
		switch i {
		case 0:
			minimal = st.Packages
		default:
			standard = append(standard, st.Packages...)
		}
	}
	// Upstream installs postgresql-common first, edits createcluster.conf,
	// then installs the server, so that no cluster is created.
	var first, rest []string
	for _, p := range minimal {
		if slices.Contains([]string{"postgresql-common", "ca-certificates", "gnupg"}, p) {
			first = append(first, p)
		} else {
			rest = append(rest, p)
		}
	}
	// Each stage upgrades first, as upstream's Dockerfile now does.
	steps := []string{
		fmt.Sprintf(`apt-get update && apt-get upgrade -y %s && apt-get install -y --no-install-recommends %s && apt-get install -y --no-install-recommends %s postgresql-common && sed -ri 's/#(create_main_cluster) .*$/\1 = false/' /etc/postgresql-common/createcluster.conf && apt-get install -y --no-install-recommends %s %s && %s`,
			opts, strings.Join(first, " "), opts, opts, strings.Join(rest, " "), clean),
		`usermod -u 26 postgres`,
	}
	if len(standard) > 0 {
		steps = append(steps, fmt.Sprintf(`apt-get update && apt-get upgrade -y %s && apt-get install -y --no-install-recommends %s && %s`, opts, strings.Join(standard, " "), clean))
	}
	// The .debs of each stage, under the names apt gives them.
	var seeds [][]seed
	k := 0
	for _, st := range pp.Stages {
		var ss []seed
		for _, p := range st.Packages {
			ss = append(ss, seed{fmt.Sprintf("%s_%s_%s.deb", p.Name, strings.ReplaceAll(p.Version, ":", "%3a"), p.Architecture), debs[k]})
			k++
		}
		seeds = append(seeds, ss)
	}
	// The upgrade stage's .debs are fetched by the first RUN's apt-get upgrade.
	if len(pp.Stages) > 1 && pp.Stages[0].Name == assemble.UpgradeStage {
		seeds = append([][]seed{append(seeds[0], seeds[1]...)}, seeds[2:]...)
	}
	for i, step := range steps {
		// Each RUN starts with an empty apt cache (upstream deletes it):
		// seed it with the .debs of the stage this RUN installs.
		if i == 0 || i == 2 {
			var st []seed
			if i == 0 {
				st = seeds[0]
			} else {
				for _, s := range seeds[1:] {
					st = append(st, s...)
				}
			}
			if err := seedArchives(r.apt, st); err != nil {
				return err
			}
		}
		fmt.Fprintf(r.log, "### apt-get tree, RUN %s\n", step)
		if _, err := r.chroot(r.apt, nil, []string{"DEBIAN_FRONTEND=noninteractive"}, step); err != nil {
			return fmt.Errorf("RUN %s: %w", step, err)
		}
	}
	for _, f := range []string{"usr/sbin/policy-rc.d", "etc/resolv.conf"} {
		if err := os.Remove(filepath.Join(r.apt, f)); err != nil {
			return err
		}
	}
	return nil
}

// seed is one .deb for apt's archive cache: apt's file name, our cached file.
type seed struct{ name, path string }

func seedArchives(root string, st []seed) error {
	dir := filepath.Join(root, "var/cache/apt/archives")
	if err := os.MkdirAll(filepath.Join(dir, "partial"), 0o755); err != nil {
		return err
	}
	for _, d := range st {
		dst := filepath.Join(dir, d.name)
		if err := os.Link(d.path, dst); err != nil && !errors.Is(err, os.ErrExist) {
			if err := sh("", "cp", d.path, dst); err != nil {
				return err
			}
		}
	}
	return nil
}

// chroot runs script with /bin/sh -c in root through chroot.sh, with a clean
// environment plus extra. Output goes to the command log and is returned.
func (r *run) chroot(root string, chrootOpts []string, extra []string, script string) (string, error) {
	here, err := os.Getwd()
	if err != nil {
		return "", err
	}
	args := []string{filepath.Join(here, "chroot.sh"), root}
	args = append(args, chrootOpts...)
	args = append(args, "--", "/usr/bin/env", "-i",
		"PATH=/usr/lib/postgresql/17/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8")
	args = append(args, extra...)
	args = append(args, "/bin/sh", "-c", script)
	cmd := exec.Command("bash", args...)
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, r.log)
	cmd.Stderr = io.MultiWriter(&out, r.log)
	err = cmd.Run()
	fmt.Fprintf(r.log, "### exit: %v\n", err)
	if err != nil && r.foreign && !binfmtEnabled(r.arch) {
		// Another program on the host removed the qemu entry mid-run.
		err = fmt.Errorf("%w; NOT CHECKED: the qemu binfmt_misc entry for %s is gone (removed by another program while this ran)", err, r.arch)
	}
	return out.String(), err
}

// compareSelections checks that apt-get installed exactly the packages
// pgassemble's resolver chose (dpkg -l of both trees, from their status).
func (r *run) compareSelections(n int) {
	t := r.t
	ours, err := installedSet(r.ours)
	if err != nil {
		t.Errorf("pgassemble status: %v", err)
		return
	}
	theirs, err := installedSet(r.apt)
	if err != nil {
		t.Errorf("apt-get status: %v", err)
		return
	}
	a, b := ours, theirs
	var onlyOurs, onlyApt []string
	for k := range a {
		if !b[k] {
			onlyOurs = append(onlyOurs, k)
		}
	}
	for k := range b {
		if !a[k] {
			onlyApt = append(onlyApt, k)
		}
	}
	sort.Strings(onlyOurs)
	sort.Strings(onlyApt)
	if len(onlyOurs)+len(onlyApt) > 0 {
		t.Errorf("RESOLVER: installed sets differ (pgassemble planned %d packages)\n  only pgassemble: %v\n  only apt-get:    %v", n, onlyOurs, onlyApt)
	} else {
		t.Logf("%s: resolver: the %d packages pgassemble adds are exactly those apt-get installed (%d installed in all)", r.arch, n, len(theirs))
	}
}

// installedSet is "name:arch version" of every package installed in root,
// as the host's dpkg-query reads the root's database: the oracle is dpkg,
// not pgassemble's own status parser.
func installedSet(root string) (map[string]bool, error) {
	out, err := exec.Command("dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W",
		"-f", "${db:Status-Abbrev} ${Package}:${Architecture} ${Version}\n").Output()
	if err != nil {
		return nil, fmt.Errorf("dpkg-query in %s: %w", root, err)
	}
	m := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && strings.HasPrefix(f[0], "ii") {
			m[f[1]+" "+f[2]] = true
		}
	}
	return m, nil
}

// compareTrees walks both roots and classifies the differences.
func (r *run) compareTrees() {
	t := r.t
	var ours, theirs Tree
	err := r.timed("walk+hash both trees", func() (err error) {
		var wg sync.WaitGroup
		var e1, e2 error
		wg.Add(2)
		go func() { defer wg.Done(); ours, e1 = Walk(r.ours, skipPath) }()
		go func() { defer wg.Done(); theirs, e2 = Walk(r.apt, skipPath) }()
		wg.Wait()
		return errors.Join(e1, e2)
	})
	if err != nil {
		t.Fatal(err)
	}
	diffs := Compare(ours, theirs, ReadNames(r.ours), ReadNames(r.apt))
	f, err := os.Open("allowlist.txt")
	if err != nil {
		t.Fatal(err)
	}
	list, err := ParseAllowList(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	c := Classify(diffs, list)

	var all strings.Builder
	for _, d := range diffs {
		fmt.Fprintln(&all, d)
	}
	writeFile(t, filepath.Join(r.results, "diffs.txt"), all.String())
	var rep strings.Builder
	fmt.Fprintf(&rep, "# fidelity %s %s: %d entries (pgassemble) vs %d (apt-get)\n", r.suite, r.arch, len(ours), len(theirs))
	fmt.Fprintf(&rep, "differences: %d (%s)\n", len(diffs), Summary(diffs))
	fmt.Fprintf(&rep, "unexplained: %d (%s)\n", len(c.Unexplained), Summary(c.Unexplained))
	fmt.Fprintf(&rep, "allow-listed: %d\n\n", len(diffs)-len(c.Unexplained))
	fmt.Fprintf(&rep, "## unexplained, by kind\n")
	for _, k := range Kinds {
		var ds []Diff
		for _, d := range c.Unexplained {
			if d.Kind == k {
				ds = append(ds, d)
			}
		}
		if len(ds) == 0 {
			continue
		}
		fmt.Fprintf(&rep, "### %s (%d)\n", k, len(ds))
		for _, d := range ds {
			fmt.Fprintf(&rep, "  %s\n", d)
		}
	}
	fmt.Fprintf(&rep, "\n## allow-listed, by entry\n")
	for _, a := range list {
		if ds := c.Allowed[a]; len(ds) > 0 {
			fmt.Fprintf(&rep, "### line %d: %s %s (%d: %s) - %s\n", a.Line, a.Glob, kindsString(a.Kinds), len(ds), Summary(ds), a.Reason)
			for i, d := range ds {
				if i == 20 {
					fmt.Fprintf(&rep, "  ... %d more\n", len(ds)-i)
					break
				}
				fmt.Fprintf(&rep, "  %s\n", d)
			}
		}
	}
	if len(c.Unused) > 0 {
		fmt.Fprintf(&rep, "\n## allow-list entries that matched nothing\n")
		for _, a := range c.Unused {
			fmt.Fprintf(&rep, "  line %d: %s %s\n", a.Line, a.Glob, kindsString(a.Kinds))
		}
	}
	// Also compared above; listed for the reader.
	fmt.Fprintf(&rep, "\n## the directories upstream prunes after each RUN\n")
	for _, d := range []string{"/var/cache", "/var/log", "/var/lib/apt/lists"} {
		no, eo := listUnder(r.ours, d)
		na, ea := listUnder(r.apt, d)
		fmt.Fprintf(&rep, "  %s: pgassemble %d entries %v, apt-get %d entries %v\n", d, len(no), no, len(na), na)
		if eo != nil || ea != nil {
			t.Errorf("list %s: %v %v", d, eo, ea)
		}
		if len(no) != len(na) {
			t.Logf("%s: pruned upstream: %s holds %d entries in pgassemble's tree, %d in apt-get's: %v", r.arch, d, len(no), len(na), no)
		}
	}
	writeFile(t, filepath.Join(r.results, "report.txt"), rep.String())
	r.textDiffs(c.Unexplained)

	t.Logf("%s: %d differences (%s); %d allow-listed; %d unexplained (%s); report: %s",
		r.arch, len(diffs), Summary(diffs), len(diffs)-len(c.Unexplained), len(c.Unexplained), Summary(c.Unexplained), filepath.Join(r.results, "report.txt"))
	if len(c.Unexplained) > 0 {
		var b strings.Builder
		for i, d := range c.Unexplained {
			if i == 60 {
				fmt.Fprintf(&b, "  ... %d more in %s\n", len(c.Unexplained)-i, filepath.Join(r.results, "report.txt"))
				break
			}
			fmt.Fprintf(&b, "  %s\n", d)
		}
		t.Errorf("FIDELITY: %d differences with apt-get are neither fixed nor allow-listed:\n%s", len(c.Unexplained), b.String())
	}
}

// listUnder lists the top-level entries of dir inside root.
func listUnder(root, dir string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(root, dir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, err
}

func kindsString(k []string) string {
	if k == nil {
		return "*"
	}
	return strings.Join(k, ",")
}

// textDiffs saves a unified diff of each unexplained content difference of
// a small file, so a report can say which lines differ.
func (r *run) textDiffs(ds []Diff) {
	dir := filepath.Join(r.results, "content")
	for _, d := range ds {
		if d.Kind != KindContent {
			continue
		}
		a, b := filepath.Join(r.apt, d.Path), filepath.Join(r.ours, d.Path)
		if fi, err := os.Stat(a); err != nil || fi.Size() > 4<<20 {
			continue
		}
		out, _ := exec.Command("diff", "-u", "--label", "apt-get"+d.Path, "--label", "pgassemble"+d.Path, a, b).CombinedOutput()
		name := filepath.Join(dir, strings.ReplaceAll(strings.TrimPrefix(d.Path, "/"), "/", "_")+".diff")
		_ = os.MkdirAll(dir, 0o755)
		_ = os.WriteFile(name, out, 0o644)
	}
}

func writeFile(t *testing.T, name, s string) {
	if err := os.WriteFile(name, []byte(s), 0o644); err != nil {
		t.Error(err)
	}
}

// checkResult is what the chroot checks saw, to tell a harness problem
// (apt-get's tree fails too) from a pgassemble one.
type checkResult struct {
	verify []string // dpkg -V lines
}

// checks runs issue 3's chroot checks on root. ref, when given, is the
// same checks' result on apt-get's tree.
func (r *run) checks(who, root string, added []string, ref *checkResult) *checkResult {
	t := r.t
	res := &checkResult{}
	fail := func(format string, args ...any) {
		msg := fmt.Sprintf("%s %s: ", r.arch, who) + fmt.Sprintf(format, args...)
		if who == "apt-get" {
			// The reference tree failing means the check or the host is wrong.
			msg = "HARNESS (apt-get's own tree): " + msg
		}
		t.Error(msg)
	}
	pass := func(format string, args ...any) {
		t.Logf("%s %s: ok: %s", r.arch, who, fmt.Sprintf(format, args...))
	}
	_ = r.timed("checks "+who, func() error {
		fmt.Fprintf(r.log, "### checks on %s\n", who)
		// dpkg --audit: nothing to say, exit 0.
		if out, err := r.chroot(root, nil, nil, "dpkg --audit"); err != nil || strings.TrimSpace(out) != "" {
			fail("dpkg --audit: %v\n%s", err, out)
		} else {
			pass("dpkg --audit reports nothing")
		}
		// dpkg -V: only files the dpkg path filters kept out may be missing.
		excluded, err := assemble.Root{FS: os.DirFS(root), Name: root}.Excluded()
		if err != nil {
			fail("read dpkg filters: %v", err)
			excluded = func(string) bool { return false }
		}
		out, err := r.chroot(root, nil, nil, "dpkg -V "+strings.Join(added, " "))
		if err != nil {
			fail("dpkg -V: %v\n%s", err, out)
			out = ""
		}
		var bad []string
		filtered := 0
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line == "" {
				continue
			}
			res.verify = append(res.verify, line)
			f := strings.Fields(line)
			p := f[len(f)-1]
			if i := strings.Index(line, " /"); i >= 0 {
				p = line[i+1:] // the path may contain spaces ("python 2 sunset.rst")
			}
			if f[0] == "missing" && (excluded(p) || pruned(p)) {
				filtered++
				continue
			}
			bad = append(bad, line)
		}
		if len(bad) > 0 {
			note := ""
			if ref != nil {
				var same []string
				for _, l := range bad {
					if slices.Contains(ref.verify, l) {
						same = append(same, l)
					}
				}
				note = fmt.Sprintf(" (%d of them also on apt-get's tree)", len(same))
			}
			fail("dpkg -V reports %d changed files%s:\n  %s", len(bad), note, strings.Join(bad, "\n  "))
		} else if err == nil {
			pass("dpkg -V of the %d added packages: no changed file (%d \"missing\" lines, all path-excluded or pruned)", len(added), filtered)
		}
		// dpkg -l: every added package "ii". dpkg-query -W prints what
		// dpkg -l shows without its column truncation.
		out, err = r.chroot(root, nil, nil, `dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Version}\n' `+strings.Join(added, " "))
		if err != nil {
			fail("dpkg-query (dpkg -l) of the %d added packages: %v\n%s", len(added), err, out)
			out = ""
		}
		var notII []string
		state := map[string]string{}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				state[f[1]] = f[0]
			}
		}
		for _, p := range added {
			if state[p] != "ii" {
				notII = append(notII, fmt.Sprintf("%s=%q", p, state[p]))
			}
		}
		if len(notII) > 0 && out != "" {
			fail("dpkg -l: %d of the %d added packages are not \"ii\": %s", len(notII), len(added), strings.Join(notII, " "))
		} else if out != "" {
			pass("dpkg -l: the %d added packages are all ii", len(added))
		}
		// The postgres account: uid 26.
		out, err = r.chroot(root, nil, nil, "getent passwd postgres")
		f := strings.Split(strings.TrimSpace(out), ":")
		if err != nil || len(f) < 7 || f[2] != "26" {
			fail("getent passwd postgres = %q (%v), want uid 26; so initdb + pg_ctl + psql as uid 26 were NOT run", strings.TrimSpace(out), err)
			return nil
		}
		gid := f[3]
		pass("getent passwd postgres: %s", strings.TrimSpace(out))
		// The CA bundle.
		if fi, err := os.Stat(filepath.Join(root, "etc/ssl/certs/ca-certificates.crt")); err != nil || fi.Size() == 0 {
			fail("/etc/ssl/certs/ca-certificates.crt: missing or empty (%v)", err)
		} else if b, _ := os.ReadFile(filepath.Join(root, "etc/ssl/certs/ca-certificates.crt")); bytes.Count(b, []byte("BEGIN CERTIFICATE")) < 100 {
			fail("/etc/ssl/certs/ca-certificates.crt has %d certificates, want >= 100", bytes.Count(b, []byte("BEGIN CERTIFICATE")))
		} else {
			pass("/etc/ssl/certs/ca-certificates.crt: %d bytes, %d certificates", len(b), bytes.Count(b, []byte("BEGIN CERTIFICATE")))
		}
		// A server as uid 26: initdb in a locale of locales-all, start with
		// the standard extensions preloaded, query, stop.
		session := `set -e
trap 'pg_ctl -D /tmp/pgdata -m immediate stop >/dev/null 2>&1 || true' EXIT
test "$(id -u)" = 26
test "$(uname -m)" = "$WANT_MACHINE" || { echo "uname -m: $(uname -m), want $WANT_MACHINE"; exit 1; }
initdb -D /tmp/pgdata -U postgres -A trust --locale=en_US.UTF-8 >/tmp/initdb.log 2>&1 || { cat /tmp/initdb.log; exit 1; }
pg_ctl -D /tmp/pgdata -l /tmp/pg.log -w -o "-k /tmp -c listen_addresses= -c shared_preload_libraries=pgaudit,pg_failover_slots" start >/dev/null || { cat /tmp/pg.log; exit 1; }
psql -h /tmp -U postgres -d postgres -X -At -v ON_ERROR_STOP=1 -c 'select 1' \
  -c 'create extension vector' -c 'create extension pgaudit' \
  -c "select '[1,2]'::vector <-> '[4,6]'::vector" \
  -c "select datcollate from pg_database where datname = 'postgres'" ` + typeChecks[r.target.Type].sql + `
pg_ctl -D /tmp/pgdata -m fast -w stop >/dev/null
`
		machine := map[string]string{"amd64": "x86_64", "arm64": "aarch64", "ppc64el": "ppc64le", "s390x": "s390x"}[r.arch]
		out, err = r.chroot(root, []string{"--userspec=26:" + gid, "--groups=" + gid}, []string{"HOME=/tmp", "WANT_MACHINE=" + machine}, session)
		if want := "1\nCREATE EXTENSION\nCREATE EXTENSION\n5\nen_US.UTF-8\n" + typeChecks[r.target.Type].want; err != nil || out != want {
			fail("initdb + pg_ctl start + psql as uid 26: %v\n%s", err, out)
		} else {
			t.Logf("%s %s: initdb + pg_ctl start + psql as uid 26 (gid %s, uname -m %s): select 1, pgvector, pgaudit, pg_failover_slots preloaded, en_US.UTF-8: ok", r.arch, who, gid, machine)
		}
		if r.target.Type == "system" {
			// Barman Cloud from Debian's packages runs (python3, its modules).
			if out, err := r.chroot(root, nil, []string{"HOME=/tmp"}, "barman-cloud-backup --version"); err != nil || !strings.Contains(out, "barman-cloud-backup") {
				fail("barman-cloud-backup --version: %v\n%s", err, out)
			} else {
				pass("barman-cloud-backup --version: %s", strings.TrimSpace(out))
			}
		}
		return nil
	})
	return res
}

func (r *run) writeTimings() {
	var b strings.Builder
	for _, tm := range r.timings {
		fmt.Fprintf(&b, "%s\t%s\n", tm.name, strconv.FormatFloat(tm.d.Seconds(), 'f', 1, 64))
	}
	writeFile(r.t, filepath.Join(r.results, "timings.txt"), b.String())
}
