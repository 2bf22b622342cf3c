package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/clearsign"

	"github.com/pgassemble/pgassemble/internal/atomicfile"
)

// maxReleaseSize bounds InRelease/Release downloads (Debian's are ~200 KiB).
const maxReleaseSize = 64 << 20

// releasePointer remembers, per InRelease URL, which blob was last
// verified and the validators for a conditional GET.
type releasePointer struct {
	URL          string `json:"url"`
	Digest       string `json:"digest"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"lastModified,omitempty"`
}

func (c *Client) blobDir() string { return filepath.Join(c.cacheDir, "blobs", "sha256") }

func (c *Client) blobPath(hash string) string { return filepath.Join(c.blobDir(), hash) }

func (c *Client) pointerPath(url string) string {
	h := sha256.Sum256([]byte(url))
	return filepath.Join(c.cacheDir, "release", hex.EncodeToString(h[:16])+".json")
}

func (c *Client) readPointer(url string) *releasePointer {
	b, err := os.ReadFile(c.pointerPath(url))
	if err != nil {
		return nil
	}
	var p releasePointer
	if json.Unmarshal(b, &p) != nil || p.URL != url || len(p.Digest) != 64 || !isLowerHex(p.Digest) {
		return nil
	}
	return &p
}

func (c *Client) writePointer(p releasePointer) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(c.pointerPath(p.URL), b)
}

