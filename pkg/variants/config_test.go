package variants

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func applyYAML(t *testing.T, doc string) (*Catalog, error) {
	t.Helper()
	cfg, err := LoadConfig(strings.NewReader(doc))
	if err != nil {
		return nil, err
	}
	c := Default()
	return c, c.Apply(cfg)
}

func TestConfigOverrides(t *testing.T) {
	tests := []struct {
		name, doc     string
		pg, typ, base string
		check         func(t *testing.T, tg Target)
	}{
		{"replace a type's own stage", "types: [{name: standard, packages: [locales-all]}]", "17", "standard", "trixie",
			func(t *testing.T, tg Target) {
				if !slices.Equal(tg.Stages[1].Packages, []string{"locales-all"}) {
					t.Errorf("%v", tg.Stages)
				}
			}},
		{"append to a type", "types: [{name: minimal, addPackages: [tzdata]}]", "17", "system", "trixie",
			func(t *testing.T, tg Target) {
				if p := tg.Stages[0].Packages; p[len(p)-1] != "tzdata" {
					t.Errorf("%v", p)
				}
			}},
		{"re-parent a type", "types: [{name: system, parent: minimal}]", "17", "system", "trixie",
			func(t *testing.T, tg Target) {
				if len(tg.Stages) != 2 || tg.Stages[1].Name != "system" {
					t.Errorf("%v", tg.Stages)
				}
			}},
		{"root type", "types: [{name: bare, packages: ['postgresql-{{MM}}']}]", "16", "bare", "bookworm",
			func(t *testing.T, tg Target) {
				if len(tg.Stages) != 1 || tg.Stages[0].Packages[0] != "postgresql-16" {
					t.Errorf("%v", tg.Stages)
				}
			}},
		{"major limits", "types: [{name: minimal, addPackages: [{name: old-tool, maxMajor: 15}]}]", "16", "minimal", "trixie",
			func(t *testing.T, tg Target) {
				if slices.Contains(tg.Packages(), "old-tool") {
					t.Error("maxMajor ignored")
				}
			}},
		{"type env", "types: [{name: minimal, env: [LANG=C.UTF-8]}]", "17", "standard", "trixie",
			func(t *testing.T, tg Target) {
				if !slices.Contains(tg.EnvFrom(nil), "LANG=C.UTF-8") {
					t.Errorf("%v", tg.EnvFrom(nil))
				}
			}},
		{"base image override drops old digest", "bases: [{codename: trixie, image: 'registry.example/debian:trixie-slim'}]", "17", "minimal", "trixie",
			func(t *testing.T, tg Target) {
				if tg.Base.Reference() != "registry.example/debian:trixie-slim" {
					t.Error(tg.Base.Reference())
				}
			}},
		{"pin a minor", "versions: ['17.12']", "17", "minimal", "trixie",
			func(t *testing.T, tg Target) {
				if len(tg.Pins) != 1 || tg.Pins[0].Glob() != "postgresql-17=17.12*" {
					t.Errorf("%v", tg.Pins)
				}
			}},
		{"stable replaces preview", "versions: ['19']", "19", "standard", "trixie",
			func(t *testing.T, tg Target) {
				if tg.Name != "postgresql-19-standard-trixie" || !slices.Contains(tg.Packages(), "postgresql-19-pgvector") {
					t.Errorf("%s %v", tg.Name, tg.Packages())
				}
			}},
		{"flat repository", "repositories: [{name: local, uri: 'file:///srv/debs', suite: ./}]", "17", "minimal", "trixie",
			func(t *testing.T, tg Target) {
				if len(tg.Repositories) != 1 || tg.Repositories[0].Suite != "./" {
					t.Errorf("%v", tg.Repositories)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := applyYAML(t, tc.doc)
			if err != nil {
				t.Fatal(err)
			}
			tg, err := c.Target(tc.pg, tc.typ, tc.base)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, tg)
		})
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct{ name, doc, mention string }{
		{"unknown top-level field", "version: ['17']", `unknown field "version"`},
		{"unknown nested field", "types: [{name: x, pakages: [a]}]", `unknown field "pakages"`},
		{"unknown package field", "packages: [{name: a, min: 3}]", `unknown field "min"`},
		{"duplicate key", "packages: [a]\npackages: [b]", "packages"},
		{"not yaml", "types: [", "yaml"},
		{"bad version", "versions: ['17.x']", "versions[0]"},
		{"bad codename", "bases: [{codename: Sid, image: debian:sid-slim}]", `codename "Sid"`},
		{"new base without image", "bases: [{codename: sid}]", "needs an image"},
		{"bad digest", "bases: [{codename: trixie, digest: 'sha256:abc'}]", "digest"},
		{"digest in image", "bases: [{codename: trixie, image: 'debian@sha256:" + strings.Repeat("a", 64) + "'}]", "digest field"},
		{"bad image", "bases: [{codename: trixie, image: 'Debian::x'}]", "image"},
		{"bad type name", "types: [{name: Post_GIS, packages: [a1]}]", "type name"},
		{"reserved type name", "types: [{name: extra, packages: [a1]}]", "type name"},
		{"new type without packages", "types: [{name: empty, parent: minimal}]", "needs packages"},
		{"unknown parent", "types: [{name: geo, parent: standrad, packages: [a1]}]", `"standrad"`},
		{"parent cycle", "types: [{name: minimal, parent: system}]", "cycle"},
		{"bare MM", "types: [{name: geo, parent: standard, packages: [postgresql-MM-postgis-3]}]", "{{MM}}"},
		{"unknown placeholder", "packages: ['postgresql-{{major}}-x']", "{{major}}"},
		{"bad major limits", "packages: [{name: ab, minMajor: 17, maxMajor: 16}]", "minMajor"},
		{"bad env", "types: [{name: minimal, env: [NOEQUALS]}]", "KEY=VALUE"},
		{"PATH env", "types: [{name: minimal, env: ['PATH=/x']}]", "PATH"},
		{"repository without uri", "repositories: [{name: r, suite: s, components: [main]}]", "uri"},
		{"repository bad scheme", "repositories: [{name: r, uri: 'ftp://x.example/', suite: s, components: [main]}]", "uri"},
		{"repository without suite", "repositories: [{name: r, uri: 'http://x.example/'}]", "suite"},
		{"repository without components", "repositories: [{name: r, uri: 'http://x.example/', suite: s}]", "components"},
		{"flat repository with components", "repositories: [{name: r, uri: 'http://x.example/', suite: ./, components: [main]}]", "components"},
		{"repository placeholder", "repositories: [{name: r, uri: 'http://x.example/', suite: '{{suite}}', components: [main]}]", "{{codename}}"},
		{"repository twice", "repositories: [{name: r, uri: 'http://x.example/', suite: s, components: [main]}, {name: r, uri: 'http://y.example/', suite: s, components: [main]}]", "twice"},
		{"bad label key", "labels: {'a b': c}", "label"},
		{"bad platform", "platforms: [amd64]", "amd64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadConfig(strings.NewReader(tc.doc))
			if err == nil {
				c := Default()
				before, _ := c.Targets(Filter{})
				err = c.Apply(cfg)
				after, _ := c.Targets(Filter{})
				if len(before) != len(after) {
					t.Error("a failed Apply changed the catalog")
				}
			}
			if err == nil || !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %v, want ErrBadConfig mentioning %q", err, tc.mention)
			}
		})
	}
}

