package assemble

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/pgassemble/pgassemble/internal/debtest"
	"github.com/pgassemble/pgassemble/pkg/apt/apttest"
)

// fixture is a small but complete world: a Debian-like and a PGDG-like
// signed repository, a registry on 127.0.0.1 holding a two-platform base
// image (plus an attestation manifest to skip), and request counters.
type fixture struct {
	debian, pgdg *apttest.Repo
	reg          *httptest.Server
	regHost      string
	baseRef      string
	counter      *blobCounter
}

// blobCounter counts blob uploads per digest and can fail requests.
type blobCounter struct {
	mu      sync.Mutex
	uploads map[string]int // digest -> completed uploads
	failIf  func(r *http.Request) bool
	next    http.Handler
}

func (c *blobCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	fail := c.failIf != nil && c.failIf(r)
	c.mu.Unlock()
	if fail {
		http.Error(w, "injected fault", http.StatusInternalServerError)
		return
	}
	if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") {
		if d := r.URL.Query().Get("digest"); d != "" {
			c.mu.Lock()
			c.uploads[d]++
			c.mu.Unlock()
		}
	}
	c.next.ServeHTTP(w, r)
}

func (c *blobCounter) reset() {
	c.mu.Lock()
	c.uploads = map[string]int{}
	c.mu.Unlock()
}

func (c *blobCounter) total() (n int, maxPerDigest int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range c.uploads {
		n += v
		if v > maxPerDigest {
			maxPerDigest = v
		}
	}
	return
}

var fixtureArches = []string{"amd64", "arm64"}

func ctl(kv ...string) []string { return kv }

func pkg(fields []string, files []debtest.File, scripts map[string]string) debtest.Deb {
	return debtest.Deb{Control: debtest.Control(fields...), Files: files, Scripts: scripts}
}

func perArch(fn func(arch string) debtest.Deb) []debtest.Deb {
	var out []debtest.Deb
	for _, a := range fixtureArches {
		out = append(out, fn(a))
	}
	return out
}

// debianPackages are Debian-shaped packages: postgresql-common ships the
// PGDG key and a script naming the PGDG mirror, as Debian's does.
func debianPackages(pgdgURL string, pgdgKey []byte) []debtest.Deb {
	pgdgScript := "#!/bin/sh\n# configure the PGDG repository\nMIRROR=\"" + pgdgURL + "\"\n"
	var out []debtest.Deb
	common := func(version string) debtest.Deb {
		return pkg(ctl("Package", "postgresql-common", "Version", version, "Architecture", "all", "Maintainer", "Test <t@example.org>",
			"Depends", "postgresql-client-common, adduser", "Priority", "optional", "Section", "database", "Description", "PostgreSQL database-cluster manager"),
			[]debtest.File{
				{Path: "/usr/share/postgresql-common/createcluster.conf", Body: "# Default values for pg_createcluster\n#create_main_cluster = true\nstart_conf = 'auto'\n"},
				{Path: "/usr/share/postgresql-common/pgdg/pgdg.asc", Body: string(pgdgKey)},
				{Path: "/usr/share/postgresql-common/pgdg/setup-pgdg.sh", Mode: 0o755, Body: pgdgScript},
				{Path: "/usr/share/doc/postgresql-common/copyright", Body: "c"},
				{Path: "/usr/share/doc/postgresql-common/README", Body: "r"},
			},
			map[string]string{"postinst": "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n  adduser --system --quiet --home /var/lib/postgresql --no-create-home --shell /bin/bash --group --gecos \"PostgreSQL administrator\" postgres\n  ucf --debconf-ok /usr/share/postgresql-common/createcluster.conf /etc/postgresql-common/createcluster.conf\nfi\n"})
	}
	out = append(out, common("262"))
	out = append(out,
		pkg(ctl("Package", "postgresql-client-common", "Version", "262", "Architecture", "all", "Description", "client common"), []debtest.File{{Path: "/usr/bin/pg_wrapper", Mode: 0o755, Body: "#!/bin/sh\n"}}, nil),
		pkg(ctl("Package", "adduser", "Version", "3.137", "Architecture", "all", "Description", "adduser"), nil, nil),
		pkg(ctl("Package", "ca-certificates", "Version", "20250419", "Architecture", "all", "Description", "CA certificates"), []debtest.File{{Path: "/usr/share/ca-certificates/README", Body: "x"}}, nil),
		pkg(ctl("Package", "gnupg", "Version", "2.4.7-21", "Architecture", "all", "Description", "gnupg"), nil, nil),
		pkg(ctl("Package", "libldap-common", "Version", "2.6.10+dfsg-1", "Architecture", "all", "Description", "ldap"), []debtest.File{{Path: "/etc/ldap/ldap.conf", Body: "#\n"}}, map[string]string{"conffiles": "/etc/ldap/ldap.conf\n"}),
	)
	out = append(out, perArch(func(a string) debtest.Deb {
		return pkg(ctl("Package", "libsasl2-modules", "Version", "2.1.28+dfsg1-9", "Architecture", a, "Multi-Arch", "same", "Depends", "libc6 (>= 2.34)", "Description", "sasl"), []debtest.File{{Path: "/usr/lib/" + a + "-linux-gnu/sasl2/libplain.so.2.0.25", Body: "ELF?"}}, nil)
	})...)
	out = append(out, perArch(func(a string) debtest.Deb {
		return pkg(ctl("Package", "locales-all", "Version", "2.41-12", "Architecture", a, "Description", "locales"), []debtest.File{{Path: "/usr/lib/locale/C.utf8/LC_CTYPE", Body: "ctype"}}, nil)
	})...)
	out = append(out, perArch(func(a string) debtest.Deb {
		return pkg(ctl("Package", "libc6", "Version", "2.41-12", "Architecture", a, "Multi-Arch", "same", "Description", "libc"), nil, nil)
	})...)
	// Debian's own, older PostgreSQL: PGDG's must win.
	out = append(out, perArch(func(a string) debtest.Deb {
		return pkg(ctl("Package", "postgresql-17", "Version", "17.5-1", "Architecture", a, "Depends", "postgresql-common", "Description", "old"), nil, nil)
	})...)
	return out
}

