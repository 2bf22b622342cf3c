package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v2"
)

func digest(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

var cands = []Candidate{
	{"r/postgresql", "17.5-202611010000-standard-trixie", digest('1')},
	{"r/postgresql", "17.6-202611010000-standard-trixie", digest('2')},
	{"r/postgresql", "17.6-202611020000-standard-trixie", digest('3')}, // newest 17
	{"r/postgresql", "16.10-202611020000-standard-trixie", digest('4')},
	{"r/postgresql", "16.9-202612020000-standard-trixie", digest('5')},  // older minor, later stamp
	{"r/postgresql", "12.22-202611020000-standard-trixie", digest('6')}, // below 13
	{"r/postgresql", "17-standard-trixie", digest('7')},                 // rolling tag
	{"r/postgresql", "19~beta1-202611020000-standard-trixie", digest('8')},
	{"r/postgresql", "sha256-" + strings.Repeat("a", 64) + ".sig", digest('9')},
	{"r/postgresql", "15.14-202611020000-minimal-bookworm", digest('a')},
}

func TestBuild(t *testing.T) {
	files, err := Build(cands, Options{Types: []string{"minimal", "standard", "system"}, Bases: []string{"bookworm", "trixie"}, Date: time.Date(2026, 11, 28, 23, 0, 0, 0, time.UTC), Publisher: "pgassemble"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	if got := strings.Join(names, " "); got != "catalog-minimal-bookworm.yaml catalog-standard-trixie.yaml kustomization.yaml" {
		t.Fatalf("files %s", got)
	}
	std := files[1]
	d, err := Parse(std.Data)
	if err != nil {
		t.Fatal(err)
	}
	want := []Image{
		{16, "r/postgresql:16.10-202611020000-standard-trixie@" + digest('4')},
		{17, "r/postgresql:17.6-202611020000-standard-trixie@" + digest('3')},
	}
	if fmt.Sprint(d.Spec.Images) != fmt.Sprint(want) {
		t.Errorf("images %v, want %v", d.Spec.Images, want)
	}
	if d.Metadata.Name != "postgresql-standard-trixie" || d.Metadata.Labels["images.cnpg.io/date"] != "20261128" || d.Metadata.Labels["images.cnpg.io/os"] != "trixie" {
		t.Errorf("metadata %+v", d.Metadata)
	}
	if !strings.HasPrefix(string(std.Data), "apiVersion: postgresql.cnpg.io/v1\nkind: ClusterImageCatalog\nmetadata:\n") {
		t.Errorf("field order:\n%s", std.Data)
	}
	var k struct{ Resources []string }
	yaml.Unmarshal(files[2].Data, &k)
	if strings.Join(k.Resources, " ") != "catalog-minimal-bookworm.yaml catalog-standard-trixie.yaml" {
		t.Errorf("kustomization %s", files[2].Data)
	}
	for _, f := range files[:2] {
		if errs := schemaErrors(t, f.Data); len(errs) > 0 {
			t.Errorf("%s breaks the CRD schema: %v", f.Name, errs)
		}
	}
	// The schema check itself catches what the CRD refuses.
	bad := "apiVersion: postgresql.cnpg.io/v1\nkind: ClusterImageCatalog\nmetadata: {name: x}\nspec:\n  images:\n  - {major: 9, image: a}\n  - {major: 9, image: b}\n  - {major: \"17\"}\n"
	if errs := schemaErrors(t, []byte(bad)); len(errs) != 5 {
		t.Errorf("broken catalog: %d schema errors %v, want 5 (two below the minimum, a repeat, a missing image, a string major)", len(errs), errs)
	}
	if _, err := Build(cands, Options{Types: []string{"system"}, Bases: []string{"trixie"}}); !errors.Is(err, ErrEmpty) {
		t.Errorf("no system images: %v", err)
	}
	other, _ := Build(cands, Options{Family: "pgvector", Types: []string{"minimal"}, Bases: []string{"bookworm"}})
	if other[0].Name != "pgvector-minimal-bookworm.yaml" {
		t.Errorf("another family's file is %s", other[0].Name)
	}
}

func TestValidate(t *testing.T) {
	ok := func() *Doc {
		return &Doc{APIVersion: "postgresql.cnpg.io/v1", Kind: "ClusterImageCatalog", Metadata: Metadata{Name: "x"}, Spec: Spec{Images: []Image{{17, "r:t@" + digest('1')}}}}
	}
	for name, mod := range map[string]func(*Doc){
		"no images":      func(d *Doc) { d.Spec.Images = nil },
		"nine images":    func(d *Doc) { d.Spec.Images = make([]Image, 9) },
		"major 9":        func(d *Doc) { d.Spec.Images[0].Major = 9 },
		"repeated major": func(d *Doc) { d.Spec.Images = append(d.Spec.Images, d.Spec.Images[0]) },
		"by tag":         func(d *Doc) { d.Spec.Images[0].Image = "r:17" },
		"no name":        func(d *Doc) { d.Metadata.Name = "" },
	} {
		d := ok()
		mod(d)
		if err := Validate(d); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := Validate(ok()); err != nil {
		t.Error(err)
	}
}

// schemaErrors validates a catalog's YAML, read generically, against the
// facts of the CRD's openAPIV3Schema kept in testdata.
func schemaErrors(t *testing.T, data []byte) []string {
	t.Helper()
	raw, err := os.ReadFile("testdata/clusterimagecatalog-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return validate(schema, normalize(doc), "")
}

// normalize turns yaml.v2's map[interface{}]interface{} into map[string]any.
func normalize(v any) any {
	switch x := v.(type) {
	case map[any]any:
		m := map[string]any{}
		for k, v := range x {
			m[fmt.Sprint(k)] = normalize(v)
		}
		return m
	case []any:
		for i := range x {
			x[i] = normalize(x[i])
		}
	}
	return v
}

func validate(s map[string]any, v any, path string) []string {
	var errs []string
	switch s["type"] {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return []string{path + ": not an object"}
		}
		for _, r := range asList(s["required"]) {
			if _, ok := m[r.(string)]; !ok {
				errs = append(errs, path+"."+r.(string)+": required")
			}
		}
		props, _ := s["properties"].(map[string]any)
		for k, sub := range props {
			if val, ok := m[k]; ok {
				errs = append(errs, validate(sub.(map[string]any), val, path+"."+k)...)
			}
		}
	case "array":
		l, ok := v.([]any)
		if !ok {
			return []string{path + ": not an array"}
		}
		if mn, ok := s["minItems"].(float64); ok && float64(len(l)) < mn {
			errs = append(errs, fmt.Sprintf("%s: %d items < %v", path, len(l), mn))
		}
		if mx, ok := s["maxItems"].(float64); ok && float64(len(l)) > mx {
			errs = append(errs, fmt.Sprintf("%s: %d items > %v", path, len(l), mx))
		}
		seen := map[string]bool{}
		for i, it := range l {
			errs = append(errs, validate(s["items"].(map[string]any), it, fmt.Sprintf("%s[%d]", path, i))...)
			if key, ok := s["x-unique-key"].(string); ok {
				k := fmt.Sprint(it.(map[string]any)[key])
				if seen[k] {
					errs = append(errs, fmt.Sprintf("%s[%d]: %s %s repeats", path, i, key, k))
				}
				seen[k] = true
			}
		}
	case "integer":
		n, ok := v.(int)
		if !ok {
			return []string{fmt.Sprintf("%s: %T is not an integer", path, v)}
		}
		if mn, ok := s["minimum"].(float64); ok && float64(n) < mn {
			errs = append(errs, fmt.Sprintf("%s: %d < %v", path, n, mn))
		}
	case "string":
		if _, ok := v.(string); !ok {
			errs = append(errs, fmt.Sprintf("%s: %T is not a string", path, v))
		}
	}
	return errs
}

func asList(v any) []any { l, _ := v.([]any); return l }