func TestApplyNil(t *testing.T) {
	c := Default()
	if err := c.Apply(nil); err != nil {
		t.Fatal(err)
	}
}

func FuzzLoadConfig(f *testing.F) {
	f.Add(goldenConfig)
	f.Add("types: [{name: geo, parent: standard, packages: ['postgresql-{{MM}}-postgis-3']}]")
	f.Add("versions: ['19~rc1', '13']\nbases: [{codename: sid, image: debian:sid-slim}]")
	f.Fuzz(func(t *testing.T, doc string) {
		cfg, err := LoadConfig(strings.NewReader(doc))
		if err != nil {
			return
		}
		c := Default()
		if err := c.Apply(cfg); err != nil {
			return
		}
		targets, err := c.Targets(Filter{})
		if err != nil {
			t.Fatalf("valid config yields a bad matrix: %v", err)
		}
		for _, tg := range targets {
			got, err := c.TargetByName(tg.Name)
			if err != nil || got.Name != tg.Name {
				t.Fatalf("%s does not round-trip: %v", tg.Name, err)
			}
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"17", "17.12", "19~beta3", "19beta3", "", "1.2.3", "18~rc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			return
		}
		again, err := ParseVersion(v.String())
		if err != nil || again != v {
			t.Fatalf("%q -> %+v does not round-trip: %+v %v", s, v, again, err)
		}
		if n, err := ParseVersion(v.NamePart()); err != nil || n.Major != v.Major {
			t.Fatalf("name part %q of %q does not parse: %v", v.NamePart(), s, err)
		}
	})
}

func FuzzTargetByName(f *testing.F) {
	for _, s := range []string{"postgresql-17-minimal-bookworm", "postgresql-19beta3-system-trixie", "postgresql--x-", "postgresql-17-trixie"} {
		f.Add(s)
	}
	c := Default()
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := c.TargetByName(s)
		if err != nil {
			return
		}
		if _, err := c.TargetByName(tg.Name); err != nil {
			t.Fatalf("%q -> %q does not parse: %v", s, tg.Name, err)
		}
	})
}

func TestConfigScripts(t *testing.T) {
	cfg, err := LoadConfig(strings.NewReader(`scripts:
  uids: {barman: 1001}
  debconf: {"tzdata/Areas": "Etc"}
  edits: [{path: etc/foo.conf, regexp: "^#(opt) .*$", replacement: "${1} = off"}]
  deviations: [{match: "^helper --generate-key", reason: "no shared private keys"}]
`))
	if err != nil {
		t.Fatal(err)
	}
	c := Default()
	if err := c.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	s := c.Scripts
	if s.FixedUIDs["postgres"] != PostgresUID || s.FixedUIDs["barman"] != 1001 || s.Debconf["tzdata/Areas"] != "Etc" ||
		len(s.Edits) != 2 || s.Edits[1].Path != "etc/foo.conf" || len(s.Deviations) != 2 {
		t.Errorf("scripts: %+v", s)
	}
	if d := Default().Scripts; len(d.Edits) != 1 || d.FixedUIDs["barman"] != 0 {
		t.Errorf("Apply changed the defaults: %+v", d)
	}
	for _, bad := range []string{
		"scripts: {edits: [{path: x, regexp: \"(\"}]}",
		"scripts: {deviations: [{match: x}]}",
	} {
		cfg, err := LoadConfig(strings.NewReader(bad))
		if err == nil {
			err = Default().Apply(cfg)
		}
		if !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
