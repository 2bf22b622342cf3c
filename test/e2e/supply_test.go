//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"
)

// The supply-chain checks (issue 10) of pgassemble's images, with the ecosystem's own clients:
// cosign verifies the signatures and attestations, oras lists the referrers, dpkg-query reads
// the image's own dpkg database and syft scans the image, each compared with the SBOM. The
// registry is distribution 2.8 (Debian's docker-registry), which has no referrers API: the
// referrers are found through the tag-schema fallback.

// cosignArgs are the flags every cosign call needs here: the key, no transparency log (the
// images were signed offline, as `cosign sign --tlog-upload=false` does), plain HTTP.
func cosignArgs(c *checkT) []string {
	pub := os.Getenv("E2E_COSIGN_PUB")
	if pub == "" {
		c.NotChecked("signatures", "E2E_COSIGN_PUB is not set (run.sh makes the key and signs the builds)")
	}
	return []string{"--key", pub, "--insecure-ignore-tlog=true", "--allow-insecure-registry"}
}

func indexDigest(c *checkT, ref string) string {
	out, err := run(ctxFor(c.T, time.Minute), "crane", "digest", ref)
	if err != nil {
		c.Fatalf("crane digest %s: %v", ref, err)
	}
	return strings.TrimSpace(out)
}

// checkCosignVerify: cosign verify passes for the tag and names the index digest; a copy of
// the tag moved to an unsigned digest (the base image) fails.
func checkCosignVerify(c *checkT, img imageRef) {
	ctx := ctxFor(c.T, 3*time.Minute)
	args := cosignArgs(c)
	out, err := run(ctx, "cosign", append(append([]string{"verify"}, args...), img.Ref)...)
	if err != nil {
		c.Fatalf("cosign verify %s: %v", img.Ref, err)
	}
	want := indexDigest(c, img.Ref)
	if !strings.Contains(out, `"docker-manifest-digest":"`+want+`"`) {
		c.Errorf("cosign verify output does not name the index %s:\n%s", want, tail(out, 600))
	}
	for _, arch := range []string{"amd64", "arm64"} {
		d := platformDigest(c, img, arch)
		if _, err := run(ctx, "cosign", append(append([]string{"verify"}, args...), img.Repo+"@"+d)...); err != nil {
			c.Errorf("cosign verify of the %s manifest: %v", arch, err)
		}
	}
	// A tag moved to an unsigned digest must not verify.
	moved := img.Repo + ":e2e-moved-" + img.Tag
	base := os.Getenv("E2E_IMAGE_BASE_" + strings.ToUpper(img.Suite))
	if base == "" {
		c.Errorf("E2E_IMAGE_BASE_%s not set: the moved-tag case was not run", strings.ToUpper(img.Suite))
		return
	}
	if _, err := run(ctx, "crane", "copy", base, moved); err != nil {
		c.Fatalf("crane copy %s %s: %v", base, moved, err)
	}
	_, err = run(ctx, "cosign", append(append([]string{"verify"}, args...), moved)...)
	if err == nil {
		c.Errorf("cosign verify passed for %s, moved to the unsigned base image", moved)
	} else if !strings.Contains(err.Error(), "no signatures found") {
		c.Errorf("cosign verify of the moved tag failed, but not for the missing signature: %v", err)
	}
}

type statement struct {
	PredicateType string `json:"predicateType"`
	Subject       []struct {
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	Predicate json.RawMessage `json:"predicate"`
}

// verifyAttestation runs cosign verify-attestation --type typ on ref and returns the verified
// statements.
func verifyAttestation(c *checkT, ref, typ string) []statement {
	out, err := run(ctxFor(c.T, 3*time.Minute), "cosign", append(append([]string{"verify-attestation"}, cosignArgs(c)...), "--type", typ, ref)...)
	if err != nil {
		c.Fatalf("cosign verify-attestation --type %s %s: %v", typ, ref, err)
	}
	var sts []statement
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var env struct{ Payload string }
		if err := json.Unmarshal([]byte(line), &env); err != nil {
			c.Fatalf("verify-attestation output is not DSSE JSON lines: %v", err)
		}
		raw, err := base64.StdEncoding.DecodeString(env.Payload)
		if err != nil {
			c.Fatalf("DSSE payload: %v", err)
		}
		var st statement
		if err := json.Unmarshal(raw, &st); err != nil {
			c.Fatalf("statement: %v", err)
		}
		sts = append(sts, st)
	}
	return sts
}

