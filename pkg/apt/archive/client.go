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
	neturl "net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pgassemble/pgassemble/internal/atomicfile"
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
	timeouts         Timeouts
	log              *slog.Logger
	progress         Progress
	ignoreValidUntil bool
	checkDate        bool
	now              func() time.Time
	xzCommand        string // see WithXZCommand

	readyOnce sync.Once
	readyErr  error

	// parsed remembers indexes parsed by this client (key: index SHA256
	// and repository), so callers combining the same repositories in
	// several ways parse each index once per process; verified remembers
	// the cached .debs this client hashed, so one process hashes each once.
	mu       sync.Mutex
	parsed   map[string][]*apt.Package
	verified map[string]bool
	// repos and allPkgs let the indexes of several architectures share
	// what they have in common: one apt.Repository per verified Release,
	// and one Package per "Architecture: all" entry (about half of
	// Debian's packages) listed identically in each binary-ARCH index.
	repos   map[string]*apt.Repository
	allPkgs map[allKey]*apt.Package
	// strings shares strings and relations between every index parsed
	// (created on first need, dropped by ForgetIndexes).
	strings *apt.Pool
}

// pool returns the client's apt.Pool.
func (c *Client) pool() *apt.Pool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.strings == nil {
		c.strings = apt.NewPool()
	}
	return c.strings
}

// allKey identifies an "Architecture: all" package of one repository.
type allKey struct {
	repo              *apt.Repository
	name, ver, sha256 string
}

// Timeouts bound every HTTP request. Zero fields take the defaults.
type Timeouts struct {
	// Connect bounds the TCP connection and TLS handshake (default 30s).
	Connect time.Duration
	// Idle bounds the wait for the response headers and then for each
	// piece of the body: a mirror that stalls fails after this long
	// without data (default 60s).
	Idle time.Duration
	// Request bounds a whole request, body included (default 30m: a large
	// .deb on a slow link).
	Request time.Duration
}

// DefaultTimeouts are the timeouts used when none are set.
var DefaultTimeouts = Timeouts{Connect: 30 * time.Second, Idle: 60 * time.Second, Request: 30 * time.Minute}

func (t Timeouts) withDefaults() Timeouts {
	if t.Connect <= 0 {
		t.Connect = DefaultTimeouts.Connect
	}
	if t.Idle <= 0 {
		t.Idle = DefaultTimeouts.Idle
	}
	if t.Request <= 0 {
		t.Request = DefaultTimeouts.Request
	}
	return t
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

// WithRetries sets how many times a request failing with a network error,
// a timeout, a 5xx or a 429 status is retried (default 3), and the first
// backoff delay, doubled on each retry (default 500ms); a Retry-After
// header asks for a longer wait (up to a minute).
func WithRetries(n int, backoff time.Duration) Option {
	return func(c *Client) {
		c.retries = n
		if backoff > 0 {
			c.backoff = backoff
		}
	}
}

// WithTimeouts sets the per-request timeouts (zero fields: defaults).
func WithTimeouts(t Timeouts) Option { return func(c *Client) { c.timeouts = t } }

// WithCheckDate turns the Release Date checks off (false) or on (true,
// the default), like apt's Acquire::Check-Date: a Release dated in the
// future (beyond a small clock skew) is "not valid yet", and one older
// than the newest already seen for the repository is a rollback. Turn it
// off only for a machine whose clock cannot be trusted.
func WithCheckDate(check bool) Option { return func(c *Client) { c.checkDate = check } }

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

// New returns a Client. A cache directory problem (see DefaultCacheDir) is
// reported by the first method called.
func New(opts ...Option) *Client {
	c := &Client{
		parallel:  6,
		retries:   3,
		backoff:   500 * time.Millisecond,
		log:       slog.New(slog.DiscardHandler),
		now:       time.Now,
		checkDate: true,
		parsed:    map[string][]*apt.Package{},
		verified:  map[string]bool{},
		repos:     map[string]*apt.Repository{},
		allPkgs:   map[allKey]*apt.Package{},
	}
	for _, o := range opts {
		o(c)
	}
	c.timeouts = c.timeouts.withDefaults()
	if c.cacheDir == "" {
		c.cacheDir = DefaultCacheDir()
	}
	if c.http == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: c.timeouts.Connect, KeepAlive: 30 * time.Second}).DialContext
		t.TLSHandshakeTimeout = c.timeouts.Connect
		t.RegisterProtocol("file", http.NewFileTransport(http.Dir("/")))
		c.http = &http.Client{Transport: t, CheckRedirect: checkRedirect}
	} else if c.http.CheckRedirect == nil {
		h := *c.http
		h.CheckRedirect = checkRedirect
		c.http = &h
	}
	if c.progress == nil {
		c.progress = nopProgress{}
	}
	return c
}

// ErrRedirect: a server redirected to a scheme other than http(s), or
// from https to http.
var ErrRedirect = errors.New("redirect refused")

// checkRedirect follows redirects the way apt does, across hosts (mirror
// networks redirect to a nearby host; what is fetched is verified against
// the signed hashes anyway), but only to http and https, and never from
// https down to http. The refused target is not named beyond its scheme: a
// file: target must not make errors describe local files.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return fmt.Errorf("stopped after 10 redirects: %w", ErrRedirect)
	}
	prev := via[len(via)-1].URL
	switch req.URL.Scheme {
	case "https":
		return nil
	case "http":
		if prev.Scheme == "https" {
			return fmt.Errorf("redirect from https to http (host %s): %w", req.URL.Host, ErrRedirect)
		}
		return nil
	}
	return fmt.Errorf("redirect to a %q URL (only http and https are followed): %w", req.URL.Scheme, ErrRedirect)
}

