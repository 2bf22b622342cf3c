//go:build unix

package publish

import (
	"os"
	"syscall"
)

// lockDir takes an exclusive advisory lock on path, so two processes
// writing one layout do not lose each other's index.json entries.
func lockDir(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// lockFileNB takes an exclusive advisory lock on f without waiting; it
// fails when another open file holds it. Closing f releases it.
func lockFileNB(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
