package assemble

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/pgassemble/pgassemble/internal/fixture"
	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/apt/apttest"
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
	aptGetFromImage(t, fixture.New(t))
}

// TestPGDGSourceReSignedMirror: a mirror that re-signs PGDG with its own key
// (as an air-gapped mirror does), verified with --keyring at build time.
// The image must trust that key for its PGDG source, or apt-get update in a
// derived container fails (NO_PUBKEY): the key file goes under
// /etc/apt/keyrings/, byte for byte, and Signed-By names it; real apt then
// updates and installs through the image's sources. With
// --pgdg-mirror-in-image (another mirror) the shipped key stays; with
// --pgdg-key-in-image that file is the key.
func TestPGDGSourceReSignedMirror(t *testing.T) {
	f := fixture.New(t)
	mirrorKey := apttest.NewKey(t, "air-gapped mirror")
	f.PGDG.SignWith(mirrorKey)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "mirror.asc")
	if err := apttest.WriteKeyring(keyFile, mirrorKey, true); err != nil {
		t.Fatal(err)
	}
	otherFile := filepath.Join(dir, "other.gpg")
	if err := apttest.WriteKeyring(otherFile, apttest.NewKey(t, "other"), false); err != nil {
		t.Fatal(err)
	}
	reSigned := func(o *Options) { o.PGDGMirror = f.PGDG.URL; o.Keyrings = []string{keyFile} }
	shipped := "/usr/share/postgresql-common/pgdg/pgdg.asc"
	for _, tc := range []struct {
		name      string
		opts      []func(*Options)
		signedBy  string // what pgdg.sources names
		keyFrom   string // the file whose bytes are there ("" = shipped)
		aptUpdate bool
	}{
		{"mirror's key in the image", []func(*Options){reSigned}, "/etc/apt/keyrings/pgdg.asc", keyFile, true},
		{"--pgdg-mirror-in-image keeps PGDG's key", []func(*Options){reSigned, func(o *Options) { o.PGDGMirrorInImage = "https://pgdg.example/apt" }}, shipped, "", false},
		{"--pgdg-key-in-image", []func(*Options){reSigned, func(o *Options) { o.PGDGKeyInImage = otherFile }}, "/etc/apt/keyrings/pgdg.gpg", otherFile, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := imageFiles(t, builder(f, t, t.TempDir(), tc.opts...))
			src := files["etc/apt/sources.list.d/pgdg.sources"]
			if !strings.Contains(src, "\nSigned-By: "+tc.signedBy+"\n") {
				t.Fatalf("pgdg.sources:\n%s\nwant Signed-By: %s", src, tc.signedBy)
			}
			if tc.keyFrom != "" {
				want, err := os.ReadFile(tc.keyFrom)
				if err != nil {
					t.Fatal(err)
				}
				if files[strings.TrimPrefix(tc.signedBy, "/")] != string(want) {
					t.Errorf("%s in the image is not %s byte for byte", tc.signedBy, tc.keyFrom)
				}
			} else if _, ok := files["etc/apt/keyrings/pgdg.asc"]; ok {
				t.Errorf("a PGDG key under /etc/apt/keyrings although the source names the shipped one")
			}
			if tc.aptUpdate {
				if _, err := exec.LookPath("apt-get"); err != nil {
					t.Log("apt-get is not installed: the check with apt is left out")
					return
				}
				aptGetFromImage(t, f, tc.opts...)
			}
		})
	}
	// The key given is checked before anything is built.
	bad := filepath.Join(dir, "bad.asc")
	if err := os.WriteFile(bad, []byte("not a key"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{PGDGKeyInImage: bad, Client: archive.New(archive.WithCacheDir(t.TempDir()))}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("New with an unusable --pgdg-key-in-image: %v, want an error naming %s", err, bad)
	}
	if _, err := New(Options{PGDGKeyInImage: keyFile, PGSource: variants.PGSourceDebian, Client: archive.New(archive.WithCacheDir(t.TempDir()))}); !errors.Is(err, ErrPGDGKey) {
		t.Errorf("--pgdg-key-in-image with PostgreSQL from Debian: %v, want ErrPGDGKey", err)
	}
}

