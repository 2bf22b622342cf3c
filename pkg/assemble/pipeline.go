package assemble

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/apt/archive"
	"github.com/pgassemble/pgassemble/pkg/layer"
	"github.com/pgassemble/pgassemble/pkg/layer/maint"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

// The pipeline, one root at a time:
//
//	PlanRoot   the root's apt sources (mirrors and keyrings of Options on
//	           top), the target's extra repositories and PGDG; every stage
//	           resolved on the root's dpkg status
//	Fetch      the verified .debs of a plan
//	BuildRoot  the layers of a plan on its root: one per stage, then the
//	           state layer, and what the maintainer scripts did
//	ApplyTo    the layers unpacked onto a directory, as a runtime would
//
// Build and Plan run these steps on every platform of a pulled base image
// and make an index of the result; pkg/publish writes it. Query is the
// resolver on its own (pgassemble resolve). The CLI and the fidelity suite
// call these entry points and nothing under them.

// Errors of Query's repositories.
var (
	// ErrNoSources: the root's apt configuration names no enabled deb source.
	ErrNoSources = errors.New("no apt sources")
	// ErrBadSource: a one-line source cannot be parsed.
	ErrBadSource = errors.New("bad source line")
)

// Root is a filesystem the pipeline installs onto: the tree of a pulled
// base image, or any directory (os.DirFS).
type Root struct {
	FS       fs.FS
	Platform v1.Platform
	Name     string // how messages name it: the base reference, or the directory
}

// String names the root in messages; callers add the platform once.
func (r Root) String() string { return r.Name }

// Root is the filesystem of one platform of a base image (after LoadTree).
func (b *Base) Root() Root { return Root{FS: b.Tree, Platform: b.Platform, Name: b.Ref} }

// Excluded returns whether dpkg's path filters of the root
// (etc/dpkg/dpkg.cfg.d path-exclude/path-include, as BuildRoot applies
// them) keep a package's path (a file or a directory) out of the image.
func (r Root) Excluded() (func(path string) bool, error) {
	f, err := layer.ReadFilters(r.FS)
	if err != nil {
		return nil, fmt.Errorf("%s: dpkg path filters: %w", r, err)
	}
	return func(p string) bool { return f.Skip(p, false) || f.Skip(p, true) }, nil
}

// PlanRoot resolves every stage of t on root, downloading indexes (and,
// with PGDG, the packages that carry its key) only.
func (b *Builder) PlanRoot(ctx context.Context, t variants.Target, root Root) (*PlatformPlan, error) {
	return b.planPlatform(ctx, t, root)
}

// Planned are the packages of every stage of pp, in stage order.
func (pp *PlatformPlan) Planned() []apt.Planned {
	var out []apt.Planned
	for _, s := range pp.Stages {
		out = append(out, s.Packages...)
	}
	return out
}

// Fetch downloads and verifies the packages of a plan or an install set
// (each once per Builder, whoever asks) and returns their files in the
// cache, in the order given.
func (b *Builder) Fetch(ctx context.Context, planned []apt.Planned) ([]string, error) {
	pkgs := make([]*apt.Package, len(planned))
	for i, p := range planned {
		pkgs[i] = p.Package
	}
	return b.download(ctx, pkgs)
}

// StageLayer is one layer the pipeline adds and the stage it holds
// ("state" for the final dpkg-state layer).
type StageLayer struct {
	Stage string
	Layer v1.Layer
}

// ScriptReport is one entry of the maintainer scripts' trace: a script
// run (Verdict "run", Command its name and arguments) or a command it ran
// and the implementation that ran it.
type ScriptReport struct {
	Package string `json:"package"`
	Script  string `json:"script"`  // "preinst", "postinst", "prerm", "postrm"
	Command string `json:"command"` // as run, arguments expanded
	// Verdict is the implementation: "go" (a Go command, exact), "script"
	// (a shell script of the image, interpreted), "no-op" (Reason says
	// why), "deviation" (skipped by the policy), "refused", "skipped"
	// (refused, --allow-unhandled-scripts), "not-found" (exit 127), "run".
	Verdict   string   `json:"verdict"`
	Reason    string   `json:"reason,omitempty"`
	File      string   `json:"file,omitempty"` // the file the command is in, when not the maintainer script
	Line      uint     `json:"line,omitempty"`
	Path      string   `json:"path,omitempty"`    // the program in the image
	Effects   []string `json:"effects,omitempty"` // what it changed
	Status    int      `json:"status,omitempty"`  // exit status
	Depth     int      `json:"depth,omitempty"`   // nesting (sh -c, image scripts)
	Unhandled bool     `json:"-"`
}

