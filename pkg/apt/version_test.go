package apt

import (
	"errors"
	"testing"

	debversion "pault.ag/go/debian/version"
)

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"1.0~rc1", "1.0", -1},
		{"1.0~rc1", "1.0~rc2", -1},
		{"1:0.1", "2.0", 1},
		{"0:1.0", "1.0", 0},
		{"00:1.0", "1.0", 0},
		{"1.0-1", "1.0-1.1", -1},
		{"1.0-1", "1.0-1+b1", -1},
		{"1.0+b1", "1.0", 1},
		{"2.0~~", "2.0~", -1},
		{"2.0~", "2.0", -1},
		{"~~a", "~~", 1},
		{"~~", "~", -1},
		{"~", "", -1},
		{"1.0", "1.0-0", 0},
		{"1.0-", "1.0", 0}, // empty revision compares as none
		{"1.0a", "1.0+", -1},
		{"1.0a", "1.0.", -1},
		{"1.0z", "1.0A", 1},
		{"1.0A", "1.0+", -1},
		{"1.0.", "1.0+", 1},    // '+' (43) sorts before '.' (46)
		{"1.0-1", "1.0-a", -1}, // a digit sorts before a letter at the same place
		{"10", "9", 1},
		{"1.10", "1.9", 1},
		{"1.010", "1.10", 0},
		{"1.0.0", "1.0", 1},
		{"2:1.0", "1:9.0", 1},
		{"10:1", "9:1", 1},
		{"1.2.3-4", "1.2.3-10", -1},
		{"17.12-0+deb13u1", "17.12-1", -1},
		{"17.12-1.pgdg13+1", "17.12-0+deb13u1", 1},
		{"1:2.4.7-21+deb13u1+b5", "2.4.7-21+deb13u1.1~", 1},
		{"2.4.7-21+deb13u1+b5", "2.4.7-21+deb13u1.1~", -1},
		{"1.0-1~bpo1", "1.0-1", -1},
		{"3.0-1ubuntu1", "3.0-1", 1},
		{"0.8.0-1", "0.8.0-1+b1", -1},
		{"a", "b", -1},
		{"1-2-3", "1-2-4", -1}, // revision is after the last '-'
		{"1-2-3", "1-3", 1},    // upstream "1-2" > "1"
		{"99999999999999999999:1", "1:2", 1},
	}
	for _, tt := range tests {
		got := sign(CompareVersions(tt.a, tt.b))
		if got != tt.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if back := sign(CompareVersions(tt.b, tt.a)); back != -tt.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.b, tt.a, back, -tt.want)
		}
		// Cross-check with pault.ag/go/debian where both parse.
		va, ea := debversion.Parse(tt.a)
		vb, eb := debversion.Parse(tt.b)
		if ea == nil && eb == nil && tt.a != "99999999999999999999:1" {
			if ref := sign(debversion.Compare(va, vb)); ref != got {
				t.Errorf("CompareVersions(%q, %q) = %d but pault.ag says %d", tt.a, tt.b, got, ref)
			}
		}
	}
}

