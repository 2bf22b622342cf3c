//go:build !unix

package publish

// lockDir is a no-op where advisory file locks are unavailable; the
// in-process mutex still serializes updates within one process.
func lockDir(string) (func(), error) { return func() {}, nil }