// RootBuild is what the pipeline made on one root.
type RootBuild struct {
	Plan    *PlatformPlan
	Debs    []string // the cached .deb of each of Plan.Planned()
	Layers  []StageLayer
	Scripts []ScriptReport
}

// BuildRoot fetches the packages of pp and turns them into layers on pp's
// root. Without SOURCE_DATE_EPOCH the mtime clamps are derived from the
// inputs as Build derives them. When the layers fail after the scripts
// ran, the error comes with a RootBuild holding Scripts (what they did),
// without Layers.
func (b *Builder) BuildRoot(ctx context.Context, t variants.Target, pp *PlatformPlan) (*RootBuild, error) {
	dt, err := b.dateTarget(ctx, &TargetPlan{Target: t, Platforms: []*PlatformPlan{pp}})
	if err != nil {
		return nil, err
	}
	return b.buildRoot(ctx, t, pp, dt.stages[0])
}

func (b *Builder) buildRoot(ctx context.Context, t variants.Target, pp *PlatformPlan, epochs []time.Time) (*RootBuild, error) {
	return b.buildRootWith(ctx, t, pp, epochs, b.opts.AllowUnhandled)
}

func (b *Builder) buildRootWith(ctx context.Context, t variants.Target, pp *PlatformPlan, epochs []time.Time, allowRefused bool) (rb *RootBuild, err error) {
	rb = &RootBuild{Plan: pp}
	if rb.Debs, err = b.Fetch(ctx, pp.Planned()); err != nil {
		return nil, err
	}
	first := b.opts.Epoch
	if len(epochs) > 0 {
		first = epochs[0]
	}
	lb, err := layer.NewBuilder(pp.Root.FS, layer.Options{
		Arch: pp.Arch, Epoch: first, Compression: b.opts.Compression, CacheDir: b.opts.CacheDir,
		Scripts: scriptOptions(t, allowRefused), XZCommand: b.opts.XZCommand, Prune: t.Replay.Prune, Logger: b.log, Verified: &b.verified,
		Remote: b.opts.LayerRemote, Stats: &b.stats,
	})
	if err != nil {
		return nil, err
	}
	defer lb.Close()
	defer func() { // also on failure: what the scripts did says why
		if err != nil {
			rb.Layers = nil
		}
		for _, e := range lb.Trace() {
			rb.Scripts = append(rb.Scripts, scriptReport(e))
		}
	}()
	i := 0
	for si, s := range pp.Stages {
		if si < len(epochs) {
			lb.AdvanceEpoch(epochs[si])
		}
		debs := make([]layer.Deb, len(s.Packages))
		for j, p := range s.Packages {
			// What apt-get marks Auto-Installed: whatever was not asked for.
			// An upgrade keeps the mark the installed version has, as apt does.
			debs[j] = layer.Deb{Path: rb.Debs[i], SHA256: p.SHA256, Package: p.Package, Auto: p.Reason != "requested" && p.Upgrade == nil}
			i++
		}
		if len(debs) == 0 {
			continue
		}
		task := b.opts.Progress.Task("layer", fmt.Sprintf("%s %s %s", t.Name, pp.Arch, s.Name), 0)
		l, err := lb.AddStage(ctx, debs)
		task.Done(err)
		if err != nil {
			return rb, fmt.Errorf("stage %s: %w", s.Name, err)
		}
		rb.Layers = append(rb.Layers, StageLayer{s.Name, l})
	}
	// With PGDG, the image carries PGDG's apt source as postgresql-common's
	// setup script writes it.
	src, err := b.pgdgSourceFor(t, pp, rb.Debs)
	if err != nil {
		return rb, err
	}
	if src != nil {
		if err := lb.AddFile(layer.File{Path: src.Path, Data: src.Body}); err != nil {
			return rb, err
		}
		if src.Key != nil {
			if err := lb.AddFile(*src.Key); err != nil {
				return rb, err
			}
		}
	}
	task := b.opts.Progress.Task("layer", fmt.Sprintf("%s %s state", t.Name, pp.Arch), 0)
	final, err := lb.Finish(ctx)
	task.Done(err)
	if err != nil {
		return rb, fmt.Errorf("state layer: %w", err)
	}
	rb.Layers = append(rb.Layers, StageLayer{"state", final})
	return rb, nil
}

