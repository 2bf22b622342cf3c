package layer

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pgassemble/pgassemble/internal/atomicfile"
	"github.com/pgassemble/pgassemble/internal/digest"
	"github.com/pgassemble/pgassemble/pkg/apt"
)

// formatVersion is part of every cache key: bump it whenever the bytes a
// stage produces change for the same inputs (normalization, tar format,
// compression settings, library versions that change compressed output).
const formatVersion = 4

// stageMeta is stored next to a cached layer: what the builder must know
// about the stage without reading the layer or any .deb again.
type stageMeta struct {
	Version   int
	MediaType types.MediaType
	Digest    string
	DiffID    string
	Size      int64
	RawSize   int64
	Packages  []pkgMeta
	Removed   []string            // installed packages removed (Conflicts+Replaces, disappeared)
	Lists     map[string][]string // rewritten .list of installed packages (Replaces)
	Overlay   []overlayNode       // directories, symlinks and deletions placed
	// Users and Groups record every owner name the stage mapped and the id
	// it got (-1: unknown, numeric fallback). A hit is only valid if the
	// names still map to the same ids.
	Users  map[string]int
	Groups map[string]int
	// Diverted records the diversions applied ("to pkg" by path); a hit
	// requires the same diversions still apply to those paths.
	Diverted map[string]string
}

type pkgMeta struct {
	Key, Stem string
	Stanza    apt.Paragraph
	List      []string
	Members   []string
	// Sums is the md5sums member of a Multi-Arch: same package (what
	// its instances installed later are compared with), else empty.
	Sums    string   `json:",omitempty"`
	Written []string // resolved paths of the data entries written
}

type overlayNode struct {
	Path string
	Kind byte
	Link string `json:",omitempty"`
}

func newStageMeta() *stageMeta {
	return &stageMeta{Version: formatVersion, Lists: map[string][]string{}, Users: map[string]int{}, Groups: map[string]int{},
		Diverted: map[string]string{}}
}

func (m *stageMeta) fill(l *fileLayer) {
	m.MediaType, m.Digest, m.DiffID = l.mediaType, l.digest.String(), l.diffID.String()
	m.Size, m.RawSize = l.size, l.rawSize
}

// controlInfo returns a .deb's control member, from the cache when the
// .deb's SHA256 is known, so that a cached stage reads no .deb at all. It
// reports whether the info came from the cache: parsed from the file, it
// is only stored (saveControl) once the file's bytes were verified.
func (b *Builder) controlInfo(d Deb) (*ControlInfo, bool, error) {
	if cpath := b.controlPath(d); cpath != "" {
		if data, err := os.ReadFile(cpath); err == nil {
			var ci ControlInfo
			if json.Unmarshal(data, &ci) == nil && ci.Paragraph.Get("Package") != "" {
				return &ci, true, nil
			}
		}
	}
	f, err := os.Open(d.Path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	dr, err := OpenDeb(f, d.Path)
	if err != nil {
		return nil, false, err
	}
	ci, err := dr.Control()
	if err != nil {
		return nil, false, err
	}
	return ci, false, nil
}

// controlPath names the parsed control member of a .deb in the cache, ""
// when it is not cached.
func (b *Builder) controlPath(d Deb) string {
	if d.SHA256 == "" || b.tmpCache || !isHexDigest(d.SHA256) {
		return ""
	}
	// The suffix versions the parsed form (bump when parsing changes).
	return filepath.Join(b.cacheDir, "control", strings.ToLower(d.SHA256)+".v4.json")
}

// saveControl stores a parsed control member under the .deb's verified
// SHA256.
func (b *Builder) saveControl(d Deb, ci *ControlInfo) error {
	cpath := b.controlPath(d)
	if cpath == "" {
		return nil
	}
	data, err := json.Marshal(ci)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(cpath, data, atomicfile.InDir(b.tmpDir))
}

// ErrDigestMismatch is wrapped by errors about a .deb whose bytes do not
// hash to the SHA256 it was given with.
var ErrDigestMismatch = errors.New("sha256 mismatch")

func isHexDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// verifyDeb hashes a whole .deb and compares it with its claimed SHA256
// (for the one case where the file is used without being decoded: a stage
// cache hit whose parsed control member was not cached).
func verifyDeb(d Deb) error {
	if d.SHA256 == "" {
		return nil
	}
	got, err := digest.FileSHA256(d.Path)
	if err != nil {
		return err
	}
	return checkDigest(d, got)
}

func checkDigest(d Deb, got string) error {
	if !strings.EqualFold(got, d.SHA256) {
		return fmt.Errorf("%s: content is sha256:%s, want sha256:%s: %w", d.Path, got, d.SHA256, ErrDigestMismatch)
	}
	return nil
}

// hashingReader hashes what is read through it.
type hashingReader struct {
	r io.Reader
	h hash.Hash
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	return n, err
}

// sum drains what is left and returns the hex digest of everything.
func (h *hashingReader) sum() (string, error) {
	if _, err := io.Copy(h.h, h.r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.h.Sum(nil)), nil
}

// stageKey hashes every input of a stage's conversion.
func (b *Builder) stageKey(debs []Deb) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "pgassemble-layer v%d\narch %s\nepoch %d\ncompression %s level %d\nbase %x\n",
		formatVersion, b.opts.Arch, b.epoch.Unix(), b.opts.Compression, b.opts.Level, b.base.digest)
	for _, d := range b.prevDiffs {
		fmt.Fprintf(h, "prev %s\n", d)
	}
	for _, d := range debs {
		sum := d.SHA256
		if sum != "" && !isHexDigest(sum) {
			return "", fmt.Errorf("%s: SHA256 %q is not a hex digest: %w", d.Path, sum, ErrDigestMismatch)
		}
		if sum == "" {
			var err error
			if sum, err = digest.FileSHA256(d.Path); err != nil {
				return "", err
			}
		}
		fmt.Fprintf(h, "deb %s\n", strings.ToLower(sum))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (b *Builder) metaPath(key string) string {
	return filepath.Join(b.cacheDir, "layers", key+".json")
}

// observePath names a stage's observation sidecar. It is only valid for
// the runner code that recorded it (another version may read other
// bytes), so the name carries a fingerprint of that code.
func (b *Builder) observePath(key string) string {
	return filepath.Join(b.cacheDir, "layers", key+"."+b.replayFingerprint()+".observe")
}

// Fingerprinter is optionally implemented by a Replayer to name the
// version of its Observe behaviour; otherwise the running executable's
// hash stands for it.
type Fingerprinter interface {
	Fingerprint() string
}

func (b *Builder) replayFingerprint() string {
	if b.fingerprint != "" {
		return b.fingerprint
	}
	fp := "unknown"
	if f, ok := b.rp.(Fingerprinter); ok {
		fp = f.Fingerprint()
	} else if exe, err := os.Executable(); err == nil {
		if sum, err := digest.FileSHA256(exe); err == nil {
			fp = sum
		}
	}
	h := sha256.Sum256([]byte(fp))
	b.fingerprint = hex.EncodeToString(h[:6])
	return b.fingerprint
}

func (b *Builder) saveMeta(key string, m *stageMeta) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(b.metaPath(key), data, atomicfile.InDir(b.tmpDir))
}

