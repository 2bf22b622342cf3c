//go:build !unix

package layer

import (
	"errors"
	"os"
)

// lockFile: without advisory locks a run is never known to be dead; its
// files are swept by age only (see legacyAge), which needs no lock.
func lockFile(f *os.File, wait bool) error {
	if wait {
		return nil
	}
	return errors.New("file locks unsupported")
}