// checkAttestations: both predicate types verify on the tag, one statement per platform, each
// about its platform manifest and the index; the provenance names the base image's digest.
func checkAttestations(c *checkT, img imageRef) {
	idx := strings.TrimPrefix(indexDigest(c, img.Ref), "sha256:")
	var plats []string
	for _, arch := range []string{"amd64", "arm64"} {
		plats = append(plats, strings.TrimPrefix(platformDigest(c, img, arch), "sha256:"))
	}
	for _, tc := range []struct{ typ, pred string }{
		{"spdxjson", "https://spdx.dev/Document"},
		{"slsaprovenance1", "https://slsa.dev/provenance/v1"},
	} {
		sts := verifyAttestation(c, img.Ref, tc.typ)
		var seen []string
		for _, st := range sts {
			if st.PredicateType != tc.pred {
				c.Errorf("--type %s gave predicate %s", tc.typ, st.PredicateType)
			}
			var ds []string
			for _, s := range st.Subject {
				ds = append(ds, s.Digest["sha256"])
			}
			if !slices.Contains(ds, idx) {
				c.Errorf("%s statement subjects %v lack the index %s", tc.typ, ds, idx)
			}
			seen = append(seen, ds...)
		}
		for _, p := range plats {
			if !slices.Contains(seen, p) {
				c.Errorf("no %s statement about platform manifest %s", tc.typ, p)
			}
		}
		if tc.typ == "slsaprovenance1" && len(sts) > 0 {
			base := strings.TrimPrefix(indexDigest(c, os.Getenv("E2E_IMAGE_BASE_"+strings.ToUpper(img.Suite))), "sha256:")
			if !bytes.Contains(sts[0].Predicate, []byte(base)) {
				c.Errorf("provenance does not name the base image's digest %s", base)
			}
			var pred struct {
				BuildDefinition struct {
					ResolvedDependencies []struct {
						Annotations map[string]string `json:"annotations"`
					} `json:"resolvedDependencies"`
				} `json:"buildDefinition"`
			}
			json.Unmarshal(sts[0].Predicate, &pred)
			kinds := map[string]int{}
			for _, d := range pred.BuildDefinition.ResolvedDependencies {
				kinds[d.Annotations["pgassemble.kind"]]++
			}
			if kinds["base"] != 1 || kinds["deb"] == 0 || kinds["release"] == 0 {
				c.Errorf("provenance dependencies by kind %v: want the base, .debs and InReleases", kinds)
			}
		}
	}
}

type referrer struct {
	Digest       string `json:"digest"`
	ArtifactType string `json:"artifactType"`
}

