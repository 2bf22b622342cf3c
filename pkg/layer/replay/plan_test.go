package replay

import (
	"archive/tar"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pgassemble/pgassemble/pkg/apt"
)

func emptyBase() fs.FS {
	return fstest.MapFS{"etc": &fstest.MapFile{Mode: fs.ModeDir | 0o755}}
}

// debianBase is a small root like debian:trixie-slim: gid 100 (users) is
// taken, var/run links to /run, merged /usr.
func debianBase() fstest.MapFS {
	return fstest.MapFS{
		"etc/passwd":          {Data: []byte("root:x:0:0:root:/root:/bin/bash\n_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")},
		"etc/group":           {Data: []byte("root:x:0:\nshadow:x:42:\nusers:x:100:\nnogroup:x:65534:\n")},
		"etc/shadow":          {Data: []byte("root:*:20000:0:99999:7:::\n"), Mode: 0o640},
		"etc/gshadow":         {Data: []byte("root:*::\nshadow:*::\nusers:*::\nnogroup:*::\n"), Mode: 0o640},
		"var/run":             {Data: []byte("/run"), Mode: fs.ModeSymlink | 0o777},
		"run":                 {Mode: fs.ModeDir | 0o755},
		"lib":                 {Data: []byte("usr/lib"), Mode: fs.ModeSymlink | 0o777},
		"usr/lib":             {Mode: fs.ModeDir | 0o755},
		"usr/local":           {Mode: fs.ModeDir | 0o755},
		"var/lib/dpkg/status": {Data: []byte("Package: adduser\nStatus: install ok installed\nVersion: 3.152\n\n")},
	}
}

func pkg(name string, deps string, scripts map[string]string) Package {
	p := Package{Name: name, Version: "1.0", Arch: "amd64", Scripts: map[string][]byte{}}
	p.Control = apt.Paragraph{{Name: "Package", Value: name}}
	if deps != "" {
		p.Control = append(p.Control, apt.Field{Name: "Depends", Value: deps})
	}
	for k, v := range scripts {
		p.Scripts[k] = []byte(v)
	}
	return p
}

const pgCommonPostinst = `#!/bin/sh
set -e
if [ "$1" = configure ]; then
    if ! getent passwd postgres > /dev/null; then
        adduser --system --quiet --home /var/lib/postgresql --no-create-home --shell /bin/bash --group --gecos "PostgreSQL administrator" postgres
    fi
    mkdir -p /var/log/postgresql
    chmod 1775 /var/log/postgresql
    chown root:postgres /var/log/postgresql
    [ -d /var/run/postgresql ] || install -d -m 2775 -o postgres -g postgres /var/run/postgresql
    if [ -z "$2" ]; then
        if getent group ssl-cert >/dev/null; then
            adduser --quiet postgres ssl-cert
        fi
    fi
    ucf --debconf-ok $CCTMP $CCCONFIG
fi
`

const sslCertPostinst = `#!/bin/sh
set -e
if ! getent group ssl-cert >/dev/null; then
	addgroup --quiet --system ssl-cert
fi
make-ssl-cert generate-default-snakeoil
dpkg-statoverride --update --add root ssl-cert 710 /etc/ssl/private
`

func lines(b []byte) []string { return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") }

func fileMap(t *testing.T, p *Plan) map[string]File {
	t.Helper()
	fl, err := p.Files()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]File{}
	for i, f := range fl {
		if i > 0 && fl[i-1].Path >= f.Path {
			t.Errorf("Files not sorted: %s before %s", fl[i-1].Path, f.Path)
		}
		m[f.Path] = f
	}
	return m
}

