package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pgassemble/pgassemble/pkg/apt"
)

// Client fetches and verifies repository metadata and packages, keeping
// everything it verified in a content-addressed cache directory.
type Client struct {
	cacheDir         string
	http             *http.Client
	parallel         int
	retries          int
	backoff          time.Duration
	log              *slog.Logger
	progress         Progress
	ignoreValidUntil bool
	now              func() time.Time

	// parsed remembers indexes parsed by this client (key: index SHA256
	// and repository), so callers combining the same repositories in
	// several ways parse each index once per process.
	mu     sync.Mutex
	parsed map[string][]*apt.Package
}

// Option configures a Client.
type Option func(*Client)

// WithCacheDir sets the cache directory (default DefaultCacheDir()).
func WithCacheDir(dir string) Option { return func(c *Client) { c.cacheDir = dir } }

// WithHTTPClient sets the HTTP client (default: one with a file:// transport
// added, so "file:/srv/mirror" sources work like in apt).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithParallelism bounds concurrent downloads (default 6).
func WithParallelism(n int) Option {
	return func(c *Client) {
		if n > 0 {
			c.parallel = n
		}
	}
}

// WithRetries sets how many times a request failing with a network error
// or a 5xx status is retried (default 3), and the first backoff delay,
// doubled on each retry (default 500ms).
func WithRetries(n int, backoff time.Duration) Option {
	return func(c *Client) {
		c.retries = n
		if backoff > 0 {
			c.backoff = backoff
		}
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithProgress reports download progress.
func WithProgress(p Progress) Option { return func(c *Client) { c.progress = p } }

// WithIgnoreValidUntil accepts Release files past their Valid-Until, as
// needed for snapshot pins.
func WithIgnoreValidUntil(ignore bool) Option {
	return func(c *Client) { c.ignoreValidUntil = ignore }
}

// WithClock sets the clock used for Valid-Until and key expiry checks.
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// New returns a Client.
func New(opts ...Option) *Client {
	c := &Client{
		parallel: 6,
		retries:  3,
		backoff:  500 * time.Millisecond,
		log:      slog.New(slog.DiscardHandler),
		now:      time.Now,
		parsed:   map[string][]*apt.Package{},
	}
	for _, o := range opts {
		o(c)
	}
	if c.cacheDir == "" {
		c.cacheDir = DefaultCacheDir()
	}
	if c.http == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.RegisterProtocol("file", http.NewFileTransport(http.Dir("/")))
		c.http = &http.Client{Transport: t}
	}
	if c.progress == nil {
		c.progress = nopProgress{}
	}
	return c
}

// CacheDir returns the cache directory in use.
func (c *Client) CacheDir() string { return c.cacheDir }

// DefaultCacheDir is $XDG_CACHE_HOME/pgassemble, else ~/.cache/pgassemble,
// else a directory under os.TempDir.
func DefaultCacheDir() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "pgassemble")
	}
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		return filepath.Join(h, ".cache", "pgassemble")
	}
	return filepath.Join(os.TempDir(), "pgassemble-cache")
}

// HTTPError is a non-2xx answer; it wraps ErrNotFound for 404.
type HTTPError struct {
	URL        string
	StatusCode int
	Status     string
}

func (e *HTTPError) Error() string { return fmt.Sprintf("GET %s: %s", e.URL, e.Status) }

// Unwrap lets errors.Is(err, ErrNotFound) match a 404.
func (e *HTTPError) Unwrap() error {
	if e.StatusCode == http.StatusNotFound {
		return ErrNotFound
	}
	return nil
}

// fetch GETs url and hands the response to fn, retrying with exponential
// backoff when the request or fn fails with a network error, a truncated
// body or a 5xx answer; a checksum mismatch is retried once (a proxy may
// have served a stale copy); a 4xx is final. A 304 is handed to fn like a
// 200; other non-2xx answers become *HTTPError.
func (c *Client) fetch(ctx context.Context, url string, hdr http.Header, fn func(*http.Response) error) error {
	delay := c.backoff
	checksumRetried := false
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			c.log.Debug("retry", "url", url, "attempt", attempt, "after", delay, "err", lastErr)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(delay):
			}
			delay *= 2
		}
		err := c.fetchOnce(ctx, url, hdr, fn)
		if err == nil {
			return nil
		}
		lastErr = err
		if ctx.Err() != nil {
			return ctx.Err()
		}
		retry := false
		var he *HTTPError
		switch {
		case errors.As(err, &he):
			retry = he.StatusCode >= 500
		case errors.Is(err, errTruncated):
			retry = true
		case errors.Is(err, ErrChecksum):
			retry = !checksumRetried
			checksumRetried = true
		default:
			retry = retryable(err)
		}
		if !retry {
			return err
		}
		if attempt >= c.retries {
			if attempt > 0 {
				return fmt.Errorf("%w (after %d attempts)", err, attempt+1)
			}
			return err
		}
	}
}

func (c *Client) fetchOnce(ctx context.Context, url string, hdr http.Header, fn func(*http.Response) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 || resp.StatusCode == http.StatusNotModified {
		return fn(resp)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return &HTTPError{URL: url, StatusCode: resp.StatusCode, Status: resp.Status}
}

// errTruncated marks a body shorter than the signed size: a network
// problem, retried like one, but reported as a checksum failure when final.
var errTruncated = errors.New("truncated")

func retryable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// storeVerified streams r into dir/name through SHA256, and renames the
// temporary file into place only when size and hash match. want may be ""
// (unknown): then the file is stored under its actual hash. It returns the
// final path and the hex digest.
func (c *Client) storeVerified(r io.Reader, dir, url string, wantHash string, wantSize int64, name func(hash string) string) (string, string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", "", err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	src := r
	if wantSize >= 0 {
		src = io.LimitReader(r, wantSize+1)
	}
	n, err := io.Copy(io.MultiWriter(tmp, h), src)
	if err != nil {
		if wantSize >= 0 {
			return "", "", fmt.Errorf("download %s: truncated: got %d of %d bytes: %w", url, n, wantSize, err)
		}
		return "", "", fmt.Errorf("download %s: %w", url, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if wantSize >= 0 && n != wantSize {
		if n < wantSize {
			return "", "", fmt.Errorf("download %s: truncated: got %d of %d bytes: %w: %w", url, n, wantSize, errTruncated, ErrChecksum)
		}
		return "", "", fmt.Errorf("download %s: size: got more than %d bytes: %w", url, wantSize, ErrChecksum)
	}
	if wantHash != "" && got != wantHash {
		return "", "", fmt.Errorf("download %s: SHA256 %s, want %s: %w", url, got, wantHash, ErrChecksum)
	}
	// CreateTemp makes 0600 files; the cache may be shared read-only.
	if err := tmp.Chmod(0o644); err != nil {
		return "", "", err
	}
	if err := tmp.Close(); err != nil {
		return "", "", err
	}
	final := filepath.Join(dir, name(got))
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", "", err
	}
	ok = true
	return final, got, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
