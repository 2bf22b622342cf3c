package variants

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    Version
		preview bool
		part    string
		err     error
	}{
		{"17", Version{Major: 17}, false, "17", nil},
		{"17.12", Version{Major: 17, Pin: "17.12"}, false, "17", nil},
		{"19~beta3", Version{Major: 19, Pin: "19~beta3"}, true, "19beta3", nil},
		{"19beta3", Version{Major: 19, Pin: "19~beta3"}, true, "19beta3", nil},
		{"18~rc1", Version{Major: 18, Pin: "18~rc1"}, true, "18rc1", nil},
		{"", Version{}, false, "", ErrBadVersion},
		{"17.12.1", Version{}, false, "", ErrBadVersion},
		{"0", Version{}, false, "", ErrBadVersion},
		{"v17", Version{}, false, "", ErrBadVersion},
		{"19~gamma1", Version{}, false, "", ErrBadVersion},
		{"17-1", Version{}, false, "", ErrBadVersion},
	}
	for _, tc := range tests {
		got, err := ParseVersion(tc.in)
		if !errors.Is(err, tc.err) {
			t.Errorf("ParseVersion(%q) error %v, want %v", tc.in, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		if got != tc.want || got.Preview() != tc.preview || got.NamePart() != tc.part {
			t.Errorf("ParseVersion(%q) = %+v preview=%v part=%q, want %+v %v %q", tc.in, got, got.Preview(), got.NamePart(), tc.want, tc.preview, tc.part)
		}
	}
}

func TestUpstreamVersionAndPin(t *testing.T) {
	tests := []struct{ deb, up string }{
		{"17.12-1.pgdg130+1", "17.12"},
		{"17.12-0+deb13u1", "17.12"},
		{"19~beta3-1.pgdg130+1", "19~beta3"},
		{"1:17.12-1", "17.12"},
		{"17.12", "17.12"},
	}
	for _, tc := range tests {
		if got := UpstreamVersion(tc.deb); got != tc.up {
			t.Errorf("UpstreamVersion(%q) = %q, want %q", tc.deb, got, tc.up)
		}
	}
	p := Pin{Package: "postgresql-17", Version: "17.1"}
	if p.Glob() != "postgresql-17=17.1*" {
		t.Errorf("Glob = %q", p.Glob())
	}
	for v, want := range map[string]bool{"17.1-1.pgdg130+1": true, "17.10-1.pgdg130+1": false, "17.1": true, "17.2-1": false} {
		if p.Matches(v) != want {
			t.Errorf("pin 17.1 matches %q = %v, want %v", v, !want, want)
		}
	}
}

func TestTargetErrors(t *testing.T) {
	c := Default()
	tests := []struct {
		pg, typ, base string
		err           error
		mention       string
	}{
		{"13", "minimal", "trixie", ErrUnknownVersion, "14, 15, 16, 17, 18, 19~beta3"},
		{"13.21", "minimal", "trixie", ErrUnknownVersion, "valid:"},
		{"20~beta1", "minimal", "trixie", ErrUnknownVersion, "19~beta3"},
		{"latest", "minimal", "trixie", ErrBadVersion, "latest"},
		{"17", "tiny", "trixie", ErrUnknownType, "minimal, standard, system"},
		{"17", "minimal", "bullseye", ErrUnknownBase, "trixie, bookworm"},
		{"17", "", "trixie", ErrUnknownType, `""`},
	}
	for _, tc := range tests {
		_, err := c.Target(tc.pg, tc.typ, tc.base)
		if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("Target(%q, %q, %q) error %v, want %v mentioning %q", tc.pg, tc.typ, tc.base, err, tc.err, tc.mention)
		}
	}
}

