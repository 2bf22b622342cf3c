package apt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unsafe"
)

// Field is one field of a deb822 paragraph. Value keeps continuation lines
// joined by "\n" exactly as they appeared (leading space included), so a
// paragraph can be written back byte for byte.
type Field struct {
	Name  string
	Value string
}

// Paragraph is one deb822 stanza with its fields in file order.
type Paragraph []Field

// Get returns the value of the named field (case-insensitive), or "".
func (p Paragraph) Get(name string) string {
	for i := range p {
		if strings.EqualFold(p[i].Name, name) {
			return p[i].Value
		}
	}
	return ""
}

// Has reports whether the paragraph has the named field.
func (p Paragraph) Has(name string) bool {
	for i := range p {
		if strings.EqualFold(p[i].Name, name) {
			return true
		}
	}
	return false
}

// Set replaces the named field's value, or appends the field.
func (p *Paragraph) Set(name, value string) {
	for i := range *p {
		if strings.EqualFold((*p)[i].Name, name) {
			(*p)[i].Value = value
			return
		}
	}
	*p = append(*p, Field{Name: name, Value: value})
}

// Delete removes the named field if present.
func (p *Paragraph) Delete(name string) {
	out := (*p)[:0]
	for _, f := range *p {
		if !strings.EqualFold(f.Name, name) {
			out = append(out, f)
		}
	}
	*p = out
}

// WriteTo writes the paragraph in deb822 form, without the blank separator line.
func (p Paragraph) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	for _, f := range p {
		b.WriteString(f.Name)
		b.WriteByte(':')
		if f.Value != "" && f.Value[0] != '\n' {
			b.WriteByte(' ')
		}
		b.WriteString(f.Value)
		b.WriteByte('\n')
	}
	n, err := w.Write(b.Bytes())
	return int64(n), err
}

// ParseParagraphs reads deb822 paragraphs from r and calls fn for each.
// Comment lines (starting with '#') are skipped. A paragraph slice passed to
// fn is not reused by the parser. Field names and first-line values are
// trimmed of ASCII white space; a line holding only white space ends a
// paragraph.
//
// It reads r in large blocks and converts each paragraph to a string once:
// every Field name and value is a substring of that string, so a paragraph
// costs two allocations however many fields it has. (A line-by-line
// bufio.Scanner version spent most of its time allocating.)
//
// A line longer than MaxLineSize or a paragraph longer than
// MaxParagraphSize is an error (ErrTooLarge), found after reading at most
// that much more: a hostile index cannot make the parser hold a huge line.
func ParseParagraphs(r io.Reader, fn func(Paragraph) error) error {
	return parseParagraphs(r, true, fn)
}

// parseParagraphs is ParseParagraphs; without own, the paragraph passed to
// fn is the parser's scratch space, valid only until fn returns (for
// callers that copy what they keep: one allocation less per stanza).
func parseParagraphs(r io.Reader, own bool, fn func(Paragraph) error) error {
	sc := paragraphScanner{r: r, buf: make([]byte, 256*1024), share: !own}
	for {
		text, line, err := sc.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p, err := sc.parse(text, line)
		if err != nil {
			return err
		}
		if p == nil {
			continue
		}
		if err := fn(p); err != nil {
			return err
		}
	}
}

// Bounds of ParseParagraphs. Real indexes stay far below them: Debian's
// longest Packages lines (Provides of Rust crates) are tens of KiB, its
// largest paragraph (a Release's hash lists) under a MiB.
const (
	MaxLineSize      = 1 << 20
	MaxParagraphSize = 16 << 20
)

// ErrTooLarge: a line or paragraph exceeds MaxLineSize or MaxParagraphSize.
var ErrTooLarge = errors.New("too large")

// Excerpt quotes at most the first 48 bytes of s, for error messages about
// input that may be huge or hostile.
func Excerpt(s string) string {
	const max = 48
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:max]) + fmt.Sprintf("... (%d bytes)", len(s))
}

// paragraphScanner splits a stream into paragraph texts.
type paragraphScanner struct {
	r        io.Reader
	buf      []byte
	off, end int   // unread data is buf[off:end]
	err      error // sticky read error (io.EOF included)
	line     int   // lines consumed so far
	scratch  []Field
	share    bool // parse returns scratch itself, not a copy
}

// fill reads more data, keeping buf[keep:end] (moved to the front). It
// returns how far indexes into buf moved left.
func (s *paragraphScanner) fill(keep int) int {
	shift := keep
	copy(s.buf, s.buf[keep:s.end])
	s.end -= keep
	s.off -= keep
	if s.end == len(s.buf) {
		nb := make([]byte, 2*len(s.buf))
		copy(nb, s.buf[:s.end])
		s.buf = nb
	}
	for i := 0; ; i++ {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err != nil {
			s.err = err
			break
		}
		if n > 0 {
			break
		}
		if i == 100 { // like bufio: a reader that keeps returning nothing is broken
			s.err = io.ErrNoProgress
			break
		}
	}
	return shift
}

func isBlankLine(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\v' && c != '\f' {
			return false
		}
	}
	return true
}

