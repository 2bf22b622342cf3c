package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/layer/maint"
)

// DefaultEpochUnix is the mtime clamp used when Options.Epoch is zero:
// 2000-01-01T00:00:00Z. The CLI passes SOURCE_DATE_EPOCH instead when set.
const DefaultEpochUnix = 946684800

// Replayer is what the builder needs from the maintainer-script runner
// (pkg/layer/maint, through NewMaintReplayer): scripts run when a stage
// is added, the entries of the stage are observed as they are written, and
// Files returns what the scripts wrote, for the state layer.
type Replayer interface {
	AddPackages(pkgs []maint.Package) error
	LookupUser(name string) (int, bool)
	LookupGroup(name string) (int, bool)
	Observe(pkg string, hdr *tar.Header, r io.Reader) error
	Files() ([]StateFile, error)
	Trace() []maint.Event
}

// Options configure a Builder.
type Options struct {
	// Arch is the dpkg architecture of the image (amd64, arm64, ...).
	Arch string
	// Epoch clamps every mtime (SOURCE_DATE_EPOCH). Zero: DefaultEpochUnix.
	Epoch time.Time
	// Compression of the layers; "" means Gzip.
	Compression Compression
	// Level is the compression level: gzip 1 (fastest) to 9, zstd 1 to 22
	// (mapped to klauspost's four speeds); 0 means the default (gzip 6,
	// zstd "default"). Part of the cache key: digests depend on it.
	Level int
	// CacheDir holds converted layers and parsed control members. Empty: a
	// temporary directory removed by Close.
	CacheDir string
	// Scripts configures the maintainer-script runner (policy, refusals);
	// its Arch and Epoch default to the above.
	Scripts maint.Options
	// Replayer, when set, is used instead of the runner made from Scripts.
	Replayer Replayer
	// NoScripts runs no maintainer script at all (no accounts, no Observe).
	NoScripts bool
	// Workers bounds how many .debs are decoded at once; 0 means
	// GOMAXPROCS. Builders running side by side (one per platform) can
	// share the cores this way instead of each holding GOMAXPROCS
	// decoders' memory.
	Workers int
	// XZCommand, when set, is an xz binary used to decompress data.tar.xz
	// (see WithXZCommand); empty uses the pure-Go decoder.
	XZCommand string
	// Prune lists directories whose contents the image must not have, as
	// upstream's `rm -rf /var/lib/apt/lists/* /var/cache/* /var/log/*`
	// after each install: "var/cache/*" or "var/cache". Finish hides their
	// contents with an opaque whiteout (stage layers stay independent of
	// it) and drops script-written files beneath them.
	Prune []string
	// Verified, shared by the builders of one process, lets each cached
	// layer be hashed once per process instead of once per hit; nil:
	// every hit hashes.
	Verified *VerifiedLayers
	// Remote, when set, is consulted on a local cache miss and given
	// every stage converted (see RemoteCache).
	Remote RemoteCache
	// Stats, shared by builders, counts conversions and cache hits.
	Stats *Stats
	// Logger receives progress at debug level; nil discards.
	Logger *slog.Logger
}

// Deb is one verified package file of a stage.
type Deb struct {
	Path string
	// SHA256 of the file (hex), as the index claims it. The bytes read are
	// hashed while they are decoded and a mismatch is an error
	// (ErrDigestMismatch) before anything is cached, so the cache is keyed
	// by verified digests only. Empty: the file is hashed for the key.
	SHA256 string
	// Package is the index entry the file was resolved from (optional).
	Package *apt.Package
	// Auto marks a package pulled in as a dependency (not requested): it
	// gets an "Auto-Installed: 1" stanza in var/lib/apt/extended_states,
	// as apt-get writes, so apt-get autoremove and apt-mark work in images.
	Auto bool
}