func TestAccounts(t *testing.T) {
	epoch := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	days := "20780"
	tests := []struct {
		name       string
		opts       Options
		adduser    string // adduser version in the base
		wantPasswd string
		wantGroup  []string
	}{
		{"adduser allocation", Options{}, "3.152",
			"postgres:x:100:102:PostgreSQL administrator:/var/lib/postgresql:/bin/bash",
			[]string{"ssl-cert:x:101:postgres", "postgres:x:102:"}},
		{"fixed uid keeps the allocated gid", Options{FixedIDs: map[string]int{"postgres": 26}}, "3.152",
			"postgres:x:26:102:PostgreSQL administrator:/var/lib/postgresql:/bin/bash",
			[]string{"ssl-cert:x:101:postgres", "postgres:x:102:"}},
		{"fixed uid and gid", Options{FixedIDs: map[string]int{"postgres": 26}, FixedGroupIDs: map[string]int{"postgres": 26}}, "3.152",
			"postgres:x:26:26:PostgreSQL administrator:/var/lib/postgresql:/bin/bash",
			[]string{"ssl-cert:x:101:postgres", "postgres:x:26:"}},
		{"old adduser writes empty gecos fields", Options{}, "3.134",
			"postgres:x:100:102:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash",
			[]string{"ssl-cert:x:101:postgres", "postgres:x:102:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := debianBase()
			base["var/lib/dpkg/status"] = &fstest.MapFile{Data: []byte("Package: adduser\nStatus: install ok installed\nVersion: " + tt.adduser + "\n\n")}
			opts := tt.opts
			opts.Arch, opts.Epoch, opts.AllowUnhandled = "amd64", epoch, false
			p, err := New(base, opts)
			if err != nil {
				t.Fatal(err)
			}
			// postgresql-common comes first but depends on ssl-cert, which
			// dpkg configures (and so allocates) first.
			err = p.AddPackages([]Package{
				pkg("postgresql-common", "adduser, ssl-cert", map[string]string{"postinst": pgCommonPostinst}),
				pkg("ssl-cert", "openssl", map[string]string{"postinst": sslCertPostinst}),
			})
			if err != nil {
				t.Fatal(err)
			}
			observe(t, p, "postgresql-common", "usr/share/postgresql-common/createcluster.conf", "ssl = on\n")
			files := fileMap(t, p)
			passwd := lines(files["etc/passwd"].Data)
			if got := passwd[len(passwd)-1]; got != tt.wantPasswd {
				t.Errorf("passwd line %q, want %q", got, tt.wantPasswd)
			}
			if passwd[0] != "root:x:0:0:root:/root:/bin/bash" || len(passwd) != 4 {
				t.Errorf("base lines not kept: %q", passwd)
			}
			group := lines(files["etc/group"].Data)
			if got := group[len(group)-2:]; strings.Join(got, "\n") != strings.Join(tt.wantGroup, "\n") {
				t.Errorf("group lines %q, want %q", got, tt.wantGroup)
			}
			shadow := lines(files["etc/shadow"].Data)
			if got := shadow[len(shadow)-1]; got != "postgres:!:"+days+"::::::" {
				t.Errorf("shadow line %q", got)
			}
			gshadow := lines(files["etc/gshadow"].Data)
			if got := strings.Join(gshadow[len(gshadow)-2:], "\n"); got != "ssl-cert:!::postgres\npostgres:!::" {
				t.Errorf("gshadow lines %q", got)
			}
			if f := files["etc/shadow"]; f.Mode != 0o640 || f.Gid != 42 {
				t.Errorf("shadow mode %o gid %d, want 0640 root:shadow", f.Mode, f.Gid)
			}
			uid, _ := p.LookupUser("postgres")
			gid, _ := p.LookupGroup("postgres")
			run := files["run/postgresql"]
			if run.Type != tar.TypeDir || run.Mode != 0o2775 || run.Uid != uid || run.Gid != gid {
				t.Errorf("run/postgresql = %+v, want dir 2775 %d:%d", run, uid, gid)
			}
			if _, ok := files["var/run/postgresql"]; ok {
				t.Error("var/run/postgresql written through the base's symlink")
			}
			logd := files["var/log/postgresql"]
			if logd.Mode != 0o1775 || logd.Uid != 0 || logd.Gid != gid {
				t.Errorf("var/log/postgresql = %+v", logd)
			}
			priv := files["etc/ssl/private"]
			sslGID, _ := p.LookupGroup("ssl-cert")
			if priv.Mode != 0o710 || priv.Gid != sslGID {
				t.Errorf("etc/ssl/private = %+v", priv)
			}
			if so := string(files["var/lib/dpkg/statoverride"].Data); so != "root ssl-cert 710 /etc/ssl/private\n" {
				t.Errorf("statoverride %q", so)
			}
			for name := range files {
				if strings.Contains(name, "snakeoil") {
					t.Errorf("snakeoil file %s generated", name)
				}
			}
		})
	}
}

