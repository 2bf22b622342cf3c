package main

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgassemble/pgassemble/internal/fixture"
	"github.com/pgassemble/pgassemble/pkg/assemble"
	"github.com/pgassemble/pgassemble/pkg/catalog"
	"github.com/pgassemble/pgassemble/pkg/sign"
	"github.com/sigstore/sigstore/pkg/signature"
)

// TestCatalogCommand: after a build (with its referrers and their fallback
// tags in the repository), catalog writes the minimal/trixie catalog naming
// the index just published, by digest, from the registry's tags and from
// the build's --json report alike.
func TestCatalogCommand(t *testing.T) {
	w := fixture.New(t)
	out, stderr, code := cli(t, worldArgs(w, t.TempDir(), "--pg", "17", "--type", "minimal", "--base", "trixie", "--platform", "linux/amd64", "--allow-unhandled-scripts", "--json", "-q")...)
	if code != 0 {
		t.Fatalf("build: exit %d\n%s", code, stderr)
	}
	var reps []assemble.TargetReport
	if err := json.Unmarshal([]byte(out), &reps); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(t.TempDir(), "report.json")
	os.WriteFile(report, []byte(out), 0o644)
	t.Setenv("SOURCE_DATE_EPOCH", "1764288000") // 2025-11-28
	for name, args := range map[string][]string{
		"registry": {"catalog", "--registry", w.RegHost},
		"report":   {"catalog", "--from-report", report},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			_, stderr, code := cli(t, append(args, "--output-dir", dir)...)
			if code != 0 {
				t.Fatalf("catalog: exit %d\n%s", code, stderr)
			}
			data, err := os.ReadFile(filepath.Join(dir, "catalog-minimal-trixie.yaml"))
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			d, err := catalog.Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if err := catalog.Validate(d); err != nil {
				t.Error(err)
			}
			if len(d.Spec.Images) != 1 || d.Spec.Images[0].Major != 17 || !strings.HasSuffix(d.Spec.Images[0].Image, "-minimal-trixie@"+reps[0].Index) {
				t.Errorf("images %+v, want 17 at %s", d.Spec.Images, reps[0].Index)
			}
			if d.Metadata.Labels["images.cnpg.io/date"] != "20251128" {
				t.Errorf("date label %q", d.Metadata.Labels["images.cnpg.io/date"])
			}
			k, _ := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
			if !strings.Contains(string(k), "- catalog-minimal-trixie.yaml") {
				t.Errorf("kustomization:\n%s", k)
			}
		})
	}
	// --sign-key: each catalog gets a cosign sign-blob signature beside it.
	key := writeKey(t, "pw")
	t.Setenv("COSIGN_PASSWORD", "pw")
	sdir := t.TempDir()
	if _, stderr, code := cli(t, "catalog", "--from-report", report, "--output-dir", sdir, "--sign-key", key); code != 0 {
		t.Fatalf("catalog --sign-key: %s", stderr)
	}
	data, _ := os.ReadFile(filepath.Join(sdir, "catalog-minimal-trixie.yaml"))
	sig, err := os.ReadFile(filepath.Join(sdir, "catalog-minimal-trixie.yaml.sig"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(string(sig))
	if err != nil {
		t.Fatalf("signature file is not base64: %v", err)
	}
	signer, err := sign.LoadKeyFile(key, []byte("pw"), true)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := signer.PublicKey()
	v, _ := signature.LoadVerifier(pub, crypto.SHA256)
	if err := v.VerifySignature(bytes.NewReader(raw), bytes.NewReader(data)); err != nil {
		t.Errorf("catalog signature: %v", err)
	}
	// Nothing for the types and bases asked: an error, no file.
	dir := t.TempDir()
	_, stderr, code = cli(t, "catalog", "--registry", w.RegHost, "--type", "system", "--output-dir", dir)
	if code == 0 || !strings.Contains(stderr, "no image for the catalog") {
		t.Errorf("no system image: exit %d\n%s", code, stderr)
	}
}