// CacheDir returns the cache directory in use.
func (c *Client) CacheDir() string { return c.cacheDir }

// HTTPError is a non-2xx answer; it wraps ErrNotFound for 404.
type HTTPError struct {
	URL        string
	StatusCode int
	Status     string
	// RetryAfter is the wait a 429 or 503 answer asked for (0: none).
	RetryAfter time.Duration
}

func (e *HTTPError) Error() string { return fmt.Sprintf("GET %s: %s", e.URL, e.Status) }

// Unwrap lets errors.Is(err, ErrNotFound) match a 404.
func (e *HTTPError) Unwrap() error {
	if e.StatusCode == http.StatusNotFound {
		return ErrNotFound
	}
	return nil
}

// ErrTimeout: a request took longer than a Timeouts bound.
var ErrTimeout = errors.New("timeout")

// TimeoutError is a request cut by a Timeouts bound; it wraps ErrTimeout.
type TimeoutError struct {
	URL   string
	What  string // "no data" or "request"
	After time.Duration
}

func (e *TimeoutError) Error() string {
	if e.What == "request" {
		return fmt.Sprintf("GET %s: not complete after %s: %s", e.URL, e.After, ErrTimeout)
	}
	return fmt.Sprintf("GET %s: no data for %s: %s", e.URL, e.After, ErrTimeout)
}

func (e *TimeoutError) Unwrap() error { return ErrTimeout }

// maxRetryAfter caps the wait a Retry-After header can ask for.
const maxRetryAfter = time.Minute

// fetch GETs url and hands the response to fn, retrying with exponential
// backoff when the request or fn fails with a network error, a timeout, a
// truncated body, a 5xx or a 429 answer (waiting at least what a
// Retry-After header asks, up to maxRetryAfter); a checksum mismatch is
// retried once (a proxy may have served a stale copy); other 4xx answers
// and refused redirects are final. A 304 is handed to fn like a 200; other
// non-2xx answers become *HTTPError.
func (c *Client) fetch(ctx context.Context, url string, hdr http.Header, fn func(*http.Response) error) error {
	delay := c.backoff
	checksumRetried := false
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			wait := delay
			var he *HTTPError
			if errors.As(lastErr, &he) && he.RetryAfter > wait {
				wait = min(he.RetryAfter, maxRetryAfter)
			}
			c.log.Debug("retry", "url", url, "attempt", attempt, "after", wait, "err", lastErr)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
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
		case errors.Is(err, ErrRedirect):
			retry = false
		case errors.As(err, &he):
			retry = he.StatusCode >= 500 || he.StatusCode == http.StatusTooManyRequests
		case errors.Is(err, errTruncated), errors.Is(err, ErrTimeout):
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

// fetchOnce makes one request under the Timeouts: the idle timer runs from
// the start of the request and is re-armed by every read of the body, so
// a server that sends nothing (headers or body) for Idle is cut off.
func (c *Client) fetchOnce(ctx context.Context, url string, hdr http.Header, fn func(*http.Response) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ctx, stop := context.WithTimeoutCause(ctx, c.timeouts.Request, &TimeoutError{URL: url, What: "request", After: c.timeouts.Request})
	defer stop()
	idle := time.AfterFunc(c.timeouts.Idle, func() {
		cancel(&TimeoutError{URL: url, What: "no data", After: c.timeouts.Idle})
	})
	defer idle.Stop()
	err := c.doOnce(ctx, url, hdr, idle, fn)
	if err != nil {
		var te *TimeoutError
		if cause := context.Cause(ctx); errors.As(cause, &te) {
			return te
		}
	}
	return err
}

func (c *Client) doOnce(ctx context.Context, url string, hdr http.Header, idle *time.Timer, fn func(*http.Response) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *neturl.Error
		if errors.Is(err, ErrRedirect) && errors.As(err, &ue) {
			// url.Error names the refused target (maybe a local file):
			// name the URL asked for instead.
			return fmt.Errorf("GET %s: %w", url, ue.Err)
		}
		return err
	}
	defer resp.Body.Close()
	resp.Body = &idleBody{ReadCloser: resp.Body, timer: idle, d: c.timeouts.Idle}
	idle.Reset(c.timeouts.Idle)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 || resp.StatusCode == http.StatusNotModified {
		return fn(resp)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return &HTTPError{URL: url, StatusCode: resp.StatusCode, Status: resp.Status,
		RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
}

// idleBody re-arms the idle timer on every read that returns data.
type idleBody struct {
	io.ReadCloser
	timer *time.Timer
	d     time.Duration
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.timer.Reset(b.d)
	}
	return n, err
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// errTruncated marks a body shorter than the signed size: a network
// problem, retried like one, but reported as a checksum failure when final.
var errTruncated = errors.New("truncated")

func retryable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// storeVerified streams r into dir/name through SHA256, and renames the
// temporary file into place only when size and hash match. want may be ""
// (unknown): then the file is stored under its actual hash. It returns the
// final path and the hex digest.
func (c *Client) storeVerified(r io.Reader, dir, url string, wantHash string, wantSize int64, name func(hash string) string) (string, string, error) {
	tmp, err := atomicfile.Create("", atomicfile.InDir(dir))
	if err != nil {
		return "", "", err
	}
	defer tmp.Abort() // nothing once committed
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
	final := filepath.Join(dir, name(got))
	if err := tmp.CommitAs(final); err != nil {
		return "", "", err
	}
	return final, got, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// ForgetIndexes drops the parsed indexes this client remembers (see
// Indexes), so that the memory is freed once the caller is done with the
// packages; a later Indexes call parses them again.
func (c *Client) ForgetIndexes() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.parsed)
	clear(c.allPkgs)
	c.strings = nil
}
