package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/pgassemble/pgassemble/pkg/apt"
)

// PGDG builds Debian's source packages again with a version suffix
// (".pgdg13+1" for trixie), so its packages are newer than Debian's own and
// apt takes them from PGDG. The mirror does the same to Debian's binaries
// without building them: the control file gets the suffixed version (and
// exact "(= version)" relations between the republished packages follow),
// data.tar is copied byte for byte, so every installed file and its md5sum
// stay Debian's.

// member is one ar member of a .deb.
type member struct {
	name string
	data []byte
}

// readAr reads the members of a .deb (System V ar, as dpkg-deb writes it).
func readAr(b []byte) ([]member, error) {
	const magic = "!<arch>\n"
	if !bytes.HasPrefix(b, []byte(magic)) {
		return nil, fmt.Errorf("not an ar archive")
	}
	var out []member
	for off := len(magic); off < len(b); {
		if off+60 > len(b) {
			return nil, fmt.Errorf("truncated ar header at %d", off)
		}
		h := b[off : off+60]
		name := strings.TrimSuffix(strings.TrimSpace(string(h[0:16])), "/")
		size, err := strconv.Atoi(strings.TrimSpace(string(h[48:58])))
		if err != nil || size < 0 || off+60+size > len(b) {
			return nil, fmt.Errorf("bad ar member size at %d", off)
		}
		out = append(out, member{name, b[off+60 : off+60+size]})
		off += 60 + size + size%2
	}
	return out, nil
}

// writeAr writes members as dpkg-deb does: zero dates, root, mode 100644.
func writeAr(w io.Writer, ms []member) error {
	var b bytes.Buffer
	b.WriteString("!<arch>\n")
	for _, m := range ms {
		fmt.Fprintf(&b, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m.name, 0, 0, 0, "100644", len(m.data))
		b.Write(m.data)
		if len(m.data)%2 == 1 {
			b.WriteByte('\n')
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

func decompress(name string, data []byte) ([]byte, error) {
	r := bytes.NewReader(data)
	switch {
	case strings.HasSuffix(name, ".gz"):
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	case strings.HasSuffix(name, ".xz"):
		zr, err := xz.NewReader(bufio.NewReader(r))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	case strings.HasSuffix(name, ".zst"):
		zr, err := zstd.NewReader(r)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		return io.ReadAll(zr)
	case strings.HasSuffix(name, ".tar"):
		return data, nil
	}
	return nil, fmt.Errorf("unsupported member %s", name)
}

// relRE matches one relation's version constraint "name[:arch] (= version)".
var relRE = regexp.MustCompile(`([a-z0-9][a-z0-9+.-]*)(:[a-z0-9-]+)? *\(\s*=\s*([^)\s]+)\s*\)`)

// rewriteControl sets the suffixed version and makes exact relations to
// the other republished packages (renamed: name -> old version) follow.
func rewriteControl(para apt.Paragraph, suffix string, renamed map[string]string) apt.Paragraph {
	para = append(apt.Paragraph(nil), para...)
	para.Set("Version", para.Get("Version")+suffix)
	if src := para.Get("Source"); strings.Contains(src, "(") {
		name, ver, _ := strings.Cut(src, "(")
		para.Set("Source", strings.TrimSpace(name)+" ("+strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(ver), ")"))+suffix+")")
	}
	for _, field := range []string{"Pre-Depends", "Depends", "Recommends", "Suggests", "Breaks", "Conflicts", "Replaces", "Provides", "Enhances"} {
		v := para.Get(field)
		if v == "" {
			continue
		}
		para.Set(field, relRE.ReplaceAllStringFunc(v, func(m string) string {
			s := relRE.FindStringSubmatch(m)
			if old, ok := renamed[s[1]]; ok && old == s[3] {
				return s[1] + s[2] + " (= " + s[3] + suffix + ")"
			}
			return m
		}))
	}
	return para
}

// repack writes the .deb at src to dst with its control file rewritten by
// rewriteControl, and returns the new control paragraph.
func repack(src, dst, suffix string, renamed map[string]string) (apt.Paragraph, error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return nil, err
	}
	ms, err := readAr(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	var para apt.Paragraph
	for i, m := range ms {
		if !strings.HasPrefix(m.name, "control.tar") {
			continue
		}
		raw, err := decompress(m.name, m.data)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", src, m.name, err)
		}
		var out bytes.Buffer
		tr, tw := tar.NewReader(bytes.NewReader(raw)), tar.NewWriter(&out)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", src, m.name, err)
			}
			body, err := io.ReadAll(tr)
			if err != nil {
				return nil, err
			}
			if strings.TrimPrefix(h.Name, "./") == "control" {
				err := apt.ParseParagraphs(bytes.NewReader(body), func(p apt.Paragraph) error {
					if para == nil {
						para = p
					}
					return nil
				})
				if err != nil || para == nil {
					return nil, fmt.Errorf("%s: control: %v", src, err)
				}
				para = rewriteControl(para, suffix, renamed)
				var nb bytes.Buffer
				if _, err := para.WriteTo(&nb); err != nil {
					return nil, err
				}
				body = nb.Bytes()
				h.Size = int64(len(body))
			}
			if err := tw.WriteHeader(h); err != nil {
				return nil, err
			}
			if _, err := tw.Write(body); err != nil {
				return nil, err
			}
		}
		if err := tw.Close(); err != nil {
			return nil, err
		}
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		zw.Write(out.Bytes())
		if err := zw.Close(); err != nil {
			return nil, err
		}
		ms[i] = member{"control.tar.gz", gz.Bytes()}
	}
	if para == nil {
		return nil, fmt.Errorf("%s: no control file", src)
	}
	f, err := os.Create(dst)
	if err != nil {
		return nil, err
	}
	if err := writeAr(f, ms); err != nil {
		f.Close()
		return nil, err
	}
	return para, f.Close()
}
