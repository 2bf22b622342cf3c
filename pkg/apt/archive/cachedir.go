package archive

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrCacheDir: no usable cache directory (no XDG_CACHE_HOME, no HOME, and
// the per-user fallback is missing, foreign or open to others).
var ErrCacheDir = errors.New("no safe cache directory")

// DefaultCacheDir is $XDG_CACHE_HOME/pgassemble, else
// $HOME/.cache/pgassemble, else the per-user directory
// TMPDIR/pgassemble-cache-UID. That last one is only used once it is
// checked to be a directory (not a link) owned by the user with no access
// for others (see New); it is never a path shared between users.
// Relative values of XDG_CACHE_HOME and HOME are ignored, as the XDG base
// directory specification says: they would name a directory that depends
// on where pgassemble happens to run.
func DefaultCacheDir() string {
	if d := os.Getenv("XDG_CACHE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "pgassemble")
	}
	if h, err := os.UserHomeDir(); err == nil && filepath.IsAbs(h) {
		return filepath.Join(h, ".cache", "pgassemble")
	}
	return fallbackCacheDir()
}

func fallbackCacheDir() string {
	return filepath.Join(os.TempDir(), "pgassemble-cache-"+strconv.Itoa(os.Getuid()))
}

// checkPrivateDir creates dir 0700 if absent and checks that it is a
// directory of the current user that nobody else can read or write:
// anything else under a shared temporary directory may have been planted.
func checkPrivateDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("cache directory %s: %w: %w (set XDG_CACHE_HOME or HOME, or pass a cache directory)", dir, err, ErrCacheDir)
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("cache directory %s: %w: %w", dir, err, ErrCacheDir)
	}
	var why string
	switch {
	case !st.IsDir():
		why = "not a directory (" + st.Mode().Type().String() + ")"
	case st.Mode().Perm()&0o077 != 0:
		why = fmt.Sprintf("mode %#o gives others access", st.Mode().Perm())
	default:
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Getuid() {
			why = fmt.Sprintf("owned by uid %d, not %d", sys.Uid, os.Getuid())
		}
	}
	if why != "" {
		return fmt.Errorf("cache directory %s: %s; refusing a cache another user may have planted (set XDG_CACHE_HOME or HOME, or pass a cache directory): %w", dir, why, ErrCacheDir)
	}
	return nil
}

// staleTempAge is how old a temporary file in the cache must be before the
// next run removes it as left behind by a killed run. Writers update their
// file's mtime as data arrives, and a download stalled for this long has
// long been cut by the idle timeout.
const staleTempAge = time.Hour

// sweepTemp removes the ".tmp-*" files older than staleTempAge from the
// cache's directories: what a killed run left behind.
func (c *Client) sweepTemp() {
	cutoff := time.Now().Add(-staleTempAge)
	for _, d := range []string{
		filepath.Join(c.cacheDir, "debs", "sha256"), c.blobDir(),
		filepath.Join(c.cacheDir, "plain"), filepath.Join(c.cacheDir, "release"),
	} {
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), ".tmp-") {
				continue
			}
			if info, err := e.Info(); err == nil && info.ModTime().Before(cutoff) {
				if os.Remove(filepath.Join(d, e.Name())) == nil {
					c.log.Debug("removed a stale temporary file", "path", filepath.Join(d, e.Name()))
				}
			}
		}
	}
}

// CheckCacheDir makes and checks the cache directory as the first method
// called would (see DefaultCacheDir): a caller that writes other files
// under it (layers, records) calls it first, so that the per-user
// fallback directory is made private before anything else creates it.
func (c *Client) CheckCacheDir() error { return c.ready() }

// ready checks the cache directory and sweeps stale temporary files, once
// per Client; every entry point calls it.
func (c *Client) ready() error {
	c.readyOnce.Do(func() {
		if c.cacheDir == fallbackCacheDir() {
			c.readyErr = checkPrivateDir(c.cacheDir)
		}
		if c.readyErr == nil {
			c.sweepTemp()
		}
	})
	return c.readyErr
}

// verifyFile checks that the file at p has exactly size bytes (size < 0:
// any) and the SHA256 want. It reports false for a missing file; a file
// that differs is removed, so that it is fetched again, and reported with
// a warning: something wrote into the cache what no verified download put
// there.
func (c *Client) verifyFile(p, want string, size int64) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return false
	}
	var got string
	if size < 0 || st.Size() == size {
		h := sha256.New()
		if _, err := io.Copy(h, f); err == nil {
			got = hex.EncodeToString(h.Sum(nil))
		}
	}
	if got == want {
		return true
	}
	c.log.Warn("cached file does not match its signed hash; removing it and fetching again", "path", p,
		"size", st.Size(), "want_size", size)
	os.Remove(p)
	return false
}