// Builder converts stages of packages into layers on top of one base.
// It is not safe for concurrent use.
type Builder struct {
	base     *baseState
	opts     Options
	epoch    time.Time
	rp       Replayer
	cacheDir string
	tmpCache bool
	tmpDir   string // this builder's run directory under <cache>/tmp
	release  func() // removes tmpDir and unlocks it
	log      *slog.Logger

	overlay     map[string]node      // what earlier stages placed
	pkgs        map[string]*pkgState // installed packages: base, then added
	prevDiffs   []string
	baseInfo    map[string][]string // stem -> info members, from the base
	owners      map[string]int      // shipped path -> number of packages listing it
	pathIdx     map[string][]string // shipped path -> packages listing it
	finished    bool
	extra       []File     // AddFile's, for the state layer
	auto        []autoMark // packages apt would mark auto-installed, install order
	removed     map[string]bool
	lastTimes   phaseTimes // of the last converted stage, for benchmarks and logs
	fingerprint string     // of the script runner, names observation sidecars
}

// phaseTimes splits a conversion's wall time: decoding the .debs (all
// cores; xz-bound), merging and sorting, and writing the tar through the
// compressor (script observation included).
type phaseTimes struct {
	Decode, Merge, Write time.Duration
}

// pkgState is one installed package as the builder tracks it.
type pkgState struct {
	key, stem string
	stanza    apt.Paragraph
	fromBase  bool
	list      []string // nil until loaded, for base packages
	loaded    bool
	members   []string // info members other than "list"
	sums      string   // md5sums of a stage-added Multi-Arch: same package
}

// NewBuilder reads the base's accounts, filters, dpkg status and layout.
func NewBuilder(base fs.FS, opts Options) (*Builder, error) {
	if opts.Compression == "" {
		opts.Compression = Gzip
	}
	if err := opts.Compression.valid(); err != nil {
		return nil, err
	}
	b := &Builder{opts: opts, overlay: map[string]node{}, pkgs: map[string]*pkgState{}}
	b.epoch = opts.Epoch.UTC().Truncate(time.Second)
	if opts.Epoch.IsZero() {
		b.epoch = time.Unix(DefaultEpochUnix, 0).UTC()
	}
	b.log = opts.Logger
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if b.base, err = readBase(base); err != nil {
		return nil, err
	}
	for _, p := range b.base.status {
		k := paragraphKey(p)
		b.pkgs[k] = &pkgState{key: k, stem: k, stanza: p, fromBase: true}
	}
	switch {
	case opts.Replayer != nil:
		b.rp = opts.Replayer
	case !opts.NoScripts:
		mo := opts.Scripts
		if mo.Arch == "" {
			mo.Arch = opts.Arch
		}
		if mo.Epoch.IsZero() {
			mo.Epoch = b.epoch
		}
		rp, err := NewMaintReplayer(context.Background(), base, mo)
		if err != nil {
			return nil, fmt.Errorf("maintainer scripts: %w", err)
		}
		b.rp = rp
	}
	b.cacheDir = opts.CacheDir
	if b.cacheDir == "" {
		if b.cacheDir, err = os.MkdirTemp("", "pgassemble-layer-*"); err != nil {
			return nil, err
		}
		b.tmpCache = true
	}
	for _, d := range []string{"layers", "control", "tmp"} {
		if err := os.MkdirAll(filepath.Join(b.cacheDir, d), 0o755); err != nil {
			return nil, err
		}
	}
	if n := sweepTmp(filepath.Join(b.cacheDir, "tmp"), time.Now()); n > 0 {
		b.log.Debug("swept temporary files of dead runs", "runs", n)
	}
	if b.tmpDir, b.release, err = newRunDir(filepath.Join(b.cacheDir, "tmp")); err != nil {
		return nil, err
	}
	return b, nil
}

// Close removes temporary files. Layers returned stay readable unless the
// cache directory was temporary.
func (b *Builder) Close() error {
	if b.release != nil {
		b.release()
		b.release = nil
	}
	if b.tmpCache {
		return os.RemoveAll(b.cacheDir)
	}
	return nil
}