// referrers lists a manifest's referrers with oras discover.
func referrers(c *checkT, ref string) []referrer {
	out, err := run(ctxFor(c.T, 2*time.Minute), "oras", "discover", "--plain-http", "--format", "json", ref)
	if err != nil {
		c.Fatalf("oras discover %s: %v", ref, err)
	}
	var d struct {
		Referrers []referrer `json:"referrers"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		c.Fatalf("oras discover output: %v", err)
	}
	return d.Referrers
}

// checkReferrers: oras lists the SBOM and the provenance for every platform manifest.
func checkReferrers(c *checkT, img imageRef) {
	for _, arch := range []string{"amd64", "arm64"} {
		ref := img.Repo + "@" + platformDigest(c, img, arch)
		var types []string
		for _, r := range referrers(c, ref) {
			types = append(types, r.ArtifactType)
		}
		sort.Strings(types)
		if strings.Join(types, " ") != "application/spdx+json application/vnd.in-toto+json" {
			c.Errorf("%s: referrers %v, want the SPDX SBOM and the in-toto provenance", arch, types)
		}
	}
}

// spdxOf fetches the SPDX SBOM referrer of the image's platform manifest for arch and returns
// the document and its Debian packages as "name version arch", sorted.
func spdxOf(c *checkT, img imageRef, arch string) ([]byte, []string) {
	c.Helper()
	ctx := ctxFor(c.T, 2*time.Minute)
	ref := img.Repo + "@" + platformDigest(c, img, arch)
	var sbomRef string
	for _, r := range referrers(c, ref) {
		if r.ArtifactType == "application/spdx+json" {
			sbomRef = img.Repo + "@" + r.Digest
		}
	}
	if sbomRef == "" {
		c.Fatalf("no SPDX referrer for %s", ref)
	}
	raw, err := run(ctx, "crane", "manifest", sbomRef)
	if err != nil {
		c.Fatalf("crane manifest %s: %v", sbomRef, err)
	}
	var m struct {
		Layers []struct{ Digest string } `json:"layers"`
	}
	if err := json.Unmarshal([]byte(raw), &m); err != nil || len(m.Layers) != 1 {
		c.Fatalf("SBOM manifest %s: %v %s", sbomRef, err, raw)
	}
	doc, err := run(ctx, "crane", "blob", img.Repo+"@"+m.Layers[0].Digest)
	if err != nil {
		c.Fatalf("crane blob: %v", err)
	}
	var spdx struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name, VersionInfo, PrimaryPackagePurpose string
			ExternalRefs                             []struct{ ReferenceLocator string }
		} `json:"packages"`
	}
	if err := json.Unmarshal([]byte(doc), &spdx); err != nil || spdx.SPDXVersion != "SPDX-2.3" {
		c.Fatalf("SBOM is not SPDX 2.3 JSON: %v", err)
	}
	var pkgs []string
	for _, p := range spdx.Packages {
		if p.PrimaryPackagePurpose != "LIBRARY" {
			continue
		}
		arch := ""
		for _, r := range p.ExternalRefs {
			if i := strings.Index(r.ReferenceLocator, "?arch="); i >= 0 {
				arch, _, _ = strings.Cut(r.ReferenceLocator[i+6:], "&")
			}
		}
		pkgs = append(pkgs, p.Name+" "+p.VersionInfo+" "+arch)
	}
	sort.Strings(pkgs)
	return []byte(doc), pkgs
}

// checkSBOMMatchesDpkg: the SBOM referrer's package list is what dpkg-query reads from the
// image's own database (every installed package, base and added).
func checkSBOMMatchesDpkg(c *checkT, img imageRef) {
	ctx := ctxFor(c.T, 5*time.Minute)
	ref := img.Repo + "@" + platformDigest(c, img, "amd64")
	_, fromSBOM := spdxOf(c, img, "amd64")
	// The image's dpkg database, read by dpkg-query itself.
	root := c.TempDir()
	if err := exportStatus(ctx, ref, root); err != nil {
		c.Fatalf("%v", err)
	}
	for _, d := range []string{"updates", "info"} {
		os.MkdirAll(filepath.Join(root, "var/lib/dpkg", d), 0o755)
	}
	out, err := run(ctx, "dpkg-query", "--admindir="+filepath.Join(root, "var/lib/dpkg"), "-W", "-f", "${db:Status-Status} ${Package} ${Version} ${Architecture}\n")
	if err != nil {
		c.Fatalf("dpkg-query: %v", err)
	}
	var fromDpkg []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		status, rest, _ := strings.Cut(line, " ")
		if status != "not-installed" && status != "config-files" {
			fromDpkg = append(fromDpkg, rest)
		}
	}
	sort.Strings(fromDpkg)
	if !slices.Equal(fromSBOM, fromDpkg) {
		c.Errorf("SBOM lists %d packages, dpkg-query %d; first differences: %v", len(fromSBOM), len(fromDpkg), firstDiff(fromSBOM, fromDpkg))
	}
	if len(fromDpkg) < 50 {
		c.Errorf("only %d packages in the image's dpkg database", len(fromDpkg))
	}
}

// checkSyftMatchesSBOM: syft, an SBOM reader that shares no code with pgassemble, scans the
// published platform image from the registry (its dpkg cataloger only: the check is about Debian
// packages, and the others would read every binary) and finds the same Debian packages, by name,
// version and architecture, as pgassemble's SPDX SBOM attached to that image; the SPDX
// document passes the SPDX library's own validator.
func checkSyftMatchesSBOM(c *checkT, img imageRef) {
	ctx := ctxFor(c.T, 5*time.Minute)
	ref := img.Repo + "@" + platformDigest(c, img, "amd64")
	doc, fromSBOM := spdxOf(c, img, "amd64")
	parsed, err := spdxjson.Read(bytes.NewReader(doc))
	if err != nil {
		c.Fatalf("the SPDX library cannot read the SBOM: %v", err)
	}
	if err := spdxlib.ValidateDocument(parsed); err != nil {
		c.Errorf("the SPDX library's validator rejects the SBOM: %v", err)
	}
	if _, err := exec.LookPath("syft"); err != nil {
		c.NotChecked("syft", "syft is not installed (run.sh installs it, test/e2e/supply.sh)")
	}
	cmd := exec.CommandContext(ctx, "syft", "scan", "registry:"+ref, "-o", "syft-json", "-q", "--override-default-catalogers", "dpkg")
	// The test registry speaks plain HTTP; syft has no flag for it, only its configuration.
	cmd.Env = append(os.Environ(), "SYFT_REGISTRY_INSECURE_USE_HTTP=true", "SYFT_CHECK_FOR_APP_UPDATE=false")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		c.Fatalf("syft scan registry:%s: %v: %s", ref, err, tail(stderr.String(), 1500))
	}
	took := time.Since(start)
	var out struct {
		Artifacts []struct {
			Name, Version, Type string
			Metadata            struct{ Architecture string } `json:"metadata"`
		} `json:"artifacts"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		c.Fatalf("syft-json output: %v", err)
	}
	var fromSyft []string
	for _, a := range out.Artifacts {
		if a.Type == "deb" {
			fromSyft = append(fromSyft, a.Name+" "+a.Version+" "+a.Metadata.Architecture)
		}
	}
	sort.Strings(fromSyft)
	if !slices.Equal(fromSBOM, fromSyft) {
		c.Errorf("pgassemble's SBOM lists %d packages, syft %d; differences: %v", len(fromSBOM), len(fromSyft), diffAll(fromSBOM, fromSyft, "SBOM only: ", "syft only: "))
	}
	if len(fromSyft) < 50 {
		c.Errorf("syft found only %d Debian packages", len(fromSyft))
	}
	c.Logf("syft scanned %s in %.1fs: %d Debian packages", ref, took.Seconds(), len(fromSyft))
}

