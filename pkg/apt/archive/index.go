package archive

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sync/errgroup"

	"github.com/pgassemble/pgassemble/internal/atomicfile"
	"github.com/pgassemble/pgassemble/internal/xzcmd"
	"github.com/pgassemble/pgassemble/pkg/apt"
)

// Indexes fetches, verifies and parses the Packages index of every
// component of every repo for arch. Packages come back in repo order, then
// component order, then index order, with Package.Repository set.
//
// Architecture "all" packages are read from the binary-ARCH indexes, where
// Debian lists them too ("No-Support-for-Architecture-all: Packages"); a
// Release that lists "all" without saying so also has its binary-all
// indexes read, as apt does, and a package found in both is kept once.
func (c *Client) Indexes(ctx context.Context, repos []Repo, arch string) ([]*apt.Package, error) {
	type job struct {
		repo Repo
		rel  *Release
		ar   *apt.Repository
		comp string
		arch string
	}
	var jobs []job
	// Releases first (small), so that a signature problem stops everything
	// before any index is downloaded.
	for _, r := range repos {
		if len(r.Architectures) > 0 && !slices.Contains(r.Architectures, arch) {
			c.log.Debug("repository not enabled for architecture", "repo", r.String(), "arch", arch)
			continue
		}
		rel, err := c.Release(ctx, r)
		if err != nil {
			return nil, err
		}
		var files []string
		if r.Keyring != nil {
			files = r.Keyring.Files
		}
		ar := c.repository(&apt.Repository{
			URI: r.URI, Suite: r.Suite, Components: r.Components, Keyrings: files,
			Origin: rel.Origin, Label: rel.Label, Codename: rel.Codename, Priority: 500,
			ReleaseSHA256: rel.Digest,
		})
		if len(rel.Architectures) > 0 && !slices.Contains(rel.Architectures, arch) {
			c.log.Warn("repository does not support architecture", "repo", r.String(), "arch", arch)
			continue
		}
		// Like apt: binary-all is read when the Release lists "all" and
		// does not say its "all" packages are in binary-ARCH too.
		withAll := arch != "all" && slices.Contains(rel.Architectures, "all") && !rel.NoAll
		for _, comp := range r.Components {
			jobs = append(jobs, job{r, rel, ar, comp, arch})
			if withAll && rel.hasIndex(comp, "all") {
				jobs = append(jobs, job{r, rel, ar, comp, "all"})
			}
		}
	}
	results := make([][]*apt.Package, len(jobs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.parallel)
	for i, j := range jobs {
		g.Go(func() error {
			pkgs, err := c.index(gctx, j.repo, j.rel, j.ar, j.comp, j.arch)
			results[i] = pkgs
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []*apt.Package
	seen := map[string]bool{} // an "all" package listed in binary-ARCH and binary-all
	for _, r := range results {
		for _, p := range r {
			if p.Architecture == "all" {
				k := p.Repository.URI + " " + p.Repository.Suite + " " + p.ID()
				if seen[k] {
					continue
				}
				seen[k] = true
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// hasIndex reports whether the Release lists a Packages index of comp for arch.
func (r *Release) hasIndex(comp, arch string) bool {
	stem := comp + "/binary-" + arch + "/Packages"
	for _, ext := range []string{".xz", ".gz", ""} {
		if _, ok := r.Files[stem+ext]; ok {
			return true
		}
	}
	return false
}

// ErrNoIndex: the Release names no SHA256 for an index the sources ask
// for (apt: "Unable to find expected entry ... in Release file").
var ErrNoIndex = errors.New("index not in the Release")

// index returns the parsed packages of one component's binary-ARCH index.
func (c *Client) index(ctx context.Context, repo Repo, rel *Release, ar *apt.Repository, comp, arch string) ([]*apt.Package, error) {
	base := repo.URI + "/dists/" + repo.Suite + "/"
	stem := comp + "/binary-" + arch + "/Packages"
	var names []string
	for _, ext := range []string{".xz", ".gz", ""} {
		if _, ok := rel.Files[stem+ext]; ok {
			names = append(names, stem+ext)
		}
	}
	if len(names) == 0 {
		// Like apt, an error: a Release with no SHA256 entry (only weaker
		// hashes, or none) must not silently drop the repository.
		why := "lists no SHA256 for it"
		if len(rel.Files) == 0 {
			why = "has no SHA256 field (weaker hashes are not trusted)"
		}
		return nil, fmt.Errorf("%sRelease %s %s (wrong component or architecture in the source, or a malformed Release): %w",
			base, why, stem, ErrNoIndex)
	}
	var err error
	for _, name := range names {
		var pkgs []*apt.Package
		pkgs, err = c.indexFile(ctx, repo, rel, ar, base, name)
		if err == nil {
			return pkgs, nil
		}
		// Debian's Release lists the uncompressed Packages it does not
		// publish, and a mirror may lack one compression: like apt, try
		// the next one the Release lists.
		if !isNotFound(err) {
			return nil, err
		}
		c.log.Debug("index not on mirror, trying the next compression", "url", base+name)
	}
	return nil, err
}

func (c *Client) indexFile(ctx context.Context, repo Repo, rel *Release, ar *apt.Repository, base, name string) ([]*apt.Package, error) {
	fh := rel.Files[name]
	memo := fh.SHA256 + " " + repo.String() + " " + repo.Keyring.String()
	c.mu.Lock()
	pkgs, ok := c.parsed[memo]
	c.mu.Unlock()
	if ok {
		return pkgs, nil
	}
	ext := path.Ext(name)
	// The signed hash of the uncompressed index, when the Release lists
	// it (Debian's and reprepro's do): it keys and checks the derived
	// plain copy, and bounds decompression exactly.
	var plain *FileHash
	if ext == ".xz" || ext == ".gz" {
		if ph, ok := rel.Files[strings.TrimSuffix(name, ext)]; ok {
			plain = &ph
		}
	}
	pkgs, err := c.cachedPlain(plain, ar)
	if err != nil {
		return nil, fmt.Errorf("parse %s%s (cached decompressed copy): %w", base, name, err)
	}
	if pkgs == nil {
		blob, err := c.indexBlob(ctx, base, name, fh, rel.AcquireByHash)
		if err != nil {
			return nil, err
		}
		pkgs, err = c.parseIndex(ctx, blob, fh, plain, ext, ar)
		if err != nil {
			// The blob matched the Release when it was stored; if it no
			// longer reads, do not let a damaged copy fail every later run
			// (a cancelled run says nothing about it).
			if ctx.Err() == nil {
				os.Remove(blob)
			}
			return nil, fmt.Errorf("parse %s%s: %w", base, name, err)
		}
	}
	c.mu.Lock()
	c.parsed[memo] = pkgs
	c.mu.Unlock()
	c.log.Debug("index", "url", base+name, "packages", len(pkgs))
	return pkgs, nil
}

// repository returns the client's apt.Repository equal to ar (the same
// source, keyrings and verified Release), so that the packages of every
// architecture read through it point to one, and shareAll can match them.
func (c *Client) repository(ar *apt.Repository) *apt.Repository {
	key := strings.Join([]string{ar.URI, ar.Suite, strings.Join(ar.Components, " "), strings.Join(ar.Keyrings, " "),
		ar.Origin, ar.Label, ar.Codename, ar.ReleaseSHA256, strconv.Itoa(ar.Priority)}, "\x00")
	c.mu.Lock()
	defer c.mu.Unlock()
	if have, ok := c.repos[key]; ok {
		return have
	}
	c.repos[key] = ar
	return ar
}

// shareAll returns, for an "Architecture: all" package, the one an index
// of another architecture already gave for the same repository, name,
// version and SHA256 when every field is the same (SameFields), so that
// the universes of two architectures hold one copy; else p.
func (c *Client) shareAll(p *apt.Package) *apt.Package {
	if p.Architecture != "all" {
		return p
	}
	k := allKey{p.Repository, p.Name, p.Version, p.SHA256}
	c.mu.Lock()
	defer c.mu.Unlock()
	if have, ok := c.allPkgs[k]; ok {
		if have.SameFields(p) {
			return have
		}
		return p
	}
	c.allPkgs[k] = p
	return p
}

// indexBlob returns the path of the verified (compressed) index file in the
// cache, downloading it when absent. A cached copy is hashed before use.
func (c *Client) indexBlob(ctx context.Context, base, name string, fh FileHash, byHash bool) (string, error) {
	p := c.blobPath(fh.SHA256)
	if c.verifyFile(p, fh.SHA256, fh.Size) {
		return p, nil
	}
	urls := []string{base + name}
	if byHash {
		// by-hash first: it cannot change under us while the mirror syncs.
		urls = []string{base + path.Dir(name) + "/by-hash/SHA256/" + fh.SHA256, base + name}
	}
	var err error
	for _, u := range urls {
		err = c.fetch(ctx, u, nil, func(resp *http.Response) error {
			_, _, err := c.storeVerified(resp.Body, c.blobDir(), u, fh.SHA256, fh.Size, func(h string) string { return h })
			return err
		})
		if err == nil {
			return p, nil
		}
		if !isNotFound(err) {
			break
		}
	}
	return "", err
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

func (c *Client) plainPath(hash string) string {
	return filepath.Join(c.cacheDir, "plain", hash+".zst")
}

// cachedPlain parses the cached decompressed copy of an index, checked
// against the signed size and SHA256 of the uncompressed index. It returns
// nil (no error) when there is no usable copy: none cached, no signed hash
// to check one against, or a copy that does not match (removed).
func (c *Client) cachedPlain(plain *FileHash, ar *apt.Repository) ([]*apt.Package, error) {
	if plain == nil {
		return nil, nil
	}
	p := c.plainPath(plain.SHA256)
	f, err := os.Open(p)
	if err != nil {
		return nil, nil
	}
	defer f.Close()
	// The bound is at least the encoder's window: the frame of an empty
	// index names no content size, so its window is what the decoder must
	// accept.
	zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(max(uint64(plain.Size)+1, minPlainWindow)))
	if err != nil {
		return nil, nil
	}
	defer zr.Close()
	// Streamed, hashed as it is parsed: the decompressed index (54 MB for
	// trixie main) is never whole in memory. The packages count only if
	// the whole copy matches the signed size and hash.
	h := sha256.New()
	lr := &io.LimitedReader{R: zr, N: plain.Size + 1}
	src := io.TeeReader(lr, h)
	pkgs, perr := parsePackages(src, ar, c.pool(), c.shareAll)
	_, cerr := io.Copy(io.Discard, src) // what the parser left (or all, after an error)
	if cerr == nil && plain.Size+1-lr.N == plain.Size && hex.EncodeToString(h.Sum(nil)) == plain.SHA256 {
		if perr != nil {
			return nil, perr // the signed index itself does not parse
		}
		if pkgs == nil {
			pkgs = []*apt.Package{} // an empty index is a hit too
		}
		return pkgs, nil
	}
	c.log.Warn("cached index does not match its signed hash; removing it", "path", p)
	os.Remove(p)
	return nil, nil
}

// minPlainWindow is the smallest decoder memory bound for a cached plain
// index (the zstd window of SpeedFastest frames).
const minPlainWindow = 8 << 20

// maxExpansion bounds how much larger than its signed compressed size an
// index may decompress when the Release gives no uncompressed size (real
// Packages files compress 5 to 10 times).
const maxExpansion = 64

// parseIndex reads a verified index blob. A compressed index whose
// uncompressed form the Release also signs is kept decompressed-then-
// zstd'ed under plain/, named by that signed hash, since xz decoding
// dominates a warm run (zstd decodes many times faster); it is checked
// against the signed hash before it is stored and again whenever read.
// Decompression stops at the signed uncompressed size (else at
// maxExpansion times the compressed one): a bomb fails fast.
func (c *Client) parseIndex(ctx context.Context, blob string, fh FileHash, plain *FileHash, ext string, ar *apt.Repository) ([]*apt.Package, error) {
	f, err := os.Open(blob)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if ext != ".xz" && ext != ".gz" {
		return parsePackages(f, ar, c.pool(), c.shareAll)
	}
	var dec io.Reader
	switch ext {
	case ".xz":
		if c.xzCommand != "" {
			xp, err := xzcmd.Start(ctx, c.xzCommand, f)
			if err != nil {
				return nil, err
			}
			defer xp.Close()
			dec = xp
			break
		}
		// xz reads byte by byte: without a buffer that is a syscall each.
		xr, err := xz.NewReader(bufio.NewReaderSize(f, 1<<16))
		if err != nil {
			return nil, err
		}
		dec = xr
	case ".gz":
		gr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<16))
		if err != nil {
			return nil, err
		}
		defer gr.Close()
		dec = gr
	}
	limit := fh.Size*maxExpansion + 1<<20
	if plain != nil {
		limit = plain.Size
	}
	lr := &boundedReader{r: dec, n: limit}
	if plain == nil {
		return parsePackages(lr, ar, c.pool(), c.shareAll)
	}
	plainPath := c.plainPath(plain.SHA256)
	tmp, err := atomicfile.Create(plainPath)
	if err != nil {
		return nil, err
	}
	defer tmp.Abort() // nothing once committed
	zw, err := zstd.NewWriter(tmp, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	src := io.TeeReader(lr, io.MultiWriter(zw, h))
	pkgs, err := parsePackages(src, ar, c.pool(), c.shareAll)
	if err != nil {
		zw.Close()
		return nil, err
	}
	// Drain what the parser did not read (trailing blank lines) so the
	// cached copy is complete.
	if _, err := io.Copy(io.Discard, src); err != nil {
		zw.Close()
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); lr.read != plain.Size || got != plain.SHA256 {
		return nil, fmt.Errorf("decompressed index: %d bytes, SHA256 %s; the Release says %d bytes, %s: %w",
			lr.read, got, plain.Size, plain.SHA256, ErrChecksum)
	}
	if err := tmp.Commit(); err != nil {
		return nil, err
	}
	return pkgs, nil
}

// boundedReader fails once more than n bytes would be read, wrapping
// apt.ErrTooLarge.
type boundedReader struct {
	r    io.Reader
	n    int64
	read int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	// Up to one byte more than allowed, to tell a stream that ends at the
	// bound from one that goes on.
	if int64(len(p)) > b.n-b.read+1 {
		p = p[:b.n-b.read+1]
	}
	n, err := b.r.Read(p)
	b.read += int64(n)
	if b.read > b.n {
		return 0, fmt.Errorf("decompressed index: more than %d bytes: %w", b.n, apt.ErrTooLarge)
	}
	return n, err
}
