package publish

import (
	"net/http"
	"strconv"
	"time"
)

// maxRetryAfter bounds how long a registry's Retry-After is obeyed.
const maxRetryAfter = time.Minute

// retryAfterTransport makes go-containerregistry's retries wait at least
// what a registry asks: its retry transport backs off on 429 and 503 but
// does not read Retry-After. The answer is held back for the time asked
// (at most maxRetryAfter, never past the request's context), then the
// retry logic above sees it as usual.
type retryAfterTransport struct {
	next http.RoundTripper
}

func (t retryAfterTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return resp, err
	}
	d := retryAfter(resp.Header.Get("Retry-After"), time.Now())
	if d <= 0 {
		return resp, nil
	}
	timer := time.NewTimer(min(d, maxRetryAfter))
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-req.Context().Done():
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
