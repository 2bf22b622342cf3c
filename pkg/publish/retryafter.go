package publish

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// maxRetryAfter bounds how long a registry's Retry-After is obeyed.
const maxRetryAfter = time.Minute

// retryAfterTransport makes go-containerregistry's retries wait at least
// what a registry asks: its retry transport backs off on 429 and 503 but
// does not read Retry-After. A 429 or 503 with Retry-After marks its host
// busy until then (at most maxRetryAfter ahead); the next request to that
// host, whichever retry loop sends it, waits until that time (never past
// its context). The answer itself is returned at once, so a last attempt
// fails without waiting for a retry that will not come.
type retryAfterTransport struct {
	next  http.RoundTripper
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) // returns early when ctx ends

	mu        sync.Mutex
	notBefore map[string]time.Time // host -> earliest next request
}

func newRetryAfterTransport(next http.RoundTripper) *retryAfterTransport {
	return &retryAfterTransport{next: next, now: time.Now, sleep: sleepCtx, notBefore: map[string]time.Time{}}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}

func (t *retryAfterTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Host
	t.mu.Lock()
	at, busy := t.notBefore[host]
	t.mu.Unlock()
	if busy {
		if d := at.Sub(t.now()); d > 0 {
			t.sleep(req.Context(), d)
		}
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return resp, err
	}
	now := t.now()
	if d := retryAfter(resp.Header.Get("Retry-After"), now); d > 0 {
		until := now.Add(min(d, maxRetryAfter))
		t.mu.Lock()
		if until.After(t.notBefore[host]) {
			t.notBefore[host] = until
		}
		t.mu.Unlock()
	}
	return resp, nil
}

// retryAfter parses a Retry-After value: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		return time.Duration(s) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		return at.Sub(now)
	}
	return 0
}