// TestPGDGKeyInImageRule is the rule alone, on keys made here.
func TestPGDGKeyInImageRule(t *testing.T) {
	key := func(name string, armored bool) keyFile {
		p := filepath.Join(t.TempDir(), name)
		if err := apttest.WriteKeyring(p, apttest.NewKey(t, name), armored); err != nil {
			t.Fatal(err)
		}
		kf, err := readKeyFiles([]string{p})
		if err != nil {
			t.Fatal(err)
		}
		return kf[0]
	}
	pgdg, mirror, bin, other := key("pgdg", true), key("mirror", true), key("mirror-bin", false), key("other", true)
	var serialized bytes.Buffer
	for _, k := range []keyFile{mirror, bin} {
		for _, e := range k.Keys.Entities {
			if err := e.Serialize(&serialized); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name      string
		verified  []keyFile
		explicit  *keyFile
		builtFrom bool
		wantPath  string // "" = keep the shipped key
		wantData  []byte
	}{
		{"no --keyring", nil, nil, true, "", nil},
		{"--keyring is PGDG's own key", []keyFile{pgdg}, nil, true, "", nil},
		{"re-signed mirror", []keyFile{mirror}, nil, true, "etc/apt/keyrings/pgdg.asc", mirror.Data},
		{"re-signed mirror, binary key", []keyFile{bin}, nil, true, "etc/apt/keyrings/pgdg.gpg", bin.Data},
		{"PGDG's key and the mirror's", []keyFile{pgdg, mirror}, nil, true, "etc/apt/keyrings/pgdg.gpg", nil},
		{"several files: one binary keyring", []keyFile{mirror, bin}, nil, true, "etc/apt/keyrings/pgdg.gpg", serialized.Bytes()},
		{"source names another mirror", []keyFile{mirror}, nil, false, "", nil},
		{"explicit key", []keyFile{mirror}, &other, false, "etc/apt/keyrings/pgdg.asc", other.Data},
		{"explicit key over the verified one", []keyFile{mirror}, &bin, true, "etc/apt/keyrings/pgdg.gpg", bin.Data},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pgdgKeyInImage("etc/apt/sources.list.d/pgdg.sources", pgdg.Data, tc.verified, tc.explicit, tc.builtFrom)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantPath == "" {
				if got != nil {
					t.Fatalf("key %s in the image, want the shipped one kept", got.Path)
				}
				return
			}
			if got == nil || got.Path != tc.wantPath || got.Mode != 0o644 {
				t.Fatalf("got %+v, want %s mode 0644", got, tc.wantPath)
			}
			if tc.wantData != nil && !bytes.Equal(got.Data, tc.wantData) {
				t.Errorf("key bytes differ from what was given")
			}
			// Whatever is written holds exactly the keys trusted, and the
			// same inputs give the same bytes.
			k, err := archive.ParseKeyring(got.Data, got.Path)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.verified
			if tc.explicit != nil {
				want = []keyFile{*tc.explicit}
			}
			n := 0
			for _, w := range want {
				n += len(w.Keys.Entities)
			}
			if len(k.Entities) != n {
				t.Errorf("%d keys in the file, want %d", len(k.Entities), n)
			}
			again, _ := pgdgKeyInImage("etc/apt/sources.list.d/pgdg.sources", pgdg.Data, tc.verified, tc.explicit, tc.builtFrom)
			if !bytes.Equal(again.Data, got.Data) {
				t.Errorf("two calls with the same keys give different bytes")
			}
		})
	}
	body := []byte("Types: deb\nURIs: http://m\nSigned-By: /usr/share/k.asc\n")
	if got := string(withSignedBy(body, "/etc/apt/keyrings/pgdg.asc")); got != "Types: deb\nURIs: http://m\nSigned-By: /etc/apt/keyrings/pgdg.asc\n" {
		t.Errorf("withSignedBy replaced:\n%s", got)
	}
	if got := string(withSignedBy([]byte("Types: deb\nURIs: http://m\n"), "/k.gpg")); got != "Types: deb\nURIs: http://m\nSigned-By: /k.gpg\n" {
		t.Errorf("withSignedBy added:\n%s", got)
	}
	embedded := "Types: deb\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mDMEZ\n -----END PGP PUBLIC KEY BLOCK-----\nURIs: http://m\n"
	if got := string(withSignedBy([]byte(embedded), "/k.gpg")); got != "Types: deb\nSigned-By: /k.gpg\nURIs: http://m\n" {
		t.Errorf("withSignedBy over an embedded key:\n%s", got)
	}
}

// imageFiles builds 17-minimal with b and returns the first platform's
// flattened files.
func imageFiles(t *testing.T, b *Builder) map[string]string {
	t.Helper()
	res, err := b.Build(context.Background(), target(t, "17", "minimal"))
	if err != nil {
		t.Fatal(err)
	}
	im, _ := res.Index.IndexManifest()
	img, err := res.Index.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return flatten(t, img)
}

