package layer

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/pgassemble/pgassemble/internal/xzcmd"
	"github.com/pgassemble/pgassemble/pkg/apt"
)

// ErrBadDeb is wrapped by every error about a malformed .deb.
var ErrBadDeb = errors.New("malformed .deb")

// maxControlSize bounds the uncompressed control.tar: it is read into memory
// (control members are small; the largest in Debian are debconf templates).
const maxControlSize = 64 << 20

// maxControlName is dpkg's MAXCONTROLFILENAME: a longer member name is an
// error.
const maxControlName = 100

// ControlMember is one file of control.tar other than "control" itself.
type ControlMember struct {
	Name string
	Mode int64 // permission bits, e.g. 0o755 for maintainer scripts
	Data []byte
}

// ControlInfo is what the control member of a .deb says.
type ControlInfo struct {
	Paragraph apt.Paragraph
	// Members are the control.tar files dpkg keeps in
	// var/lib/dpkg/info/<pkg>.<member>, sorted by name: all but
	// "control", "list" and names with a dot.
	Members []ControlMember
	// Conffiles are the absolute paths listed in the conffiles member.
	Conffiles []string
	// MemberSHA256 is the SHA256 of the control.tar member parsed (as
	// stored in the .deb): SkipControl takes the parse only for a member
	// with the same bytes.
	MemberSHA256 string
}

// Member returns the named control member's data, or nil.
func (c *ControlInfo) Member(name string) []byte {
	for _, m := range c.Members {
		if m.Name == name {
			return m.Data
		}
	}
	return nil
}

// Scripts returns the control members by name (what maint.Package wants).
func (c *ControlInfo) Scripts() map[string][]byte {
	out := make(map[string][]byte, len(c.Members))
	for _, m := range c.Members {
		out[m.Name] = m.Data
	}
	return out
}

// DebReader reads a .deb sequentially: Control first, then Data. It never
// holds more than the control member and decompressor state in memory.
type DebReader struct {
	name    string
	ar      *arReader
	control *ControlInfo
	closer  io.Closer
	data    bool
	zr      io.Reader
	member  string

	xzCommand string
	ctx       context.Context // stops an external xz; Background by default
}

// DebOption configures a DebReader.
type DebOption func(*DebReader)

// WithXZCommand decompresses data.tar.xz with an external xz binary (path,
// e.g. "/usr/bin/xz") instead of the pure-Go decoder, which is about six
// times slower. Decompression is exact and checked (xz's own check, and the
// .deb's SHA256 upstream), so the output is the same either way.
func WithXZCommand(path string) DebOption {
	return func(d *DebReader) { d.xzCommand = path }
}

// WithContext ties the external xz (WithXZCommand) to ctx: cancelling it
// kills the process, and reading data.tar then fails with ctx's error.
func WithContext(ctx context.Context) DebOption {
	return func(d *DebReader) { d.ctx = ctx }
}

// OpenDeb starts reading a .deb from r; name is used in errors only.
func OpenDeb(r io.Reader, name string, opts ...DebOption) (*DebReader, error) {
	ar, err := newArReader(r, name)
	if err != nil {
		return nil, err
	}
	d := &DebReader{name: name, ar: ar, ctx: context.Background()}
	for _, o := range opts {
		o(d)
	}
	m, err := ar.Next()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: empty ar archive, no debian-binary member: %w", name, ErrBadDeb)
	}
	if err != nil {
		return nil, err
	}
	if m != "debian-binary" {
		return nil, fmt.Errorf("%s: first member is %q, not debian-binary: %w", name, m, ErrBadDeb)
	}
	var v [16]byte
	n, err := io.ReadFull(ar, v[:])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("%s: read debian-binary: %w", name, err)
	}
	if !bytes.HasPrefix(v[:n], []byte("2.")) {
		return nil, fmt.Errorf("%s: unsupported format version %q: %w", name, v[:n], ErrBadDeb)
	}
	return d, nil
}

