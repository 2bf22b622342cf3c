package maint

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/layer/maint/ldso"
)

// The dpkg driver: it runs the maintainer scripts of the packages a build
// installs, in dpkg's order, over the virtual root, and returns what they
// wrote as the state layer.
//
// One stage is one apt-get install: AddPackages runs, for each package in
// install order, the old version's `prerm upgrade NEW` (upgrades) and the
// new `preinst install` / `preinst upgrade OLD`, before the stage's files
// are placed (so dpkg-divert in a preinst diverts them). The stage's
// entries then arrive through Observe. The configure half of a stage runs
// when the next stage is added or at Finish: the old `postrm upgrade NEW`
// of upgraded packages, `postinst configure ''|OLD` in dependency order,
// then the triggers the stage activated (`postinst triggered "NAMES"`), as
// dpkg processes them.

// Package is one package a stage installs.
type Package struct {
	Name, Version, Arch string
	Control             apt.Paragraph
	// Scripts holds the control members by name: "preinst", "postinst",
	// "prerm", "postrm", "triggers", "config", "templates", "conffiles"...
	Scripts map[string][]byte
}

// Options configure a Runner.
type Options struct {
	// Arch is the dpkg architecture of the image.
	Arch string
	// Epoch is SOURCE_DATE_EPOCH (zero: the Unix epoch).
	Epoch time.Time
	// Policy is the build's policy (nil: none).
	Policy *Policy
	// AllowRefused skips refused commands and reports them in the trace
	// (--allow-unhandled-scripts).
	AllowRefused bool
	// Registry of commands (nil: DefaultRegistry()).
	Registry *Registry
	// Output receives the scripts' stdout and stderr (nil: discarded).
	Output io.Writer
	// ScriptTimeout bounds one maintainer script (zero: DefaultScriptTimeout):
	// scripts run in-process in milliseconds, so a script still running
	// after it loops forever, as a `while true` waiting for a service would.
	ScriptTimeout time.Duration
}

// DefaultScriptTimeout is Options.ScriptTimeout's default.
const DefaultScriptTimeout = 2 * time.Minute

// Retention policy for the bodies of unpacked files: scripts read
// configuration, templates, helper scripts and certificates, not
// documentation or binaries. A regular file is kept in memory when it is
// at most maxRetain bytes, not ELF, and not under a directory scripts do
// not read. ELF shared objects are not kept; their SONAME and flags are
// (ldconfig). Measured on the standard set: see BenchmarkRunner.
const maxRetain = 1 << 20

var skipRetain = []string{
	"/usr/share/doc/", "/usr/share/man/", "/usr/share/info/", "/usr/share/locale/",
	"/usr/share/zoneinfo/", "/usr/share/i18n/charmaps/", "/usr/share/i18n/locales/",
	"/usr/include/",
	"/usr/share/perl/", "/usr/lib/python3/dist-packages/", "/usr/lib/python3.",
	"/usr/share/gdal/", "/usr/share/proj/", "/usr/lib/locale/", "/usr/share/perl5/",
}

