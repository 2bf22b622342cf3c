package apt

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// referenceParse is the plain line-by-line parser ParseParagraphs replaced,
// kept as the specification the fast one is checked against.
func referenceParse(r io.Reader, fn func(Paragraph) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	var cur Paragraph
	line := 0
	trim := func(s string) string { return strings.Trim(s, " \t\r\n\v\f") }
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		p := cur
		cur = nil
		return fn(p)
	}
	for sc.Scan() {
		line++
		text := sc.Text()
		if trim(text) == "" {
			if err := flush(); err != nil {
				return err
			}
			continue
		}
		if text[0] == '#' {
			continue
		}
		if text[0] == ' ' || text[0] == '\t' {
			if len(cur) == 0 {
				return fmt.Errorf("line %d: continuation line outside a field", line)
			}
			cur[len(cur)-1].Value += "\n" + text
			continue
		}
		i := strings.IndexByte(text, ':')
		if i <= 0 {
			return fmt.Errorf("line %d: %s is not a field", line, Excerpt(text))
		}
		cur = append(cur, Field{Name: text[:i], Value: trim(text[i+1:])})
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return flush()
}

func collect(parse func(io.Reader, func(Paragraph) error) error, r io.Reader) ([]Paragraph, error) {
	var out []Paragraph
	err := parse(r, func(p Paragraph) error { out = append(out, p); return nil })
	return out, err
}

func TestParseParagraphs(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Paragraph
		err  string
	}{
		{name: "empty", in: ""},
		{name: "blank lines only", in: "\n \n\t\n"},
		{name: "two", in: "Package: a\nVersion: 1\n\nPackage: b\n", want: []Paragraph{
			{{"Package", "a"}, {"Version", "1"}}, {{"Package", "b"}},
		}},
		{name: "no final newline", in: "A: 1\nB:  2  ", want: []Paragraph{{{"A", "1"}, {"B", "2"}}}},
		{name: "continuation", in: "Description: short\n long line\n .\n more\nX: y\n", want: []Paragraph{
			{{"Description", "short\n long line\n .\n more"}, {"X", "y"}},
		}},
		{name: "empty first line", in: "Conffiles:\n /etc/a 123\n /etc/b 456\n", want: []Paragraph{
			{{"Conffiles", "\n /etc/a 123\n /etc/b 456"}},
		}},
		{name: "trailing blanks before continuation", in: "D: x  \n y\n", want: []Paragraph{{{"D", "x\n y"}}}},
		{name: "crlf", in: "A: 1\r\nB: x\r\n y\r\n\r\nC: 2\r\n", want: []Paragraph{
			{{"A", "1"}, {"B", "x\n y"}}, {{"C", "2"}},
		}},
		{name: "comments", in: "# head\nA: 1\n# inside\n more\nB: 2\n\n# tail\n", want: []Paragraph{
			{{"A", "1\n more"}, {"B", "2"}},
		}},
		{name: "whitespace line separates", in: "A: 1\n \t \nB: 2\n", want: []Paragraph{{{"A", "1"}}, {{"B", "2"}}}},
		{name: "many blank lines", in: "\n\n\nA: 1\n\n\n\nB: 2\n\n\n", want: []Paragraph{{{"A", "1"}}, {{"B", "2"}}}},
		{name: "colon in value", in: "URIs: http://x:80/debian\n", want: []Paragraph{{{"URIs", "http://x:80/debian"}}}},
		{name: "continuation outside", in: "A: 1\n\n cont\n", err: "line 3: continuation line outside a field"},
		{name: "not a field", in: "A: 1\nbogus\n", err: `line 2: "bogus" is not a field`},
		{name: "empty name", in: ": x\n", err: `line 1: ": x" is not a field`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := collect(ParseParagraphs, strings.NewReader(tt.in))
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q\nwant %q", got, tt.want)
			}
			// Tiny reads must not change anything (buffer refills mid-line).
			got2, err := collect(ParseParagraphs, iotest.OneByteReader(strings.NewReader(tt.in)))
			if err != nil || !reflect.DeepEqual(got2, tt.want) {
				t.Fatalf("one-byte reader: got %q, %v", got2, err)
			}
			ref, err := collect(referenceParse, strings.NewReader(tt.in))
			if err != nil || !reflect.DeepEqual(ref, tt.want) {
				t.Fatalf("reference parser disagrees: %q, %v", ref, err)
			}
		})
	}
}

