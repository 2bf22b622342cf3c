package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/pgassemble/pgassemble/pkg/apt"
)

// Progress receives download progress; the CLI renders it. Implementations
// must be safe for concurrent use: downloads run in parallel.
type Progress interface {
	// Start is called when a download begins (not for cache hits).
	Start(name string, size int64) Task
}

// Task is one download in progress.
type Task interface {
	Add(n int64)    // n more bytes received
	Done(err error) // finished; err is nil on success
}

type nopProgress struct{}

func (nopProgress) Start(string, int64) Task { return nopTask{} }

type nopTask struct{}

func (nopTask) Add(int64)  {}
func (nopTask) Done(error) {}

// DebPath returns where the .deb with this SHA256 lives in the cache.
func (c *Client) DebPath(sha256 string) string {
	return filepath.Join(c.cacheDir, "debs", "sha256", sha256+".deb")
}

// Download fetches the .deb of each package into the cache, verifying
// SHA256 and size while streaming, and returns the cached paths in the
// order of pkgs. A .deb already cached costs no network I/O, but is hashed
// again (once per Client) before its path is returned: a cached file that
// no longer matches its signed SHA256 is removed and downloaded again,
// never used. Packages must come from Indexes (Repository, Filename,
// SHA256 and Size set).
func (c *Client) Download(ctx context.Context, pkgs []*apt.Package) ([]string, error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	// Every package is checked before any download starts: a bad one
	// fails the call with nothing left running behind it.
	for _, p := range pkgs {
		if err := checkDownloadable(p); err != nil {
			return nil, err
		}
	}
	paths := make([]string, len(pkgs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.parallel)
	started := map[string]bool{} // one download per file, even if listed twice
	for i, p := range pkgs {
		dst := c.DebPath(p.SHA256)
		paths[i] = dst
		if started[p.SHA256] {
			continue
		}
		started[p.SHA256] = true
		g.Go(func() error {
			if c.cachedDeb(dst, p) {
				return nil
			}
			return c.downloadOne(gctx, p)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return paths, nil
}

// cachedDeb reports whether the cache holds p's .deb with its signed size
// and SHA256 (hashing it once per Client).
func (c *Client) cachedDeb(dst string, p *apt.Package) bool {
	c.mu.Lock()
	done := c.verified[p.SHA256]
	c.mu.Unlock()
	if done && fileExists(dst) {
		return true
	}
	if !c.verifyFile(dst, p.SHA256, p.Size) {
		return false
	}
	c.mu.Lock()
	c.verified[p.SHA256] = true
	c.mu.Unlock()
	return true
}

func checkDownloadable(p *apt.Package) error {
	switch {
	case p.Repository == nil:
		return fmt.Errorf("download %s: no repository (an installed package?)", p.ID())
	case p.SHA256 == "":
		return fmt.Errorf("download %s: index gives no SHA256", p.ID())
	}
	return checkIndexFields(p)
}

func (c *Client) downloadOne(ctx context.Context, p *apt.Package) error {
	url := p.Repository.URI + "/" + strings.TrimPrefix(p.Filename, "/")
	dir := filepath.Dir(c.DebPath(p.SHA256))
	// Several packages may share one file (same SHA256); the rename is
	// atomic, so two writers of identical verified bytes are harmless.
	task := c.progress.Start(p.Name+" "+p.Version, p.Size)
	err := c.fetch(ctx, url, nil, func(resp *http.Response) error {
		if resp.StatusCode == http.StatusNotModified {
			return errors.New("unexpected 304 Not Modified")
		}
		cr := &countingReader{r: resp.Body, task: task}
		_, _, err := c.storeVerified(cr, dir, url, p.SHA256, p.Size,
			func(h string) string { return h + ".deb" })
		if err != nil && cr.n > 0 {
			task.Add(-cr.n) // this attempt's bytes are thrown away
		}
		if err == nil {
			c.mu.Lock()
			c.verified[p.SHA256] = true
			c.mu.Unlock()
		}
		return err
	})
	task.Done(err)
	if err != nil {
		return fmt.Errorf("download %s: %w", p.ID(), err)
	}
	c.log.Debug("downloaded", "package", p.ID(), "url", url, "size", p.Size)
	return nil
}

type countingReader struct {
	r    io.Reader
	task Task
	n    int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if n > 0 {
		c.n += int64(n)
		c.task.Add(int64(n))
	}
	return n, err
}