func TestFixedIDCollision(t *testing.T) {
	p, err := New(debianBase(), Options{Arch: "amd64", FixedIDs: map[string]int{"postgres": 42}})
	if err != nil {
		t.Fatal(err)
	}
	err = p.AddPackages([]Package{pkg("postgresql-common", "", map[string]string{"postinst": pgCommonPostinst})})
	if err == nil || !strings.Contains(err.Error(), "42") {
		t.Errorf("err = %v, want a collision with _apt's uid 42", err)
	}
}

func TestUcfAndEdits(t *testing.T) {
	tmpl := "# template\nssl = off\n#create_main_cluster = true\nother = 1\n"
	p, err := New(debianBase(), Options{Arch: "amd64", Edits: []Edit{cnpgCreateClusterEdit}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AddPackages([]Package{pkg("postgresql-common", "", map[string]string{"postinst": pgCommonPostinst})}); err != nil {
		t.Fatal(err)
	}
	observe(t, p, "postgresql-common", "usr/share/postgresql-common/createcluster.conf", tmpl)
	files := fileMap(t, p)
	got := string(files["etc/postgresql-common/createcluster.conf"].Data)
	if want := "# template\nssl = on\ncreate_main_cluster = false\nother = 1\n"; got != want {
		t.Errorf("createcluster.conf = %q, want %q", got, want)
	}
	pristine := "# template\nssl = on\n#create_main_cluster = true\nother = 1\n"
	sum := md5.Sum([]byte(pristine))
	wantHash := hex.EncodeToString(sum[:]) + "  /etc/postgresql-common/createcluster.conf\n"
	for name, want := range map[string]string{
		"var/lib/ucf/hashfile":   wantHash,
		"var/lib/ucf/hashfile.0": wantHash,
		"var/lib/ucf/hashfile.1": "",
		"var/lib/ucf/registry":   "postgresql-common \t /etc/postgresql-common/createcluster.conf\n",
		"var/lib/ucf/registry.0": "",
		"var/lib/ucf/cache/:etc:postgresql-common:createcluster.conf": pristine,
	} {
		if f, ok := files[name]; !ok || string(f.Data) != want {
			t.Errorf("%s = %q, want %q", name, f.Data, want)
		}
	}
}

func observe(t *testing.T, p *Plan, pkg, name, body string) {
	t.Helper()
	h := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}
	if err := p.Observe(pkg, h, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
}

func observeLink(t *testing.T, p *Plan, pkg, name, target string) {
	t.Helper()
	if err := p.Observe(pkg, &tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestAlternativeGroupFormat(t *testing.T) {
	const state = "auto\n/usr/bin/pager\npager.1.gz\n/usr/share/man/man1/pager.1.gz\n\n/bin/more\n50\n/usr/share/man/man1/more.1.gz\n\n"
	g, err := parseAltGroup(state)
	if err != nil {
		t.Fatal(err)
	}
	if g.String() != state {
		t.Errorf("round trip:\n%q\nwant\n%q", g.String(), state)
	}
	g.install(Alternative{Link: "/usr/bin/pager", Name: "pager", Path: "/usr/bin/less", Priority: 77,
		Slaves: []Slave{{"/usr/share/man/man1/pager.1.gz", "pager.1.gz", "/usr/share/man/man1/less.1.gz"}, {"/usr/bin/apager", "apager", "/usr/bin/aless"}}})
	want := "auto\n/usr/bin/pager\napager\n/usr/bin/apager\npager.1.gz\n/usr/share/man/man1/pager.1.gz\n\n" +
		"/bin/more\n50\n\n/usr/share/man/man1/more.1.gz\n/usr/bin/less\n77\n/usr/bin/aless\n/usr/share/man/man1/less.1.gz\n\n"
	if got := g.String(); got != want {
		t.Errorf("after install:\n%q\nwant\n%q", got, want)
	}
	if b := g.best(); b.Path != "/usr/bin/less" {
		t.Errorf("best = %s", b.Path)
	}
	if _, err := parseAltGroup("auto\n/x\nslave\n"); err == nil {
		t.Error("truncated file accepted")
	}
}

func TestAlternativeLinks(t *testing.T) {
	p, err := New(debianBase(), Options{Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	post := "update-alternatives --quiet --install /usr/bin/pinentry pinentry /usr/bin/pinentry-curses 50 --slave /usr/share/man/man1/pinentry.1.gz pinentry.1.gz /usr/share/man/man1/pinentry-curses.1.gz\n"
	if err := p.AddPackages([]Package{pkg("pinentry-curses", "", map[string]string{"postinst": post})}); err != nil {
		t.Fatal(err)
	}
	// The man page was removed by a dpkg path filter: no slave link.
	observe(t, p, "pinentry-curses", "usr/bin/pinentry-curses", "\x7fELF")
	files := fileMap(t, p)
	for name, target := range map[string]string{
		"usr/bin/pinentry":          "/etc/alternatives/pinentry",
		"etc/alternatives/pinentry": "/usr/bin/pinentry-curses",
	} {
		if f := files[name]; f.Type != tar.TypeSymlink || f.Linkname != target {
			t.Errorf("%s = %+v, want link to %s", name, f, target)
		}
	}
	for _, name := range []string{"usr/share/man/man1/pinentry.1.gz", "etc/alternatives/pinentry.1.gz"} {
		if _, ok := files[name]; ok {
			t.Errorf("%s created for a filtered man page", name)
		}
	}
	want := "auto\n/usr/bin/pinentry\npinentry.1.gz\n/usr/share/man/man1/pinentry.1.gz\n\n/usr/bin/pinentry-curses\n50\n/usr/share/man/man1/pinentry-curses.1.gz\n\n"
	if got := string(files["var/lib/dpkg/alternatives/pinentry"].Data); got != want {
		t.Errorf("state file %q", got)
	}
}

func TestPgManAlternatives(t *testing.T) {
	for _, merged := range []bool{true, false} {
		p, _ := New(debianBase(), Options{Arch: "amd64", AllowUnhandled: true})
		_ = p.AddPackages([]Package{
			pkg("postgresql-client-17", "", map[string]string{"postinst": "configure_client_version 17 \"$2\"\n"}),
			pkg("postgresql-17", "postgresql-client-17", map[string]string{"postinst": "configure_version 17 \"$2\"\n"}),
		})
		fns := "configure_version() {\n relink_postmaster_manpages\n}\n"
		if !merged {
			fns = "configure_version() {\n _link_manpages \"$VERSION\" postmaster.1.gz \"postgresql-$1\"\n}\n"
		}
		observe(t, p, "postgresql-common", "usr/share/postgresql-common/maintscripts-functions", fns)
		for _, f := range []struct{ pkg, name string }{
			{"postgresql-client-17", "usr/share/postgresql/17/man/man1/psql.1.gz"},
			{"postgresql-client-17", "usr/share/postgresql/17/man/man7/SELECT.7.gz"},
			{"postgresql-17", "usr/share/postgresql/17/man/man1/postmaster.1.gz"},
			{"postgresql-17", "usr/share/postgresql/17/man/man1/initdb.1.gz"},
		} {
			observe(t, p, f.pkg, f.name, "gz")
		}
		files := fileMap(t, p)
		psql := string(files["var/lib/dpkg/alternatives/psql.1.gz"].Data)
		_, hasPostmaster := files["var/lib/dpkg/alternatives/postmaster.1.gz"]
		if merged {
			if !strings.Contains(psql, "initdb.1.gz\n") || !strings.Contains(psql, "\n170\n") || hasPostmaster {
				t.Errorf("merged scheme: psql group %q, postmaster group %v", psql, hasPostmaster)
			}
		} else if strings.Contains(psql, "initdb.1.gz") || !hasPostmaster {
			t.Errorf("old scheme: psql group %q, postmaster group %v", psql, hasPostmaster)
		}
		if f := files["usr/share/man/man7/SELECT.7.gz"]; f.Linkname != "/etc/alternatives/SELECT.7.gz" {
			t.Errorf("slave link %+v", f)
		}
	}
}

func TestHeredocAndCopies(t *testing.T) {
	base := debianBase()
	base["etc/networks"] = &fstest.MapFile{Data: []byte("kept\n")}
	p, _ := New(base, Options{Arch: "amd64"})
	netbase := "create_hosts_file() {\n  if [ -e /etc/hosts ]; then return 0; fi\n  cat > /etc/hosts <<-EOF\n\t127.0.0.1\tlocalhost\n\tEOF\n}\n" +
		"create_networks_file() {\n  cat > /etc/networks <<-EOF\n\tdefault\t0.0.0.0\n\tEOF\n}\ncreate_hosts_file\ncreate_networks_file\n"
	rl := "install_from_default() {\n  if [ ! -f $2 ]; then\n    cp -p $1 $2\n  fi\n}\ninstall_from_default /usr/share/readline/inputrc /etc/inputrc\n"
	if err := p.AddPackages([]Package{pkg("netbase", "", map[string]string{"postinst": netbase}),
		pkg("readline-common", "", map[string]string{"postinst": rl})}); err != nil {
		t.Fatal(err)
	}
	observe(t, p, "readline-common", "usr/share/readline/inputrc", "set bell-style none\n")
	files := fileMap(t, p)
	if got := string(files["etc/hosts"].Data); got != "127.0.0.1\tlocalhost\n" {
		t.Errorf("etc/hosts = %q", got)
	}
	if _, ok := files["etc/networks"]; ok {
		t.Error("etc/networks of the base overwritten")
	}
	if got := string(files["etc/inputrc"].Data); got != "set bell-style none\n" {
		t.Errorf("etc/inputrc = %q", got)
	}
}

func TestTriggersAndDiversions(t *testing.T) {
	base := debianBase()
	base["var/lib/dpkg/triggers/File"] = &fstest.MapFile{Data: []byte("/usr/lib32 base-files/noawait\n")}
	p, _ := New(base, Options{Arch: "arm64"})
	pre := "for lib in libhistory.so.8 libreadline.so.8; do\n\tdpkg-divert --package libreadline8t64 --no-rename --divert \"/lib/aarch64-linux-gnu/$lib.usr-is-merged\" --add \"/lib/aarch64-linux-gnu/$lib\"\ndone\n"
	if err := p.AddPackages([]Package{
		pkg("libreadline8t64", "", map[string]string{"preinst": pre, "triggers": "activate-noawait ldconfig\n"}),
		pkg("certs", "", map[string]string{"triggers": "interest update-ca-certificates\ninterest-noawait /usr/share/ca-certificates/x\n"}),
	}); err != nil {
		t.Fatal(err)
	}
	files := fileMap(t, p)
	wantDiv := "/lib/aarch64-linux-gnu/libhistory.so.8\n/lib/aarch64-linux-gnu/libhistory.so.8.usr-is-merged\nlibreadline8t64\n" +
		"/lib/aarch64-linux-gnu/libreadline.so.8\n/lib/aarch64-linux-gnu/libreadline.so.8.usr-is-merged\nlibreadline8t64\n"
	if got := string(files["var/lib/dpkg/diversions"].Data); got != wantDiv {
		t.Errorf("diversions %q", got)
	}
	if got := string(files["var/lib/dpkg/triggers/File"].Data); got != "/usr/lib32 base-files/noawait\n/usr/share/ca-certificates/x certs/noawait\n" {
		t.Errorf("triggers/File %q", got)
	}
	if got := string(files["var/lib/dpkg/triggers/update-ca-certificates"].Data); got != "certs\n" {
		t.Errorf("triggers/update-ca-certificates %q", got)
	}
}

func TestCanonicalThroughObservedLinks(t *testing.T) {
	p, _ := New(debianBase(), Options{Arch: "amd64"})
	observeLink(t, p, "x", "opt/link", "/srv/real")
	for in, want := range map[string]string{
		"/var/run/postgresql": "run/postgresql",
		"/lib/x/libz.so":      "usr/lib/x/libz.so",
		"/opt/link/file":      "srv/real/file",
		"/etc/passwd":         "etc/passwd",
	} {
		if got := p.canonical(in); got != want {
			t.Errorf("canonical(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestEditLines(t *testing.T) {
	got := editLines([]byte("a = 1\n#create_main_cluster = true\n"), cnpgCreateClusterEdit)
	if !bytes.Equal(got, []byte("a = 1\ncreate_main_cluster = false\n")) {
		t.Errorf("got %q", got)
	}
}

func TestEditOfMissingFile(t *testing.T) {
	p, _ := New(debianBase(), Options{Arch: "amd64", Edits: []Edit{{Path: "etc/nope.conf", Pattern: "a", Replace: "b"}}})
	if _, err := p.Files(); !errors.Is(err, ErrEditTarget) {
		t.Errorf("err = %v, want ErrEditTarget", err)
	}
}

func TestEditOfBaseFile(t *testing.T) {
	base := debianBase()
	base["etc/postgresql-common/createcluster.conf"] = &fstest.MapFile{Data: []byte("#create_main_cluster = true\n")}
	p, _ := New(base, Options{Arch: "amd64", Edits: []Edit{cnpgCreateClusterEdit}})
	files := fileMap(t, p)
	if got := string(files["etc/postgresql-common/createcluster.conf"].Data); got != "create_main_cluster = false\n" {
		t.Errorf("edited base file = %q", got)
	}
}

func TestTzdata(t *testing.T) {
	post := "get_timezone() { readlink /etc/localtime; }\nif test \"$(get_timezone)\" != \"$TIMEZONE\"; then\n ln -nsf \"/usr/share/zoneinfo/$TIMEZONE\" \"$DPKG_ROOT/etc/localtime.dpkg-new\" && mv -f \"$DPKG_ROOT/etc/localtime.dpkg-new\" \"$DPKG_ROOT/etc/localtime\"\nfi\n"
	for _, hasLink := range []bool{false, true} {
		base := debianBase()
		if hasLink {
			base["etc/localtime"] = &fstest.MapFile{Data: []byte("/usr/share/zoneinfo/Europe/Paris"), Mode: fs.ModeSymlink | 0o777}
		}
		p, _ := New(base, Options{Arch: "amd64"})
		if err := p.AddPackages([]Package{pkg("tzdata", "", map[string]string{"postinst": post})}); err != nil {
			t.Fatal(err)
		}
		f, ok := fileMap(t, p)["etc/localtime"]
		if hasLink && ok {
			t.Errorf("base link replaced by %+v", f)
		}
		if !hasLink && f.Linkname != "/usr/share/zoneinfo/Etc/UTC" {
			t.Errorf("etc/localtime = %+v", f)
		}
	}
}

func TestInitLinks(t *testing.T) {
	base := debianBase()
	p, _ := New(base, Options{Arch: "amd64"})
	post := "if [ -x /etc/init.d/foo ]; then update-rc.d foo defaults >/dev/null; fi\n" +
		"deb-systemd-helper unmask 'foo.service' >/dev/null || true\n" +
		"if deb-systemd-helper --quiet was-enabled 'foo.service'; then deb-systemd-helper enable 'foo.service' >/dev/null || true; fi\n" +
		"deb-systemd-helper --user enable 'foo.socket' >/dev/null || true\n"
	if err := p.AddPackages([]Package{pkg("foo", "", map[string]string{"postinst": post})}); err != nil {
		t.Fatal(err)
	}
	observe(t, p, "foo", "etc/init.d/foo", "#!/bin/sh\n### BEGIN INIT INFO\n# Default-Start:\t2 3 4 5\n# Default-Stop:\t\t0 1 6\n### END INIT INFO\n")
	observe(t, p, "foo", "usr/lib/systemd/system/foo.service", "[Unit]\nDescription=x\n[Install]\nWantedBy=multi-user.target\nAlias=bar.service\n")
	observe(t, p, "foo", "usr/lib/systemd/user/foo.socket", "[Install]\nWantedBy=sockets.target\n")
	files := fileMap(t, p)
	for name, target := range map[string]string{
		"etc/rc2.d/S01foo": "../init.d/foo",
		"etc/rc5.d/S01foo": "../init.d/foo",
		"etc/rc0.d/K01foo": "../init.d/foo",
		"etc/rc6.d/K01foo": "../init.d/foo",
		"etc/systemd/system/multi-user.target.wants/foo.service": "/lib/systemd/system/foo.service",
		"etc/systemd/system/bar.service":                         "/lib/systemd/system/foo.service",
		"etc/systemd/user/sockets.target.wants/foo.socket":       "/lib/systemd/user/foo.socket",
	} {
		if f := files[name]; f.Type != tar.TypeSymlink || f.Linkname != target {
			t.Errorf("%s = %+v, want link to %s", name, f, target)
		}
	}
	if _, ok := files["etc/rcS.d/S01foo"]; ok {
		t.Error("link in a runlevel the script does not name")
	}
	want := "/etc/systemd/system/multi-user.target.wants/foo.service\n/etc/systemd/system/bar.service\n"
	if got := string(files["var/lib/systemd/deb-systemd-helper-enabled/foo.service.dsh-also"].Data); got != want {
		t.Errorf("dsh-also %q", got)
	}
	if f, ok := files["var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/foo.service"]; !ok || len(f.Data) != 0 {
		t.Errorf("enabled marker %+v", f)
	}
	if _, ok := files["var/lib/systemd/deb-systemd-user-helper-enabled/foo.socket.dsh-also"]; !ok {
		t.Error("no user dsh-also")
	}
}

func TestUpgradeOfBasePackage(t *testing.T) {
	post := "update-alternatives --install /usr/bin/pager pager /bin/more 50\nif [ ! -f /etc/x ]; then cp -p /usr/share/x /etc/x; fi\nfrobnicate\n"
	base := debianBase()
	base["var/lib/dpkg/status"] = &fstest.MapFile{Data: []byte("Package: util-linux\nStatus: install ok installed\nVersion: 2.40\n\n")}
	p, _ := New(base, Options{Arch: "amd64", AllowUnhandled: true})
	_ = p.AddPackages([]Package{pkg("util-linux", "", map[string]string{"postinst": post})})
	var got []Verdict
	for _, c := range p.Explain() {
		got = append(got, c.Verdict)
	}
	// [, cp, update-alternatives..., frobnicate: only the unknown command stays unhandled
	want := []Verdict{NoOp, NoOp, NoOp, Unhandled}
	if len(got) != len(want) {
		t.Fatalf("got %v", p.Explain())
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("command %d (%s): %v, want %v", i, p.Explain()[i].Command, got[i], want[i])
		}
	}
	// The same script as a fresh install: the alternative is not in the table.
	p, _ = New(debianBase(), Options{Arch: "amd64", AllowUnhandled: true})
	_ = p.AddPackages([]Package{pkg("util-linux", "", map[string]string{"postinst": post})})
	if ex := p.Explain(); ex[0].Verdict != Unhandled {
		t.Errorf("fresh install: %+v", ex[0])
	}
}

func TestSysusersGroup(t *testing.T) {
	p, _ := New(debianBase(), Options{Arch: "amd64"})
	post := "systemd-sysusers ${DPKG_ROOT:+--root=\"$DPKG_ROOT\"} ssl-cert.conf\nmake-ssl-cert generate-default-snakeoil\n"
	if err := p.AddPackages([]Package{pkg("ssl-cert", "", map[string]string{"postinst": post})}); err != nil {
		t.Fatal(err)
	}
	if gid, _ := p.LookupGroup("ssl-cert"); gid != 999 {
		t.Errorf("ssl-cert gid %d, want 999 (systemd-sysusers allocates from the top)", gid)
	}
	files := fileMap(t, p)
	if g := lines(files["etc/gshadow"].Data); g[len(g)-1] != "ssl-cert:!*::" {
		t.Errorf("gshadow %q", g[len(g)-1])
	}
}

func TestDiverted(t *testing.T) {
	p, _ := New(debianBase(), Options{Arch: "amd64"})
	if _, _, ok := p.Diverted("/usr/bin/pg_config"); ok {
		t.Error("diversion before the package is added")
	}
	if err := p.AddPackages([]Package{pkg("postgresql-common", "", map[string]string{"preinst": "dpkg-divert --package postgresql-common --rename --divert /usr/bin/pg_config.libpq-dev --add /usr/bin/pg_config\n"})}); err != nil {
		t.Fatal(err)
	}
	to, who, ok := p.Diverted("/usr/bin/pg_config")
	if !ok || to != "/usr/bin/pg_config.libpq-dev" || who != "postgresql-common" {
		t.Errorf("Diverted = %q %q %v", to, who, ok)
	}
	if _, _, ok := p.Diverted("/usr/bin/psql"); ok {
		t.Error("unexpected diversion")
	}
}

func FuzzParseAltGroup(f *testing.F) {
	f.Add("auto\n/usr/bin/pager\npager.1.gz\n/usr/share/man/man1/pager.1.gz\n\n/bin/more\n50\n/usr/share/man/man1/more.1.gz\n\n")
	f.Add("manual\n/x\n\n/y\n10\n\n")
	f.Fuzz(func(t *testing.T, s string) {
		g, err := parseAltGroup(s)
		if err != nil {
			return
		}
		// What parses writes back to something that parses the same.
		g2, err := parseAltGroup(g.String())
		if err != nil {
			t.Fatalf("rewrite does not parse: %v", err)
		}
		if len(g2.Choices) != len(g.Choices) {
			t.Fatalf("choices %d vs %d", len(g2.Choices), len(g.Choices))
		}
	})
}
