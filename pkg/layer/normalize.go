package layer

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"
)

// rawEntry is one data.tar entry as shipped, with its name cleaned and its
// body spooled to disk.
type rawEntry struct {
	name     string // relative, no "./", no trailing slash; "" for the root
	typ      byte
	mode     int64
	uid, gid int
	uname    string
	gname    string
	link     string // symlink target as shipped; hardlink target cleaned
	size     int64
	mtime    time.Time
	devmajor int64
	devminor int64
	off      int64  // body offset in the spool file
	md5      string // hex md5 of the body, for conffiles only
}

// decodedDeb is a .deb read in full: control info in memory, data headers
// in memory, data bodies spooled to one temporary file.
type decodedDeb struct {
	deb     Deb
	info    *ControlInfo
	entries []rawEntry
	spool   *os.File
}

func (d *decodedDeb) name() string { return d.info.Paragraph.Get("Package") }

// cleanName turns a tar name into a relative path. Absolute names and ".."
// components are refused: dpkg-deb never produces them.
func cleanName(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("absolute path %q: %w", name, ErrUnsafePath)
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("path %q contains '..': %w", name, ErrUnsafePath)
		}
	}
	if strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("path %q contains NUL: %w", name, ErrUnsafePath)
	}
	p := path.Clean("/" + name)
	return strings.TrimPrefix(p, "/"), nil
}

// decodeDeb reads one .deb, spooling file bodies to a file in dir. Bodies
// go to disk so the stage can be sorted without holding data in memory.
func decodeDeb(ctx context.Context, deb Deb, info *ControlInfo, dir string, opts ...DebOption) (*decodedDeb, error) {
	f, err := os.Open(deb.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The bytes decoded are the bytes hashed: a file that is not what its
	// SHA256 says is refused before its layer can be cached under it.
	hr := &hashingReader{r: f, h: sha256.New()}
	dr, err := OpenDeb(hr, deb.Path, append(opts, WithContext(ctx))...)
	if err != nil {
		return nil, err
	}
	defer dr.Close()
	if info != nil && info.MemberSHA256 != "" && deb.SHA256 != "" {
		// info was parsed from a control member with the same bytes
		// (SkipControl checks), and the file's SHA256 is checked below.
		if err := dr.SkipControl(info); err != nil {
			return nil, err
		}
	} else {
		ci, err := dr.Control()
		if err != nil {
			return nil, err
		}
		if info == nil {
			info = ci
		}
	}
	tr, err := dr.Data()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", info.Paragraph.Get("Package"), err)
	}
	spool, err := os.CreateTemp(dir, "spool-*")
	if err != nil {
		return nil, err
	}
	d := &decodedDeb{deb: deb, info: info, spool: spool}
	if err := d.readData(ctx, tr); err != nil {
		d.close()
		if errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrBadDeb) {
			err = fmt.Errorf("%w: truncated (%v)", ErrBadDeb, err)
		}
		return nil, fmt.Errorf("%s (%s): %s: %w", d.name(), deb.Path, dr.member, err)
	}
	if err := dr.Verify(); err != nil {
		d.close()
		return nil, fmt.Errorf("%s: %w", d.name(), err)
	}
	if deb.SHA256 != "" {
		got, err := hr.sum()
		if err == nil {
			err = checkDigest(deb, got)
		}
		if err != nil {
			d.close()
			return nil, fmt.Errorf("%s: %w", d.name(), err)
		}
	}
	return d, nil
}

func (d *decodedDeb) readData(ctx context.Context, tr *tar.Reader) error {
	conff := map[string]bool{}
	for _, c := range d.info.Conffiles {
		conff[strings.TrimPrefix(path.Clean("/"+c), "/")] = true
	}
	// Without an md5sums member, dpkg computes the sums itself: hash every
	// body then (and only conffiles otherwise).
	allSums := d.info.Member("md5sums") == nil
	w := bufio.NewWriterSize(d.spool, 256<<10)
	var off int64
	buf := make([]byte, 128<<10)
	for n := 0; ; n++ {
		if n%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		name, err := cleanName(h.Name)
		if err != nil {
			return err
		}
		e := rawEntry{name: name, typ: h.Typeflag, mode: h.Mode & 0o7777, uid: h.Uid, gid: h.Gid,
			uname: h.Uname, gname: h.Gname, mtime: h.ModTime, devmajor: h.Devmajor, devminor: h.Devminor}
		switch h.Typeflag {
		case tar.TypeReg: // tar.Reader reports the old NUL type as TypeReg
			e.typ = tar.TypeReg
			e.off, e.size = off, h.Size
			// Not w itself: bufio.Writer's ReadFrom would hand the copy
			// to os.File's, which allocates 32 KiB per call (per file:
			// half a GB of garbage for a cold build) and bypasses buf.
			var dst io.Writer = struct{ io.Writer }{w}
			var sum = md5.New()
			if conff[name] || allSums {
				dst = io.MultiWriter(w, sum)
			}
			nw, err := io.CopyBuffer(dst, tr, buf)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if nw != h.Size {
				return fmt.Errorf("%s: short body: %w", name, ErrBadDeb)
			}
			off += nw
			if conff[name] || allSums {
				e.md5 = hex.EncodeToString(sum.Sum(nil))
			}
		case tar.TypeLink:
			t, err := cleanName(h.Linkname)
			if err != nil {
				return fmt.Errorf("hardlink %s: %w", name, err)
			}
			e.link = t
		case tar.TypeSymlink:
			if h.Linkname == "" || strings.ContainsRune(h.Linkname, 0) {
				return fmt.Errorf("symlink %s: bad target %q: %w", name, h.Linkname, ErrUnsafePath)
			}
			e.link = h.Linkname
		case tar.TypeDir, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		default:
			return fmt.Errorf("%s: unsupported entry type %q", name, h.Typeflag)
		}
		if name == "" && e.typ != tar.TypeDir {
			return fmt.Errorf("root entry is not a directory: %w", ErrUnsafePath)
		}
		d.entries = append(d.entries, e)
	}
	return w.Flush()
}

func (d *decodedDeb) close() {
	if d.spool != nil {
		d.spool.Close()
		os.Remove(d.spool.Name())
		d.spool = nil
	}
}

// body returns a reader over a spooled entry body.
func (d *decodedDeb) body(e *rawEntry) io.Reader {
	return io.NewSectionReader(d.spool, e.off, e.size)
}

// pathLess orders paths component by component, so every directory's
// subtree is contiguous and parents come first.
func pathLess(a, b string) bool {
	for {
		ia := strings.IndexByte(a, '/')
		ib := strings.IndexByte(b, '/')
		ca, cb := a, b
		if ia >= 0 {
			ca = a[:ia]
		}
		if ib >= 0 {
			cb = b[:ib]
		}
		if ca != cb {
			return ca < cb
		}
		if ia < 0 || ib < 0 {
			return ia < 0 && ib >= 0
		}
		a, b = a[ia+1:], b[ib+1:]
	}
}
