package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ApplyToDir unpacks a layer onto dir the way a container runtime applies
// it over lower layers: ".wh.<name>" deletes <name>, ".wh..wh..opq" empties
// its directory, other entries replace what is there (directories are
// kept, their metadata updated). Every operation goes through an os.Root,
// so no entry or symlink can reach outside dir. Ownership is applied when
// running as root.
func ApplyToDir(ctx context.Context, l v1.Layer, dir string) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	return applyTar(ctx, rc, dir)
}

func applyTar(ctx context.Context, r io.Reader, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	asRoot := os.Geteuid() == 0
	tr := tar.NewReader(r)
	type dirTime struct {
		name string
		h    *tar.Header
	}
	var dirs []dirTime
	for n := 0; ; n++ {
		if n%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		name, err := cleanName(h.Name)
		if err != nil {
			return fmt.Errorf("apply %s: %w", h.Name, err)
		}
		if name == "" {
			continue
		}
		base, parent := path.Base(name), path.Dir(name)
		if base == ".wh..wh..opq" {
			ents, err := fs.ReadDir(root.FS(), parent)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("apply %s: %w", name, err)
			}
			for _, e := range ents {
				if err := root.RemoveAll(path.Join(parent, e.Name())); err != nil {
					return fmt.Errorf("apply %s: %w", name, err)
				}
			}
			continue
		}
		if strings.HasPrefix(base, ".wh.") {
			if err := root.RemoveAll(path.Join(parent, strings.TrimPrefix(base, ".wh."))); err != nil {
				return fmt.Errorf("apply %s: %w", name, err)
			}
			continue
		}
		if parent != "." {
			if err := root.MkdirAll(parent, 0o755); err != nil {
				return fmt.Errorf("apply %s: %w", name, err)
			}
		}
		mode := tarMode(h.Mode)
		if h.Typeflag != tar.TypeDir {
			if fi, err := root.Lstat(name); err == nil {
				if fi.IsDir() {
					err = root.RemoveAll(name)
				} else {
					err = root.Remove(name)
				}
				if err != nil {
					return fmt.Errorf("apply %s: %w", name, err)
				}
			}
		}
		switch h.Typeflag {
		case tar.TypeDir:
			fi, err := root.Lstat(name)
			if err == nil && !fi.IsDir() {
				if err := root.Remove(name); err != nil {
					return fmt.Errorf("apply %s: %w", name, err)
				}
				err = fs.ErrNotExist
			}
			if err != nil {
				if err := root.Mkdir(name, 0o700); err != nil {
					return fmt.Errorf("apply %s: %w", name, err)
				}
			}
			dirs = append(dirs, dirTime{name, h})
		case tar.TypeReg: // tar.Reader reports the old NUL type as TypeReg
			f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("apply %s: %w", name, err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return fmt.Errorf("apply %s: %w", name, err)
			}
			if err := f.Close(); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := root.Symlink(h.Linkname, name); err != nil {
				return fmt.Errorf("apply %s: %w", name, err)
			}
		case tar.TypeLink:
			t, err := cleanName(h.Linkname)
			if err != nil {
				return fmt.Errorf("apply %s: %w", name, err)
			}
			if err := root.Link(t, name); err != nil {
				return fmt.Errorf("apply %s: %w", name, err)
			}
			continue
		default:
			continue // devices and fifos need privileges tests do not have
		}
		if err := setMeta(root, name, h, mode, asRoot); err != nil {
			return err
		}
	}
	// Directory metadata last, so restrictive modes do not block children.
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		if err := setMeta(root, d.name, d.h, tarMode(d.h.Mode), asRoot); err != nil {
			return err
		}
	}
	return nil
}

func setMeta(root *os.Root, name string, h *tar.Header, mode fs.FileMode, asRoot bool) error {
	if asRoot {
		if err := root.Lchown(name, h.Uid, h.Gid); err != nil {
			return fmt.Errorf("apply %s: %w", name, err)
		}
	}
	if h.Typeflag == tar.TypeSymlink {
		return nil
	}
	if err := root.Chmod(name, mode); err != nil {
		return fmt.Errorf("apply %s: %w", name, err)
	}
	if err := root.Chtimes(name, h.ModTime, h.ModTime); err != nil {
		return fmt.Errorf("apply %s: %w", name, err)
	}
	return nil
}

// tarMode converts tar permission bits (with setuid/setgid/sticky).
func tarMode(m int64) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}
