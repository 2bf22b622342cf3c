package provenance

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/assemble"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

// plan is a resolved target on one platform: a Debian repository with an
// InRelease, a second one with only Release + Release.gpg, and a package
// from each, plus an installed one (no repository).
func plan() *assemble.TargetPlan {
	debian := &apt.Repository{URI: "http://mirror.invalid/debian/", Suite: "trixie", ReleaseSHA256: strings.Repeat("3", 64)}
	flat := &apt.Repository{URI: "http://other.invalid/repo", Suite: "trixie-extra", ReleaseSHA256: strings.Repeat("4", 64)}
	return &assemble.TargetPlan{
		Target: variants.Target{Name: "17-minimal-trixie"},
		Platforms: []*assemble.PlatformPlan{{
			Platform: v1.Platform{OS: "linux", Architecture: "arm64"},
			Base:     &assemble.Base{Ref: "127.0.0.1:5000/library/debian:trixie-slim", Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}},
			Releases: []assemble.ReleaseRef{
				{URL: "http://other.invalid/repo/dists/trixie-extra/Release", SHA256: strings.Repeat("4", 64)},
				{URL: "http://mirror.invalid/debian/dists/trixie/InRelease", SHA256: strings.Repeat("3", 64)},
			},
			Stages: []assemble.StagePlan{{Name: "minimal", Packages: []apt.Planned{
				{Package: &apt.Package{Name: "libpq5", Version: "17.5-1", Architecture: "arm64", SHA256: strings.Repeat("1", 64), Filename: "pool/main/p/postgresql-17/libpq5_17.5-1_arm64.deb", Repository: debian}},
				{Package: &apt.Package{Name: "extra", Version: "1.0", Architecture: "all", SHA256: strings.Repeat("2", 64), Filename: "/pool/e/extra_1.0_all.deb", Repository: flat}},
				{Package: &apt.Package{Name: "base-files", Version: "13.8", Architecture: "arm64"}},
			}}},
		}},
	}
}

func TestFromPlan(t *testing.T) {
	tp := plan()
	b := FromPlan(tp, tp.Platforms[0], Params{External: map[string]any{"configDigest": "sha256:00"}, BuilderVersion: "v1", Started: time.Unix(1, 0), Finished: time.Unix(2, 0)})
	if b.External["target"] != "17-minimal-trixie" || b.External["platform"] != "linux/arm64" || b.External["configDigest"] != "sha256:00" {
		t.Errorf("external parameters %v", b.External)
	}
	if b.Base.URI != "oci://127.0.0.1:5000/library/debian:trixie-slim" || b.Base.SHA256 != strings.Repeat("b", 64) {
		t.Errorf("base %+v", b.Base)
	}
	var debs []string
	for _, d := range b.Debs {
		debs = append(debs, d.Name+" "+d.URI+" "+d.Annotations["version"]+" "+d.Annotations["stage"])
	}
	want := []string{
		"libpq5 http://mirror.invalid/debian/pool/main/p/postgresql-17/libpq5_17.5-1_arm64.deb 17.5-1 minimal",
		"extra http://other.invalid/repo/pool/e/extra_1.0_all.deb 1.0 minimal",
	}
	if strings.Join(debs, "\n") != strings.Join(want, "\n") {
		t.Errorf("debs:\n%s\nwant (installed packages left out):\n%s", strings.Join(debs, "\n"), strings.Join(want, "\n"))
	}
	// Each release file as read: the InRelease, and for the repository
	// without one its Release, with Release.gpg named as the signature.
	if len(b.Releases) != 2 {
		t.Fatalf("releases %+v", b.Releases)
	}
	in, flat := b.Releases[0], b.Releases[1]
	if in.Name != "trixie" || in.URI != "http://mirror.invalid/debian/dists/trixie/InRelease" || in.Annotations["signature"] != "" {
		t.Errorf("InRelease dependency %+v", in)
	}
	if flat.Name != "trixie-extra" || flat.URI != "http://other.invalid/repo/dists/trixie-extra/Release" ||
		flat.Annotations["signature"] != "http://other.invalid/repo/dists/trixie-extra/Release.gpg" || flat.SHA256 != strings.Repeat("4", 64) {
		t.Errorf("Release-only dependency %+v", flat)
	}
	// The statement renders, and names no InRelease the repository lacks.
	out, err := Statement([]Subject{subj}, b)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "trixie-extra/InRelease") {
		t.Error("the statement names an InRelease for the repository that has only Release")
	}
	var st map[string]any
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatal(err)
	}
}

func TestReleaseSuite(t *testing.T) {
	for url, want := range map[string]string{
		"http://m/debian/dists/trixie/InRelease":                 "trixie",
		"http://m/debian-security/dists/trixie-security/Release": "trixie-security",
		"http://m/x/dists/stable/updates/InRelease":              "stable/updates",
		"http://m/flat/InRelease":                                "http://m/flat/InRelease",
	} {
		if got := releaseSuite(url); got != want {
			t.Errorf("releaseSuite(%q) = %q, want %q", url, got, want)
		}
	}
}
