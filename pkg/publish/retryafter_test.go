package publish

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "3": 3 * time.Second, "x": 0, "-1": -time.Second,
		now.Add(5 * time.Second).Format(http.TimeFormat): 5 * time.Second,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestRegistryHonoursRetryAfter: a registry answering 429 with
// Retry-After: 1 to a manifest is asked again no sooner than a second
// later, and the publish succeeds.
func TestRegistryHonoursRetryAfter(t *testing.T) {
	tr := newTestRegistry(t)
	var mu sync.Mutex
	var attempts []time.Time
	inner := tr.srv.Config.Handler
	tr.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			mu.Lock()
			attempts = append(attempts, time.Now())
			first := len(attempts) == 1
			mu.Unlock()
			if first {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "slow down", http.StatusTooManyRequests)
				return
			}
		}
		inner.ServeHTTP(w, r)
	})
	r, err := NewRegistry(tr.host()+"/retry", testOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Publish(context.Background(), testIndex(t), []string{"x"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) < 2 {
		t.Fatalf("%d manifest attempts", len(attempts))
	}
	if gap := attempts[1].Sub(attempts[0]); gap < time.Second {
		t.Errorf("retried after %v, the registry asked for 1s", gap)
	}
}

// TestRetryAfterWaitsBeforeTheNextRequestOnly: the wait a registry asks
// for is spent before the next request to that host, not after the
// answer, so a last attempt returns at once; other hosts do not wait.
func TestRetryAfterWaitsBeforeTheNextRequestOnly(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var slept []time.Duration
	status := http.StatusTooManyRequests
	tr := newRetryAfterTransport(roundTripFunc(func(*http.Request) (*http.Response, error) {
		h := http.Header{}
		h.Set("Retry-After", "30")
		return &http.Response{StatusCode: status, Header: h, Body: http.NoBody}, nil
	}))
	tr.now = func() time.Time { return now }
	tr.sleep = func(_ context.Context, d time.Duration) { slept = append(slept, d); now = now.Add(d) }
	get := func(host string) int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+host+"/v2/", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	if get("a") != http.StatusTooManyRequests || len(slept) != 0 {
		t.Fatalf("first answer: slept %v before returning it, want no wait", slept)
	}
	status = http.StatusOK
	get("b")
	if len(slept) != 0 {
		t.Fatalf("another host waited %v", slept)
	}
	get("a")
	if len(slept) != 1 || slept[0] != 30*time.Second {
		t.Fatalf("next request to the busy host slept %v, want [30s]", slept)
	}
	get("a")
	if len(slept) != 1 {
		t.Fatalf("a request after the wait slept again: %v", slept)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
