package apt

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
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
// fn is not reused by the parser.
func ParseParagraphs(r io.Reader, fn func(Paragraph) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	var cur Paragraph
	line := 0
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
		if strings.TrimSpace(text) == "" {
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
			return fmt.Errorf("line %d: %q is not a field", line, text)
		}
		cur = append(cur, Field{Name: text[:i], Value: strings.TrimSpace(text[i+1:])})
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return flush()
}