func retainBody(name string, size int64) bool {
	if size > maxRetain {
		return false
	}
	for _, p := range skipRetain {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	// Perl modules (perl-base's and the arch-specific ones) are not read
	// by shell scripts.
	if strings.Contains(name, "/perl/") || strings.Contains(name, "/perl-base/") || strings.Contains(name, "/perl5/") {
		return false
	}
	// PostgreSQL's extension scripts, man pages and JIT bitcode are many
	// and never read by maintainer scripts (catalog_version is).
	if strings.HasPrefix(name, "/usr/share/postgresql/") || strings.HasPrefix(name, "/usr/lib/postgresql/") {
		for _, d := range []string{"/extension/", "/man/", "/bitcode/", "/tsearch_data/", "/timezonesets/"} {
			if strings.Contains(name, d) {
				return false
			}
		}
	}
	return true
}

// RetainBaseFile is the retention policy for a base image's files (name
// relative, "usr/bin/dpkg-maintscript-helper"): what a script may read
// or run as a shell script, at most 256 KiB, and the state databases
// under var/lib and var/cache/debconf. Together with
// DropBaseBody (ELF bodies are not kept) it keeps about 3 MB of
// debian:trixie-slim.
func RetainBaseFile(name string, size int64) bool {
	name = strings.TrimPrefix(name, "/")
	// The state databases the helpers read and rewrite: debconf's,
	// ucf's, deb-systemd-helper's, pam's, alternatives'.
	if strings.HasPrefix(name, "var/lib/") || strings.HasPrefix(name, "var/cache/debconf/") {
		return size <= 16<<20
	}
	return size <= 256<<10 && retainBody("/"+name, size)
}

// DropBaseBody reports a body RetainBaseFile kept that scripts cannot
// use: an ELF binary (its Go implementation, or a refusal, is what runs).
func DropBaseBody(name string, data []byte) bool {
	return bytes.HasPrefix(data, []byte("\x7fELF"))
}

type pkgRun struct {
	Package
	seq     int
	stem    string // info file stem: name, or name:arch for Multi-Arch: same
	old     string // version replaced (upgrade), "" for a new install
	oldPost []byte // the replaced version's postrm
}

type installed struct {
	version string
	stanza  apt.Paragraph
	stem    string
	status  string // "installed", "unpacked"
}

type fileInterest struct {
	path, pkg string
}

// Runner runs a build's maintainer scripts. It is not safe for
// concurrent use.
type Runner struct {
	opts    Options
	fs      *VFS
	sh      *Shell
	policy  *Policy
	debconf *Debconf

	pkgs    map[string]*installed // by name
	stage   int
	seq     int
	pending []*pkgRun // the stage whose configure half has not run
	current map[string]bool

	fileInterests  []fileInterest
	namedInterests map[string][]string // trigger -> packages
	trigPending    map[string][]string // package -> trigger names
	trigOrder      []string

	trace  []Event
	failed error

	edits       []compiledEdit
	editDone    map[int]string // edit index -> content it produced
	dirty       map[string]bool
	divCache    map[string][2]string
	divDirty    bool
	acctDirty   bool
	users       map[string]int
	groups      map[string]int
	elf         map[string]ldso.LibInfo
	retainBytes int64
}

type compiledEdit struct {
	Edit
	re *regexp.Regexp
}

// New returns a runner over base (relative names; fs.ReadLinkFS for
// symlinks, as pkg/rootfs provides).
func New(base fs.FS, opts Options) (*Runner, error) {
	if opts.Arch == "" {
		return nil, errors.New("maint: Options.Arch is required")
	}
	if opts.Registry == nil {
		opts.Registry = DefaultRegistry()
	}
	pol := opts.Policy
	if pol == nil {
		pol = &Policy{}
	}
	r := &Runner{
		opts: opts, fs: NewVFS(base), policy: pol,
		debconf: &Debconf{Templates: map[string]map[string]string{}, Values: map[string]string{},
			Seen: map[string]bool{}, Owners: map[string][]string{}},
		pkgs: map[string]*installed{}, namedInterests: map[string][]string{}, trigPending: map[string][]string{},
		editDone: map[int]string{}, dirty: map[string]bool{}, divDirty: true, acctDirty: true,
		elf: map[string]ldso.LibInfo{},
	}
	for _, e := range pol.Edits {
		re, err := regexp.Compile(e.Pattern)
		if err != nil {
			return nil, fmt.Errorf("maint: policy edit of %s: %w", e.Path, err)
		}
		r.edits = append(r.edits, compiledEdit{Edit: e, re: re})
	}
	r.fs.onWrite = func(name string) { r.dirty[name] = true }
	r.fs.libInfo = r.libInfo
	r.sh = &Shell{FS: r.fs, Host: r, Registry: opts.Registry, Env: BaseEnv(opts.Arch, opts.Epoch),
		Trace: func(e Event) { r.trace = append(r.trace, e) }, Output: opts.Output, AllowRefused: opts.AllowRefused}
	if err := r.readBaseState(); err != nil {
		return nil, err
	}
	return r, nil
}

// FS is the virtual root (for tests and the builder's diagnostics).
func (r *Runner) FS() *VFS { return r.fs }

func (r *Runner) readBaseState() error {
	if b, err := r.fs.ReadFile("/var/lib/dpkg/status"); err == nil {
		err := apt.ParseParagraphs(bytes.NewReader(b), func(p apt.Paragraph) error {
			st := p.Get("Status")
			if !strings.HasSuffix(st, " installed") && !strings.HasSuffix(st, " unpacked") &&
				!strings.HasSuffix(st, " half-configured") && !strings.HasSuffix(st, " triggers-pending") &&
				!strings.HasSuffix(st, " triggers-awaited") {
				return nil
			}
			name := p.Get("Package")
			r.pkgs[name] = &installed{version: p.Get("Version"), stanza: p, stem: infoStem(p), status: "installed"}
			return nil
		})
		if err != nil {
			return fmt.Errorf("maint: base var/lib/dpkg/status: %w", err)
		}
	}
	if b, err := r.fs.ReadFile("/var/lib/dpkg/triggers/File"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) == 2 {
				r.fileInterests = append(r.fileInterests, fileInterest{path: cleanAbs(f[0]), pkg: strings.TrimSuffix(f[1], "/noawait")})
			}
		}
	}
	if ents, err := r.fs.ReadDir("/var/lib/dpkg/triggers"); err == nil {
		for _, e := range ents {
			if e.Name == "File" || e.Name == "Unincorp" || e.Name == "Lock" || e.IsDir() || strings.Contains(e.Name, ".") {
				continue
			}
			b, err := r.fs.ReadFile("/var/lib/dpkg/triggers/" + e.Name)
			if err != nil {
				continue
			}
			for _, line := range strings.Fields(string(b)) {
				r.namedInterests[e.Name] = append(r.namedInterests[e.Name], strings.TrimSuffix(line, "/noawait"))
			}
		}
	}
	return nil
}