// loadCached returns the cached layer for key if it is complete and was
// made with the owner ids that apply now.
func (b *Builder) loadCached(key string) (*fileLayer, *stageMeta, bool) {
	data, err := os.ReadFile(b.metaPath(key))
	if err != nil {
		return nil, nil, false
	}
	var m stageMeta
	if json.Unmarshal(data, &m) != nil || m.Version != formatVersion {
		return nil, nil, false
	}
	blob := filepath.Join(b.cacheDir, "layers", key+b.opts.Compression.ext())
	if err := b.checkBlob(blob, m.Digest, m.Size); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			// Never used: removed, and the stage is converted again.
			b.log.Warn("layer cache entry corrupt, rebuilding", "key", key[:12], "err", err)
			b.dropEntry(key)
		}
		return nil, nil, false
	}
	for name, id := range m.Users {
		cur, ok := b.lookupUser(name)
		if !ok {
			cur = -1
		}
		if cur != id {
			return nil, nil, false
		}
	}
	for name, id := range m.Groups {
		cur, ok := b.lookupGroup(name)
		if !ok {
			cur = -1
		}
		if cur != id {
			return nil, nil, false
		}
	}
	for abs, want := range m.Diverted {
		dv, ok := b.diversion(abs)
		if !ok || dv.To+" "+dv.Package != want {
			return nil, nil, false
		}
	}
	dig, err1 := v1.NewHash(m.Digest)
	diff, err2 := v1.NewHash(m.DiffID)
	if err1 != nil || err2 != nil {
		return nil, nil, false
	}
	return &fileLayer{path: blob, digest: dig, diffID: diff, size: m.Size, rawSize: m.RawSize,
		comp: b.opts.Compression, mediaType: m.MediaType}, &m, true
}

// checkBlob verifies a cached blob by digest, not size only: sha256 runs
// at well over 500 MB/s, so a hit costs one read of the compressed layer
// (from the page cache on a warm machine), and a blob damaged on disk or
// replaced is never handed to a publisher. With Options.Verified, a file
// verified before by this process (same file, size and mtime) is not read
// again.
func (b *Builder) checkBlob(p, digest string, size int64) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if v := b.opts.Verified; v != nil && v.seen(p, digest, fi) {
		return nil
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest || n != size {
		return fmt.Errorf("%s: content is %s, %d bytes; want %s, %d bytes: %w", p, got, n, digest, size, ErrDigestMismatch)
	}
	if v := b.opts.Verified; v != nil {
		v.record(p, digest, fi)
	}
	return nil
}