// Trace returns every maintainer script run and each command it ran, with
// the implementation that ran it and what it changed, or why it was
// refused.
func (b *Builder) Trace() []maint.Event {
	if b.rp == nil {
		return nil
	}
	return b.rp.Trace()
}

// Diverter is optionally implemented by a Replayer whose packages divert
// files with dpkg-divert (in preinst): files of later packages at From are
// then unpacked at To, as dpkg would.
type Diverter interface {
	Diverted(abs string) (to, pkg string, ok bool)
}

// diversion returns the diversion of abs: the base's, or one a script
// made for a package installed before.
func (b *Builder) diversion(abs string) (diversion, bool) {
	if dv, ok := b.base.diverted[abs]; ok {
		return dv, true
	}
	if d, ok := b.rp.(Diverter); ok {
		if to, pkg, ok := d.Diverted(abs); ok {
			return diversion{To: to, Package: pkg}, true
		}
	}
	return diversion{}, false
}

func (b *Builder) lookupUser(name string) (int, bool) {
	if b.rp != nil {
		if id, ok := b.rp.LookupUser(name); ok {
			return id, true
		}
	}
	id, ok := b.base.users[name]
	return id, ok
}

func (b *Builder) lookupGroup(name string) (int, bool) {
	if b.rp != nil {
		if id, ok := b.rp.LookupGroup(name); ok {
			return id, true
		}
	}
	id, ok := b.base.groups[name]
	return id, ok
}

