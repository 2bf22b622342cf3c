package lock

import (
	"context"
	"errors"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/apt/archive"
	"github.com/pgassemble/pgassemble/pkg/assemble"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

var (
	sumDebian = strings.Repeat("d", 64)
	sumPGDG   = strings.Repeat("e", 64)
	sumOther  = strings.Repeat("f", 64)
)

// releasePlan is a target on two platforms reading two repositories, one
// with an InRelease, one (PGDG-like) with only Release, through the given
// release file digests.
func releasePlan(debian, pgdg string) *assemble.TargetPlan {
	deb := &apt.Repository{URI: "http://deb.invalid/debian", Suite: "trixie", ReleaseSHA256: debian}
	pg := &apt.Repository{URI: "http://pg.invalid/apt", Suite: "trixie-pgdg", ReleaseSHA256: pgdg}
	tp := &assemble.TargetPlan{Target: variants.Target{Name: "t"}, Version: "17.5-1"}
	for _, arch := range []string{"amd64", "arm64"} {
		tp.Platforms = append(tp.Platforms, &assemble.PlatformPlan{
			Platform: v1.Platform{OS: "linux", Architecture: arch},
			Base:     &assemble.Base{Ref: "b", Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("1", 64)}},
			Releases: []assemble.ReleaseRef{
				{URL: "http://deb.invalid/debian/dists/trixie/InRelease", SHA256: debian},
				{URL: "http://pg.invalid/apt/dists/trixie-pgdg/Release", SHA256: pgdg},
			},
			Stages: []assemble.StagePlan{{Name: "minimal", Packages: []apt.Planned{
				{Package: &apt.Package{Name: "libc6", Version: "2.41", Architecture: arch, SHA256: strings.Repeat("2", 64), Filename: "pool/libc6.deb", Repository: deb}},
				{Package: &apt.Package{Name: "libpq5", Version: "17.5-1", Architecture: arch, SHA256: strings.Repeat("3", 64), Filename: "pool/libpq5.deb", Repository: pg}},
			}}},
		})
	}
	return tp
}

// TestReleaseDrift: the live archive's release file moving is listed once
// per repository (not per platform), with both digests; the packages
// themselves are still locked (Check passes).
func TestReleaseDrift(t *testing.T) {
	locked := FromPlan(releasePlan(sumDebian, sumPGDG))
	if d := locked.ReleaseDrift(releasePlan(sumDebian, sumPGDG)); len(d) != 0 {
		t.Fatalf("unchanged archive: drift %v", d)
	}
	moved := releasePlan(sumOther, sumPGDG)
	d := locked.ReleaseDrift(moved)
	if len(d) != 1 {
		t.Fatalf("drift %v, want one line for the Debian repository", d)
	}
	want := "http://deb.invalid/debian trixie (http://deb.invalid/debian/dists/trixie/InRelease): locked sha256:" + sumDebian + ", now sha256:" + sumOther
	if d[0].String() != want {
		t.Errorf("drift %q\nwant  %q", d[0], want)
	}
	if err := locked.Check(moved); err != nil {
		t.Errorf("same packages under a republished InRelease: %v", err)
	}
	// A repository the plan no longer reads at all.
	gone := releasePlan(sumDebian, sumPGDG)
	for _, pp := range gone.Platforms {
		pp.Releases = pp.Releases[:1]
	}
	if d := locked.ReleaseDrift(gone); len(d) != 1 || d[0].Now != "" || !strings.Contains(d[0].String(), "trixie-pgdg: locked sha256:"+sumPGDG+", now none") {
		t.Errorf("repository not read: %v", d)
	}
}

// fetcher serves digests by URL; others are 404, or fail when failing.
type fetcher struct {
	sums    map[string]string
	failing bool
	asked   []string
}

func (f *fetcher) SHA256(_ context.Context, url string) (string, error) {
	f.asked = append(f.asked, url)
	if f.failing {
		return "", errors.New("connection refused")
	}
	if s, ok := f.sums[url]; ok {
		return s, nil
	}
	return "", &archive.HTTPError{URL: url, StatusCode: 404, Status: "404 Not Found"}
}