// VerifiedLayers records the cached layers a process has verified, so
// that the builders sharing a cache in one process (one per platform and
// target of a bake) hash each cached layer once. A file is trusted again
// only while it is the same file (device and inode) with the same size
// and mtime. Safe for concurrent use; the zero value is ready.
type VerifiedLayers struct {
	mu     sync.Mutex
	m      map[string]verifiedFile
	hashes int // files hashed, for tests
}

type verifiedFile struct {
	digest string
	fi     fs.FileInfo
}

func (v *VerifiedLayers) seen(p, digest string, fi fs.FileInfo) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	r, ok := v.m[p]
	return ok && r.digest == digest && os.SameFile(r.fi, fi) && r.fi.Size() == fi.Size() && r.fi.ModTime().Equal(fi.ModTime())
}

func (v *VerifiedLayers) record(p, digest string, fi fs.FileInfo) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = map[string]verifiedFile{}
	}
	v.m[p] = verifiedFile{digest: digest, fi: fi}
	v.hashes++
}

// dropEntry removes a stage's cache entry: blob, meta and sidecars.
func (b *Builder) dropEntry(key string) {
	dir := filepath.Join(b.cacheDir, "layers")
	os.Remove(filepath.Join(dir, key+".json"))
	os.Remove(filepath.Join(dir, key+b.opts.Compression.ext()))
	if side, err := filepath.Glob(filepath.Join(dir, key+".*.observe")); err == nil {
		for _, p := range side {
			os.Remove(p)
		}
	}
}

// observeCached feeds a cached layer's package entries to the script runner, as
// writing it would have.
func (b *Builder) observeCached(ctx context.Context, key string, l *fileLayer, m *stageMeta) error {
	if b.rp == nil {
		return nil
	}
	if ok, err := b.replayObservations(b.observePath(key)); ok {
		return err
	}
	// No sidecar for this runner version: observe from the cached layer,
	// spooling bodies so the runner still gets random access, and record
	// a sidecar for the next hit.
	tmp, err := os.MkdirTemp(filepath.Join(b.cacheDir, "tmp"), "observe-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	spool, err := os.CreateTemp(tmp, "bodies-*")
	if err != nil {
		return err
	}
	defer spool.Close()
	obs, err := newObsWriter(tmp)
	if err != nil {
		return err
	}
	var off int64
	owner := map[string]string{}
	for _, p := range m.Packages {
		name := p.Stanza.Get("Package")
		for _, w := range p.Written {
			owner[w] = name
		}
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for n := 0; ; n++ {
		if n%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		h, err := tr.Next()
		if err == io.EOF {
			return obs.finish(b.observePath(key))
		}
		if err != nil {
			obs.abort()
			return fmt.Errorf("read cached layer %s: %w", l.path, err)
		}
		pkg, ok := owner[strings.TrimSuffix(h.Name, "/")]
		if !ok && !strings.HasPrefix(h.Name, "var/lib/dpkg/info/") { // as writeTar observes
			continue
		}
		var r io.Reader
		var c *captureReader
		if h.Typeflag == tar.TypeReg {
			n, err := io.Copy(io.NewOffsetWriter(spool, off), tr)
			if err != nil {
				obs.abort()
				return fmt.Errorf("read cached layer %s: %w", l.path, err)
			}
			budget := obs.budget
			c = &captureReader{ra: io.NewSectionReader(spool, off, n), size: n, budget: &budget}
			r = c
			off += n
		}
		if err := b.rp.Observe(pkg, h, r); err != nil {
			obs.abort()
			return fmt.Errorf("maintainer scripts: observe %s %s: %w", pkg, h.Name, err)
		}
		if c != nil {
			obs.budget = *c.budget
		}
		if err := obs.write(pkg, h, c); err != nil {
			obs.abort()
			return err
		}
	}
}

// applyMeta makes a converted stage part of the installed state.
func (b *Builder) applyMeta(m *stageMeta) {
	for _, o := range m.Overlay {
		b.overlay[o.Path] = node{kind: o.Kind, link: o.Link}
	}
	for _, k := range m.Removed {
		if p, ok := b.pkgs[k]; ok {
			if b.removed == nil {
				b.removed = map[string]bool{}
			}
			b.removed[p.stanza.Get("Package")+":"+p.stanza.Get("Architecture")] = true
		}
		delete(b.pkgs, k)
	}
	for k, l := range m.Lists {
		if p, ok := b.pkgs[k]; ok {
			p.list, p.loaded = l, true
		}
	}
	for _, p := range m.Packages {
		b.pkgs[p.Key] = &pkgState{key: p.Key, stem: p.Stem, stanza: p.Stanza, list: p.List, loaded: true, members: p.Members, sums: p.Sums}
	}
	b.owners, b.pathIdx = nil, nil
	b.prevDiffs = append(b.prevDiffs, m.DiffID)
}
