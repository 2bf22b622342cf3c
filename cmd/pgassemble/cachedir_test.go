package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/pgassemble/pgassemble/internal/fixture"
)

// TestHomelessCacheIsPrivate: without HOME and XDG_CACHE_HOME the cache
// is the per-user directory under TMPDIR, and a build makes it 0700
// itself (nothing else may create it first with another mode).
func TestHomelessCacheIsPrivate(t *testing.T) {
	w := fixture.New(t)
	tmp := t.TempDir()
	t.Setenv("HOME", "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("TMPDIR", tmp)
	_, stderr, code := cli(t, "build", "--base-image", w.BaseRef, "--registry", w.RegHost, "--pg", "17", "--type", "minimal",
		"--base", "trixie", "--allow-unhandled-scripts", "--platform", "linux/amd64")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	st, err := os.Stat(filepath.Join(tmp, "pgassemble-cache-"+strconv.Itoa(os.Getuid())))
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("cache directory: %v, %v; want mode 0700", st, err)
	}
}
