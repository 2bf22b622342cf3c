package main

import (
	"encoding/json"
	"regexp"
	"testing"
)

var lowerCamel = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

// checkJSONKeys fails unless every key of out is lowerCamelCase, the one
// style of every --json output (README). Objects under the keys in data
// are maps of data (labels, annotations) and are not checked.
func checkJSONKeys(t *testing.T, what, out string, data ...string) {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%s --json: %v", what, err)
	}
	skip := map[string]bool{}
	for _, d := range data {
		skip[d] = true
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if !lowerCamel.MatchString(k) {
					t.Errorf("%s --json: key %q at %s is not lowerCamelCase", what, k, path)
				}
				if !skip[k] {
					walk(path+"."+k, e)
				}
			}
		case []any:
			for _, e := range x {
				walk(path+"[]", e)
			}
		}
	}
	walk("$", v)
}

func TestJSONKeyStyle(t *testing.T) {
	out, _, code := cli(t, "targets", "--json")
	if code != 0 {
		t.Fatalf("targets: exit %d", code)
	}
	checkJSONKeys(t, "targets", out)
	r := resolveRepo(t)
	out, stderr, code := cli(t, "resolve", "--source", r.SourceLine(), "--keyring", r.KeyringFile, "--cache-dir", t.TempDir(), "--arch", "amd64", "--json", "app")
	if code != 0 {
		t.Fatalf("resolve: exit %d\n%s", code, stderr)
	}
	checkJSONKeys(t, "resolve", out)
}
