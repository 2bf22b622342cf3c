package assemble

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pgassemble/pgassemble/internal/fixture"
	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/apt/archive"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

// TestPGDGSourceInImage: an image whose PostgreSQL comes from PGDG carries
// the sources file the setup script writes with `-y -c 17` (the key it
// names is the one the package ships, in the image), pointing at the mirror
// the image was built from; apt reading the image's own sources finds the
// extensions there (what `apt-get update && apt-get install
// postgresql-17-<ext>` in a derived container needs).
func TestPGDGSourceInImage(t *testing.T) {
	f := fixture.New(t)
	ctx := context.Background()
	mirror := strings.TrimRight(f.PGDG.URL, "/")
	for _, tc := range []struct {
		name    string
		opts    func(*Options)
		wantURI string // "" = no PGDG source
	}{
		{"built-from mirror", nil, mirror},
		{"--pgdg-mirror-in-image", func(o *Options) { o.PGDGMirrorInImage = "https://pgdg.example/pub/repos/apt/" }, "https://pgdg.example/pub/repos/apt"},
		{"PostgreSQL from Debian", func(o *Options) { o.PGSource = variants.PGSourceDebian }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mut []func(*Options)
			if tc.opts != nil {
				mut = append(mut, tc.opts)
			}
			res, err := builder(f, t, t.TempDir(), mut...).Build(ctx, target(t, "17", "minimal"))
			if err != nil {
				t.Fatal(err)
			}
			im, _ := res.Index.IndexManifest()
			img, err := res.Index.Image(im.Manifests[0].Digest)
			if err != nil {
				t.Fatal(err)
			}
			files := flatten(t, img)
			got, ok := files["etc/apt/sources.list.d/pgdg.sources"]
			if tc.wantURI == "" {
				if ok {
					t.Fatalf("PGDG source in an image without PGDG:\n%s", got)
				}
				return
			}
			want := "Types: deb\nURIs: " + tc.wantURI + "\nSuites: trixie-pgdg\nComponents: main 17\nSigned-By: /usr/share/postgresql-common/pgdg/pgdg.asc\n"
			if got != want {
				t.Fatalf("pgdg.sources:\n%s\nwant:\n%s", got, want)
			}
			key, err := os.ReadFile(f.PGDG.ArmoredKeyringFile)
			if err != nil {
				t.Fatal(err)
			}
			if files["usr/share/postgresql-common/pgdg/pgdg.asc"] != string(key) {
				t.Errorf("the key Signed-By names is not in the image")
			}
			if tc.wantURI != mirror {
				return
			}
			// apt in the derived container: the image's own sources and
			// keyrings, verified, list the extension.
			fsys := fstest.MapFS{}
			for p, body := range files {
				fsys[p] = &fstest.MapFile{Data: []byte(body), Mode: 0o644}
			}
			srcs, err := archive.ReadSources(fsys)
			if err != nil {
				t.Fatal(err)
			}
			repos, err := archive.Repos(fsys, srcs)
			if err != nil {
				t.Fatal(err)
			}
			c := archive.New(archive.WithCacheDir(t.TempDir()), archive.WithRetries(0, time.Millisecond))
			pkgs, err := c.Indexes(ctx, repos, "amd64")
			if err != nil {
				t.Fatalf("apt-get update with the image's sources: %v", err)
			}
			u := apt.NewUniverse("amd64", pkgs)
			if len(u.Versions("postgresql-17-pgaudit")) == 0 {
				t.Errorf("postgresql-17-pgaudit not found through the image's sources")
			}
		})
	}
}

func TestPGDGSourceBadScript(t *testing.T) {
	shipped := func(p string) bool { return p == "/k.asc" }
	for name, script := range map[string]string{
		"not shell":          "#!/bin/sh\nif then fi (\n",
		"no here-document":   "#!/bin/sh\nSOURCESLIST=/etc/apt/sources.list.d/x.sources\nKEYRING=/k.asc\necho hi > $SOURCESLIST\n",
		"no shipped keyring": "#!/bin/sh\nSOURCESLIST=/etc/apt/sources.list.d/x.sources\nKEYRING=/other.gpg\ncat > $SOURCESLIST <<EOF\nURIs: http://$HOST\nEOF\n",
		"no URIs":            "#!/bin/sh\nSOURCESLIST=/etc/apt/sources.list.d/x.sources\nKEYRING=/k.asc\ncat > $SOURCESLIST <<EOF\nTypes: deb\nEOF\n",
		"outside /etc/apt":   "#!/bin/sh\nSOURCESLIST=/etc/passwd\nKEYRING=/k.asc\ncat > $SOURCESLIST <<EOF\nURIs: http://$HOST\nEOF\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := pgdgSourceFromScript([]byte(script), shipped, "trixie", "17", "http://m")
			if !errors.Is(err, ErrPGDGScript) {
				t.Errorf("err %v, want ErrPGDGScript", err)
			}
		})
	}
}

// TestPGDGSourceWithAptGet: real apt, given the image's apt configuration,
// dpkg status and keys (absolute paths moved under a private root), updates
// from the fixture mirrors, verifying PGDG's InRelease with the key the
// image's source names, and would install an extension only PGDG ships:
// what `apt-get update && apt-get install postgresql-17-<ext>` does in a
// derived container. Skipped with a message where apt-get is not installed.
func TestPGDGSourceWithAptGet(t *testing.T) {
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("apt-get is not installed: the check with apt needs it")
	}
	f := fixture.New(t)
	res, err := builder(f, t, t.TempDir()).Build(context.Background(), target(t, "17", "minimal"))
	if err != nil {
		t.Fatal(err)
	}
	im, _ := res.Index.IndexManifest()
	img, err := res.Index.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	arch := im.Manifests[0].Platform.Architecture
	root := t.TempDir()
	for p, body := range flatten(t, img) {
		keep := strings.HasPrefix(p, "etc/apt/") || strings.HasPrefix(p, "usr/share/keyrings/") ||
			strings.HasPrefix(p, "usr/share/postgresql-common/pgdg/") || p == "var/lib/dpkg/status"
		if !keep || strings.HasPrefix(body, "-> ") {
			continue
		}
		if strings.HasPrefix(p, "etc/apt/sources.list.d/") {
			body = strings.ReplaceAll(body, "Signed-By: /", "Signed-By: "+root+"/")
		}
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"var/lib/apt/lists/partial", "var/cache/apt/archives/partial", "etc/apt/apt.conf.d", "etc/apt/preferences.d"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := []string{"-o", "Dir=" + root, "-o", "Dir::State::status=" + filepath.Join(root, "var/lib/dpkg/status"),
		"-o", "APT::Architecture=" + arch, "-o", "APT::Architectures::=" + arch, "-o", "Debug::NoLocking=1",
		"-o", "APT::Sandbox::User=root", "-q"}
	out, err := exec.Command("apt-get", append(opts, "update")...).CombinedOutput()
	if err != nil || strings.Contains(string(out), "NO_PUBKEY") || strings.Contains(string(out), "W:") || !strings.Contains(string(out), "trixie-pgdg/17 "+arch+" Packages") {
		t.Fatalf("apt-get update with the image's sources: %v\n%s", err, out)
	}
	out, err = exec.Command("apt-get", append(opts, "-s", "install", "postgresql-17-pgaudit")...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Inst postgresql-17-pgaudit (1.0-1.pgdg13+1") {
		t.Fatalf("apt-get -s install postgresql-17-pgaudit: %v\n%s", err, out)
	}
}
