package assemble

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/apt/archive"
	"github.com/pgassemble/pgassemble/pkg/layer"
	"github.com/pgassemble/pgassemble/pkg/layer/maint"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

// ErrVersionUnavailable is returned when the repositories lack the
// PostgreSQL version a target asks for.
var ErrVersionUnavailable = errors.New("PostgreSQL version not available")

// Options configure a Builder. The zero value of every field is a usable
// default except Client.
type Options struct {
	// Client fetches and verifies repository metadata and packages; nil:
	// a client on ArchiveCacheDir that reports downloads to Progress.
	Client *archive.Client
	// ArchiveCacheDir holds verified indexes and .debs when Client is nil;
	// "" is archive.DefaultCacheDir.
	ArchiveCacheDir string
	// ClientOptions are more options of the client made when Client is
	// nil (trust policy, timeouts, retries).
	ClientOptions []archive.Option
	// Downloads is how many downloads run at once when Client is nil; 0
	// is the client's default.
	Downloads int
	// Bases pulls base images.
	Bases BaseSource
	// BaseImage overrides the target's base image reference.
	BaseImage string
	// DebianMirror and DebianSecurityMirror replace the URIs of the base
	// image's own apt sources (non-security and -security suites).
	DebianMirror, DebianSecurityMirror string
	// PGSource is where PostgreSQL comes from: PGDG (default) or Debian.
	PGSource variants.PGSource
	// PGDGMirror overrides the mirror named by postgresql-common's script.
	PGDGMirror string
	// PGDGMirrorInImage is the URI of the PGDG source written into images
	// built with PGSource PGDG; empty: the mirror the image was built from.
	PGDGMirrorInImage string
	// PGDGKeyInImage is a keyring file (on this machine) the image's PGDG
	// source names; empty: the rule of pgdgKeyInImage (the key the
	// mirror was verified with when that is not the one postgresql-common
	// ships and the source points at that mirror).
	PGDGKeyInImage string
	// Keyrings are extra keyring files (on this machine) trusted for every
	// repository; with PGSource PGDG they replace the key postgresql-common ships.
	Keyrings []string
	// Layer conversion settings.
	CacheDir    string // layer cache; "" = a per-run temporary directory
	Compression layer.Compression
	// LayerRemote shares the layer cache between machines (a cache
	// repository, see pkg/regcache); nil: local only.
	LayerRemote layer.RemoteCache
	// Epoch is SOURCE_DATE_EPOCH: it clamps every mtime. Zero derives the
	// clamps from the inputs (base image and packages, see dateTarget).
	Epoch          time.Time
	AllowUnhandled bool // --allow-unhandled-scripts
	// Upgrade upgrades, first, every installed package of the root with a
	// newer candidate, as apt-get upgrade does (see apt.Upgrade); false
	// leaves the root's packages as they are. The CLI's --upgrade sets it
	// (on by default).
	Upgrade bool
	// XZCommand is an xz binary for data.tar.xz and Packages.xz (faster
	// than the pure-Go decoder, same bytes out); empty uses the pure-Go
	// decoder.
	XZCommand string
	// Created is the image creation time written to the config and labels;
	// zero = Epoch, or the derived epoch when Epoch is zero, so builds are
	// reproducible by default.
	Created time.Time
	// Built is the wall-clock time used in the timestamped tag.
	Built time.Time
	// Revision of the build recipe, for the revision label.
	Revision string
	// Pin, when set, is called with every fresh plan before anything is
	// fetched: it may refuse the plan or rewrite its stages (pkg/lock's
	// --locked).
	Pin func(ctx context.Context, tp *TargetPlan) error
	// Progress receives long-running steps; nil for none.
	Progress Progress
	Logger   *slog.Logger
}

// Progress is told about long work so a CLI can show it.
type Progress interface {
	Task(kind, name string, total int64) Task
}

// Task is one step in progress.
type Task interface {
	Add(n int64)
	Done(err error)
}

// downloadProgress reports the client's downloads as "download" tasks.
type downloadProgress struct{ p Progress }

