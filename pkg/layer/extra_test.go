package layer

import (
	"context"
	"errors"
	"testing"
)

func TestAddFile(t *testing.T) {
	b := newTestBuilder(t, makeBase(t, baseSpec{mergedUsr: true, dirs: []string{"etc/apt/sources.list.d"}}), Options{})
	for _, bad := range []string{"", "/etc/x", "../etc/x", "etc/../../x"} {
		if err := b.AddFile(File{Path: bad, Data: []byte("x")}); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("AddFile(%q): %v, want ErrUnsafePath", bad, err)
		}
	}
	if err := b.AddFile(File{Path: "etc/apt/sources.list.d/x.sources", Data: []byte("Types: deb\n")}); err != nil {
		t.Fatal(err)
	}
	l, err := b.Finish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e, ok := byName(readLayer(t, l))["etc/apt/sources.list.d/x.sources"]
	if !ok || e.Body != "Types: deb\n" || e.Mode != 0o644 || e.Uid != 0 {
		t.Errorf("state layer entry %+v (present %v), want the file, 0644, root", e, ok)
	}
	if err := b.AddFile(File{Path: "etc/y", Data: nil}); err == nil {
		t.Error("AddFile after Finish accepted")
	}
}
