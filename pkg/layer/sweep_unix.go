//go:build unix

package layer

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive flock on f; without wait it fails at once
// when another open file description holds it.
func lockFile(f *os.File, wait bool) error {
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	return syscall.Flock(int(f.Fd()), how)
}