func (d downloadProgress) Start(name string, size int64) archive.Task {
	return d.p.Task("download", name, size)
}

type noProgress struct{}
type noTask struct{}

func (noProgress) Task(string, string, int64) Task { return noTask{} }
func (noTask) Add(int64)                           {}
func (noTask) Done(error)                          {}

// Builder builds targets. It keeps pulled bases and parsed package indexes
// so that a bake of many targets reads each once.
type Builder struct {
	opts      Options
	client    *archive.Client
	log       *slog.Logger
	extraKeys *archive.Keyring
	pgdgKeys  *archive.Keyring
	// pgdgKeyFiles are the --keyring files that verify PGDG (PGSource
	// PGDG), as read; pgdgImageKey is Options.PGDGKeyInImage, as read.
	pgdgKeyFiles []keyFile
	pgdgImageKey *keyFile

	bases     memo[[]*Base]
	universes memo[*apt.Universe]
	releases  memo[ReleaseRef]
	mu        sync.Mutex
	inflight  map[string]*inflight // .deb downloads by SHA256
	verified  layer.VerifiedLayers // cached layers hashed by this process
	stats     layer.Stats          // conversions and cache hits of this Builder
}

// LayerStats counts the stages this Builder converted and those its
// caches served.
func (b *Builder) LayerStats() layer.StatsSnapshot { return b.stats.Snapshot() }

