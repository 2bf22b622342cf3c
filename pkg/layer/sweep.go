package layer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Every temporary file of a Builder lives in its own run directory under
// <cache>/tmp, next to a lock file the builder holds (flock) while it
// lives: the kernel releases the lock when the process dies, however it
// dies. A later Builder sweeps the run directories whose lock it can take,
// so the temporary files of a killed run are gone at the next run, and a
// concurrent process's files are never touched.

const (
	runPrefix = "run-"
	lockExt   = ".lock"
	// legacyAge: entries of tmp/ that are not run directories (older
	// versions, or a run directory whose lock file vanished) are removed
	// once this old.
	legacyAge = time.Hour
	// freshAge: a lock file that is still empty may be one another process
	// has created but not locked yet; it is left alone while this young.
	freshAge = time.Minute
)

// newRunDir creates a locked run directory under root and returns it with
// the function that removes it.
func newRunDir(root string) (string, func(), error) {
	lf, err := os.CreateTemp(root, runPrefix+"*"+lockExt)
	if err != nil {
		return "", nil, err
	}
	if err := lockFile(lf, true); err != nil {
		lf.Close()
		os.Remove(lf.Name())
		return "", nil, fmt.Errorf("lock %s: %w", lf.Name(), err)
	}
	fmt.Fprintf(lf, "%d\n", os.Getpid())
	dir := strings.TrimSuffix(lf.Name(), lockExt)
	if err := os.Mkdir(dir, 0o755); err != nil {
		lf.Close()
		os.Remove(lf.Name())
		return "", nil, err
	}
	release := func() {
		os.RemoveAll(dir)
		os.Remove(lf.Name())
		lf.Close() // releases the lock
	}
	return dir, release, nil
}

// sweepTmp removes what dead runs left in root. It returns how many run
// directories it removed.
func sweepTmp(root string, now time.Time) int {
	ents, err := os.ReadDir(root)
	if err != nil {
		return 0
	}
	locks := map[string]bool{}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), lockExt) {
			locks[strings.TrimSuffix(e.Name(), lockExt)] = true
		}
	}
	n := 0
	for _, e := range ents {
		name := e.Name()
		p := filepath.Join(root, name)
		switch {
		case strings.HasSuffix(name, lockExt):
			if sweepRun(p, now) {
				n++
			}
		case locks[name]:
			// a run directory: handled with its lock file
		default:
			if fi, err := e.Info(); err == nil && now.Sub(fi.ModTime()) > legacyAge {
				os.RemoveAll(p)
			}
		}
	}
	return n
}

// sweepRun removes the run of lock file p if no process holds its lock.
func sweepRun(p string, now time.Time) bool {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if lockFile(f, false) != nil {
		return false // alive
	}
	fi, err := f.Stat()
	if err != nil || (fi.Size() == 0 && now.Sub(fi.ModTime()) < freshAge) {
		return false
	}
	os.RemoveAll(strings.TrimSuffix(p, lockExt))
	os.Remove(p)
	return true
}