// diffAll names every element of a not in b and of b not in a (both sorted), prefixed.
func diffAll(a, b []string, onlyA, onlyB string) []string {
	var d []string
	for _, x := range a {
		if _, found := slices.BinarySearch(b, x); !found {
			d = append(d, onlyA+x)
		}
	}
	for _, x := range b {
		if _, found := slices.BinarySearch(a, x); !found {
			d = append(d, onlyB+x)
		}
	}
	return d
}

// exportStatus writes the flattened image's var/lib/dpkg/status under root (crane export).
func exportStatus(ctx context.Context, ref, root string) error {
	cmd := exec.CommandContext(ctx, "crane", "export", ref, "-")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Wait()
	tr := tar.NewReader(out)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return errors.New("crane export " + ref + ": no var/lib/dpkg/status")
		}
		if err != nil {
			return err
		}
		if strings.TrimPrefix(h.Name, "./") != "var/lib/dpkg/status" {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		dir := filepath.Join(root, "var/lib/dpkg")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		go io.Copy(io.Discard, out) // let crane finish
		return os.WriteFile(filepath.Join(dir, "status"), data, 0o644)
	}
}

func firstDiff(a, b []string) []string {
	in := func(s []string, x string) bool { return slices.Contains(s, x) }
	var d []string
	for _, x := range a {
		if !in(b, x) && len(d) < 5 {
			d = append(d, "SBOM only: "+x)
		}
	}
	for _, x := range b {
		if !in(a, x) && len(d) < 10 {
			d = append(d, "dpkg only: "+x)
		}
	}
	return d
}

// TestSupply checks the signatures, attestations, referrers and SBOM of both built images.
func TestSupply(t *testing.T) {
	for _, env := range []string{"E2E_IMAGE_STANDARD", "E2E_IMAGE_MINIMAL_BOOKWORM"} {
		t.Run(strings.ToLower(strings.TrimPrefix(env, "E2E_IMAGE_")), func(t *testing.T) {
			img := imageFromEnv(t, env)
			t.Run("cosign-verify", func(t *testing.T) { checkCosignVerify(begin(t, img.Ref, "cosign verify (and a moved tag fails)"), img) })
			t.Run("cosign-verify-attestation", func(t *testing.T) {
				checkAttestations(begin(t, img.Ref, "cosign verify-attestation spdxjson+slsaprovenance1"), img)
			})
			t.Run("referrers", func(t *testing.T) { checkReferrers(begin(t, img.Ref, "referrers (oras discover)"), img) })
			t.Run("sbom-dpkg", func(t *testing.T) { checkSBOMMatchesDpkg(begin(t, img.Ref, "SBOM = dpkg-query of the image"), img) })
			t.Run("sbom-syft", func(t *testing.T) { checkSyftMatchesSBOM(begin(t, img.Ref, "SBOM = syft's scan, SPDX validates"), img) })
		})
	}
}