func infoStem(p apt.Paragraph) string {
	if p.Get("Multi-Arch") == "same" {
		return p.Get("Package") + ":" + p.Get("Architecture")
	}
	return p.Get("Package")
}

// AddPackages starts a stage: it finishes the previous one (configure,
// triggers), then runs the preinsts of pkgs (in install order).
func (r *Runner) AddPackages(ctx context.Context, pkgs []Package) error {
	if r.failed != nil {
		return r.failed
	}
	if err := r.configureStage(ctx); err != nil {
		return r.fail(err)
	}
	r.stage++
	r.current = map[string]bool{}
	for _, p := range pkgs {
		r.current[p.Name] = true
	}
	for _, p := range pkgs {
		r.seq++
		pr := &pkgRun{Package: p, seq: r.seq, stem: infoStem(p.Control)}
		if pr.stem == "" {
			pr.stem = p.Name
		}
		old := r.pkgs[p.Name]
		if old != nil && old.version != "" {
			pr.old = old.version
		}
		r.registerTemplates(p)
		r.fs.SetHorizon(r.seq - 1)
		if pr.old != "" {
			// dpkg: the old prerm upgrade NEW, then the new preinst upgrade OLD.
			if body, err := r.fs.ReadFile("/var/lib/dpkg/info/" + old.stem + ".prerm"); err == nil {
				if err := r.run(ctx, p.Name, "prerm", body, p.Arch, "upgrade", p.Version); err != nil {
					return r.fail(err)
				}
			}
			pr.oldPost, _ = r.fs.ReadFile("/var/lib/dpkg/info/" + old.stem + ".postrm")
			if err := r.runMember(ctx, pr, "preinst", "upgrade", pr.old); err != nil {
				return r.fail(err)
			}
		} else if err := r.runMember(ctx, pr, "preinst", "install"); err != nil {
			return r.fail(err)
		}
		// Unpacked: dpkg installs the control members in its database and
		// records the package's trigger interests.
		r.unpackInfo(pr)
		r.pkgs[p.Name] = &installed{version: p.Version, stanza: statusStanza(p.Control, "install ok unpacked"),
			stem: pr.stem, status: "unpacked"}
		r.pending = append(r.pending, pr)
	}
	r.fs.SetHorizon(r.seq)
	return nil
}

func statusStanza(c apt.Paragraph, status string) apt.Paragraph {
	out := make(apt.Paragraph, 0, len(c)+1)
	for _, f := range c {
		out = append(out, f)
		if f.Name == "Package" {
			out = append(out, apt.Field{Name: "Status", Value: status})
		}
	}
	if !out.Has("Status") {
		out.Set("Status", status)
	}
	return out
}

