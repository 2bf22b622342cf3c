package apt

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseRelations(t *testing.T) {
	tests := []struct {
		in   string
		want Relations
		str  string // String() rendering; "" means same as in
	}{
		{in: "", want: nil},
		{in: "  \n ", want: nil},
		{in: "libc6", want: Relations{{{Name: "libc6"}}}},
		{in: "libc6 (>= 2.36)", want: Relations{{{Name: "libc6", Op: OpGE, Version: "2.36"}}}},
		{in: "a, b | c (<< 2:1.0-1~), d", want: Relations{
			{{Name: "a"}},
			{{Name: "b"}, {Name: "c", Op: OpLT, Version: "2:1.0-1~"}},
			{{Name: "d"}},
		}},
		{in: "perl:any", want: Relations{{{Name: "perl", ArchQ: "any"}}}},
		{in: "python3:native (>= 3.11)", want: Relations{{{Name: "python3", ArchQ: "native", Op: OpGE, Version: "3.11"}}}},
		{in: "libfoo:amd64", want: Relations{{{Name: "libfoo", ArchQ: "amd64"}}}},
		{in: "foo [amd64 !arm64]", want: Relations{{{Name: "foo", Archs: []string{"amd64", "!arm64"}}}}},
		{in: "foo (>= 1) [linux-any] <!nocheck> <stage1 cross>, bar", want: Relations{
			{{Name: "foo", Op: OpGE, Version: "1", Archs: []string{"linux-any"}}},
			{{Name: "bar"}},
		}, str: "foo (>= 1) [linux-any], bar"},
		{in: "foo (< 1), bar (> 2)", want: Relations{
			{{Name: "foo", Op: "<", Version: "1"}},
			{{Name: "bar", Op: ">", Version: "2"}},
		}},
		{in: "foo(=1.0)|bar", want: Relations{{{Name: "foo", Op: OpEQ, Version: "1.0"}, {Name: "bar"}}}, str: "foo (= 1.0) | bar"},
		{in: "a,\n b (\n >=\t1 ) |\n c,", want: Relations{{{Name: "a"}}, {{Name: "b", Op: OpGE, Version: "1"}, {Name: "c"}}}, str: "a, b (>= 1) | c"},
		{in: "libstdc++6 (>= 13.1), lib.x-y+z", want: Relations{{{Name: "libstdc++6", Op: OpGE, Version: "13.1"}}, {{Name: "lib.x-y+z"}}}},
	}
	for _, tt := range tests {
		got, err := ParseRelations(tt.in)
		if err != nil {
			t.Errorf("ParseRelations(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseRelations(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
		want := tt.str
		if want == "" {
			want = tt.in
		}
		if tt.want != nil && got.String() != want {
			t.Errorf("ParseRelations(%q).String() = %q, want %q", tt.in, got.String(), want)
		}
	}
}

func TestParseRelationsErrors(t *testing.T) {
	for _, in := range []string{
		"foo (>= 1", "foo (1.0)", "foo (>=)", "foo (== 1)", "foo [", "foo []", "foo [amd64",
		"foo <", "foo <>", "| foo", "foo |", "foo bar", "foo:", "(>= 1)", "foo, | bar", "foo (>= 1) x",
	} {
		if got, err := ParseRelations(in); err == nil {
			t.Errorf("ParseRelations(%q) = %v, want error", in, got)
		} else if !errors.Is(err, ErrRelation) {
			t.Errorf("ParseRelations(%q) error %v does not wrap ErrRelation", in, err)
		}
	}
}

func TestAppliesTo(t *testing.T) {
	tests := []struct {
		archs []string
		arch  string
		want  bool
	}{
		{nil, "amd64", true},
		{[]string{"amd64"}, "amd64", true},
		{[]string{"amd64"}, "arm64", false},
		{[]string{"!arm64"}, "amd64", true},
		{[]string{"!arm64"}, "arm64", false},
		{[]string{"!arm64", "!s390x"}, "amd64", true},
		{[]string{"linux-any"}, "arm64", true},
		{[]string{"any-arm64"}, "arm64", true},
		{[]string{"any-arm64"}, "amd64", false},
		{[]string{"amd64", "arm64"}, "arm64", true},
	}
	for _, tt := range tests {
		if got := (Relation{Name: "x", Archs: tt.archs}).AppliesTo(tt.arch); got != tt.want {
			t.Errorf("%v AppliesTo(%s) = %v, want %v", tt.archs, tt.arch, got, tt.want)
		}
	}
}

func FuzzParseRelations(f *testing.F) {
	for _, s := range []string{
		"libc6 (>= 2.36)", "a | b, c", "perl:any", "foo [amd64 !arm64] <!nocheck>", "x (<< 1:2~), y (> 3)",
		"a,\n b", "", ",", "foo (", "foo [", "foo <",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := ParseRelations(s)
		// ParsePackages's shared-group parse gives the same, error included.
		shared, serr := newInterner().parseRelations(s)
		if (err == nil) != (serr == nil) || err != nil && err.Error() != serr.Error() || !reflect.DeepEqual(shared, rs) {
			t.Fatalf("shared parse of %q: %#v, %v; want %#v, %v", s, shared, serr, rs, err)
		}
		if err != nil {
			return
		}
		// Rendering and parsing again gives the same relations.
		again, err := ParseRelations(rs.String())
		if err != nil {
			t.Fatalf("ParseRelations(%q).String() = %q does not parse: %v", s, rs.String(), err)
		}
		if !reflect.DeepEqual(again, rs) {
			t.Fatalf("round trip of %q: %#v != %#v", s, again, rs)
		}
		for _, g := range rs {
			if len(g) == 0 {
				t.Fatalf("empty group in %q", s)
			}
			for _, r := range g {
				if r.Name == "" || (r.Op == OpNone) != (r.Version == "") {
					t.Fatalf("bad relation %#v from %q", r, s)
				}
			}
		}
	})
}

func TestRelationsMatches(t *testing.T) {
	rs, err := ParseRelations("a (<< 2.0), b (< 1.5) | c, d (>= 1:1.0~rc1), e")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, version string
		want          bool
	}{
		{"a", "1.9", true},
		{"a", "2.0", false},
		{"b", "1.5", true}, // obsolete "<" means "<="
		{"b", "1.6", false},
		{"c", "0", true},
		{"d", "1:1.0", true},
		{"d", "1:1.0~rc0", false},
		{"d", "1.0", false}, // epoch 0 < epoch 1
		{"e", "anything", true},
		{"f", "1", false},
	} {
		if got := rs.Matches(tc.name, tc.version); got != tc.want {
			t.Errorf("%s %s: %v, want %v", tc.name, tc.version, got, tc.want)
		}
	}
}

// The shared-group parse of ParsePackages gives what ParseRelations gives,
// errors included, for odd fields as for usual ones.
func TestInternedRelations(t *testing.T) {
	in := newInterner()
	for _, s := range []string{
		"", " ", "a", "a, b", "a (>= 1) | b:any, c [amd64 !arm64]", "a,, b,", ", a", "a\n , b (<< 2)",
		"a (>= 1) | b:any", // again: now shared
		"a | ", "a (>= )", "a b", "a (= 1", "a | | b", "a [ ]", "a <!nocheck>, b",
		"a (> 1), b (< 2)", "a\t|\tb", "a,\n b",
	} {
		want, werr := ParseRelations(s)
		got, gerr := in.parseRelations(s)
		if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
			t.Errorf("%q: error %v, want %v", s, gerr, werr)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %#v, want %#v", s, got, want)
		}
	}
}