func TestTargetVersions(t *testing.T) {
	c := Default()
	tests := []struct {
		pg, name string
		pins     []string
		last     string
	}{
		{"17", "postgresql-17-standard-trixie", nil, "postgresql-17-pg-failover-slots"},
		{"17.12", "postgresql-17-standard-trixie", []string{"postgresql-17=17.12*"}, "postgresql-17-pg-failover-slots"},
		{"19", "postgresql-19beta3-standard-trixie", []string{"postgresql-19=19~beta3*"}, "postgresql-19-jit"},
		{"19~beta4", "postgresql-19beta4-standard-trixie", []string{"postgresql-19=19~beta4*"}, "postgresql-19-jit"},
	}
	for _, tc := range tests {
		tg, err := c.Target(tc.pg, "standard", "trixie")
		if err != nil {
			t.Fatal(err)
		}
		var pins []string
		for _, p := range tg.Pins {
			pins = append(pins, p.Glob())
		}
		pk := tg.Packages()
		if tg.Name != tc.name || !slices.Equal(pins, tc.pins) || pk[len(pk)-1] != tc.last {
			t.Errorf("Target(%q) = %s pins %v last %s, want %s %v %s", tc.pg, tg.Name, pins, pk[len(pk)-1], tc.name, tc.pins, tc.last)
		}
	}
}