// unpackInfo writes the package's control members to
// /var/lib/dpkg/info and registers its triggers.
func (r *Runner) unpackInfo(pr *pkgRun) {
	for _, m := range sortedKeys(pr.Scripts) {
		switch m {
		case "control", "md5sums":
			continue
		}
		mode := int64(0o644)
		switch m {
		case "preinst", "postinst", "prerm", "postrm", "config":
			mode = 0o755
		}
		body := pr.Scripts[m]
		r.fs.UnpackEntry(pr.seq, &tar.Header{Name: "/var/lib/dpkg/info/" + pr.stem + "." + m, Typeflag: tar.TypeReg,
			Mode: mode, Size: int64(len(body))}, body, true)
	}
	trig := string(pr.Scripts["triggers"])
	var fileLines, activations []string
	for _, line := range strings.Split(trig, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		switch f[0] {
		case "interest", "interest-await", "interest-noawait":
			who := pr.Name
			if f[0] == "interest-noawait" {
				who += "/noawait"
			}
			if strings.HasPrefix(f[1], "/") {
				fileLines = append(fileLines, f[1]+" "+who)
				r.fileInterests = append(r.fileInterests, fileInterest{path: cleanAbs(f[1]), pkg: pr.Name})
			} else {
				r.namedInterests[f[1]] = append(r.namedInterests[f[1]], pr.Name)
				r.appendDB("/var/lib/dpkg/triggers/"+f[1], who+"\n")
			}
		case "activate", "activate-await", "activate-noawait":
			activations = append(activations, f[1])
		}
	}
	if len(fileLines) > 0 {
		r.appendDB("/var/lib/dpkg/triggers/File", strings.Join(fileLines, "\n")+"\n")
	}
	for _, a := range activations {
		r.activate(a, pr.Name)
	}
}

// appendDB appends to one of dpkg's own files (written as dpkg does, not
// by a script).
func (r *Runner) appendDB(name, add string) {
	old, _ := r.fs.ReadFile(name)
	_ = r.fs.WriteFile(name, append(old, add...), 0o644)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// registerTemplates adds the package's debconf templates.
func (r *Runner) registerTemplates(p Package) {
	t := p.Scripts["templates"]
	if len(t) == 0 {
		return
	}
	_ = apt.ParseParagraphs(bytes.NewReader(t), func(par apt.Paragraph) error {
		name := par.Get("Template")
		if name == "" {
			return nil
		}
		fields := map[string]string{}
		for _, f := range par {
			fields[f.Name] = f.Value
		}
		r.debconf.Templates[name] = fields
		if !slices.Contains(r.debconf.Owners[name], p.Name) {
			r.debconf.Owners[name] = append(r.debconf.Owners[name], p.Name)
		}
		return nil
	})
}

// activate records a trigger activation by pkg ("" for dpkg-trigger
// without a package context).
func (r *Runner) activate(name, by string) {
	for _, p := range r.namedInterests[name] {
		r.pend(p, name, by)
	}
}

func (r *Runner) pend(pkg, trig, by string) {
	if pkg == by && r.current[pkg] {
		return // its own activation: it is about to be configured anyway
	}
	if slices.Contains(r.trigPending[pkg], trig) {
		return
	}
	if _, ok := r.trigPending[pkg]; !ok {
		r.trigOrder = append(r.trigOrder, pkg)
	}
	r.trigPending[pkg] = append(r.trigPending[pkg], trig)
}

// Observe records one entry the layer writes for pkg (tar name relative
// to the root). r reads a regular file's body (io.ReaderAt when
// available); Observe reads only what the retention policy keeps.
func (r *Runner) Observe(pkg string, hdr *tar.Header, body io.Reader) error {
	name := cleanAbs("/" + hdr.Name)
	h := *hdr
	if h.Typeflag == 0 {
		h.Typeflag = tar.TypeReg
	}
	var data []byte
	kept := false
	if h.Typeflag == tar.TypeReg && body != nil {
		isDSO := ldso.IsDSO(path.Base(name)) && !strings.HasPrefix(name, "/usr/share/")
		if ra, ok := body.(io.ReaderAt); ok && (isDSO || retainBody(name, h.Size)) {
			var magic [4]byte
			n, _ := ra.ReadAt(magic[:], 0)
			isELF := n == 4 && string(magic[:]) == "\x7fELF"
			switch {
			case isELF && isDSO:
				r.elf[name] = ldso.ReadLibInfo(ra)
			case !isELF && retainBody(name, h.Size):
				b := make([]byte, h.Size)
				if _, err := ra.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
					return fmt.Errorf("maint: read %s of %s: %w", name, pkg, err)
				}
				data, kept = b, true
			}
		} else if retainBody(name, h.Size) {
			b, err := io.ReadAll(io.LimitReader(body, maxRetain+1))
			if err != nil {
				return fmt.Errorf("maint: read %s of %s: %w", name, pkg, err)
			}
			if !bytes.HasPrefix(b, []byte("\x7fELF")) {
				data, kept = b, true
			} else if isDSO {
				r.elf[name] = ldso.ReadLibInfo(bytes.NewReader(b))
			}
		}
	}
	r.retainBytes += int64(len(data))
	r.fs.UnpackEntry(r.seq, &h, data, kept)
	for _, fi := range r.fileInterests {
		if name == fi.path || strings.HasPrefix(name, fi.path+"/") {
			r.pend(fi.pkg, fi.path, pkg)
		}
	}
	return nil
}