// AddStage converts debs (in install order) into one layer: their data,
// normalized, plus their var/lib/dpkg/info files. Upgrades and Replaces of
// installed packages are applied (whiteouts, rewritten .list files).
func (b *Builder) AddStage(ctx context.Context, debs []Deb) (v1.Layer, error) {
	if b.finished {
		return nil, errors.New("AddStage after Finish")
	}
	start := time.Now()
	infos := make([]*ControlInfo, len(debs))
	cached := make([]bool, len(debs))
	for i, d := range debs {
		info, hit, err := b.controlInfo(d)
		if err != nil {
			return nil, err
		}
		infos[i], cached[i] = info, hit
	}
	// Parsed control members are cached once the bytes they came from
	// are verified: by the conversion, or here on a stage cache hit.
	saveControls := func(verify bool) error {
		for i, d := range debs {
			if cached[i] {
				continue
			}
			if verify {
				if err := verifyDeb(d); err != nil {
					return err
				}
			}
			if err := b.saveControl(d, infos[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if cs, ok := b.rp.(interface{ setContext(context.Context) }); ok {
		cs.setContext(ctx)
	}
	if b.rp != nil {
		pkgs := make([]maint.Package, len(debs))
		for i, info := range infos {
			p := info.Paragraph
			pkgs[i] = maint.Package{Name: p.Get("Package"), Version: p.Get("Version"),
				Arch: p.Get("Architecture"), Control: p, Scripts: info.Scripts()}
		}
		if err := b.rp.AddPackages(pkgs); err != nil {
			return nil, err
		}
	}
	key, err := b.stageKey(debs)
	if err != nil {
		return nil, err
	}
	b.markAuto(debs, infos)
	if l, meta, ok := b.cachedOrRemote(ctx, key); ok {
		if err := saveControls(true); err != nil {
			return nil, err
		}
		if err := b.observeCached(ctx, key, l, meta); err != nil {
			return nil, err
		}
		b.applyMeta(meta)
		b.log.Debug("layer cache hit", "key", key[:12], "packages", len(debs))
		return l, nil
	}
	l, meta, err := b.convert(ctx, debs, infos, key)
	if err != nil {
		return nil, err
	}
	b.converted(ctx, key)
	if err := saveControls(false); err != nil {
		return nil, err
	}
	b.applyMeta(meta)
	b.log.Debug("layer converted", "key", key[:12], "packages", len(debs), "bytes", l.rawSize,
		"elapsed", time.Since(start))
	return l, nil
}

// convert decodes every .deb (in parallel: xz is the bottleneck), then
// merges them in install order and writes the sorted layer.
func (b *Builder) convert(ctx context.Context, debs []Deb, infos []*ControlInfo, key string) (*fileLayer, *stageMeta, error) {
	tmp, err := os.MkdirTemp(b.tmpDir, "stage-*")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(tmp)
	decoded := make([]*decodedDeb, len(debs))
	defer func() {
		for _, d := range decoded {
			if d != nil {
				d.close()
			}
		}
	}()
	t0 := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	workers := b.opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	g.SetLimit(workers)
	// Largest first: decoding is the long pole, and a big package started
	// last would leave the other cores idle at the end. The merge below
	// still follows install order.
	order := make([]int, len(debs))
	sizes := make([]int64, len(debs))
	for i, d := range debs {
		order[i] = i
		if fi, err := os.Stat(d.Path); err == nil {
			sizes[i] = fi.Size()
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return sizes[order[a]] > sizes[order[b]] })
	for _, i := range order {
		g.Go(func() error {
			d, err := decodeDeb(gctx, debs[i], infos[i], tmp, b.debOptions()...)
			if err != nil {
				return err
			}
			decoded[i] = d
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	t1 := time.Now()
	s := b.newStage()
	s.upgraded = map[string]bool{}
	for _, d := range decoded {
		if k := s.stageKeyOf(d.info.Paragraph); b.pkgs[k] != nil {
			s.upgraded[k] = true
		}
	}
	for _, d := range decoded {
		if err := s.addPackage(d); err != nil {
			return nil, nil, err
		}
	}
	if err := s.finishDB(decoded); err != nil {
		return nil, nil, err
	}
	entries := s.sorted()
	t2 := time.Now()
	defer func() {
		b.lastTimes = phaseTimes{Decode: t1.Sub(t0), Merge: t2.Sub(t1), Write: time.Since(t2)}
		b.log.Debug("stage phases", "decode", b.lastTimes.Decode, "merge", b.lastTimes.Merge, "write", b.lastTimes.Write)
	}()
	bw, err := newBlobWriter(b.tmpDir, b.opts.Compression, b.opts.Level)
	if err != nil {
		return nil, nil, err
	}
	var obs *obsWriter
	if b.rp != nil {
		if obs, err = newObsWriter(b.tmpDir); err != nil {
			bw.abort()
			return nil, nil, err
		}
	}
	if err := b.writeTar(ctx, bw, entries, obs); err != nil {
		bw.abort()
		if obs != nil {
			obs.abort()
		}
		return nil, nil, err
	}
	l, err := bw.finish(filepath.Join(b.cacheDir, "layers", key+b.opts.Compression.ext()))
	if err != nil {
		if obs != nil {
			obs.abort()
		}
		return nil, nil, err
	}
	if obs != nil {
		if err := obs.finish(b.observePath(key)); err != nil {
			return nil, nil, err
		}
	}
	s.meta.fill(l)
	if err := b.saveMeta(key, s.meta); err != nil {
		return nil, nil, err
	}
	return l, s.meta, nil
}

// writeTar writes entries in order, feeding each package entry to the
// script runner as it goes.
func (b *Builder) writeTar(ctx context.Context, w io.Writer, entries []*outEntry, obs *obsWriter) error {
	tw := tar.NewWriter(w)
	buf := make([]byte, 256<<10)
	for i, e := range entries {
		if i%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		// Package entries, and dpkg's database files of the stage (.list,
		// .md5sums, control members): scripts read them (dpkg -L).
		if b.rp != nil && (e.pkg != "" || strings.HasPrefix(e.hdr.Name, "var/lib/dpkg/info/")) {
			h := e.hdr
			var r io.Reader
			var c *captureReader
			if h.Typeflag == tar.TypeReg {
				budget := int64(-1)
				if obs != nil {
					budget = obs.budget
				}
				c = &captureReader{ra: e.bodyAt(), size: h.Size, budget: &budget}
				r = c
			}
			if err := b.rp.Observe(e.pkg, &h, r); err != nil {
				return fmt.Errorf("maintainer scripts: observe %s %s: %w", e.pkg, h.Name, err)
			}
			if obs != nil {
				if c != nil {
					obs.budget = *c.budget
				}
				if err := obs.write(e.pkg, &e.hdr, c); err != nil {
					return err
				}
			}
		}
		h := e.hdr
		if err := tw.WriteHeader(&h); err != nil {
			return fmt.Errorf("write %s: %w", h.Name, err)
		}
		if h.Typeflag == tar.TypeReg && h.Size > 0 {
			if _, err := io.CopyBuffer(tw, e.body(), buf); err != nil {
				return fmt.Errorf("write %s: %w", h.Name, err)
			}
		}
	}
	return tw.Close()
}

func (b *Builder) debOptions() []DebOption {
	if b.opts.XZCommand != "" {
		return []DebOption{WithXZCommand(b.opts.XZCommand)}
	}
	return nil
}

// Finish returns the state layer: var/lib/dpkg/status for the base plus
// every added package, and the files the maintainer scripts wrote.
func (b *Builder) Finish(ctx context.Context) (v1.Layer, error) {
	b.finished = true
	var stanzas []apt.Paragraph
	for _, k := range sortedKeys(b.pkgs) {
		stanzas = append(stanzas, b.pkgs[k].stanza)
	}
	var files []StateFile
	if cs, ok := b.rp.(interface{ setContext(context.Context) }); ok {
		cs.setContext(ctx)
	}
	if b.rp != nil {
		var err error
		if files, err = b.rp.Files(); err != nil {
			return nil, fmt.Errorf("maintainer scripts: %w", err)
		}
	}
	entries := map[string]*outEntry{}
	t := &tree{base: b.base, overlay: b.overlay}
	for _, f := range files {
		p, err := cleanName(f.Path)
		if err != nil || p == "" {
			return nil, fmt.Errorf("script file %q: %w", f.Path, ErrUnsafePath)
		}
		// Written where dpkg-like path resolution puts it (merged /usr).
		if p, err = t.resolveParent(p); err != nil {
			return nil, fmt.Errorf("script file %q: %v: %w", f.Path, err, ErrUnsafePath)
		}
		h := tar.Header{Name: p, Typeflag: f.Type, Mode: f.Mode & 0o7777, Uid: f.Uid, Gid: f.Gid, ModTime: b.epoch}
		e := &outEntry{hdr: h}
		switch f.Type {
		case tar.TypeReg: // tar.Reader reports the old NUL type as TypeReg
			e.hdr.Typeflag = tar.TypeReg
			e.hdr.Size = int64(len(f.Data))
			e.data = f.Data
		case tar.TypeDir:
			e.hdr.Name += "/"
		case tar.TypeSymlink:
			e.hdr.Linkname = f.Linkname
		case tar.TypeLink:
			target, err := t.resolveParent(f.Linkname)
			if err != nil {
				return nil, fmt.Errorf("script file %q: %v: %w", f.Path, err, ErrUnsafePath)
			}
			e.hdr.Linkname = target
		case TypeWhiteout:
			wh := path.Join(path.Dir(p), ".wh."+path.Base(p))
			entries[wh] = &outEntry{hdr: tar.Header{Name: wh, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: b.epoch}}
			continue
		default:
			return nil, fmt.Errorf("script file %s: unsupported type %q", f.Path, f.Type)
		}
		entries[p] = e
	}
	if err := b.extraEntries(t, entries); err != nil {
		return nil, err
	}
	if es, err := b.extendedStates(); err != nil {
		return nil, err
	} else if es != nil {
		p, err := t.resolveParent(extendedStatesPath)
		if err != nil {
			return nil, fmt.Errorf("%s: %v: %w", extendedStatesPath, err, ErrUnsafePath)
		}
		entries[p] = &outEntry{data: es, hdr: tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: 0o644,
			Size: int64(len(es)), ModTime: b.epoch}}
	}
	if len(b.opts.Prune) > 0 {
		if err := b.prune(t, entries); err != nil {
			return nil, err
		}
	}
	status := StatusFile(stanzas)
	entries["var/lib/dpkg/status"] = &outEntry{data: status, hdr: tar.Header{Name: "var/lib/dpkg/status",
		Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(status)), ModTime: b.epoch}}
	list := make([]*outEntry, 0, len(entries))
	for _, k := range sortedKeys(entries) {
		list = append(list, entries[k])
	}
	sortEntries(list)
	bw, err := newBlobWriter(b.tmpDir, b.opts.Compression, b.opts.Level)
	if err != nil {
		return nil, err
	}
	if err := b.writeTar(ctx, bw, list, nil); err != nil {
		bw.abort()
		return nil, err
	}
	return bw.finishHashed(filepath.Join(b.cacheDir, "layers"))
}

// prune empties the Prune directories as upstream's rm -rf does, except for
// what an installed package lists (dpkg -V would report it missing): those
// paths and their parents stay. Entries the state layer would add beneath
// are dropped unless owned; what the base or a stage put there is whited
// out, one whiteout per top-most unowned entry.
func (b *Builder) prune(t *tree, entries map[string]*outEntry) error {
	b.owners = nil // stages may have added packages since it was built
	owners, err := b.ownerIndex()
	if err != nil {
		return err
	}
	for _, pr := range b.opts.Prune {
		d, err := cleanName(strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(pr, "/"), "*"), "/"))
		if err != nil || d == "" || strings.ContainsAny(d, "*?[") {
			return fmt.Errorf("prune %q: want a directory or dir/*: %w", pr, ErrUnsafePath)
		}
		if d, err = t.resolveFull(d); err != nil {
			return fmt.Errorf("prune %q: %v: %w", pr, err, ErrUnsafePath)
		}
		keep := map[string]bool{}
		for l := range owners {
			rp, err := t.resolveParent(strings.TrimPrefix(l, "/"))
			if err != nil || !strings.HasPrefix(rp, d+"/") {
				continue
			}
			for q := rp; q != d && !keep[q]; q = path.Dir(q) {
				keep[q] = true
			}
		}
		for k := range entries {
			if strings.HasPrefix(k, d+"/") && !keep[k] {
				delete(entries, k)
			}
		}
		if t.lookup(d).kind != 'd' {
			continue // nothing to empty
		}
		if len(keep) == 0 {
			opq := d + "/.wh..wh..opq"
			entries[opq] = &outEntry{hdr: tar.Header{Name: opq, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: b.epoch}}
			continue
		}
		// Everything present under d: the base's entries and the stages'.
		present := map[string]bool{}
		_ = fs.WalkDir(b.base.fsys, d, func(p string, de fs.DirEntry, err error) error {
			if err == nil && p != d {
				present[p] = true
			}
			return nil
		})
		for p, n := range b.overlay {
			if strings.HasPrefix(p, d+"/") {
				present[p] = n.kind != 0
			}
		}
		for p, ok := range present {
			if !ok || keep[p] || (path.Dir(p) != d && !keep[path.Dir(p)]) {
				continue // owned, gone, or under a whited-out parent
			}
			wh := path.Join(path.Dir(p), ".wh."+path.Base(p))
			entries[wh] = &outEntry{hdr: tar.Header{Name: wh, Typeflag: tar.TypeReg, Mode: 0o644, ModTime: b.epoch}}
		}
	}
	return nil
}

// finishHashed stores a blob under its own digest (for layers that are not
// worth a cache key: cheap to rebuild, but must outlive the call).
func (bw *blobWriter) finishHashed(dir string) (*fileLayer, error) {
	return bw.finishTo(func(d v1.Hash) string { return filepath.Join(dir, "state-"+d.Hex+bw.comp.ext()) })
}
