package assemble

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/pgassemble/pgassemble/internal/debtest"
	"github.com/pgassemble/pgassemble/internal/fixture"
	"github.com/pgassemble/pgassemble/pkg/apt/apttest"
)

// TestOutdated: an image is up to date after its build; once PGDG
// publishes a newer server, Outdated names it on every platform, having
// read only the state layer of each; after a rebuild it is up to date
// again.
func TestOutdated(t *testing.T) {
	f := fixture.New(t)
	ctx := context.Background()
	cache := t.TempDir()
	tg := target(t, "17", "minimal")
	ref := f.RegHost + "/postgresql-testing:17-minimal-trixie"
	publishBuild := func() {
		t.Helper()
		res, err := builder(f, t, cache).Build(ctx, tg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := publisher(f, t).Publish(ctx, res.Index, res.Tags); err != nil {
			t.Fatal(err)
		}
	}
	check := func(wantDue bool) *OutdatedReport {
		t.Helper()
		rep, err := builder(f, t, cache).Outdated(ctx, tg, ref)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Due() != wantDue {
			t.Fatalf("Due %v, want %v: %+v", rep.Due(), wantDue, rep)
		}
		if rep.LayersRead != len(tg.Platforms) {
			t.Errorf("read %d layers for %d platforms, want the state layer of each", rep.LayersRead, len(tg.Platforms))
		}
		return rep
	}

	if _, err := builder(f, t, cache).Outdated(ctx, tg, ref); !errors.Is(err, ErrImageNotFound) {
		t.Fatalf("before publishing: %v, want ErrImageNotFound", err)
	}
	publishBuild()
	check(false)
	// A platform the image lacks is one a rebuild would add.
	wider, err := tg.WithPlatforms(append(slices.Clone(tg.Platforms), "linux/s390x"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := builder(f, t, cache).Outdated(ctx, wider, ref)
	if err != nil || !rep.Due() || !slices.Equal(rep.MissingPlatforms, []string{"linux/s390x"}) || len(rep.Packages) != 0 {
		t.Errorf("with a platform the image lacks: %+v, %v", rep, err)
	}

	f.PGDG.Update("trixie-pgdg", func(c *apttest.Config) {
		for _, a := range fixture.Arches {
			c.Packages["17"] = append(c.Packages["17"], debtest.Deb{Control: debtest.Control("Package", "postgresql-17", "Version", "17.13-1.pgdg13+1",
				"Architecture", a, "Depends", "postgresql-common (>= 252), postgresql-client-17, libc6 (>= 2.38)", "Description", "server"),
				Files: []debtest.File{{Path: "/usr/lib/postgresql/17/bin/postgres", Mode: 0o755, Body: "server 17.13 " + a}}})
		}
	})
	rep = check(true)
	var got []string
	for _, p := range rep.Packages {
		got = append(got, p.Platform+" "+p.Name+" "+p.Installed+" -> "+p.Available+" "+p.Suite)
		if p.Security {
			t.Errorf("%s marked as a security update from %s", p.Name, p.Suite)
		}
	}
	want := []string{
		"linux/amd64 postgresql-17 17.12-1.pgdg13+1 -> 17.13-1.pgdg13+1 trixie-pgdg",
		"linux/arm64 postgresql-17 17.12-1.pgdg13+1 -> 17.13-1.pgdg13+1 trixie-pgdg",
	}
	if !slices.Equal(got, want) {
		t.Errorf("outdated:\n%v\nwant:\n%v", got, want)
	}
	if rep.BaseChanged {
		t.Errorf("base reported changed")
	}

	publishBuild()
	check(false)
}

// TestImageStatusWalk: the dpkg status is read from the topmost layer that
// has it, fetching layers from the top down; a whiteout on the way down
// (of the file or of a directory above it) means there is none.
func TestImageStatusWalk(t *testing.T) {
	status := "Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n\n"
	layerOf := func(entries ...[2]string) v1.Layer {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, e := range entries {
			tw.WriteHeader(&tar.Header{Name: e[0], Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e[1]))})
			io.WriteString(tw, e[1])
		}
		tw.Close()
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b.Bytes())), nil })
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	withStatus := layerOf([2]string{"./var/lib/dpkg/status", status})
	other := layerOf([2]string{"etc/hostname", "x\n"})
	for _, tc := range []struct {
		name   string
		layers []v1.Layer // bottom first
		reads  int
		err    error
	}{
		{"on top", []v1.Layer{other, withStatus}, 1, nil},
		{"further down", []v1.Layer{withStatus, other, other}, 3, nil},
		{"whited out", []v1.Layer{withStatus, layerOf([2]string{"var/lib/dpkg/.wh.status", ""})}, 1, ErrNoStatus},
		{"opaque directory", []v1.Layer{withStatus, layerOf([2]string{"var/lib/dpkg/.wh..wh..opq", ""})}, 1, ErrNoStatus},
		{"parent whited out", []v1.Layer{withStatus, layerOf([2]string{"var/lib/.wh.dpkg", ""})}, 1, ErrNoStatus},
		{"opaque directory, status in the same layer", []v1.Layer{other, layerOf([2]string{"var/lib/dpkg/.wh..wh..opq", ""}, [2]string{"var/lib/dpkg/status", status})}, 1, nil},
		{"none", []v1.Layer{other}, 1, ErrNoStatus},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := mutate.AppendLayers(empty.Image, tc.layers...)
			if err != nil {
				t.Fatal(err)
			}
			pkgs, n, err := imageStatus(context.Background(), img)
			if !errors.Is(err, tc.err) || n != tc.reads {
				t.Fatalf("read %d layers, err %v; want %d, %v", n, err, tc.reads, tc.err)
			}
			if tc.err == nil && (len(pkgs) != 1 || pkgs[0].Name != "a") {
				t.Errorf("status %v", pkgs)
			}
		})
	}
}