// SHA256 GETs url, a small file such as an InRelease (at most
// maxReleaseSize), with this client's transports, timeouts, retries and
// redirect policy, and returns the SHA256 of its body. It verifies
// nothing: the caller compares the sum with one it trusts.
func (c *Client) SHA256(ctx context.Context, url string) (string, error) {
	var sum string
	err := c.fetch(ctx, url, nil, func(resp *http.Response) error {
		if resp.StatusCode != http.StatusOK {
			return &HTTPError{URL: url, StatusCode: resp.StatusCode, Status: resp.Status}
		}
		h := sha256.New()
		if _, err := io.Copy(h, io.LimitReader(resp.Body, maxReleaseSize)); err != nil {
			return fmt.Errorf("read %s: %w", url, err)
		}
		sum = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	return sum, err
}

// Release fetches dists/SUITE/InRelease (or Release + Release.gpg when
// there is no InRelease), verifies its signature against the repo's keyring
// and its Valid-Until, and parses it. An InRelease unchanged since the last
// run is revalidated with a conditional GET and read from the cache.
//
// With date checks on (WithCheckDate), a Release dated in the future beyond
// maxFutureTime is refused (ErrNotValidYet), and so is one older than the
// newest this cache has validated for the repository (ErrRollback): a
// mirror cannot freeze a client on old metadata or roll it back.
func (c *Client) Release(ctx context.Context, repo Repo) (*Release, error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	base := repo.URI + "/dists/" + repo.Suite + "/"
	url := base + "InRelease"
	ptr := c.readPointer(url)
	hdr := http.Header{}
	if ptr != nil && c.verifyFile(c.blobPath(ptr.Digest), ptr.Digest, -1) {
		if ptr.ETag != "" {
			hdr.Set("If-None-Match", ptr.ETag)
		}
		if ptr.LastModified != "" {
			hdr.Set("If-Modified-Since", ptr.LastModified)
		}
	} else {
		ptr = nil
	}
	var data []byte
	var notModified bool
	next := releasePointer{URL: url}
	err := c.fetch(ctx, url, hdr, func(resp *http.Response) error {
		if resp.StatusCode == http.StatusNotModified && ptr != nil {
			b, err := os.ReadFile(c.blobPath(ptr.Digest))
			if err != nil {
				return err
			}
			data, notModified, next = b, true, *ptr
			return nil
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxReleaseSize))
		if err != nil {
			return fmt.Errorf("read %s: %w", url, err)
		}
		data = b
		next.ETag = resp.Header.Get("ETag")
		next.LastModified = resp.Header.Get("Last-Modified")
		return nil
	})
	var plain []byte
	switch {
	case errors.Is(err, ErrNotFound):
		c.log.Debug("no InRelease, trying Release + Release.gpg", "url", url)
		return c.detachedRelease(ctx, repo, base)
	case err != nil:
		return nil, err // *HTTPError and *url.Error name the URL
	}
	if repo.Trusted {
		plain = data
		if b, _ := clearsign.Decode(data); b != nil {
			plain = b.Plaintext
		}
	} else if plain, err = verifyClearsigned(data, repo.Keyring, url, c.now()); err != nil {
		return nil, err
	}
	rel, err := c.checkRelease(plain, data, repo, url)
	if err != nil {
		return nil, err
	}
	if err := c.checkDates(rel, base, url); err != nil {
		return nil, err
	}
	if !notModified {
		if err := c.keepBlob(data, rel.Digest); err != nil {
			return nil, err
		}
		next.Digest = rel.Digest
		if err := c.writePointer(next); err != nil {
			return nil, err
		}
	}
	c.log.Debug("release verified", "url", url, "cached", notModified, "date", rel.Date)
	return rel, nil
}

func (c *Client) detachedRelease(ctx context.Context, repo Repo, base string) (*Release, error) {
	url := base + "Release"
	read := func(u string) ([]byte, error) {
		var b []byte
		err := c.fetch(ctx, u, nil, func(resp *http.Response) error {
			var err error
			b, err = io.ReadAll(io.LimitReader(resp.Body, maxReleaseSize))
			return err
		})
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	data, err := read(url)
	if err != nil {
		return nil, err
	}
	if !repo.Trusted {
		sig, err := read(url + ".gpg")
		if err != nil {
			return nil, err
		}
		if err := checkDetached(data, sig, repo.Keyring, url, c.now()); err != nil {
			return nil, err
		}
	}
	rel, err := c.checkRelease(data, data, repo, url)
	if err != nil {
		return nil, err
	}
	if err := c.checkDates(rel, base, url); err != nil {
		return nil, err
	}
	return rel, c.keepBlob(data, rel.Digest)
}

func (c *Client) checkRelease(plain, raw []byte, repo Repo, url string) (*Release, error) {
	rel, err := ParseRelease(plain)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	sum := sha256.Sum256(raw)
	rel.Digest, rel.URL = hex.EncodeToString(sum[:]), url
	if !c.ignoreValidUntil {
		if err := rel.checkValid(url, c.now()); err != nil {
			return nil, err
		}
	}
	if rel.Suite != repo.Suite && rel.Codename != repo.Suite {
		// apt only warns here too: a suite may be an alias (stable/trixie).
		c.log.Warn("release names another distribution", "url", url, "suite", rel.Suite, "codename", rel.Codename, "want", repo.Suite)
	}
	return rel, nil
}

// Sentinel errors of the Release date checks.
var (
	// ErrNotValidYet: the Release's Date is in the future (apt: "not
	// valid yet").
	ErrNotValidYet = errors.New("release file not valid yet")
	// ErrRollback: the Release is older than one already validated for
	// the same repository.
	ErrRollback = errors.New("release file older than one already seen")
)

// maxFutureTime is how far in the future a Release Date may be (clock
// skew), apt's Acquire::Max-FutureTime default.
const maxFutureTime = 10 * time.Second

// releaseState is what the cache remembers of a repository between runs:
// the Date of the newest Release validated for it.
type releaseState struct {
	Base string    `json:"base"`
	Date time.Time `json:"date"`
}

func (c *Client) statePath(base string) string {
	h := sha256.Sum256([]byte(base))
	return filepath.Join(c.cacheDir, "release", hex.EncodeToString(h[:16])+".state.json")
}

// checkDates refuses a Release dated in the future or older than the
// newest one seen for base, and records a newer Date. It runs after the
// signature and Valid-Until checks: only validated Dates are remembered.
func (c *Client) checkDates(rel *Release, base, url string) error {
	if !c.checkDate || rel.Date.IsZero() {
		return nil
	}
	now := c.now()
	if rel.Date.After(now.Add(maxFutureTime)) {
		return fmt.Errorf("%s: Date %s is in the future (now %s): not valid yet; check the clock, or turn the date checks off for a machine whose clock is wrong: %w",
			url, rel.Date.UTC().Format(time.RFC1123), now.UTC().Format(time.RFC1123), ErrNotValidYet)
	}
	p := c.statePath(base)
	var st releaseState
	if b, err := os.ReadFile(p); err == nil && json.Unmarshal(b, &st) == nil && st.Base == base {
		if rel.Date.Before(st.Date) {
			return fmt.Errorf("%s: Date %s is older than the Release already validated for this repository (%s): the mirror serves stale or replayed metadata (state: %s): %w",
				url, rel.Date.UTC().Format(time.RFC1123), st.Date.UTC().Format(time.RFC1123), p, ErrRollback)
		}
		if !rel.Date.After(st.Date) {
			return nil
		}
	}
	b, err := json.Marshal(releaseState{Base: base, Date: rel.Date.UTC()})
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(p, b)
}

// keepBlob stores verified bytes in the blob store under their hash.
func (c *Client) keepBlob(data []byte, hash string) error {
	p := c.blobPath(hash)
	if fileExists(p) {
		return nil
	}
	_, _, err := c.storeVerified(bytes.NewReader(data), c.blobDir(), p, hash, int64(len(data)), func(h string) string { return h })
	return err
}
