//go:build !unix

package publish

import (
	"errors"
	"os"
)

// lockDir is a no-op where advisory file locks are unavailable; the
// in-process mutex still serializes updates within one process.
func lockDir(string) (func(), error) { return func() {}, nil }

// lockFileNB: without advisory locks a writer is never known to be dead,
// so its temporary files are never swept.
func lockFileNB(*os.File) error { return errors.New("file locks unsupported") }