// TestSnapshotRepositories: the snapshot is asked for the repositories of
// the locked packages the live archive no longer has as locked, and only
// those.
func TestSnapshotRepositories(t *testing.T) {
	locked := FromPlan(releasePlan(sumDebian, sumPGDG))
	if got := locked.SnapshotRepositories(releasePlan(sumOther, sumOther)); len(got) != 0 {
		t.Errorf("nothing moved (only release files): %v", got)
	}
	moved := releasePlan(sumOther, sumPGDG)
	moved.Platforms[1].Stages[0].Packages[0].Package.Version = "2.41-1+deb13u1"
	if got := locked.SnapshotRepositories(moved); strings.Join(got, ",") != "http://deb.invalid/debian trixie" {
		t.Errorf("libc6 moved on arm64: %v, want Debian's trixie only", got)
	}
	gone := releasePlan(sumDebian, sumPGDG)
	for _, pp := range gone.Platforms {
		pp.Stages[0].Packages = pp.Stages[0].Packages[:1]
	}
	gone.Platforms[0].Stages[0].Packages[0].Package.SHA256 = sumOther
	if got := locked.SnapshotRepositories(gone); strings.Join(got, ",") != "http://deb.invalid/debian trixie,http://pg.invalid/apt trixie-pgdg" {
		t.Errorf("libpq5 vanished and libc6 rebuilt: %v, want both repositories", got)
	}
}

// TestCheckReleases: with a snapshot mirror, its release files must be
// the locked ones, for every repository it serves packages of; anything
// else is ErrSnapshotRelease naming the repository and both digests.
func TestCheckReleases(t *testing.T) {
	locked := FromPlan(releasePlan(sumDebian, sumPGDG))
	all := []string{"http://deb.invalid/debian trixie", "http://pg.invalid/apt trixie-pgdg"}
	snap, err := ParseSnapshot("http://snap.invalid/archive/20261101T000000Z/{path}")
	if err != nil {
		t.Fatal(err)
	}
	const (
		debIn = "http://snap.invalid/archive/20261101T000000Z/dists/trixie/InRelease"
		pgIn  = "http://snap.invalid/archive/20261101T000000Z/dists/trixie-pgdg/InRelease"
		pgRel = "http://snap.invalid/archive/20261101T000000Z/dists/trixie-pgdg/Release"
	)
	for _, tc := range []struct {
		name string
		f    *fetcher
		want []string // in the error; none: no error
		is   error
	}{
		{"as locked", &fetcher{sums: map[string]string{debIn: sumDebian, pgRel: sumPGDG}}, nil, nil},
		{"InRelease moved", &fetcher{sums: map[string]string{debIn: sumOther, pgRel: sumPGDG}},
			[]string{"http://deb.invalid/debian trixie (" + debIn + "): locked sha256:" + sumDebian + ", now sha256:" + sumOther}, ErrSnapshotRelease},
		{"Release moved", &fetcher{sums: map[string]string{debIn: sumDebian, pgRel: sumOther}},
			[]string{"http://pg.invalid/apt trixie-pgdg (" + pgRel + "): locked sha256:" + sumPGDG + ", now sha256:" + sumOther}, ErrSnapshotRelease},
		{"not served", &fetcher{sums: map[string]string{pgRel: sumPGDG}},
			[]string{"http://deb.invalid/debian trixie", "now none"}, ErrSnapshotRelease},
		{"network", &fetcher{failing: true}, []string{"http://deb.invalid/debian trixie", "connection refused"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := snap.CheckReleases(context.Background(), &locked, all, tc.f)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; asked %v", tc.f.asked)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v\nlacks %q", err, w)
				}
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%v is not %v", err, tc.is)
			}
			if tc.is == nil && errors.Is(err, ErrSnapshotRelease) {
				t.Errorf("a network failure reported as a snapshot mismatch: %v", err)
			}
		})
	}
	// The snapshot's InRelease is asked first, Release only where there is none.
	f := &fetcher{sums: map[string]string{debIn: sumDebian, pgRel: sumPGDG}}
	snap.CheckReleases(context.Background(), &locked, all, f)
	if strings.Join(f.asked, " ") != strings.Join([]string{debIn, pgIn, pgRel}, " ") {
		t.Errorf("asked %v", f.asked)
	}
	// A snapshot of Debian only (as real snapshot services are) serves the
	// packages of Debian's repository: PGDG's release file is not asked.
	f = &fetcher{sums: map[string]string{debIn: sumDebian}}
	checked, err := snap.CheckReleases(context.Background(), &locked, all[:1], f)
	if err != nil || strings.Join(f.asked, " ") != debIn {
		t.Errorf("Debian only: %v, asked %v", err, f.asked)
	}
	if len(checked) != 1 || checked[0].URL != debIn || checked[0].SHA256 != sumDebian {
		t.Errorf("checked %+v, want Debian's snapshot InRelease", checked)
	}
	f = &fetcher{}
	if _, err := snap.CheckReleases(context.Background(), &locked, nil, f); err != nil || len(f.asked) != 0 {
		t.Errorf("nothing from the snapshot: %v, asked %v", err, f.asked)
	}
}