// nextLine returns the end of the line starting at pos and the start of the
// following one, reading more data as needed while keeping buf[keep:].
// ok is false at the end of the input. *pos and *keep are adjusted when the
// buffer moves.
func (s *paragraphScanner) nextLine(pos, keep *int) (lineEnd, next int, ok bool) {
	for {
		if nl := bytes.IndexByte(s.buf[*pos:s.end], '\n'); nl >= 0 {
			if nl > MaxLineSize {
				s.err = s.tooLarge("line", *pos, nl)
				return 0, 0, false
			}
			return *pos + nl, *pos + nl + 1, true
		}
		if s.end-*pos > MaxLineSize {
			s.err = s.tooLarge("line", *pos, s.end-*pos)
			return 0, 0, false
		}
		if s.end-*keep > MaxParagraphSize {
			s.err = s.tooLarge("paragraph", *keep, s.end-*keep)
			return 0, 0, false
		}
		if s.err != nil {
			if *pos < s.end {
				return s.end, s.end, true
			}
			return 0, 0, false
		}
		shift := s.fill(*keep)
		*pos -= shift
		*keep -= shift
	}
}

// next returns the text of the next paragraph (comment and blank lines
// before it skipped) and the line number of its first line.
func (s *paragraphScanner) next() (string, int, error) {
	pos := s.off
	keep := pos
	start, startLine := -1, 0
	for start < 0 {
		keep = pos
		lineEnd, next, ok := s.nextLine(&pos, &keep)
		if !ok {
			s.off = pos
			return "", 0, s.readErr()
		}
		s.line++
		if l := s.buf[pos:lineEnd]; !isBlankLine(l) && l[0] != '#' {
			start, startLine = pos, s.line
		}
		pos = next
	}
	end := -1
	for end < 0 {
		lineEnd, next, ok := s.nextLine(&pos, &start)
		if !ok {
			if err := s.readErr(); err != io.EOF {
				return "", 0, err
			}
			end = pos
			break
		}
		s.line++
		if isBlankLine(s.buf[pos:lineEnd]) {
			end = pos
		}
		pos = next
	}
	var text string
	if s.share {
		// A view of the buffer, not a copy: valid until the next call,
		// which is all a caller that copies what it keeps needs
		// (ParsePackages: one copy of a whole index less, measured in
		// BenchmarkParsePackages). The buffer is never written while
		// the view is in use: fill runs only inside next.
		text = unsafe.String(&s.buf[start], end-start)
	} else {
		text = string(s.buf[start:end])
	}
	s.off = pos
	return text, startLine, nil
}

// tooLarge reports the line or paragraph at buf[start:] (n bytes so far).
func (s *paragraphScanner) tooLarge(what string, start, n int) error {
	limit := MaxLineSize
	if what == "paragraph" {
		limit = MaxParagraphSize
	}
	head := s.buf[start:min(start+48, s.end)]
	return fmt.Errorf("line %d: %s longer than %d bytes (starts %s): %w", s.line+1, what, limit, Excerpt(string(head)), ErrTooLarge)
}

func (s *paragraphScanner) readErr() error {
	if s.err == nil {
		return io.EOF
	}
	return s.err
}

func isASCIISpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' || c == '\n'
}

// parse splits one paragraph text into fields. Values are substrings of
// text unless a line needs rewriting (CR line ends, comments inside a
// multi-line value, trailing blanks on a first line followed by continuations).
func (s *paragraphScanner) parse(text string, line int) (Paragraph, error) {
	fields := s.scratch[:0]
	contiguous := false // last field's value can grow as a substring of text
	valStart := 0
	for pos := 0; pos < len(text); line++ {
		lineEnd := strings.IndexByte(text[pos:], '\n')
		next := 0
		if lineEnd < 0 {
			lineEnd, next = len(text), len(text)
		} else {
			lineEnd += pos
			next = lineEnd + 1
		}
		l := text[pos:lineEnd]
		cr := len(l) > 0 && l[len(l)-1] == '\r'
		if cr {
			l = l[:len(l)-1]
		}
		switch {
		case l == "":
			// only a CR at the very end; nothing to do
		case l[0] == '#':
			contiguous = false
		case l[0] == ' ' || l[0] == '\t':
			if len(fields) == 0 {
				return nil, fmt.Errorf("line %d: continuation line outside a field", line)
			}
			f := &fields[len(fields)-1]
			if contiguous && !cr {
				f.Value = text[valStart:lineEnd]
			} else {
				f.Value += "\n" + l
				contiguous = false
			}
		default:
			i := strings.IndexByte(l, ':')
			if i <= 0 {
				return nil, fmt.Errorf("line %d: %s is not a field", line, Excerpt(l))
			}
			a, b := i+1, len(l)
			for a < b && isASCIISpace(l[a]) {
				a++
			}
			for b > a && isASCIISpace(l[b-1]) {
				b--
			}
			fields = append(fields, Field{Name: l[:i], Value: l[a:b]})
			valStart = pos + a
			contiguous = !cr && b == len(l)
		}
		pos = next
	}
	s.scratch = fields[:0]
	if len(fields) == 0 {
		return nil, nil
	}
	if s.share {
		return fields, nil
	}
	p := make(Paragraph, len(fields))
	copy(p, fields)
	return p, nil
}