// RetainedBytes is the size of the file bodies kept in memory.
func (r *Runner) RetainedBytes() int64 { return r.retainBytes }

// libInfo answers ldconfig's question about an unpacked library.
func (r *Runner) libInfo(name string) (ldso.LibInfo, bool) {
	i, ok := r.elf[name]
	return i, ok
}

// configureStage runs the configure half of the pending stage.
func (r *Runner) configureStage(ctx context.Context) error {
	if len(r.pending) == 0 {
		return nil
	}
	stage := r.pending
	r.pending = nil
	r.fs.SetHorizon(r.seq)
	for _, pr := range stage {
		if pr.old != "" && len(pr.oldPost) > 0 {
			if err := r.run(ctx, pr.Name, "postrm", pr.oldPost, pr.Arch, "upgrade", pr.Version); err != nil {
				return err
			}
		}
	}
	for _, pr := range configureOrder(stage) {
		if err := r.runMember(ctx, pr, "postinst", "configure", pr.old); err != nil {
			return err
		}
		if ip := r.pkgs[pr.Name]; ip != nil {
			ip.status = "installed"
			ip.stanza.Set("Status", "install ok installed")
		}
	}
	return r.runTriggers(ctx)
}

// runTriggers runs `postinst triggered` for every package with pending
// triggers, until none is left (a triggered postinst may activate more).
func (r *Runner) runTriggers(ctx context.Context) error {
	for round := 0; len(r.trigOrder) > 0; round++ {
		if round > 100 {
			return errors.New("maint: trigger loop (more than 100 rounds)")
		}
		order := r.trigOrder
		pending := r.trigPending
		r.trigOrder, r.trigPending = nil, map[string][]string{}
		r.current = map[string]bool{}
		for _, pkg := range order {
			ip := r.pkgs[pkg]
			if ip == nil {
				continue // interested package not installed
			}
			body, err := r.fs.ReadFile("/var/lib/dpkg/info/" + ip.stem + ".postinst")
			if err != nil {
				continue // no postinst: dpkg just clears the triggers
			}
			arch := ip.stanza.Get("Architecture")
			if err := r.run(ctx, pkg, "postinst", body, arch, "triggered", strings.Join(pending[pkg], " ")); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *Runner) runMember(ctx context.Context, pr *pkgRun, member string, args ...string) error {
	body, ok := pr.Scripts[member]
	if !ok {
		return nil
	}
	return r.run(ctx, pr.Name, member, body, pr.Arch, args...)
}

// run runs one maintainer script with dpkg's environment, then applies
// the policy's edits to files it wrote.
func (r *Runner) run(ctx context.Context, pkg, script string, body []byte, arch string, args ...string) error {
	if arch == "" {
		arch = r.opts.Arch
	}
	s := Script{Package: pkg, Name: script, Body: body, Args: args, Env: []string{
		"DPKG_MAINTSCRIPT_PACKAGE=" + pkg,
		"DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT=1",
		"DPKG_MAINTSCRIPT_ARCH=" + arch,
		"DPKG_MAINTSCRIPT_NAME=" + script,
		"DPKG_MAINTSCRIPT_DEBUG=0",
	}}
	r.trace = append(r.trace, Event{Package: pkg, Script: script, Impl: "run", Args: append([]string{script}, args...)})
	timeout := r.opts.ScriptTimeout
	if timeout <= 0 {
		timeout = DefaultScriptTimeout
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	err := r.sh.Run(sctx, s)
	timedOut := ctx.Err() == nil && sctx.Err() != nil
	cancel()
	if err != nil && timedOut {
		err = fmt.Errorf("%s %s: still running after %v: %w", pkg, script, timeout, err)
	}
	if eerr := r.applyEdits(); eerr != nil && err == nil {
		err = eerr
	}
	return err
}

// applyEdits applies the policy's edits to the files scripts wrote since
// the last call (the upstream Dockerfile's sed, when the file appears).
func (r *Runner) applyEdits() error {
	if len(r.dirty) == 0 {
		return nil
	}
	if r.dirty["/etc/passwd"] || r.dirty["/etc/group"] {
		r.acctDirty = true
	}
	if r.dirty["/var/lib/dpkg/diversions"] {
		r.divDirty = true
	}
	for i, e := range r.edits {
		p, n, err := r.fs.resolve(e.Path, true)
		if err != nil || n == nil || !r.dirty[p] {
			continue
		}
		b, err := r.fs.ReadFile(p)
		if err != nil {
			return fmt.Errorf("maint: policy edit of %s: %w", e.Path, err)
		}
		out := editLines(b, e.re, e.Replace)
		if !bytes.Equal(out, b) {
			f, err := r.fs.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, _ = f.Write(out)
			f.Close()
		}
		r.editDone[i] = string(out)
	}
	clear(r.dirty)
	return nil
}

func editLines(data []byte, re *regexp.Regexp, repl string) []byte {
	var b bytes.Buffer
	lines := strings.SplitAfter(string(data), "\n")
	for _, l := range lines {
		if l == "" {
			continue
		}
		body, nl := strings.CutSuffix(l, "\n")
		b.WriteString(re.ReplaceAllString(body, repl))
		if nl {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// ErrEditTarget: a policy edit names a file no script wrote and the image
// does not have (a typo would otherwise go unnoticed).
var ErrEditTarget = errors.New("edited file is not in the image")

// Finish runs the configure half of the last stage and returns what the
// scripts wrote: the state layer.
func (r *Runner) Finish(ctx context.Context) ([]Change, error) {
	if r.failed != nil {
		return nil, r.failed
	}
	if err := r.configureStage(ctx); err != nil {
		return nil, r.fail(err)
	}
	// Edits of files no script wrote (already in the base or a package).
	for i, e := range r.edits {
		if _, ok := r.editDone[i]; ok {
			continue
		}
		b, err := r.fs.ReadFile(e.Path)
		if err != nil {
			return nil, fmt.Errorf("maint: policy edit of %s: %w", e.Path, ErrEditTarget)
		}
		if out := editLines(b, e.re, e.Replace); !bytes.Equal(out, b) {
			i, _ := r.fs.Stat(e.Path)
			if err := r.fs.WriteFile(e.Path, out, i.Mode.Perm()); err != nil {
				return nil, err
			}
		}
	}
	return r.fs.Changes(), nil
}

func (r *Runner) fail(err error) error {
	r.failed = err
	return err
}

// Trace returns every script run and command, in order.
func (r *Runner) Trace() []Event { return slices.Clone(r.trace) }

// Diverted reports a diversion added by a script (dpkg-divert writes
// /var/lib/dpkg/diversions in the image): files of other packages at abs
// are unpacked at to. It implements pkg/layer's Diverter.
func (r *Runner) Diverted(abs string) (to, pkg string, ok bool) {
	if r.divDirty || r.dirty["/var/lib/dpkg/diversions"] {
		r.divCache = map[string][2]string{}
		if b, err := r.fs.ReadFile("/var/lib/dpkg/diversions"); err == nil {
			lines := strings.Split(string(b), "\n")
			for i := 0; i+2 < len(lines); i += 3 {
				r.divCache[lines[i]] = [2]string{lines[i+1], lines[i+2]}
			}
		}
		r.divDirty = false
	}
	d, ok := r.divCache[abs]
	return d[0], d[1], ok
}

// DivertedFrom reports the diversion whose target is abs (for dpkg's
// conflict rules): the diverted path and the diverting package.
func (r *Runner) DivertedFrom(abs string) (from, pkg string, ok bool) {
	r.Diverted("") // refresh the cache
	for f, d := range r.divCache {
		if d[0] == abs {
			return f, d[1], true
		}
	}
	return "", "", false
}

// LookupUser returns a uid from the image's /etc/passwd as it is now.
func (r *Runner) LookupUser(name string) (int, bool) {
	r.loadAccounts()
	id, ok := r.users[name]
	return id, ok
}

// LookupGroup returns a gid from the image's /etc/group as it is now.
func (r *Runner) LookupGroup(name string) (int, bool) {
	r.loadAccounts()
	id, ok := r.groups[name]
	return id, ok
}

func (r *Runner) loadAccounts() {
	if !r.acctDirty && !r.dirty["/etc/passwd"] && !r.dirty["/etc/group"] && r.users != nil {
		return
	}
	r.users, r.groups = idMap(r.fs, "/etc/passwd"), idMap(r.fs, "/etc/group")
	r.acctDirty = false
}

func idMap(v *VFS, name string) map[string]int {
	m := map[string]int{}
	b, err := v.ReadFile(name)
	if err != nil {
		return m
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 3 {
			continue
		}
		if id, err := strconv.Atoi(f[2]); err == nil {
			if _, dup := m[f[0]]; !dup {
				m[f[0]] = id
			}
		}
	}
	return m
}

// Host implementation.

// Arch implements Host.
func (r *Runner) Arch() string { return r.opts.Arch }

// Package implements Host.
func (r *Runner) Package(name string) (map[string]string, bool) {
	n, arch, _ := strings.Cut(name, ":")
	ip := r.pkgs[n]
	if ip == nil {
		return nil, false
	}
	if arch != "" && arch != ip.stanza.Get("Architecture") && ip.stanza.Get("Architecture") != "all" {
		return nil, false
	}
	m := make(map[string]string, len(ip.stanza))
	for _, f := range ip.stanza {
		m[f.Name] = f.Value
	}
	return m, true
}

// Packages implements Host.
func (r *Runner) Packages() []string { return sortedKeys(r.pkgs) }

// ActivateTrigger implements Host (dpkg-trigger).
func (r *Runner) ActivateTrigger(name string, noAwait bool) {
	r.activate(name, "")
}

// Policy implements Host.
func (r *Runner) Policy() *Policy { return r.policy }

// Debconf implements Host.
func (r *Runner) Debconf() *Debconf { return r.debconf }

// configureOrder sorts a stage so that each package comes after the
// packages of the stage it depends on (Pre-Depends, Depends), as dpkg
// configures them; otherwise install order is kept.
func configureOrder(pkgs []*pkgRun) []*pkgRun {
	idx := map[string]int{}
	for i, pk := range pkgs {
		idx[pk.Name] = i
	}
	deps := make([][]int, len(pkgs))
	for i, pk := range pkgs {
		for _, field := range []string{"Pre-Depends", "Depends"} {
			rels, err := apt.ParseRelations(pk.Control.Get(field))
			if err != nil {
				continue
			}
			for _, alts := range rels {
				for _, rel := range alts {
					if j, ok := idx[rel.Name]; ok && j != i {
						deps[i] = append(deps[i], j)
					}
				}
			}
		}
	}
	state := make([]int, len(pkgs))
	var out []*pkgRun
	var visit func(i int)
	visit = func(i int) {
		if state[i] != 0 {
			return
		}
		state[i] = 1
		for _, j := range deps[i] {
			visit(j)
		}
		state[i] = 2
		out = append(out, pkgs[i])
	}
	for i := range pkgs {
		visit(i)
	}
	return out
}
