package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgassemble/pgassemble/internal/debtest"
)

func arMember(name string, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", name, 0, 0, 0, "100644", len(body))
	b.Write(body)
	if len(body)%2 == 1 {
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// splitAr returns the members of an ar archive made by debtest.
func splitAr(t testing.TB, deb []byte) map[string][]byte {
	r, err := newArReader(bytes.NewReader(deb), "t")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for {
		n, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[n], _ = io.ReadAll(r)
	}
}

func readAll(t testing.TB, deb []byte, opts ...DebOption) (*ControlInfo, []string, error) {
	dr, err := OpenDeb(bytes.NewReader(deb), "test.deb", opts...)
	if err != nil {
		return nil, nil, err
	}
	defer dr.Close()
	ci, err := dr.Control()
	if err != nil {
		return nil, nil, err
	}
	tr, err := dr.Data()
	if err != nil {
		return ci, nil, err
	}
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return ci, names, dr.Verify()
		}
		if err != nil {
			return ci, names, err
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return ci, names, err
		}
		names = append(names, fmt.Sprintf("%s=%s", h.Name, b))
	}
}

func TestOpenDebCompressions(t *testing.T) {
	for _, c := range []string{"xz", "gz", "zst", "none"} {
		t.Run(c, func(t *testing.T) {
			d := pkgDeb("c", debtest.File{Path: "/usr/bin/c", Body: "hello"})
			d.DataCompression, d.ControlCompression = c, c
			d.Scripts = map[string]string{"postinst": "#!/bin/sh\n", "conffiles": "remove-on-upgrade /etc/old\n/etc/c.conf\n"}
			ci, names, err := readAll(t, d.MustBytes())
			if err != nil {
				t.Fatal(err)
			}
			if ci.Paragraph.Get("Package") != "c" || string(ci.Member("postinst")) != "#!/bin/sh\n" {
				t.Errorf("control %+v", ci)
			}
			if strings.Join(ci.Conffiles, ",") != "/etc/old,/etc/c.conf" {
				t.Errorf("conffiles %q", ci.Conffiles)
			}
			if !strings.Contains(strings.Join(names, " "), "./usr/bin/c=hello") {
				t.Errorf("data %v", names)
			}
		})
	}
	t.Run("bz2", func(t *testing.T) {
		bz, err := exec.LookPath("bzip2")
		if err != nil {
			t.Skipf("bzip2 not installed (%v): needed to make a data.tar.bz2", err)
		}
		d := pkgDeb("c", debtest.File{Path: "/usr/bin/c", Body: "hello"})
		d.DataCompression = "none"
		m := splitAr(t, d.MustBytes())
		cmd := exec.Command(bz, "-c")
		cmd.Stdin = bytes.NewReader(m["data.tar"])
		data, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		raw := append([]byte(arMagic), arMember("debian-binary", []byte("2.0\n"))...)
		raw = append(raw, arMember("control.tar.xz", m["control.tar.xz"])...)
		raw = append(raw, arMember("_extra", []byte("ignored"))...)
		raw = append(raw, arMember("data.tar.bz2", data)...)
		if _, names, err := readAll(t, raw); err != nil || !strings.Contains(strings.Join(names, " "), "./usr/bin/c=hello") {
			t.Errorf("bz2: %v %v", names, err)
		}
	})
}

func TestOpenDebErrors(t *testing.T) {
	good := pkgDeb("g", debtest.File{Path: "/x", Body: "x"}).MustBytes()
	m := splitAr(t, good)
	withMembers := func(ms ...[]byte) []byte {
		return append([]byte(arMagic), bytes.Join(ms, nil)...)
	}
	tests := []struct {
		name string
		deb  []byte
		want string
	}{
		{"bad magic", append([]byte("!<arXh>\n"), good[8:]...), "bad ar magic"},
		{"empty", nil, "ar magic"},
		{"truncated header", good[:30], "truncated"},
		{"truncated control", good[:8+60+4+60+10], "control.tar.xz"},
		{"truncated data", good[:len(good)-20], "data.tar.xz"},
		{"bad size", withMembers([]byte(fmt.Sprintf("%-16s%-12d%-6d%-6d%-8s%-10s`\n2.0\n", "debian-binary", 0, 0, 0, "100644", "4x"))), "bad size"},
		{"bad terminator", withMembers([]byte(strings.Replace(string(arMember("debian-binary", []byte("2.0\n"))), "`\n", "'\n", 1))), "bad terminator"},
		{"not debian-binary", withMembers(arMember("control.tar.xz", m["control.tar.xz"])), "not debian-binary"},
		{"version 3", withMembers(arMember("debian-binary", []byte("3.0\n"))), "unsupported format"},
		{"data before control", withMembers(arMember("debian-binary", []byte("2.0\n")), arMember("data.tar.xz", m["data.tar.xz"])), "expected control.tar"},
		{"unknown compression", withMembers(arMember("debian-binary", []byte("2.0\n")), arMember("control.tar.lz4", m["control.tar.xz"])), "unsupported compression"},
		{"no data", withMembers(arMember("debian-binary", []byte("2.0\n")), arMember("control.tar.xz", m["control.tar.xz"])), "no data.tar member"},
		{"no control", withMembers(arMember("debian-binary", []byte("2.0\n"))), "no control.tar member"},
		{"no member", withMembers(), "no debian-binary member"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := readAll(t, tt.deb)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if !errors.Is(err, ErrBadDeb) || !strings.Contains(err.Error(), "test.deb") || err.Error() == "EOF" {
				t.Errorf("error %q is not an ErrBadDeb naming the file", err)
			}
		})
	}
}