func scriptReport(e maint.Event) ScriptReport {
	r := ScriptReport{Package: e.Package, Script: e.Script, Command: e.Command(), Verdict: string(e.Impl),
		Reason: e.Reason, File: e.File, Line: e.Line, Path: e.Path, Effects: e.Effects, Status: e.Status, Depth: e.Depth}
	switch e.Impl {
	case maint.ImplRefused, maint.ImplSkipped:
		r.Unhandled = true
	case "run":
		r.Verdict = "run" // a maintainer script as dpkg runs it: Command is its name and arguments
	}
	return r
}

// ApplyTo unpacks the layers onto dir in order, as a container runtime
// unpacks an image (whiteouts remove, later layers win).
func (rb *RootBuild) ApplyTo(ctx context.Context, dir string) error {
	for _, sl := range rb.Layers {
		if err := layer.ApplyToDir(ctx, sl.Layer, dir); err != nil {
			return fmt.Errorf("apply layer %s to %s: %w", sl.Stage, dir, err)
		}
	}
	return nil
}

// Query is a resolve on its own (pgassemble resolve): packages onto an
// installed set, from the given repositories or a root's apt configuration.
type Query struct {
	// Root holds the apt configuration (sources.list{,.d}, Signed-By
	// keyrings, trusted.gpg{,.d}) and is where Sources' keyrings are looked up.
	Root fs.FS
	// Sources are one-line "URI SUITE COMPONENT..." repositories used
	// instead of Root's; Keyrings (files on this machine) are then trusted
	// for every one of them, else Root's trusted keyrings are.
	Sources  []string
	Keyrings []string
	Arch     string // dpkg architecture
	// Status is a dpkg status file (on this machine) of the installed
	// system; "" installs onto nothing.
	Status   string
	Packages []string // "name", "name=version", "name=17.12*", "name:arch"
}

// Query resolves q.
func (b *Builder) Query(ctx context.Context, q Query) (*apt.InstallSet, error) {
	repos, err := queryRepos(q)
	if err != nil {
		return nil, err
	}
	var installed []*apt.Package
	if q.Status != "" {
		f, err := os.Open(q.Status)
		if err != nil {
			return nil, fmt.Errorf("dpkg status: %w", err)
		}
		installed, err = apt.ParseStatus(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("dpkg status %s: %w", q.Status, err)
		}
	}
	u, err := b.universe(ctx, repos, q.Arch)
	if err != nil {
		return nil, err
	}
	return apt.Resolve(u, installed, q.Packages, apt.ResolveOptions{Logger: b.log})
}

func queryRepos(q Query) ([]archive.Repo, error) {
	if len(q.Sources) == 0 {
		all, err := archive.ReadSources(q.Root)
		if err != nil {
			return nil, fmt.Errorf("apt sources: %w", err)
		}
		repos, err := archive.Repos(q.Root, all)
		if err != nil {
			return nil, fmt.Errorf("apt sources: %w", err)
		}
		if len(repos) == 0 {
			return nil, fmt.Errorf("no enabled deb sources in etc/apt: %w", ErrNoSources)
		}
		return repos, nil
	}
	var sources []archive.Source
	for _, s := range q.Sources {
		src, err := archive.ParseSourceLine(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadSource, err)
		}
		sources = append(sources, src)
	}
	repos, err := archive.Repos(q.Root, sources)
	if err != nil {
		return nil, err
	}
	if len(q.Keyrings) > 0 {
		kr, err := readKeyrings(q.Keyrings)
		if err != nil {
			return nil, err
		}
		for i := range repos {
			repos[i].Keyring = kr
		}
	}
	return repos, nil
}
