package ldso

import (
	"os"
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	tests := []struct {
		a, b string
		sign int
	}{
		{"libc.so.6", "libc.so.6", 0},
		{"libfoo.so.10", "libfoo.so.9", 1},
		{"libfoo.so.1.2", "libfoo.so.1.10", -1},
		{"liba.so", "libb.so", -1},
		{"lib1", "liba", 1}, // digits sort after letters
		{"libz", "libz.so", -1},
	}
	for _, tt := range tests {
		got := Compare(tt.a, tt.b)
		if (got > 0) != (tt.sign > 0) || (got < 0) != (tt.sign < 0) {
			t.Errorf("libcmp(%q, %q) = %d, want sign %d", tt.a, tt.b, got, tt.sign)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("ld.so-1.7.0"), append([]byte(Magic), make([]byte, 28)...)} {
		if c, err := Parse(b); err == nil && len(c.Entries) != 0 {
			t.Errorf("Parse(%q) = %+v", b, c)
		}
	}
	// A header claiming more entries than the file holds.
	b := Write([]Entry{{Flags: 0x303, Key: "libz.so.1", Path: "/lib/libz.so.1"}}, "gen", false)
	b[20] = 200
	if _, err := Parse(b); err == nil {
		t.Error("truncated cache accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(Write([]Entry{{Flags: 0x303, Key: "libz.so.1", Path: "/lib/x86_64-linux-gnu/libz.so.1"}}, "ldconfig test", false))
	if b, err := os.ReadFile("/etc/ld.so.cache"); err == nil && len(b) < 1<<20 {
		f.Add(b)
	}
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			return
		}
		// What parses must survive a rewrite with the same entries.
		c2, err := Parse(Write(c.Entries, c.Generator, c.BigEndian))
		if err != nil {
			t.Fatalf("rewrite does not parse: %v", err)
		}
		if len(c2.Entries) != len(c.Entries) {
			t.Fatalf("rewrite has %d entries, want %d", len(c2.Entries), len(c.Entries))
		}
		for _, e := range c2.Entries {
			if strings.ContainsRune(e.Key, 0) {
				t.Fatal("NUL in key")
			}
		}
	})
}