func FuzzArReader(f *testing.F) {
	f.Add(pkgDeb("f", debtest.File{Path: "/a", Body: "b"}).MustBytes())
	d := pkgDeb("g", debtest.File{Path: "/a", Body: "b"}, debtest.File{Path: "/l", Type: tar.TypeSymlink, Linkname: "a"})
	d.DataCompression, d.ControlCompression = "gz", "none"
	f.Add(d.MustBytes())
	f.Add([]byte(arMagic))
	f.Add([]byte(arMagic + "debian-binary   0           0     0     100644  4         `\n2.0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dr, err := OpenDeb(bytes.NewReader(data), "fuzz.deb")
		if err != nil {
			return
		}
		defer dr.Close()
		if _, err := dr.Control(); err != nil {
			return
		}
		tr, err := dr.Data()
		if err != nil {
			return
		}
		for i := 0; i < 1000; i++ {
			if _, err := tr.Next(); err != nil {
				return
			}
			io.Copy(io.Discard, io.LimitReader(tr, 1<<20))
		}
	})
}

// SkipControl passes over control.tar (taking the caller's parse of it)
// and Data then reads data.tar as after Control.
func TestSkipControl(t *testing.T) {
	d := pkgDeb("c", debtest.File{Path: "/usr/bin/c", Body: "hello"})
	raw := d.MustBytes()
	dr, err := OpenDeb(bytes.NewReader(raw), "c.deb")
	if err != nil {
		t.Fatal(err)
	}
	want, err := dr.Control()
	if err != nil {
		t.Fatal(err)
	}
	dr, err = OpenDeb(bytes.NewReader(raw), "c.deb")
	if err != nil {
		t.Fatal(err)
	}
	if err := dr.SkipControl(want); err != nil {
		t.Fatal(err)
	}
	if ci, err := dr.Control(); err != nil || ci != want {
		t.Errorf("Control after SkipControl = %p, %v; want the info given", ci, err)
	}
	tr, err := dr.Data()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	if err := dr.Verify(); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names, "./usr/bin/c") {
		t.Errorf("data members %v", names)
	}
	if err := dr.SkipControl(want); err == nil {
		t.Error("SkipControl after Data accepted")
	}
}

// SkipControl takes a parse only of the very control.tar it passes over:
// a parse of another one (the file changed since it was parsed, or the
// parse is not this file's) is refused, not used for a .deb whose SHA256
// then checks.
func TestSkipControlRefusesAnotherParse(t *testing.T) {
	a := pkgDeb("c", debtest.File{Path: "/usr/bin/c", Body: "hello"})
	b := a
	b.Scripts = map[string]string{"postinst": "#!/bin/sh\necho other\n"}
	dr, err := OpenDeb(bytes.NewReader(a.MustBytes()), "a.deb")
	if err != nil {
		t.Fatal(err)
	}
	info, err := dr.Control()
	if err != nil {
		t.Fatal(err)
	}
	dr, err = OpenDeb(bytes.NewReader(b.MustBytes()), "b.deb")
	if err != nil {
		t.Fatal(err)
	}
	if err := dr.SkipControl(info); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("SkipControl with another .deb's parse: %v, want ErrDigestMismatch", err)
	}
}

// TestOpenDebExternalXZ: data.tar.xz through a system xz reads the same
// files; a failing xz is a bad .deb (ErrBadDeb, its stderr quoted), not a
// short data.tar; a cancelled context kills an xz that never answers.
func TestOpenDebExternalXZ(t *testing.T) {
	d := pkgDeb("c", debtest.File{Path: "/usr/bin/c", Body: "hello"})
	d.DataCompression = "xz"
	raw := d.MustBytes()
	fake := func(body string) string {
		p := filepath.Join(t.TempDir(), "xz")
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	read := func(ctx context.Context, xzPath string) ([]string, error) {
		_, names, err := readAll(t, raw, WithXZCommand(xzPath), WithContext(ctx))
		return names, err
	}
	if xzPath, err := exec.LookPath("xz"); err == nil {
		names, err := read(context.Background(), xzPath)
		if err != nil || !strings.Contains(strings.Join(names, " "), "./usr/bin/c=hello") {
			t.Errorf("system xz: %v, %v", names, err)
		}
	} else {
		t.Logf("xz not installed (%v): only the failure cases run", err)
	}
	_, err := read(context.Background(), fake("cat >/dev/null\necho 'xz: (stdin): Compressed data is corrupt' >&2\nexit 1\n"))
	if !errors.Is(err, ErrBadDeb) || !strings.Contains(err.Error(), "Compressed data is corrupt") {
		t.Errorf("failing xz: %v, want ErrBadDeb quoting its stderr", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := read(ctx, fake("exec sleep 120\n")); done <- err }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrBadDeb) {
			t.Errorf("cancelled: %v, want context.Canceled and not a bad .deb", err)
		}
	case <-time.After(60 * time.Second): // far below the script's 120 s
		t.Fatal("still reading data.tar a minute after the context was cancelled")
	}
}