func pgdgPackages(extensions bool) map[string][]debtest.Deb {
	var major []debtest.Deb
	ver := "17.12-1.pgdg13+1"
	major = append(major, perArch(func(a string) debtest.Deb {
		return pkg(ctl("Package", "postgresql-17", "Version", ver, "Architecture", a, "Depends", "postgresql-common (>= 252), postgresql-client-17, libc6 (>= 2.38)", "Provides", "postgresql-contrib-17", "Description", "server"),
			[]debtest.File{{Path: "/usr/lib/postgresql/17/bin/postgres", Mode: 0o755, Body: "server-" + a}, {Path: "/usr/share/doc/postgresql-17/copyright", Body: "c"}}, nil)
	})...)
	major = append(major, perArch(func(a string) debtest.Deb {
		return pkg(ctl("Package", "postgresql-client-17", "Version", ver, "Architecture", a, "Depends", "postgresql-client-common", "Description", "client"),
			[]debtest.File{{Path: "/usr/lib/postgresql/17/bin/psql", Mode: 0o755, Body: "psql-" + a}}, nil)
	})...)
	if extensions {
		for _, ext := range []string{"pgaudit", "pgvector", "pg-failover-slots"} {
			major = append(major, perArch(func(a string) debtest.Deb {
				return pkg(ctl("Package", "postgresql-17-"+ext, "Version", "1.0-1.pgdg13+1", "Architecture", a, "Depends", "postgresql-17", "Description", ext),
					[]debtest.File{{Path: "/usr/lib/postgresql/17/lib/" + ext + ".so", Body: ext + a}}, nil)
			})...)
		}
	}
	main := []debtest.Deb{
		pkg(ctl("Package", "postgresql-client-common", "Version", "285.pgdg13+1", "Architecture", "all", "Description", "client common"), []debtest.File{{Path: "/usr/bin/pg_wrapper", Mode: 0o755, Body: "#!/bin/sh\n# pgdg\n"}}, nil),
	}
	return map[string][]debtest.Deb{"main": main, "17": major}
}