func TestTargetByName(t *testing.T) {
	c := Default()
	if err := c.Apply(&Config{Types: []TypeConfig{{Name: "postgis-full", Parent: ptr("standard"), Packages: []Package{{Name: "postgresql-{{MM}}-postgis-3"}}}}}); err != nil {
		t.Fatal(err)
	}
	ok := []struct{ in, want string }{
		{"postgresql-17-minimal-bookworm", "postgresql-17-minimal-bookworm"},
		{"postgresql-19beta3-system-trixie", "postgresql-19beta3-system-trixie"},
		{"postgresql-19-system-trixie", "postgresql-19beta3-system-trixie"},
		{"postgresql-16-postgis-full-trixie", "postgresql-16-postgis-full-trixie"},
	}
	for _, tc := range ok {
		tg, err := c.TargetByName(tc.in)
		if err != nil || tg.Name != tc.want {
			t.Errorf("TargetByName(%q) = %q, %v; want %q", tc.in, tg.Name, err, tc.want)
		}
	}
	bad := []struct {
		in  string
		err error
	}{
		{"pg-17-minimal-bookworm", ErrBadTargetName},
		{"postgresql-17", ErrBadTargetName},
		{"postgresql-17.12-minimal-bookworm", ErrBadTargetName},
		{"postgresql-x-minimal-bookworm", ErrBadVersion},
		{"postgresql-12-minimal-bookworm", ErrUnknownVersion},
		{"postgresql-17-minimal-bullseye", ErrUnknownBase},
		{"postgresql-17-bookworm", ErrUnknownBase},
		{"postgresql-17-tiny-bookworm", ErrUnknownType},
	}
	for _, tc := range bad {
		if _, err := c.TargetByName(tc.in); !errors.Is(err, tc.err) {
			t.Errorf("TargetByName(%q) error %v, want %v", tc.in, err, tc.err)
		}
	}
	// Every default target's name round-trips.
	all, err := Default().Targets(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range all {
		got, err := Default().TargetByName(tg.Name)
		if err != nil || got.Name != tg.Name || !slices.EqualFunc(got.Stages, tg.Stages, func(a, b Stage) bool { return a.Name == b.Name && slices.Equal(a.Packages, b.Packages) }) {
			t.Errorf("round trip %s: %s %v", tg.Name, got.Name, err)
		}
	}
}

func TestTargetsFilter(t *testing.T) {
	c := Default()
	got, err := c.Targets(Filter{Versions: []string{"17.12"}, Types: []string{"minimal"}, Bases: []string{"bookworm"}})
	if err != nil || len(got) != 1 || got[0].Name != "postgresql-17-minimal-bookworm" || got[0].Pins[0].Version != "17.12" {
		t.Fatalf("filter: %+v %v", got, err)
	}
	for _, f := range []Filter{{Versions: []string{"12"}}, {Types: []string{"x"}}, {Bases: []string{"sid"}}} {
		if _, err := c.Targets(f); err == nil {
			t.Errorf("Targets(%+v) succeeded", f)
		}
	}
}

func TestStagesArePrefixes(t *testing.T) {
	c := Default()
	for _, pg := range []string{"14", "18", "19"} {
		var prev []Stage
		for _, typ := range []string{"minimal", "standard", "system"} {
			tg, err := c.Target(pg, typ, "trixie")
			if err != nil {
				t.Fatal(err)
			}
			if len(tg.Stages) != len(prev)+1 {
				t.Fatalf("%s: %d stages after %d", tg.Name, len(tg.Stages), len(prev))
			}
			for i := range prev {
				if !slices.Equal(prev[i].Packages, tg.Stages[i].Packages) {
					t.Errorf("%s: stage %d differs from its parent's", tg.Name, i)
				}
			}
			prev = tg.Stages
		}
	}
}

func TestTags(t *testing.T) {
	built := time.Date(2026, 3, 4, 23, 59, 59, 0, time.FixedZone("X", -3600))
	c := Default()
	tg, _ := c.Target("17", "minimal", "bookworm")
	want := []string{"17-minimal-bookworm", "17.12-minimal-bookworm", "17.12-202603050059-minimal-bookworm"}
	if got := tg.Tags("17.12-1.pgdg120+1", built); !slices.Equal(got, want) {
		t.Errorf("Tags = %v, want %v", got, want)
	}
	if got := tg.Tags("", built); !slices.Equal(got, want[:1]) {
		t.Errorf("unresolved Tags = %v", got)
	}
	if got := tg.References("registry.example:5000/team", Production, "17.12", built); got[0] != "registry.example:5000/team/postgresql:17-minimal-bookworm" {
		t.Errorf("References = %v", got)
	}
	pv, _ := c.Target("19", "minimal", "trixie")
	if got := pv.Tags("", built); !slices.Equal(got, []string{"19beta3-minimal-trixie", "19beta3-202603050059-minimal-trixie"}) {
		t.Errorf("preview Tags = %v", got)
	}
	c.Bases = append(c.Bases, Base{Codename: "bullseye", Image: "debian:bullseye-slim"})
	rl, _ := c.Target("16", "system", "bullseye")
	if got := rl.Tags("16.9-1.pgdg110+1", built); !slices.Equal(got[3:], []string{"16.9", "16"}) {
		t.Errorf("rolling Tags = %v", got)
	}
	rp, _ := c.Target("19", "system", "bullseye")
	if got := rp.Tags("", built); len(got) != 2 {
		t.Errorf("preview must not roll: %v", got)
	}
}

func TestBaseName(t *testing.T) {
	alias := strings.TrimPrefix(name.DefaultRegistry, "index.")
	tests := []struct {
		b    Base
		want string
	}{
		{Base{Image: "debian:trixie-slim"}, alias + "/library/debian:trixie-slim"},
		{Base{Image: "debian:trixie-slim", Digest: "sha256:" + strings.Repeat("0", 64)}, alias + "/library/debian:trixie-slim"},
		{Base{Image: "registry.example:5000/mirror/debian:bookworm-slim"}, "registry.example:5000/mirror/debian:bookworm-slim"},
		{Base{Image: "debian"}, alias + "/library/debian:latest"},
	}
	for _, tc := range tests {
		if got := tc.b.BaseName(); got != tc.want {
			t.Errorf("BaseName(%+v) = %q, want %q", tc.b, got, tc.want)
		}
	}
}

func TestLabels(t *testing.T) {
	c := Default()
	tg, _ := c.Target("18", "standard", "trixie")
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l := tg.Labels(Facts{Created: created, Version: "18.4-1.pgdg130+1", Revision: "abc", BaseDigest: "sha256:beef"})
	want := map[string]string{
		specs.AnnotationCreated:         "2026-01-02T03:04:05Z",
		specs.AnnotationVersion:         "18.4",
		specs.AnnotationRevision:        "abc",
		specs.AnnotationTitle:           "CloudNativePG PostgreSQL 18.4 standard",
		specs.AnnotationDescription:     "A standard PostgreSQL 18.4 container image",
		specs.AnnotationBaseImageDigest: "sha256:beef",
		specs.AnnotationLicenses:        "Apache-2.0",
	}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("label %s = %q, want %q", k, l[k], v)
		}
	}
	if len(l) != 13 {
		t.Errorf("%d labels, want the 13 upstream sets", len(l))
	}
	pv, _ := c.Target("19", "minimal", "trixie")
	if l := pv.Labels(Facts{}); l[specs.AnnotationVersion] != "19~beta3" {
		t.Errorf("preview version label %q, want upstream's 19~beta3", l[specs.AnnotationVersion])
	}
	pinned := Base{Codename: "trixie", Image: "debian:trixie-slim", Digest: "sha256:" + strings.Repeat("1", 64)}
	tg.Base = pinned
	if l := tg.Labels(Facts{}); l[specs.AnnotationBaseImageDigest] != pinned.Digest {
		t.Errorf("base digest falls back to the pin: %q", l[specs.AnnotationBaseImageDigest])
	}
}

