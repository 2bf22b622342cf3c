package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/pgassemble/pgassemble/internal/debtest"
	"github.com/pgassemble/pgassemble/pkg/layer"
)

// TestRepack: the repacked .deb says the suffixed version, exact relations
// to the other republished packages follow (others stay), its control
// members other than control and its data member are Debian's bytes, and
// the same input gives the same bytes.
func TestRepack(t *testing.T) {
	for _, comp := range []string{"xz", "zst", "gz"} {
		t.Run(comp, func(t *testing.T) {
			d := debtest.Deb{
				Control: debtest.Control("Package", "postgresql-17-x", "Version", "1.0-1+b1", "Architecture", "amd64",
					"Source", "x (1.0-1)",
					"Depends", "postgresql-17 (= 17.12-0+deb13u1), libc6 (>= 2.38), other (= 2)",
					"Description", "x\n second line"),
				Files:              []debtest.File{{Path: "/usr/share/x/x.control", Body: "comment = 'x'\n"}},
				Scripts:            map[string]string{"postinst": "#!/bin/sh\nexit 0\n"},
				ControlCompression: comp,
			}
			dir := t.TempDir()
			src := filepath.Join(dir, "in.deb")
			if err := os.WriteFile(src, d.MustBytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			renamed := map[string]string{"postgresql-17": "17.12-0+deb13u1", "other": "3"}
			out := filepath.Join(dir, "out.deb")
			para, err := repack(src, out, ".pgdg13+1", renamed)
			if err != nil {
				t.Fatal(err)
			}
			for field, want := range map[string]string{
				"Version": "1.0-1+b1.pgdg13+1",
				"Source":  "x (1.0-1.pgdg13+1)",
				"Depends": "postgresql-17 (= 17.12-0+deb13u1.pgdg13+1), libc6 (>= 2.38), other (= 2)",
			} {
				if got := para.Get(field); got != want {
					t.Errorf("%s: %q, want %q", field, got, want)
				}
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r, err := layer.OpenDeb(f, out)
			if err != nil {
				t.Fatal(err)
			}
			ci, err := r.Control()
			if err != nil {
				t.Fatal(err)
			}
			if ci.Paragraph.Get("Version") != "1.0-1+b1.pgdg13+1" || ci.Paragraph.Get("Description") != d.Control.Get("Description") {
				t.Errorf("control in the repacked .deb: %v", ci.Paragraph)
			}
			if string(ci.Member("postinst")) != d.Scripts["postinst"] {
				t.Errorf("postinst changed: %q", ci.Member("postinst"))
			}
			in, _ := os.ReadFile(src)
			got, _ := os.ReadFile(out)
			min, _ := readAr(in)
			mout, err := readAr(got)
			if err != nil {
				t.Fatal(err)
			}
			if len(min) != 3 || len(mout) != 3 || !bytes.Equal(min[2].data, mout[2].data) || min[2].name != mout[2].name {
				t.Errorf("data member not copied as is")
			}
			again := filepath.Join(dir, "again.deb")
			if _, err := repack(src, again, ".pgdg13+1", renamed); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(again); !bytes.Equal(b, got) {
				t.Errorf("two repacks of the same .deb differ")
			}
		})
	}
}
