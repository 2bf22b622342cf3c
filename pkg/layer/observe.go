package layer

import (
	"archive/tar"
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/pgassemble/pgassemble/internal/atomicfile"
)

// The replay observes every package entry as the layer is written. A cache
// hit must feed it the same observations without the .debs and without
// decompressing the layer, so conversion records them in a sidecar file
// (<key>.observe): every observed header, and the byte ranges of bodies the
// replay actually read. Bodies are offered as io.Reader + io.ReaderAt, so
// a replay that only needs an ELF header reads (and we record) a few KiB.
// If a stage's recorded bytes exceed maxObserveCapture, no sidecar is kept
// and a hit falls back to reading the cached layer.
const maxObserveCapture = 32 << 20

type obsRange struct {
	Off  int64
	Data []byte
}

type obsRecord struct {
	Pkg      string
	Name     string
	Typeflag byte
	Mode     int64
	Uid, Gid int
	Size     int64
	Linkname string
	ModTime  int64
	HasBody  bool
	Ranges   []obsRange
}

func (r *obsRecord) header() *tar.Header {
	return &tar.Header{Name: r.Name, Typeflag: r.Typeflag, Mode: r.Mode, Uid: r.Uid, Gid: r.Gid,
		Size: r.Size, Linkname: r.Linkname, ModTime: time.Unix(r.ModTime, 0).UTC()}
}

// captureReader serves a body and records what was read.
type captureReader struct {
	ra     io.ReaderAt
	size   int64
	pos    int64
	ranges []obsRange
	budget *int64 // shared by a stage; negative once exceeded
}

func (c *captureReader) Size() int64 { return c.size }

func (c *captureReader) Read(p []byte) (int, error) {
	if c.pos >= c.size {
		return 0, io.EOF
	}
	if int64(len(p)) > c.size-c.pos {
		p = p[:c.size-c.pos]
	}
	n, err := c.ra.ReadAt(p, c.pos)
	c.record(c.pos, p[:n])
	c.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (c *captureReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= c.size {
		return 0, io.EOF
	}
	q := p
	if int64(len(q)) > c.size-off {
		q = q[:c.size-off]
	}
	n, err := c.ra.ReadAt(q, off)
	c.record(off, q[:n])
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

func (c *captureReader) record(off int64, b []byte) {
	if len(b) == 0 || *c.budget < 0 {
		return
	}
	*c.budget -= int64(len(b))
	if *c.budget < 0 {
		c.ranges = nil
		return
	}
	if n := len(c.ranges); n > 0 && c.ranges[n-1].Off+int64(len(c.ranges[n-1].Data)) == off {
		c.ranges[n-1].Data = append(c.ranges[n-1].Data, b...)
		return
	}
	c.ranges = append(c.ranges, obsRange{Off: off, Data: append([]byte(nil), b...)})
}

// sparseReader serves recorded ranges of a body.
type sparseReader struct {
	name   string
	size   int64
	pos    int64
	ranges []obsRange // sorted by Off, merged
}

var errNotRecorded = errors.New("replay read bytes it did not read when the layer was converted")

func newSparseReader(name string, size int64, rs []obsRange) *sparseReader {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Off < rs[j].Off })
	var merged []obsRange
	for _, r := range rs {
		if n := len(merged); n > 0 {
			last := &merged[n-1]
			end := last.Off + int64(len(last.Data))
			if r.Off <= end {
				if rEnd := r.Off + int64(len(r.Data)); rEnd > end {
					last.Data = append(last.Data, r.Data[end-r.Off:]...)
				}
				continue
			}
		}
		merged = append(merged, r)
	}
	return &sparseReader{name: name, size: size, ranges: merged}
}

func (s *sparseReader) Size() int64 { return s.size }

func (s *sparseReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	want := len(p)
	var eof error
	if int64(want) > s.size-off {
		want, eof = int(s.size-off), io.EOF
	}
	i := sort.Search(len(s.ranges), func(i int) bool { return s.ranges[i].Off+int64(len(s.ranges[i].Data)) > off })
	if i == len(s.ranges) || s.ranges[i].Off > off {
		return 0, fmt.Errorf("%s at %d: %w", s.name, off, errNotRecorded)
	}
	r := s.ranges[i]
	n := copy(p[:want], r.Data[off-r.Off:])
	if n < want {
		return n, fmt.Errorf("%s at %d: %w", s.name, off+int64(n), errNotRecorded)
	}
	return n, eof
}

func (s *sparseReader) Read(p []byte) (int, error) {
	if s.pos >= s.size {
		return 0, io.EOF
	}
	n, err := s.ReadAt(p, s.pos)
	s.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// obsWriter writes the sidecar while the layer is written.
type obsWriter struct {
	f      *atomicfile.File
	bw     *bufio.Writer
	enc    *gob.Encoder
	budget int64
}

func newObsWriter(dir string) (*obsWriter, error) {
	f, err := atomicfile.Create("", atomicfile.InDir(dir))
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	return &obsWriter{f: f, bw: bw, enc: gob.NewEncoder(bw), budget: maxObserveCapture}, nil
}

func (o *obsWriter) write(pkg string, h *tar.Header, c *captureReader) error {
	rec := obsRecord{Pkg: pkg, Name: h.Name, Typeflag: h.Typeflag, Mode: h.Mode, Uid: h.Uid, Gid: h.Gid,
		Size: h.Size, Linkname: h.Linkname, ModTime: h.ModTime.Unix()}
	if c != nil {
		rec.HasBody, rec.Ranges = true, c.ranges
	}
	return o.enc.Encode(&rec)
}

// finish keeps the sidecar at dst if it is complete.
func (o *obsWriter) finish(dst string) error {
	defer o.f.Abort() // nothing once committed
	if err := o.bw.Flush(); err != nil {
		return err
	}
	if o.budget < 0 {
		return nil
	}
	return o.f.CommitAs(dst)
}

func (o *obsWriter) abort() {
	o.f.Abort()
}

// replayObservations feeds a sidecar to the replay. ok is false when there
// is no sidecar.
func (b *Builder) replayObservations(p string) (ok bool, err error) {
	f, err := os.Open(p)
	if err != nil {
		return false, nil
	}
	defer f.Close()
	dec := gob.NewDecoder(bufio.NewReaderSize(f, 256<<10))
	for {
		var rec obsRecord
		if err := dec.Decode(&rec); err == io.EOF {
			return true, nil
		} else if err != nil {
			return true, fmt.Errorf("read %s: %w", p, err)
		}
		var r io.Reader
		if rec.HasBody {
			r = newSparseReader(rec.Name, rec.Size, rec.Ranges)
		}
		if err := b.rp.Observe(rec.Pkg, rec.header(), r); err != nil {
			return true, fmt.Errorf("replay observe %s %s: %w", rec.Pkg, rec.Name, err)
		}
	}
}