func sign(c int) int {
	switch {
	case c < 0:
		return -1
	case c > 0:
		return 1
	}
	return 0
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    Version
		wantErr bool
	}{
		{in: "1.0", want: Version{Upstream: "1.0"}},
		{in: "1:2.3-4", want: Version{Epoch: 1, Upstream: "2.3", Revision: "4"}},
		{in: "0:1.0-1", want: Version{Upstream: "1.0", Revision: "1"}},
		{in: "1.2-3-4", want: Version{Upstream: "1.2-3", Revision: "4"}},
		{in: "2:1.0:2-1", want: Version{Epoch: 2, Upstream: "1.0:2", Revision: "1"}},
		{in: "1.0~rc1+dfsg-1~bpo12+1", want: Version{Upstream: "1.0~rc1+dfsg", Revision: "1~bpo12+1"}},
		{in: " 1.0 ", want: Version{Upstream: "1.0"}},
		{in: "", wantErr: true},
		{in: "1.0 2", wantErr: true},
		{in: ":1.0", wantErr: true},
		{in: "a:1.0", wantErr: true},
		{in: "-1:1.0", wantErr: true},
		{in: "1:", wantErr: true},
		{in: "1.0-", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "a1.0", wantErr: true},
		{in: "1.0_1", wantErr: true},
		{in: "1.0-1_2", wantErr: true},
		{in: "99999999999:1", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseVersion(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseVersion(%q) = %+v, want error", tt.in, got)
			} else if !errors.Is(err, ErrVersion) {
				t.Errorf("ParseVersion(%q) error %v does not wrap ErrVersion", tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseVersion(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseVersion(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if back, err := ParseVersion(got.String()); err != nil || back != got {
			t.Errorf("ParseVersion(%q).String() = %q does not round-trip", tt.in, got.String())
		}
	}
}

func TestSatisfies(t *testing.T) {
	tests := []struct {
		v    string
		op   Op
		want string
		ok   bool
	}{
		{"1.0", OpNone, "", true},
		{"1.0", OpLT, "2.0", true},
		{"2.0", OpLT, "2.0", false},
		{"2.0", OpLE, "2.0", true},
		{"2.0", "<", "2.0", true}, // obsolete '<' means '<='
		{"2.0", ">", "2.0", true}, // obsolete '>' means '>='
		{"2.0", OpEQ, "0:2.0", true},
		{"2.0-1", OpEQ, "2.0", false},
		{"17.12-1", OpGE, "17.12", true},
		{"17.5-1", OpGE, "17.12", false},
		{"2.0", OpGT, "2.0", false},
		{"2.0.1", OpGT, "2.0", true},
		{"1.0~rc1", OpGE, "1.0~", true},
		{"1.0", Op("!="), "1.0", false},
	}
	for _, tt := range tests {
		if got := Satisfies(tt.v, tt.op, tt.want); got != tt.ok {
			t.Errorf("Satisfies(%q, %q, %q) = %v, want %v", tt.v, tt.op, tt.want, got, tt.ok)
		}
	}
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.0", "1:2.3-4", "1.0~rc1", "2.0~~", "~~a", "1.0+b1", "1.2-3-4", "0:0", "a", "1.0-", ":", "9999999999999999999:1"} {
		f.Add(s, "1.0")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if c := CompareVersions(a, a); c != 0 {
			t.Fatalf("CompareVersions(%q, itself) = %d", a, c)
		}
		if x, y := sign(CompareVersions(a, b)), sign(CompareVersions(b, a)); x != -y {
			t.Fatalf("not antisymmetric: %q vs %q: %d and %d", a, b, x, y)
		}
		v, err := ParseVersion(a)
		if err != nil {
			return
		}
		if v.Compare(v) != 0 {
			t.Fatalf("%q does not equal itself", a)
		}
		w, err := ParseVersion(v.String())
		if err != nil {
			t.Fatalf("ParseVersion(%q).String() = %q does not parse: %v", a, v.String(), err)
		}
		if w.Compare(v) != 0 || sign(CompareVersions(v.String(), a)) != 0 {
			t.Fatalf("%q and its rendering %q differ", a, v.String())
		}
		if vb, err := ParseVersion(b); err == nil {
			if sign(v.Compare(vb)) != sign(CompareVersions(v.String(), vb.String())) {
				t.Fatalf("Version.Compare and CompareVersions disagree on %q vs %q", a, b)
			}
		}
	})
}

func BenchmarkCompareVersions(b *testing.B) {
	pairs := [][2]string{
		{"1:2.4.7-21+deb13u1+b5", "2.4.7-21+deb13u1.1~"},
		{"17.12-0+deb13u1", "17.12-1.pgdg13+1"},
		{"2.41-12+deb13u5", "2.41-12"},
	}
	b.Run("own", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, p := range pairs {
				CompareVersions(p[0], p[1])
			}
		}
	})
	b.Run("pault.ag", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, p := range pairs {
				x, _ := debversion.Parse(p[0])
				y, _ := debversion.Parse(p[1])
				debversion.Compare(x, y)
			}
		}
	})
}