func baseLayer(t testing.TB, arch, debianURL string, keyring []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	add := func(name string, typ byte, mode int64, body, link string) {
		h := &tar.Header{Name: name, Typeflag: typ, Mode: mode, Linkname: link, Size: int64(len(body)), Format: tar.FormatPAX}
		if typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, body)
	}
	for _, d := range []string{"etc/", "etc/apt/", "etc/apt/sources.list.d/", "etc/dpkg/", "etc/dpkg/dpkg.cfg.d/", "usr/", "usr/bin/", "usr/sbin/", "usr/lib/", "usr/share/", "usr/share/keyrings/", "var/", "var/lib/", "var/lib/dpkg/", "var/lib/dpkg/info/", "tmp/"} {
		add(d, tar.TypeDir, 0o755, "", "")
	}
	add("bin", tar.TypeSymlink, 0o777, "", "usr/bin")
	add("sbin", tar.TypeSymlink, 0o777, "", "usr/sbin")
	add("lib", tar.TypeSymlink, 0o777, "", "usr/lib")
	add("etc/os-release", tar.TypeReg, 0o644, "PRETTY_NAME=\"Test GNU/Linux 13 (trixie)\"\nID=debian\nVERSION_CODENAME=trixie\n", "")
	add("etc/passwd", tar.TypeReg, 0o644, "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", "")
	add("etc/group", tar.TypeReg, 0o644, "root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n", "")
	add("etc/shadow", tar.TypeReg, 0o640, "root:*:20000:0:99999:7:::\ndaemon:*:20000:0:99999:7:::\nnobody:*:20000:0:99999:7:::\n", "")
	add("etc/gshadow", tar.TypeReg, 0o640, "root:*::\ndaemon:*::\nnogroup:*::\n", "")
	add("etc/dpkg/dpkg.cfg.d/docker", tar.TypeReg, 0o644, "path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\n", "")
	add("etc/apt/sources.list.d/debian.sources", tar.TypeReg, 0o644, fmt.Sprintf("Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n", debianURL), "")
	add("usr/share/keyrings/debian-archive-keyring.gpg", tar.TypeReg, 0o644, string(keyring), "")
	add("var/lib/dpkg/status", tar.TypeReg, 0o644, fmt.Sprintf("Package: libc6\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: 10\nMaintainer: T <t@example.org>\nArchitecture: %s\nMulti-Arch: same\nVersion: 2.41-12\nDescription: libc\n\nPackage: base-files\nEssential: yes\nStatus: install ok installed\nPriority: required\nSection: admin\nInstalled-Size: 1\nMaintainer: T <t@example.org>\nArchitecture: %s\nVersion: 13.8\nDescription: base\n", arch, arch), "")
	add("var/lib/dpkg/info/libc6:"+arch+".list", tar.TypeReg, 0o644, "/.\n/usr\n", "")
	add("var/lib/dpkg/info/base-files.list", tar.TypeReg, 0o644, "/.\n/etc\n/etc/os-release\n", "")
	add("usr/bin/sh", tar.TypeReg, 0o755, "#!sh", "")
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{}
	// The PGDG repo is made first: its key goes into Debian's postgresql-common.
	f.pgdg = apttest.NewRepo(t, apttest.Config{Suite: "trixie-pgdg", Codename: "trixie-pgdg", Origin: "apt.pgdg.test", Arches: fixtureArches, Packages: pgdgPackages(true), Compressions: []string{"xz"}})
	pgdgKey, err := os.ReadFile(f.pgdg.ArmoredKeyringFile)
	if err != nil {
		t.Fatal(err)
	}
	f.debian = apttest.NewRepo(t, apttest.Config{Suite: "trixie", Codename: "trixie", Origin: "Debian", Arches: fixtureArches, Packages: map[string][]debtest.Deb{"main": debianPackages(f.pgdg.URL, pgdgKey)}, Compressions: []string{"xz"}})
	debKey, err := os.ReadFile(f.debian.KeyringFile)
	if err != nil {
		t.Fatal(err)
	}
	f.counter = &blobCounter{uploads: map[string]int{}, next: registry.New(registry.Logger(nullLogger()))}
	f.reg = httptest.NewServer(f.counter)
	t.Cleanup(f.reg.Close)
	f.regHost = strings.TrimPrefix(f.reg.URL, "http://")
	f.baseRef = f.regHost + "/library/debian:trixie-slim"

	idx := mutate.IndexMediaType(empty.Index, "application/vnd.oci.image.index.v1+json")
	for _, arch := range fixtureArches {
		data := baseLayer(t, arch, f.debian.URL, debKey)
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
		if err != nil {
			t.Fatal(err)
		}
		img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{Architecture: arch, OS: "linux", Config: v1.Config{Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, Cmd: []string{"bash"}}})
		if err != nil {
			t.Fatal(err)
		}
		img, err = mutate.AppendLayers(img, l)
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	// An attestation manifest, as BuildKit adds: it must be skipped.
	att, _ := mutate.ConfigFile(empty.Image, &v1.ConfigFile{})
	idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"}}})
	ref, err := name.ParseReference(f.baseRef, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	return f
}
