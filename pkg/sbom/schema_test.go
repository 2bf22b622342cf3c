package sbom

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xeipuuv/gojsonschema"
)

// TestCycloneDXSchema validates our CycloneDX output against the
// CycloneDX 1.6 JSON schema the cyclonedx-go module ships.
func TestCycloneDXSchema(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/CycloneDX/cyclonedx-go").Output()
	if err != nil {
		t.Fatalf("locate the cyclonedx-go module: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "schema")
	// The schema refers to two others by their $id; load them from the
	// module, not the network.
	sl := gojsonschema.NewSchemaLoader()
	for _, f := range []string{"spdx.schema.json", "jsf-0.82.schemax.json"} {
		if err := sl.AddSchemas(gojsonschema.NewReferenceLoader("file://" + filepath.Join(dir, f))); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	schema, err := sl.Compile(gojsonschema.NewReferenceLoader("file://" + filepath.Join(dir, "bom-1.6.schema.json")))
	if err != nil {
		t.Fatalf("compile the CycloneDX 1.6 schema: %v", err)
	}
	doc, err := Write(CycloneDX, inventory(t), subj, tool, created)
	if err != nil {
		t.Fatal(err)
	}
	res, err := schema.Validate(gojsonschema.NewBytesLoader(doc))
	if err != nil {
		t.Fatalf("validate: %v", err)
	}
	for _, e := range res.Errors() {
		t.Errorf("CycloneDX 1.6 schema: %s", e)
	}
	// The check can fail: a component without its required name.
	bad := strings.Replace(string(doc), `"name": "libpq5"`, `"nome": "libpq5"`, 1)
	res, err = schema.Validate(gojsonschema.NewStringLoader(bad))
	if err != nil || res.Valid() {
		t.Errorf("a component without a name passed the schema (err %v)", err)
	}
}
