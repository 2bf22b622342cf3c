package provenance

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func build() Build {
	return Build{
		External: map[string]any{"target": "17-standard-trixie", "platform": "linux/amd64", "flags": []any{"--pg-source=debian"}, "configDigest": "sha256:" + strings.Repeat("0", 64)},
		Base:     Dependency{Name: "base", URI: "oci://127.0.0.1:5000/library/debian@sha256:" + strings.Repeat("b", 64), SHA256: strings.Repeat("b", 64)},
		Debs: []Dependency{
			{Name: "zlib1g", URI: "http://mirror.invalid/pool/z.deb", SHA256: strings.Repeat("2", 64), Annotations: map[string]string{"version": "1:1.3", "arch": "amd64"}},
			{Name: "libpq5", URI: "http://mirror.invalid/pool/l.deb", SHA256: strings.Repeat("1", 64)},
		},
		Releases:       []Dependency{{Name: "trixie", URI: "http://mirror.invalid/debian/dists/trixie/InRelease", SHA256: strings.Repeat("3", 64)}},
		BuilderVersion: "v1.2.3",
		Started:        time.Unix(1000, 0),
		Finished:       time.Unix(2000, 0),
	}
}

var subj = Subject{Name: "127.0.0.1:5000/postgresql", Digest: "sha256:" + strings.Repeat("a", 64)}

func TestStatement(t *testing.T) {
	out, err := Statement([]Subject{subj}, build())
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Type          string `json:"_type"`
		PredicateType string
		Subject       []struct {
			Name   string
			Digest map[string]string
		}
		Predicate struct {
			BuildDefinition struct {
				BuildType            string
				ExternalParameters   map[string]any
				ResolvedDependencies []struct {
					Name, URI   string
					Digest      map[string]string
					Annotations map[string]string
				}
			}
			RunDetails struct {
				Builder struct {
					ID      string
					Version map[string]string
				}
				Metadata struct{ StartedOn, FinishedOn string }
			}
		}
	}
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != "https://in-toto.io/Statement/v1" || st.PredicateType != PredicateType {
		t.Errorf("type %q predicate %q", st.Type, st.PredicateType)
	}
	if st.Subject[0].Digest["sha256"] != strings.Repeat("a", 64) {
		t.Errorf("subject %+v", st.Subject)
	}
	bd := st.Predicate.BuildDefinition
	if bd.BuildType != BuildType || bd.ExternalParameters["target"] != "17-standard-trixie" {
		t.Errorf("build definition %+v", bd)
	}
	var order []string
	for _, d := range bd.ResolvedDependencies {
		order = append(order, d.Annotations["pgassemble.kind"]+":"+d.Name)
	}
	if got := strings.Join(order, " "); got != "base:base release:trixie deb:libpq5 deb:zlib1g" {
		t.Errorf("dependencies in order %s", got)
	}
	if bd.ResolvedDependencies[3].Annotations["version"] != "1:1.3" || bd.ResolvedDependencies[3].URI != "http://mirror.invalid/pool/z.deb" {
		t.Errorf("deb dependency %+v", bd.ResolvedDependencies[3])
	}
	rd := st.Predicate.RunDetails
	if rd.Builder.ID != DefaultBuilderID || rd.Builder.Version["pgassemble"] != "v1.2.3" {
		t.Errorf("builder %+v", rd.Builder)
	}
	if rd.Metadata.StartedOn != "1970-01-01T00:16:40Z" || rd.Metadata.FinishedOn != "1970-01-01T00:33:20Z" {
		t.Errorf("times %+v", rd.Metadata)
	}
}

// TestStable: same inputs give the same bytes; other times change only the
// times.
func TestStable(t *testing.T) {
	a, _ := Statement([]Subject{subj}, build())
	b, _ := Statement([]Subject{subj}, build())
	if !bytes.Equal(a, b) {
		t.Fatal("two statements of the same build differ")
	}
	later := build()
	later.Started, later.Finished = time.Unix(5000, 0), time.Unix(6000, 0)
	c, _ := Statement([]Subject{subj}, later)
	var x, y map[string]any
	json.Unmarshal(a, &x)
	json.Unmarshal(c, &y)
	delete(x["predicate"].(map[string]any)["runDetails"].(map[string]any), "metadata")
	delete(y["predicate"].(map[string]any)["runDetails"].(map[string]any), "metadata")
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	if !bytes.Equal(xs, ys) || bytes.Equal(a, c) {
		t.Error("statements must differ in their times only")
	}
}

func TestInvalid(t *testing.T) {
	for name, tc := range map[string]struct {
		s Subject
		b func(*Build)
	}{
		"no digest":     {Subject{Name: "x"}, func(*Build) {}},
		"no base":       {subj, func(b *Build) { b.Base.SHA256 = "" }},
		"deb unhashed":  {subj, func(b *Build) { b.Debs[0].SHA256 = "" }},
		"bad parameter": {subj, func(b *Build) { b.External["x"] = struct{}{} }},
	} {
		b := build()
		tc.b(&b)
		if _, err := Statement([]Subject{tc.s}, b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func TestWrap(t *testing.T) {
	out, err := Wrap([]Subject{subj, {Name: "idx", Digest: "sha256:" + strings.Repeat("c", 64)}}, "https://spdx.dev/Document", []byte(`{"spdxVersion":"SPDX-2.3","packages":[{"name":"a"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Subject   []map[string]any
		Predicate map[string]any
	}
	json.Unmarshal(out, &st)
	if len(st.Subject) != 2 || st.Predicate["spdxVersion"] != "SPDX-2.3" {
		t.Errorf("statement %s", out)
	}
	if _, err := Wrap([]Subject{subj}, "x", []byte(`[1]`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("a non-object predicate: %v", err)
	}
}
