package layer

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/pgassemble/pgassemble/internal/debtest"
)

func TestDebTime(t *testing.T) {
	built := time.Date(2026, 10, 3, 4, 5, 6, 0, time.UTC)
	dated := pkgDeb("dated", debtest.File{Path: "/usr/share/dated/x", Body: "x"})
	dated.Time = built
	good := dated.MustBytes()
	noData := []byte("!<arch>\n" + "debian-binary   0           0     0     100644  4         `\n2.0\n")
	tests := []struct {
		name string
		data []byte
		want time.Time
		err  error
	}{
		{"recorded build time", good, built, nil},
		{"zero time", pkgDeb("undated").MustBytes(), time.Time{}, nil},
		{"not ar", []byte("PK\x03\x04 not a deb at all"), time.Time{}, ErrBadDeb},
		{"no data member", noData, time.Time{}, ErrBadDeb},
		{"truncated header", good[:70], time.Time{}, ErrBadDeb},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DebTime(bytes.NewReader(tc.data), tc.name)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if !got.Equal(tc.want) {
				t.Errorf("time %v, want %v", got, tc.want)
			}
		})
	}
}

// TestAdvanceEpoch: each stage is dated by the clamp in force when it is
// added, a later clamp never moves backwards, and file times newer than the
// clamp are clamped.
func TestAdvanceEpoch(t *testing.T) {
	e1 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	e2 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	future := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	b := newTestBuilder(t, makeBase(t, baseSpec{mergedUsr: true}), Options{Epoch: e1})
	first := addStage(t, b, writeDebs(t, pkgDeb("one", debtest.File{Path: "/usr/share/one/f", Body: "1", ModTime: future})))
	b.AdvanceEpoch(e2)
	b.AdvanceEpoch(e1) // ignored
	if !b.Epoch().Equal(e2) {
		t.Fatalf("epoch %v after advancing to %v then back", b.Epoch(), e2)
	}
	second := addStage(t, b, writeDebs(t, pkgDeb("two", debtest.File{Path: "/usr/share/two/f", Body: "2", ModTime: future})))
	for _, tc := range []struct {
		layer []entry
		path  string
		want  time.Time
	}{
		{readLayer(t, first), "usr/share/one/f", e1},
		{readLayer(t, second), "usr/share/two/f", e2},
	} {
		e, ok := byName(tc.layer)[tc.path]
		if !ok {
			t.Fatalf("%s missing", tc.path)
		}
		if !e.hdr.ModTime.Equal(tc.want) {
			t.Errorf("%s: mtime %v, want the clamp %v", tc.path, e.hdr.ModTime, tc.want)
		}
	}
}