func TestEnvFrom(t *testing.T) {
	c := Default()
	sys, _ := c.Target("17", "system", "trixie")
	tests := []struct {
		tg   Target
		base []string
		want []string
	}{
		{sys, []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}, []string{"PATH=/usr/bin:/bin:/usr/lib/postgresql/17/bin", "LANG=C.UTF-8", "PIP_BREAK_SYSTEM_PACKAGES=1"}},
		{sys, nil, []string{"PATH=" + DefaultPath + ":/usr/lib/postgresql/17/bin", "PIP_BREAK_SYSTEM_PACKAGES=1"}},
		{sys, []string{"PIP_BREAK_SYSTEM_PACKAGES=0"}, []string{"PATH=" + DefaultPath + ":/usr/lib/postgresql/17/bin", "PIP_BREAK_SYSTEM_PACKAGES=1"}},
	}
	for _, tc := range tests {
		if got := tc.tg.EnvFrom(tc.base); !slices.Equal(got, tc.want) {
			t.Errorf("EnvFrom(%v) = %v, want %v", tc.base, got, tc.want)
		}
	}
	if sys.User != "26" {
		t.Errorf("User = %q", sys.User)
	}
}

func TestReplayEdit(t *testing.T) {
	tg, _ := Default().Target("17", "minimal", "trixie")
	if tg.Replay.FixedUIDs["postgres"] != 26 {
		t.Fatalf("FixedUIDs = %v", tg.Replay.FixedUIDs)
	}
	e := tg.Replay.Edits[0]
	in := "# comment\n#create_main_cluster = true\nssl = true\n#start_conf = 'auto'\n"
	got, err := e.Apply([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := "# comment\ncreate_main_cluster = false\nssl = true\n#start_conf = 'auto'\n"
	if string(got) != want {
		t.Errorf("edit:\n%s\nwant:\n%s", got, want)
	}
	if _, err := (Edit{Regexp: "("}).Apply(nil); err == nil {
		t.Error("bad regexp accepted")
	}
}

func TestWithPlatforms(t *testing.T) {
	tg, _ := Default().Target("17", "minimal", "trixie")
	got, err := tg.WithPlatforms([]string{"linux/arm64", "linux/arm/v7"})
	if err != nil || !slices.Equal(got.Platforms, []string{"linux/arm64", "linux/arm/v7"}) {
		t.Fatalf("%v %v", got.Platforms, err)
	}
	for _, p := range [][]string{nil, {"amd64"}, {"linux/"}, {"Linux/amd64"}} {
		if _, err := tg.WithPlatforms(p); !errors.Is(err, ErrBadPlatform) {
			t.Errorf("WithPlatforms(%v) error %v", p, err)
		}
	}
}

func TestParseFlags(t *testing.T) {
	if e, err := ParseEnvironment("production"); err != nil || e.Repository() != "postgresql" {
		t.Error("production")
	}
	if e, _ := ParseEnvironment("testing"); e.Repository() != "postgresql-testing" {
		t.Error("testing")
	}
	if _, err := ParseEnvironment("prod"); !errors.Is(err, ErrBadConfig) {
		t.Error("prod accepted")
	}
	if s, err := ParsePGSource("debian"); err != nil || s != PGSourceDebian {
		t.Error("debian")
	}
	if _, err := ParsePGSource("apt"); err == nil {
		t.Error("apt accepted")
	}
	if PGDGSuite("trixie") != "trixie-pgdg" || !slices.Equal(PGDGComponents(17), []string{"main", "17"}) {
		t.Error("pgdg facts")
	}
}

func ptr[T any](v T) *T { return &v }
