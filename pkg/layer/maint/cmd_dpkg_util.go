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

// dpkgHashBins is the size of dpkg's file name hash table (lib/dpkg/fsys-hash.c).
const dpkgHashBins = 262139

// dpkgHashBin is the bin dpkg's fsys hash puts a path in: FNV-1 over the
// name without its leading slashes. dpkg writes the diversions and
// statoverride databases by walking these bins, so that is their order.
func dpkgHashBin(name string) uint32 {
	name = strings.TrimLeft(name, "/")
	for strings.HasPrefix(name, "./") {
		name = strings.TrimLeft(name[2:], "/")
	}
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		h ^= uint32(int32(int8(name[i]))) // C char is signed on amd64
		h *= 16777619
	}
	return h % dpkgHashBins
}

// atomicBackup keeps the previous content of a database as NAME-old, as
// dpkg's atomic_file with ATOMIC_FILE_BACKUP does before replacing it.
func atomicBackup(fsys FS, name string) error {
	old, err := readImageFileOpt(fsys, name)
	if err != nil || old == nil {
		return err
	}
	return writeImageFile(fsys, name+"-old", old, 0o644)
}

// lookupAccount finds a name's id (field 3) or an id's name in the image's
// /etc/passwd or /etc/group.
func lookupAccount(fsys FS, db, name string) (id int, ok bool) {
	b, _ := readImageFileOpt(fsys, db)
	for _, l := range splitLines(b) {
		f := strings.Split(l, ":")
		if len(f) > 2 && f[0] == name {
			n, err := strconv.Atoi(f[2])
			return n, err == nil
		}
	}
	return 0, false
}

func accountName(fsys FS, db string, id int) (string, bool) {
	b, _ := readImageFileOpt(fsys, db)
	for _, l := range splitLines(b) {
		f := strings.Split(l, ":")
		if len(f) > 2 && f[2] == strconv.Itoa(id) {
			return f[0], true
		}
	}
	return "", false
}

// fnmatch is C's fnmatch(3) with no flags, as dpkg's tools call it: '*'
// and '?' match '/' too, [...] classes (with '!' or '^' negation and
// ranges), backslash escapes.
func fnmatch(pattern, s string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for len(pattern) > 0 && pattern[0] == '*' {
				pattern = pattern[1:]
			}
			if pattern == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if fnmatch(pattern, s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			pattern, s = pattern[1:], s[1:]
		case '[':
			if s == "" {
				return false
			}
			end := strings.IndexByte(pattern[1:], ']')
			if end == 0 && len(pattern) > 2 { // "[]...]": ']' first is literal
				if e := strings.IndexByte(pattern[2:], ']'); e >= 0 {
					end = e + 1
				} else {
					end = -1
				}
			}
			if end < 0 {
				if s[0] != '[' {
					return false
				}
				pattern, s = pattern[1:], s[1:]
				continue
			}
			class := pattern[1 : end+1]
			neg := len(class) > 0 && (class[0] == '!' || class[0] == '^')
			if neg {
				class = class[1:]
			}
			in := false
			for i := 0; i < len(class); i++ {
				if i+2 < len(class) && class[i+1] == '-' {
					if class[i] <= s[0] && s[0] <= class[i+2] {
						in = true
					}
					i += 2
				} else if class[i] == s[0] {
					in = true
				}
			}
			if in == neg {
				return false
			}
			pattern, s = pattern[end+2:], s[1:]
		case '\\':
			if len(pattern) > 1 {
				pattern = pattern[1:]
			}
			fallthrough
		default:
			if s == "" || s[0] != pattern[0] {
				return false
			}
			pattern, s = pattern[1:], s[1:]
		}
	}
	return s == ""
}
