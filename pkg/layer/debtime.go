package layer

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// DebTime returns the modification time dpkg-deb recorded in the ar header
// of a .deb's data.tar member: the package's build time (SOURCE_DATE_EPOCH
// of its changelog on Debian's builders). Only the ar headers are read —
// nothing is decompressed — so dating an install set costs a few reads per
// file. A zero time means the header says 0 (some tools write that).
func DebTime(r io.ReaderAt, name string) (time.Time, error) {
	var magic [8]byte
	if _, err := r.ReadAt(magic[:], 0); err != nil {
		return time.Time{}, fmt.Errorf("%s: read ar magic: %w: %v", name, ErrBadDeb, err)
	}
	if string(magic[:]) != arMagic {
		return time.Time{}, fmt.Errorf("%s: bad ar magic %q: %w", name, magic[:], ErrBadDeb)
	}
	off := int64(len(arMagic))
	for i := 0; i < 8; i++ { // debian-binary, control.tar, data.tar; a few extra members at most
		var h [60]byte
		if n, err := r.ReadAt(h[:], off); n < len(h) {
			return time.Time{}, fmt.Errorf("%s: no data.tar member (ar header at %d: %v): %w", name, off, err, ErrBadDeb)
		}
		if h[58] != '`' || h[59] != '\n' {
			return time.Time{}, fmt.Errorf("%s: ar header at %d: bad terminator: %w", name, off, ErrBadDeb)
		}
		member := strings.TrimSuffix(strings.TrimRight(string(h[0:16]), " "), "/")
		size, err := strconv.ParseInt(strings.TrimRight(string(h[48:58]), " "), 10, 64)
		if err != nil || size < 0 {
			return time.Time{}, fmt.Errorf("%s: member %q: bad size %q: %w", name, member, h[48:58], ErrBadDeb)
		}
		if strings.HasPrefix(member, "data.tar") {
			field := strings.TrimRight(string(h[16:28]), " ")
			secs, err := strconv.ParseInt(field, 10, 64)
			if err != nil || secs < 0 {
				return time.Time{}, fmt.Errorf("%s: member %s: bad mtime %q: %w", name, member, field, ErrBadDeb)
			}
			if secs == 0 {
				return time.Time{}, nil
			}
			return time.Unix(secs, 0).UTC(), nil
		}
		off += 60 + size + size%2
	}
	return time.Time{}, fmt.Errorf("%s: no data.tar member among the first 8: %w", name, ErrBadDeb)
}

// AdvanceEpoch raises the mtime clamp for the stages added from now on and
// for Finish; an earlier time is ignored, so clamps only grow along the
// stages. A caller that derives the epoch from the inputs (the newest
// package of each stage, see DebTime) passes each stage's cumulative epoch
// before AddStage: a stage's layer then depends only on the stages up to
// it, and images sharing a prefix of stages share its layers.
func (b *Builder) AdvanceEpoch(t time.Time) {
	t = t.UTC().Truncate(time.Second)
	if t.After(b.epoch) {
		b.epoch = t
	}
}

// Epoch is the current mtime clamp.
func (b *Builder) Epoch() time.Time { return b.epoch }