// nextMember skips members whose names start with '_' (reserved for
// additions dpkg ignores) and returns the next one's name.
func (d *DebReader) nextMember() (string, error) {
	for {
		m, err := d.ar.Next()
		if err != nil {
			return "", err
		}
		if !strings.HasPrefix(m, "_") {
			return m, nil
		}
	}
}

// SkipControl passes over control.tar without decompressing it, taking info
// as its parse: for a caller that parsed this .deb's control member before.
// The member's bytes must hash to info.MemberSHA256 (else ErrDigestMismatch),
// so the parse is of the bytes read here, which the caller checks against
// the .deb's SHA256. Decompressing it again costs the pure-Go xz decoder
// its whole declared dictionary (8 MiB or more) however small the member.
func (d *DebReader) SkipControl(info *ControlInfo) error {
	if d.control != nil {
		return fmt.Errorf("%s: SkipControl after Control", d.name)
	}
	m, err := d.nextMember()
	if err == io.EOF {
		return fmt.Errorf("%s: no control.tar member (the archive ends after debian-binary): %w", d.name, ErrBadDeb)
	}
	if err != nil {
		return err
	}
	if !strings.HasPrefix(m, "control.tar") {
		return fmt.Errorf("%s: expected control.tar, found member %q: %w", d.name, m, ErrBadDeb)
	}
	h := sha256.New()
	if _, err := io.Copy(h, d.ar); err != nil {
		return fmt.Errorf("%s: %s: %w", d.name, m, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); info.MemberSHA256 == "" || got != info.MemberSHA256 {
		return fmt.Errorf("%s: %s is sha256:%s, not the member parsed before (sha256:%s): %w", d.name, m, got, info.MemberSHA256, ErrDigestMismatch)
	}
	d.control = info
	return nil
}

// Control reads and parses control.tar. It may be called once, before Data.
func (d *DebReader) Control() (*ControlInfo, error) {
	if d.control != nil {
		return d.control, nil
	}
	m, err := d.nextMember()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: no control.tar member (the archive ends after debian-binary): %w", d.name, ErrBadDeb)
	}
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(m, "control.tar") {
		return nil, fmt.Errorf("%s: expected control.tar, found member %q: %w", d.name, m, ErrBadDeb)
	}
	// The member's bytes are hashed as they are read (the rest, which
	// the decompressor leaves, below): see SkipControl.
	h := sha256.New()
	zr, closer, err := decompressor(io.TeeReader(d.ar, h), strings.TrimPrefix(m, "control.tar"))
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", d.name, m, err)
	}
	defer closer.Close()
	info, err := readControlTar(io.LimitReader(zr, maxControlSize))
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", d.name, m, err)
	}
	if _, err := io.Copy(h, d.ar); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", d.name, m, err)
	}
	info.MemberSHA256 = hex.EncodeToString(h.Sum(nil))
	d.control = info
	return info, nil
}

func readControlTar(r io.Reader) (*ControlInfo, error) {
	tr := tar.NewReader(r)
	info := &ControlInfo{}
	var control []byte
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadDeb, err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		if name == "" || name == "." {
			continue
		}
		if h.Typeflag == tar.TypeDir {
			// dpkg: "package metadata contains directory"
			return nil, fmt.Errorf("%w: member %s is a directory", ErrBadDeb, name)
		}
		if h.Typeflag != tar.TypeReg || strings.Contains(name, "/") { // tar.Reader reports the old NUL type as TypeReg
			continue
		}
		if len(name) > maxControlName {
			return nil, fmt.Errorf("%w: member name %.50q... is longer than %d bytes", ErrBadDeb, name, maxControlName)
		}
		// dpkg installs every member as info/<pkg>.<name> except
		// "control" (parsed into the status file), names with a dot
		// (skipped), and "list": that name is dpkg's own record of the
		// package's files, so a member of that name is ignored with a
		// warning instead of hiding the files from dpkg.
		if name != "control" && (name == "list" || strings.Contains(name, ".")) {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("%w: member %s: %v", ErrBadDeb, name, err)
		}
		if name == "control" {
			control = data
			continue
		}
		info.Members = append(info.Members, ControlMember{Name: name, Mode: h.Mode & 0o7777, Data: data})
	}
	if control == nil {
		return nil, fmt.Errorf("no control file: %w", ErrBadDeb)
	}
	n := 0
	err := parseDpkgParagraphs(control, func(p apt.Paragraph) error {
		n++
		if n == 1 {
			info.Paragraph = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("control: %w: %v", ErrBadDeb, err)
	}
	if info.Paragraph.Get("Package") == "" {
		return nil, fmt.Errorf("control has no Package field: %w", ErrBadDeb)
	}
	sortMembers(info.Members)
	for _, line := range strings.Split(string(info.Member("conffiles")), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		// dpkg >= 1.20 allows flags before the path ("remove-on-upgrade /etc/x").
		if i := strings.LastIndexByte(line, ' '); i >= 0 {
			line = line[i+1:]
		}
		info.Conffiles = append(info.Conffiles, line)
	}
	return info, nil
}

func sortMembers(ms []ControlMember) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].Name < ms[j-1].Name; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