func TestParseParagraphsLarge(t *testing.T) {
	// Paragraphs larger than the read buffer, and many of them.
	var b strings.Builder
	long := strings.Repeat("x", 700*1024)
	for i := 0; i < 3; i++ {
		fmt.Fprintf(&b, "Package: p%d\nDescription: %s\n %s\n\n", i, long, long)
	}
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&b, "Package: q%d\nVersion: 1.%d\n\n", i, i)
	}
	got, err := collect(ParseParagraphs, strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := collect(referenceParse, strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ref) || len(got) != 5003 {
		t.Fatalf("got %d paragraphs, reference %d", len(got), len(ref))
	}
}

func TestParseParagraphsErrors(t *testing.T) {
	boom := errors.New("boom")
	err := ParseParagraphs(io.MultiReader(strings.NewReader("A: 1\n\nB: 2\n"), iotest.ErrReader(boom)), func(Paragraph) error { return nil })
	if !errors.Is(err, boom) {
		t.Fatalf("read error: got %v", err)
	}
	if err := ParseParagraphs(zeroReader{}, func(Paragraph) error { return nil }); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("reader returning nothing: got %v", err)
	}
	stop := errors.New("stop")
	n := 0
	err = ParseParagraphs(strings.NewReader("A: 1\n\nB: 2\n"), func(Paragraph) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("callback error: got %v after %d calls", err, n)
	}
}

func TestParagraphWriteToRoundTrip(t *testing.T) {
	in := "Package: a\nDescription: x\n y\n .\nConffiles:\n /etc/a 1\n"
	ps, err := collect(ParseParagraphs, strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := ps[0].WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if buf.String() != in {
		t.Fatalf("WriteTo = %q, want %q", buf.String(), in)
	}
}

func FuzzParseParagraphs(f *testing.F) {
	for _, s := range []string{
		"Package: a\nVersion: 1\n\nPackage: b\n",
		"Description: x\n y\n .\n",
		"A: 1\r\nB: x  \r\n y\r\n",
		"# c\nA: 1\n# c\n z\n\n \n",
		"Conffiles:\n /etc/a 1\n",
		" bad\n", "bad\n", ":\n", "A:\n\n\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := collect(ParseParagraphs, strings.NewReader(s))
		ref, rerr := collect(referenceParse, strings.NewReader(s))
		if (err == nil) != (rerr == nil) || err != nil && err.Error() != rerr.Error() {
			t.Fatalf("errors differ on %q: %v vs reference %v", s, err, rerr)
		}
		if err == nil && !reflect.DeepEqual(got, ref) {
			t.Fatalf("parse of %q:\n got %q\nwant %q", s, got, ref)
		}
	})
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

// lineBomb yields head, then n bytes of 'a' without a newline, lazily.
type lineBomb struct {
	head string
	n    int
}

func (b *lineBomb) Read(p []byte) (int, error) {
	if b.head != "" {
		k := copy(p, b.head)
		b.head = b.head[k:]
		return k, nil
	}
	if b.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), b.n)
	for i := range p[:k] {
		p[i] = 'a'
	}
	b.n -= k
	return k, nil
}

// A 256 MiB line or an endless paragraph fails after reading about the
// bound, with a short error.
func TestParagraphBounds(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    io.Reader
	}{
		{"one 256 MiB line", &lineBomb{head: "Package: bomb\nDescription: ", n: 256 << 20}},
		{"a 64 MiB paragraph", strings.NewReader("Package: bomb\n" + strings.Repeat(" "+strings.Repeat("b", 1000)+"\n", 64<<10))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			err := ParseParagraphs(tc.r, func(Paragraph) error { return nil })
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err = %v, want ErrTooLarge", err)
			}
			if len(err.Error()) > 200 {
				t.Errorf("error of %d bytes: %.200s", len(err.Error()), err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 5*MaxParagraphSize {
				t.Errorf("allocated %d MiB", alloc>>20)
			}
		})
	}
}