// New returns a Builder.
func New(opts Options) (*Builder, error) {
	if opts.PGSource == "" {
		opts.PGSource = variants.PGSourcePGDG
	}
	if opts.Created.IsZero() {
		opts.Created = opts.Epoch // zero with Epoch: derived per target
	}
	if opts.Built.IsZero() {
		opts.Built = time.Now().UTC()
	}
	if opts.Progress == nil {
		opts.Progress = noProgress{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Client == nil {
		co := append([]archive.Option{archive.WithCacheDir(opts.ArchiveCacheDir),
			archive.WithLogger(opts.Logger), archive.WithProgress(downloadProgress{opts.Progress})}, opts.ClientOptions...)
		if opts.Downloads > 0 {
			co = append(co, archive.WithParallelism(opts.Downloads))
		}
		if opts.XZCommand != "" {
			co = append(co, archive.WithXZCommand(opts.XZCommand))
		}
		opts.Client = archive.New(co...)
	}
	// Before anything writes under the cache directory: the per-user
	// fallback one must be made private (0700) by its check, not created
	// with the usual mode by the first file written there.
	if err := opts.Client.CheckCacheDir(); err != nil {
		return nil, err
	}
	b := &Builder{opts: opts, client: opts.Client, log: opts.Logger}
	if len(opts.Keyrings) > 0 {
		kfs, err := readKeyFiles(opts.Keyrings)
		if err != nil {
			return nil, err
		}
		if opts.PGSource == variants.PGSourcePGDG {
			b.pgdgKeys, b.pgdgKeyFiles = mergeKeyFiles(kfs), kfs
		} else {
			b.extraKeys = mergeKeyFiles(kfs)
		}
	}
	if opts.PGDGKeyInImage != "" {
		if opts.PGSource != variants.PGSourcePGDG {
			return nil, fmt.Errorf("PGDG key in the image %s: PostgreSQL does not come from PGDG (%s): %w", opts.PGDGKeyInImage, opts.PGSource, ErrPGDGKey)
		}
		kf, err := readKeyFiles([]string{opts.PGDGKeyInImage})
		if err != nil {
			return nil, err
		}
		if kf[0].private() {
			return nil, fmt.Errorf("%w: %s holds a private key, which would be written into the image: give its public part (gpg --export)", ErrPGDGKey, opts.PGDGKeyInImage)
		}
		b.pgdgImageKey = &kf[0]
	}
	return b, nil
}

// StagePlan is what one stage adds on one platform.
type StagePlan struct {
	Name     string
	Packages []apt.Planned
}

// PlatformPlan is the resolved content of one platform of a target.
type PlatformPlan struct {
	Platform v1.Platform
	Arch     string // dpkg architecture
	Root     Root   // what the stages install onto
	Base     *Base  // the pulled base image Root is the tree of; nil for another root
	Stages   []StagePlan
	// PGDGMirror is the PGDG repository the packages came from (PGSource
	// PGDG only).
	PGDGMirror string
	// Releases are the InRelease files of every repository the stages
	// were resolved from (the no-op check's inputs, see Unchanged).
	Releases []ReleaseRef
	// Upgrade is what apt-get upgrade would do on the root: the upgrades
	// (the first stage, UpgradeStage, with Options.Upgrade) and the
	// packages it keeps back, with the reason.
	Upgrade *apt.UpgradeResult
}

// UpgradeStage names the stage that upgrades the root's packages.
const UpgradeStage = "upgrade"

// TargetPlan is a target resolved on every platform.
type TargetPlan struct {
	Target    variants.Target
	BaseRef   string
	Version   string // resolved server package version, e.g. "17.12-1.pgdg130+1"
	Platforms []*PlatformPlan
}

func (b *Builder) baseRef(t variants.Target) string {
	if b.opts.BaseImage != "" {
		return b.opts.BaseImage
	}
	return t.Base.Reference()
}

// Plan pulls the base and resolves every stage of t on every platform,
// downloading indexes only.
func (b *Builder) Plan(ctx context.Context, t variants.Target) (*TargetPlan, error) {
	ref := b.baseRef(t)
	platforms := make([]v1.Platform, len(t.Platforms))
	for i, s := range t.Platforms {
		p, err := ParsePlatform(s)
		if err != nil {
			return nil, err
		}
		platforms[i] = p
	}
	bases, err := b.pullBases(ctx, ref, platforms)
	if err != nil {
		return nil, err
	}
	tp := &TargetPlan{Target: t, BaseRef: ref, Platforms: make([]*PlatformPlan, len(bases))}
	g, gctx := errgroup.WithContext(ctx)
	for i, base := range bases {
		g.Go(func() error {
			pp, err := b.planPlatform(gctx, t, base.Root())
			if err != nil {
				return fmt.Errorf("%s %s: %w", t.Name, base.Platform.String(), err)
			}
			pp.Base = base
			tp.Platforms[i] = pp
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	server := serverPackage(t)
	for _, pp := range tp.Platforms {
		v := pp.version(server)
		if v == "" {
			return nil, fmt.Errorf("%s %s: %s is not in the install set", t.Name, pp.Platform.String(), server)
		}
		if tp.Version == "" {
			tp.Version = v
		} else if v != tp.Version {
			return nil, fmt.Errorf("%s: %s resolves to %s on %s but %s on %s; an index spans one version", t.Name, server, tp.Version, tp.Platforms[0].Platform.String(), v, pp.Platform.String())
		}
	}
	return tp, nil
}

func serverPackage(t variants.Target) string {
	if len(t.Pins) > 0 {
		return t.Pins[0].Package
	}
	return "postgresql-" + t.Version.MajorString()
}

func (pp *PlatformPlan) version(pkg string) string {
	for _, s := range pp.Stages {
		for _, p := range s.Packages {
			if p.Name == pkg {
				return p.Version
			}
		}
	}
	return ""
}

func (b *Builder) pullBases(ctx context.Context, ref string, platforms []v1.Platform) ([]*Base, error) {
	var keys []string
	for _, p := range platforms {
		keys = append(keys, p.String())
	}
	key := ref + " " + strings.Join(keys, ",")
	return b.bases.get(ctx, key, func() ([]*Base, error) {
		task := b.opts.Progress.Task("base", ref, 0)
		bases, err := b.opts.Bases.Pull(ctx, ref, platforms)
		if err == nil {
			g, gctx := errgroup.WithContext(ctx)
			for _, base := range bases {
				g.Go(func() error { return base.LoadTree(gctx) })
			}
			err = g.Wait()
		}
		task.Done(err)
		return bases, err
	})
}

// universe returns the parsed, verified packages of repos for arch, read
// once per Builder.
func (b *Builder) universe(ctx context.Context, repos []archive.Repo, arch string) (*apt.Universe, error) {
	var keys []string
	for _, r := range repos {
		keys = append(keys, r.String())
	}
	key := arch + "|" + strings.Join(keys, "|")
	return b.universes.get(ctx, key, func() (*apt.Universe, error) {
		task := b.opts.Progress.Task("index", arch+" "+strings.Join(keys, ", "), 0)
		pkgs, err := b.client.Indexes(ctx, repos, arch)
		task.Done(err)
		if err != nil {
			return nil, err
		}
		return apt.NewUniverse(arch, pkgs), nil
	})
}

func (b *Builder) planPlatform(ctx context.Context, t variants.Target, root Root) (*PlatformPlan, error) {
	arch, err := DebianArch(root.Platform)
	if err != nil {
		return nil, err
	}
	installed, err := readStatus(root.FS)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", root, err)
	}
	repos, err := b.debianRepos(root)
	if err != nil {
		return nil, err
	}
	extra, err := b.configRepos(t)
	if err != nil {
		return nil, err
	}
	repos = append(repos, extra...)
	u, err := b.universe(ctx, repos, arch)
	if err != nil {
		return nil, err
	}
	var pgdgMirror string
	if b.opts.PGSource == variants.PGSourcePGDG {
		pgdg, err := b.pgdgRepo(ctx, t, u)
		if err != nil {
			return nil, err
		}
		repos = append(repos, pgdg)
		if u, err = b.universe(ctx, repos, arch); err != nil {
			return nil, err
		}
		pgdgMirror = pgdg.URI
	}
	pp := &PlatformPlan{Platform: root.Platform, Arch: arch, Root: root, PGDGMirror: pgdgMirror}
	if pp.Releases, err = b.releaseRefs(ctx, repos, u); err != nil {
		return nil, err
	}
	// apt-get upgrade first, as upstream's Dockerfile runs it in each
	// stage: one stage before the type's, so every type of a base shares it.
	pp.Upgrade = apt.Upgrade(u, installed, apt.ResolveOptions{Logger: b.log})
	if b.opts.Upgrade && len(pp.Upgrade.Set.Packages) > 0 {
		pp.Stages = append(pp.Stages, StagePlan{Name: UpgradeStage, Packages: pp.Upgrade.Set.Packages})
		installed = pp.Upgrade.Set.After(installed)
	}
	for _, st := range t.Stages {
		reqs := make([]string, len(st.Packages))
		for i, name := range st.Packages {
			reqs[i] = name
			for _, pin := range t.Pins {
				if pin.Package == name {
					reqs[i] = pin.Glob()
				}
			}
		}
		set, err := apt.Resolve(u, installed, reqs, apt.ResolveOptions{Logger: b.log})
		if err != nil {
			if msg := pinProblem(t, u); msg != "" {
				return nil, fmt.Errorf("%s: %w", msg, ErrVersionUnavailable)
			}
			return nil, fmt.Errorf("stage %s: %w", st.Name, err)
		}
		for _, pin := range t.Pins {
			for _, p := range set.Packages {
				if p.Name == pin.Package && !pin.Matches(p.Version) {
					return nil, fmt.Errorf("%s %s does not match the pinned version %s: %w", p.Name, p.Version, pin.Version, ErrVersionUnavailable)
				}
			}
		}
		pp.Stages = append(pp.Stages, StagePlan{Name: st.Name, Packages: set.Packages})
		installed = set.After(installed)
	}
	return pp, nil
}

// pinProblem explains a missing server package version with what the
// repositories do have.
func pinProblem(t variants.Target, u *apt.Universe) string {
	server := serverPackage(t)
	vs := u.Versions(server)
	if len(vs) == 0 {
		return fmt.Sprintf("%s (PostgreSQL %s) is not in the repositories", server, t.Version.String())
	}
	for _, pin := range t.Pins {
		ok := false
		var have []string
		for _, p := range vs {
			have = append(have, p.Version)
			ok = ok || pin.Matches(p.Version)
		}
		if !ok {
			return fmt.Sprintf("PostgreSQL %s is not in the repositories (%s has %s)", pin.Version, server, strings.Join(have, ", "))
		}
	}
	return ""
}

func readStatus(fsys fs.FS) ([]*apt.Package, error) {
	f, err := fsys.Open("var/lib/dpkg/status")
	if err != nil {
		return nil, fmt.Errorf("dpkg status: %w", err)
	}
	defer f.Close()
	pkgs, err := apt.ParseStatus(f)
	if err != nil {
		return nil, fmt.Errorf("dpkg status: %w", err)
	}
	return pkgs, nil
}

// ScriptPolicy is the variant's maintainer-script policy as the runner's
// input: preset ids, debconf answers, edits (absolute paths) and
// deliberate deviations.
func ScriptPolicy(t variants.Target) *maint.Policy {
	p := &maint.Policy{UIDs: maps.Clone(t.Replay.FixedUIDs), GIDs: maps.Clone(t.Replay.FixedGIDs),
		Debconf: maps.Clone(t.Replay.Debconf)}
	for _, e := range t.Replay.Edits {
		p.Edits = append(p.Edits, maint.Edit{Path: "/" + strings.TrimPrefix(e.Path, "/"), Pattern: e.Regexp, Replace: e.Replacement})
	}
	for _, d := range t.Replay.Deviations {
		p.Deviations = append(p.Deviations, maint.Deviation{Match: d.Match, Reason: d.Reason})
	}
	return p
}

// scriptOptions are the runner's options for t. allowRefused skips
// refused commands (reported in the trace) instead of failing.
func scriptOptions(t variants.Target, allowRefused bool) maint.Options {
	return maint.Options{Policy: ScriptPolicy(t), AllowRefused: allowRefused}
}

// Explain builds the first platform's layers of tp (scripts executed,
// refusals reported instead of failing) and returns the trace: per
// script, each command, the implementation that ran it and what it
// changed, or why it was refused.
func (b *Builder) Explain(ctx context.Context, tp *TargetPlan) ([]ScriptReport, error) {
	dt, err := b.dateTarget(ctx, tp)
	if err != nil {
		return nil, err
	}
	rb, err := b.buildRootWith(ctx, tp.Target, tp.Platforms[0], dt.stages[0], true)
	if rb != nil {
		return rb.Scripts, err
	}
	return nil, err
}

func (b *Builder) download(ctx context.Context, pkgs []*apt.Package) ([]string, error) {
	// A .deb is fetched once per Builder even when platforms (Architecture:
	// all packages) or targets ask for it at the same time: the first asker
	// downloads, the others wait for its outcome.
	var mine []*apt.Package
	var owned, waits []*inflight
	b.mu.Lock()
	if b.inflight == nil {
		b.inflight = map[string]*inflight{}
	}
	for _, p := range pkgs {
		if e, ok := b.inflight[p.SHA256]; ok {
			if !slices.Contains(owned, e) && !slices.Contains(waits, e) {
				waits = append(waits, e)
			}
			continue
		}
		e := &inflight{done: make(chan struct{})}
		b.inflight[p.SHA256] = e
		owned = append(owned, e)
		mine = append(mine, p)
	}
	b.mu.Unlock()
	sort.SliceStable(mine, func(i, j int) bool { return mine[i].Size > mine[j].Size }) // big first: better overlap
	var err error
	if len(mine) > 0 {
		_, err = b.client.Download(ctx, mine)
	}
	b.mu.Lock()
	for i, e := range owned {
		e.err = err
		if err != nil {
			delete(b.inflight, mine[i].SHA256) // let a later call try again
		}
		close(e.done)
	}
	b.mu.Unlock()
	if err != nil {
		return nil, err
	}
	for _, w := range waits {
		select {
		case <-w.done:
			if w.err != nil {
				return nil, w.err
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	out := make([]string, len(pkgs))
	for i, p := range pkgs {
		out[i] = b.client.DebPath(p.SHA256)
	}
	return out, nil
}

type inflight struct {
	done chan struct{}
	err  error
}