// Data returns a tar reader over data.tar. Control is read first if it was
// not. The reader is valid until Close.
func (d *DebReader) Data() (*tar.Reader, error) {
	if d.data {
		return nil, fmt.Errorf("%s: Data called twice", d.name)
	}
	if _, err := d.Control(); err != nil {
		return nil, err
	}
	m, err := d.nextMember()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: no data.tar member (the archive ends after control.tar): %w", d.name, ErrBadDeb)
	}
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(m, "data.tar") {
		return nil, fmt.Errorf("%s: expected data.tar, found member %q: %w", d.name, m, ErrBadDeb)
	}
	ext := strings.TrimPrefix(m, "data.tar")
	var zr io.Reader
	var closer io.Closer
	if ext == ".xz" && d.xzCommand != "" {
		var xp *xzcmd.Process
		if xp, err = xzcmd.Start(d.ctx, d.xzCommand, d.ar); err == nil {
			zr, closer = bufio.NewReaderSize(xzFailure{xp}, 256<<10), xp
		}
	} else {
		zr, closer, err = decompressor(d.ar, ext)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", d.name, m, err)
	}
	d.closer = closer
	d.data = true
	d.zr = zr
	d.member = m
	return tar.NewReader(zr), nil
}

// Verify reads what is left of data.tar after the tar end marker (padding
// and the compressed stream's trailer, where xz and gzip keep their
// checksums) and checks that nothing but ignorable members follows.
func (d *DebReader) Verify() error {
	if d.zr == nil {
		return fmt.Errorf("%s: Verify before Data", d.name)
	}
	if _, err := io.Copy(io.Discard, d.zr); err != nil {
		return fmt.Errorf("%s: %s: %w", d.name, d.member, err)
	}
	for {
		m, err := d.ar.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if !strings.HasPrefix(m, "_") {
			return fmt.Errorf("%s: unexpected member %q after data: %w", d.name, m, ErrBadDeb)
		}
	}
}

// Close releases decompressor state. It does not close the underlying reader.
func (d *DebReader) Close() error {
	if d.closer != nil {
		c := d.closer
		d.closer = nil
		return c.Close()
	}
	return nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

type funcCloser func()

func (f funcCloser) Close() error { f(); return nil }

// decompressor picks the decompressor for a member suffix. The xz reader is
// single-stream: a .deb member holds exactly one stream, and not looking for
// a next one avoids reading past the member's end.
func decompressor(r io.Reader, ext string) (io.Reader, io.Closer, error) {
	switch ext {
	case "":
		return r, nopCloser{}, nil
	case ".gz":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w: %v", ErrBadDeb, err)
		}
		zr.Multistream(false)
		return zr, zr, nil
	case ".xz":
		zr, err := xz.ReaderConfig{SingleStream: true}.NewReader(bufio.NewReaderSize(r, 64<<10))
		if err != nil {
			return nil, nil, fmt.Errorf("xz: %w: %v", ErrBadDeb, err)
		}
		return zr, nopCloser{}, nil
	case ".zst":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w: %v", ErrBadDeb, err)
		}
		return zr, funcCloser(zr.Close), nil
	case ".bz2":
		return bzip2.NewReader(r), nopCloser{}, nil
	}
	return nil, nil, fmt.Errorf("unsupported compression %q: %w", ext, ErrBadDeb)
}

