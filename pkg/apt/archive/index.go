package archive

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sync/errgroup"

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
		ar := &apt.Repository{
			URI: r.URI, Suite: r.Suite, Components: r.Components, Keyrings: files,
			Origin: rel.Origin, Label: rel.Label, Codename: rel.Codename, Priority: 500,
		}
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
		c.log.Warn("release lists no Packages index; skipping", "repo", repo.String(), "index", stem)
		return nil, nil
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
	blob, err := c.indexBlob(ctx, base, name, fh, rel.AcquireByHash)
	if err != nil {
		return nil, err
	}
	pkgs, err = c.parseIndex(blob, fh.SHA256, path.Ext(name), ar)
	if err != nil {
		// The blob matched the Release when it was stored; if it no longer
		// reads, do not let a damaged copy fail every later run.
		os.Remove(blob)
		return nil, fmt.Errorf("parse %s%s: %w", base, name, err)
	}
	c.mu.Lock()
	c.parsed[memo] = pkgs
	c.mu.Unlock()
	c.log.Debug("index", "url", base+name, "packages", len(pkgs))
	return pkgs, nil
}

// indexBlob returns the path of the verified (compressed) index file in the
// cache, downloading it when absent.
func (c *Client) indexBlob(ctx context.Context, base, name string, fh FileHash, byHash bool) (string, error) {
	p := c.blobPath(fh.SHA256)
	if fileExists(p) {
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

// parseIndex reads a verified index blob. Compressed indexes are also kept
// decompressed-then-zstd'ed under parsed/, since xz decoding dominates a
// warm run (zstd decodes many times faster); that copy is derived from a
// verified blob and written atomically, so it is as trustworthy.
func (c *Client) parseIndex(blob, hash, ext string, ar *apt.Repository) ([]*apt.Package, error) {
	if ext != ".xz" && ext != ".gz" {
		f, err := os.Open(blob)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return parsePackages(f, ar)
	}
	plainPath := filepath.Join(c.cacheDir, "plain", hash+".zst")
	if f, err := os.Open(plainPath); err == nil {
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
		if err != nil {
			f.Close()
			return nil, err
		}
		b, err := io.ReadAll(zr)
		zr.Close()
		f.Close()
		var pkgs []*apt.Package
		if err == nil {
			pkgs, err = parsePackagesParallel(b, ar)
		}
		if err == nil {
			return pkgs, nil
		}
		// A damaged derived copy: drop it and rebuild from the blob.
		c.log.Warn("dropping unreadable cached index", "path", plainPath, "err", err)
		os.Remove(plainPath)
	}
	f, err := os.Open(blob)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var dec io.Reader
	switch ext {
	case ".xz":
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
	if err := os.MkdirAll(filepath.Dir(plainPath), 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(plainPath), ".tmp-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	defer tmp.Close()
	if err := tmp.Chmod(0o644); err != nil {
		return nil, err
	}
	zw, err := zstd.NewWriter(tmp, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		return nil, err
	}
	pkgs, err := parsePackages(io.TeeReader(dec, zw), ar)
	if err != nil {
		zw.Close()
		return nil, err
	}
	// Drain what the parser did not read (trailing blank lines) so the
	// cached copy is complete.
	if _, err := io.Copy(zw, dec); err != nil {
		zw.Close()
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), plainPath); err != nil {
		return nil, err
	}
	return pkgs, nil
}
