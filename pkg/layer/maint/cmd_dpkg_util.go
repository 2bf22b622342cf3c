package maint

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// Helpers shared by the Debian tool families (cmd_dpkg*.go,
// cmd_alternatives.go, cmd_accounts.go, ...): whole-file reads and writes of
// the image's state files through Call.FS.

// readImageFile reads a whole file of the image.
func readImageFile(fsys FS, name string) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}

// readImageFileOpt reads a file that may be absent (nil, nil then).
func readImageFileOpt(fsys FS, name string) ([]byte, error) {
	b, err := readImageFile(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// writeImageFile replaces a file's content, creating it with perm (and its
// parent directories 0755) when absent; an existing file keeps its mode and
// owner, as the real tools' write-new-then-rename leaves them for state files
// they own.
func writeImageFile(fsys FS, name string, data []byte, perm fs.FileMode) error {
	if err := mkdirAllImage(fsys, path.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := fsys.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	return f.Close()
}

// appendImageFile appends to a file, creating it with perm.
func appendImageFile(fsys FS, name string, data []byte, perm fs.FileMode) error {
	if err := mkdirAllImage(fsys, path.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := fsys.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("append %s: %w", name, err)
	}
	return f.Close()
}

// mkdirAllImage creates a directory and its parents (mkdir -p).
func mkdirAllImage(fsys FS, name string, perm fs.FileMode) error {
	name = cleanAbs(name)
	if i, err := fsys.Stat(name); err == nil {
		if !i.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: name, Err: ErrNotDir}
		}
		return nil
	}
	if name != "/" {
		if err := mkdirAllImage(fsys, path.Dir(name), perm); err != nil {
			return err
		}
	}
	if err := fsys.Mkdir(name, perm); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// existsImage reports whether a path exists (lstat: a dangling link exists).
func existsImage(fsys FS, name string) bool {
	_, err := fsys.Lstat(name)
	return err == nil
}

// removeIfExists removes a file or link, ignoring its absence.
func removeIfExists(fsys FS, name string) error {
	if err := fsys.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// replaceSymlink makes name a symlink to target, replacing what is there.
func replaceSymlink(fsys FS, target, name string) error {
	if i, err := fsys.Lstat(name); err == nil {
		if i.Mode&fs.ModeSymlink != 0 && i.Target == target {
			return nil
		}
		if err := fsys.Remove(name); err != nil {
			return err
		}
	}
	if err := mkdirAllImage(fsys, path.Dir(name), 0o755); err != nil {
		return err
	}
	return fsys.Symlink(target, name)
}

// epochOf is the build's clock: SOURCE_DATE_EPOCH of the script's
// environment (the runner fixes it), 0 when unset.
func epochOf(c *Call) time.Time {
	if c.Env != nil {
		if s := c.Env("SOURCE_DATE_EPOCH"); s != "" {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return time.Unix(n, 0).UTC()
			}
		}
	}
	return time.Unix(0, 0).UTC()
}

// splitLines splits a text file into lines without the final newline.
func splitLines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// joinLines is the inverse of splitLines.
func joinLines(lines []string) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// effect records a change for the trace when the runner asked for it.
func effect(c *Call, format string, args ...any) {
	if c.Effect != nil {
		c.Effect(format, args...)
	}
}

// warnf prints "PROG: warning: ..." on stderr as the Debian tools do.
func warnf(c *Call, prog, format string, args ...any) {
	fmt.Fprintf(c.Stderr, "%s: warning: %s\n", prog, fmt.Sprintf(format, args...))
}

// failf prints "PROG: error: ..." and returns exit status 2, dpkg's tools'
// status for a usage or state error.
func failf(c *Call, prog, format string, args ...any) error {
	fmt.Fprintf(c.Stderr, "%s: error: %s\n", prog, fmt.Sprintf(format, args...))
	return ExitStatus(2)
}
