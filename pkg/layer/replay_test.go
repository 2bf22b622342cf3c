package layer

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/pgassemble/pgassemble/internal/debtest"
	"github.com/pgassemble/pgassemble/pkg/layer/maint"
)

// TestWithScripts wires the real script runner: the account the preinst
// creates (with the policy's uid) exists before the data is placed, so
// entries owned by "postgres" get uid 26, and Finish carries the accounts.
func TestWithScripts(t *testing.T) {
	base := makeBase(t, baseSpec{mergedUsr: true, files: map[string]string{
		"etc/shadow":          "root:*:19000:0:99999:7:::\n",
		"etc/gshadow":         "root:*::\n",
		"etc/login.defs":      "SYS_UID_MIN 100\nSYS_UID_MAX 999\nSYS_GID_MIN 100\nSYS_GID_MAX 999\n",
		"etc/adduser.conf":    "FIRST_SYSTEM_UID=100\nLAST_SYSTEM_UID=999\n",
		"var/lib/dpkg/status": "Package: adduser\nStatus: install ok installed\nVersion: 3.152\nArchitecture: all\n\n",
		"usr/sbin/adduser":    "#!/usr/bin/perl\n",
		"usr/bin/getent":      "\x7fELF",
	}})
	preinst := `#!/bin/sh
set -e
if [ "$1" = install ]; then
    if ! getent passwd postgres > /dev/null; then
        adduser --system --quiet --home /var/lib/postgresql --no-create-home --shell /bin/bash --group --gecos "PostgreSQL administrator" postgres
    fi
fi
`
	d := pkgDeb("postgresql-common",
		debtest.File{Path: "/usr/share/postgresql-common/createcluster.conf", Body: "#create_main_cluster = true\n"},
		debtest.File{Path: "/usr/share/postgresql-common/owned", Body: "x", Uname: "postgres", Gname: "postgres", Uid: 999, Gid: 999},
	)
	d.Control.Set("Depends", "adduser")
	d.Scripts = map[string]string{"preinst": preinst}
	b, err := NewBuilder(os.DirFS(base), Options{Arch: "amd64", CacheDir: t.TempDir(),
		Scripts: maint.Options{Policy: &maint.Policy{UIDs: map[string]int{"postgres": 26}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	l, err := b.AddStage(context.Background(), writeDebs(t, d))
	if err != nil {
		t.Fatal(err)
	}
	m := byName(readLayer(t, l))
	if e := m["usr/share/postgresql-common/owned"]; e.Uid != 26 {
		t.Errorf("owned: uid %d, want 26 (trace: %+v)", e.Uid, b.Trace())
	}
	fin, err := b.Finish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fm := byName(readLayer(t, fin))
	if p := fm["etc/passwd"].Body; !strings.Contains(p, "postgres:x:26:") {
		t.Errorf("etc/passwd:\n%s", p)
	}
	if s := fm["var/lib/dpkg/status"].Body; !strings.Contains(s, "Package: postgresql-common\nStatus: install ok installed\n") {
		t.Errorf("status:\n%s", s)
	}
}
