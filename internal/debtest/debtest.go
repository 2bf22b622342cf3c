// Package debtest builds small, real .deb files in memory for tests: an ar
// archive with debian-binary, control.tar.* and data.tar.*, as dpkg-deb
// would write them. Nothing here is downloaded; every byte is made by code.
package debtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/pgassemble/pgassemble/pkg/apt"
)

// File is one entry of data.tar. Path is absolute-looking ("/usr/bin/x") or
// relative; it is written as "./usr/bin/x" like dpkg-deb does.
type File struct {
	Path     string
	Type     byte // tar.TypeReg (default), TypeDir, TypeSymlink, TypeLink
	Mode     int64
	Body     string
	Linkname string
	Uname    string // default "root"
	Gname    string // default "root"
	Uid, Gid int
	ModTime  time.Time
}

// Deb describes a package. Control holds the control fields; Package,
// Version and Architecture are required there.
type Deb struct {
	Control apt.Paragraph
	Files   []File
	// Scripts maps a control member name ("postinst", "preinst", "triggers",
	// "conffiles", ...) to its content.
	Scripts map[string]string
	// DataCompression: "xz" (default), "gz", "zst", "bz2" is not supported, "none".
	DataCompression    string
	ControlCompression string // "xz" (default), "gz", "zst", "none"
	// Raw replaces the ar members entirely (for malformed-input tests).
	Raw []byte
	// Time is the ar members' modification time, as dpkg-deb records the
	// build time (SOURCE_DATE_EPOCH); zero writes 0.
	Time time.Time
}

// Name returns the Package field.
func (d Deb) Name() string { return d.Control.Get("Package") }

// Bytes returns the .deb file.
func (d Deb) Bytes() ([]byte, error) {
	if d.Raw != nil {
		return d.Raw, nil
	}
	data, sums, err := d.dataTar()
	if err != nil {
		return nil, err
	}
	ctrl, err := d.controlTar(sums)
	if err != nil {
		return nil, err
	}
	dc, dext, err := compress(d.DataCompression, data)
	if err != nil {
		return nil, err
	}
	cc, cext, err := compress(d.ControlCompression, ctrl)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	var mtime int64
	if !d.Time.IsZero() {
		mtime = d.Time.Unix()
	}
	out.WriteString("!<arch>\n")
	writeAr(&out, "debian-binary", []byte("2.0\n"), mtime)
	writeAr(&out, "control.tar"+cext, cc, mtime)
	writeAr(&out, "data.tar"+dext, dc, mtime)
	return out.Bytes(), nil
}

// MustBytes is Bytes for tests that cannot fail.
func (d Deb) MustBytes() []byte {
	b, err := d.Bytes()
	if err != nil {
		panic(err)
	}
	return b
}

func writeAr(w *bytes.Buffer, name string, body []byte, mtime int64) {
	fmt.Fprintf(w, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", name, mtime, 0, 0, "100644", len(body))
	w.Write(body)
	if len(body)%2 == 1 {
		w.WriteByte('\n')
	}
}

func compress(kind string, b []byte) ([]byte, string, error) {
	var out bytes.Buffer
	switch kind {
	case "", "xz":
		w, err := xz.NewWriter(&out)
		if err != nil {
			return nil, "", err
		}
		w.Write(b)
		if err := w.Close(); err != nil {
			return nil, "", err
		}
		return out.Bytes(), ".xz", nil
	case "gz":
		w := gzip.NewWriter(&out)
		w.Write(b)
		w.Close()
		return out.Bytes(), ".gz", nil
	case "zst":
		w, err := zstd.NewWriter(&out)
		if err != nil {
			return nil, "", err
		}
		w.Write(b)
		w.Close()
		return out.Bytes(), ".zst", nil
	case "none":
		return b, "", nil
	}
	return nil, "", fmt.Errorf("debtest: unknown compression %q", kind)
}

// dataTar writes data.tar with implied parent directories, in the order
// given (dpkg-deb sorts; tests that care can pass sorted input).
func (d Deb) dataTar() ([]byte, string, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	seen := map[string]bool{".": true}
	var sums strings.Builder
	var addDir func(p string) error
	addDir = func(p string) error {
		if seen[p] || p == "." || p == "/" {
			return nil
		}
		if err := addDir(path.Dir(p)); err != nil {
			return err
		}
		seen[p] = true
		return tw.WriteHeader(&tar.Header{Name: "./" + p + "/", Typeflag: tar.TypeDir, Mode: 0o755, Uname: "root", Gname: "root", Format: tar.FormatGNU})
	}
	if err := tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755, Uname: "root", Gname: "root", Format: tar.FormatGNU}); err != nil {
		return nil, "", err
	}
	for _, f := range d.Files {
		p := strings.Trim(path.Clean("/"+f.Path), "/")
		if strings.HasPrefix(f.Path, "RAW:") { // verbatim name, for traversal tests
			p = strings.TrimPrefix(f.Path, "RAW:")
		} else if err := addDir(path.Dir(p)); err != nil {
			return nil, "", err
		}
		typ := f.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
			if typ == tar.TypeDir {
				mode = 0o755
			}
			if typ == tar.TypeSymlink {
				mode = 0o777
			}
		}
		un, gn := f.Uname, f.Gname
		if un == "" {
			un = "root"
		}
		if gn == "" {
			gn = "root"
		}
		name := p
		if !strings.HasPrefix(f.Path, "RAW:") {
			name = "./" + p
		}
		if typ == tar.TypeDir {
			if seen[p] {
				continue
			}
			seen[p] = true
			name += "/"
		}
		h := &tar.Header{Name: name, Typeflag: typ, Mode: mode, Uname: un, Gname: gn, Uid: f.Uid, Gid: f.Gid, Linkname: f.Linkname, ModTime: f.ModTime, Format: tar.FormatGNU}
		if typ == tar.TypeLink && !strings.HasPrefix(h.Linkname, "./") {
			h.Linkname = "./" + strings.TrimPrefix(h.Linkname, "/")
		}
		if typ == tar.TypeReg {
			h.Size = int64(len(f.Body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, "", err
		}
		if typ == tar.TypeReg {
			io.WriteString(tw, f.Body)
			fmt.Fprintf(&sums, "%x  %s\n", md5.Sum([]byte(f.Body)), p)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), sums.String(), nil
}

func (d Deb) controlTar(md5sums string) ([]byte, error) {
	var ctrl bytes.Buffer
	if _, err := d.Control.WriteTo(&ctrl); err != nil {
		return nil, err
	}
	members := map[string]string{"control": ctrl.String()}
	if md5sums != "" {
		members["md5sums"] = md5sums
	}
	for k, v := range d.Scripts {
		members[k] = v
	}
	names := make([]string, 0, len(members))
	for k := range members {
		names = append(names, k)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755, Format: tar.FormatGNU})
	for _, n := range names {
		mode := int64(0o644)
		switch n {
		case "preinst", "postinst", "prerm", "postrm", "config":
			mode = 0o755
		}
		body := members[n]
		if err := tw.WriteHeader(&tar.Header{Name: "./" + n, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(body)), Format: tar.FormatGNU}); err != nil {
			return nil, err
		}
		io.WriteString(tw, body)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Control is a convenience for building a control paragraph in field order:
// Control("Package", "foo", "Version", "1.0", "Architecture", "amd64").
func Control(kv ...string) apt.Paragraph {
	var p apt.Paragraph
	for i := 0; i+1 < len(kv); i += 2 {
		p = append(p, apt.Field{Name: kv[i], Value: kv[i+1]})
	}
	return p
}