// arReader reads the members of a System V / GNU ar archive sequentially.
type arReader struct {
	r       *bufio.Reader
	file    string
	member  string
	remain  int64 // bytes of the current member not yet read
	pad     bool  // a padding byte follows the current member
	started bool
}

const arMagic = "!<arch>\n"

func newArReader(r io.Reader, file string) (*arReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var magic [8]byte
	if _, err := io.ReadFull(br, magic[:]); err != nil {
		return nil, fmt.Errorf("%s: read ar magic: %w: %v", file, ErrBadDeb, err)
	}
	if string(magic[:]) != arMagic {
		return nil, fmt.Errorf("%s: bad ar magic %q: %w", file, magic[:], ErrBadDeb)
	}
	return &arReader{r: br, file: file}, nil
}

// Next skips what is left of the current member and reads the next header.
// It returns io.EOF at the end of the archive.
func (a *arReader) Next() (string, error) {
	if a.started {
		skip := a.remain
		if a.pad {
			skip++
		}
		if _, err := io.CopyN(io.Discard, a.r, skip); err != nil {
			if a.pad && skip == a.remain+1 && err == io.EOF {
				// A missing final padding byte is tolerated, as by dpkg.
				return "", io.EOF
			}
			return "", fmt.Errorf("%s: member %s: truncated: %w", a.file, a.member, ErrBadDeb)
		}
	}
	a.started = true
	var h [60]byte
	n, err := io.ReadFull(a.r, h[:])
	if err == io.EOF {
		a.remain, a.pad = 0, false
		return "", io.EOF
	}
	if err != nil {
		return "", fmt.Errorf("%s: ar header after %s: truncated (%d bytes): %w", a.file, a.member, n, ErrBadDeb)
	}
	if h[58] != '`' || h[59] != '\n' {
		return "", fmt.Errorf("%s: ar header after %s: bad terminator: %w", a.file, a.member, ErrBadDeb)
	}
	name := strings.TrimRight(string(h[0:16]), " ")
	name = strings.TrimSuffix(name, "/") // GNU ar
	size, err := strconv.ParseInt(strings.TrimRight(string(h[48:58]), " "), 10, 64)
	if err != nil || size < 0 {
		return "", fmt.Errorf("%s: member %q: bad size %q: %w", a.file, name, h[48:58], ErrBadDeb)
	}
	if name == "" {
		return "", fmt.Errorf("%s: member after %s has an empty name: %w", a.file, a.member, ErrBadDeb)
	}
	a.member, a.remain, a.pad = name, size, size%2 == 1
	return name, nil
}

// Read reads from the current member; a short member is an error naming it.
func (a *arReader) Read(p []byte) (int, error) {
	if a.remain <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > a.remain {
		p = p[:a.remain]
	}
	n, err := a.r.Read(p)
	a.remain -= int64(n)
	if err == io.EOF {
		if a.remain > 0 {
			return n, fmt.Errorf("%s: member %s: truncated, %d bytes missing: %w", a.file, a.member, a.remain, ErrBadDeb)
		}
		err = nil
	}
	return n, err
}

// xzFailure marks a failing external xz (a corrupt data.tar.xz) as a bad
// .deb; a cancelled context stays the context's error.
type xzFailure struct{ r io.Reader }

func (x xzFailure) Read(p []byte) (int, error) {
	n, err := x.r.Read(p)
	if err != nil && errors.Is(err, xzcmd.ErrFailed) {
		err = fmt.Errorf("%w: %w", ErrBadDeb, err)
	}
	return n, err
}