// aptGetFromImage: real apt, given the image's apt configuration, dpkg
// status and keys (absolute paths moved under a private root), updates from
// the fixture mirrors, verifying PGDG's InRelease with the key the image's
// source names, and would install an extension only PGDG ships: what
// `apt-get update && apt-get install postgresql-17-<ext>` does in a derived
// container.
func aptGetFromImage(t *testing.T, f *fixture.World, opts ...func(*Options)) {
	t.Helper()
	res, err := builder(f, t, t.TempDir(), opts...).Build(context.Background(), target(t, "17", "minimal"))
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
	aptOpts := []string{"-o", "Dir=" + root, "-o", "Dir::State::status=" + filepath.Join(root, "var/lib/dpkg/status"),
		"-o", "APT::Architecture=" + arch, "-o", "APT::Architectures::=" + arch, "-o", "Debug::NoLocking=1",
		"-o", "APT::Sandbox::User=root", "-q"}
	out, err := exec.Command("apt-get", append(aptOpts, "update")...).CombinedOutput()
	if err != nil || strings.Contains(string(out), "NO_PUBKEY") || strings.Contains(string(out), "W:") || !strings.Contains(string(out), "trixie-pgdg/17 "+arch+" Packages") {
		t.Fatalf("apt-get update with the image's sources: %v\n%s", err, out)
	}
	out, err = exec.Command("apt-get", append(aptOpts, "-s", "install", "postgresql-17-pgaudit")...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Inst postgresql-17-pgaudit (1.0-1.pgdg13+1") {
		t.Fatalf("apt-get -s install postgresql-17-pgaudit: %v\n%s", err, out)
	}
}

// TestPGDGKeyInImageRefusesPrivateKeys: a --keyring or --pgdg-key-in-image
// file holding secret key material (binary or armored) verifies a mirror
// but is never copied into the image: the rule and New fail naming it.
func TestPGDGKeyInImageRefusesPrivateKeys(t *testing.T) {
	e := apttest.NewKey(t, "mirror")
	write := func(name string, armored bool) string {
		var b bytes.Buffer
		w := io.Writer(&b)
		var aw io.WriteCloser
		if armored {
			var err error
			if aw, err = armor.Encode(&b, openpgp.PrivateKeyType, nil); err != nil {
				t.Fatal(err)
			}
			w = aw
		}
		if err := e.SerializePrivate(w, nil); err != nil {
			t.Fatal(err)
		}
		if aw != nil {
			aw.Close()
		}
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pub := filepath.Join(t.TempDir(), "pub.asc")
	if err := apttest.WriteKeyring(pub, e, true); err != nil {
		t.Fatal(err)
	}
	armoredBoth := filepath.Join(t.TempDir(), "both.asc")
	pubData, _ := os.ReadFile(pub)
	privData, _ := os.ReadFile(write("priv.asc", true))
	if err := os.WriteFile(armoredBoth, append(pubData, privData...), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{write("secring.gpg", false), armoredBoth} {
		kf, err := readKeyFiles([]string{p})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name     string
			verified []keyFile
			explicit *keyFile
		}{{"verified", kf, nil}, {"explicit", nil, &kf[0]}} {
			got, err := pgdgKeyInImage("etc/apt/sources.list.d/pgdg.sources", nil, tc.verified, tc.explicit, true)
			if !errors.Is(err, ErrPGDGKey) || !strings.Contains(err.Error(), p) || got != nil {
				t.Errorf("%s %s: key in the image %v, error %v; want ErrPGDGKey naming the file and no key", tc.name, filepath.Base(p), got != nil, err)
			}
		}
		// Not copied (the source names another mirror): it only verifies.
		if got, err := pgdgKeyInImage("etc/apt/sources.list.d/pgdg.sources", nil, kf, nil, false); err != nil || got != nil {
			t.Errorf("%s for verification only: key in the image %v, error %v", filepath.Base(p), got != nil, err)
		}
		if _, err := New(Options{PGDGKeyInImage: p, PGSource: variants.PGSourcePGDG, Client: archive.New(archive.WithCacheDir(t.TempDir()))}); !errors.Is(err, ErrPGDGKey) || !strings.Contains(err.Error(), p) {
			t.Errorf("New with --pgdg-key-in-image %s: %v, want ErrPGDGKey naming it", filepath.Base(p), err)
		}
	}
	// The public part alone is copied.
	kf, err := readKeyFiles([]string{pub})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := pgdgKeyInImage("etc/apt/sources.list.d/pgdg.sources", nil, kf, nil, true); err != nil || got == nil || !bytes.Equal(got.Data, pubData) {
		t.Errorf("public key: copied %v, error %v", got != nil, err)
	}
}
