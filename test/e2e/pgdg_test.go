//go:build e2e

package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"
)

// derivedScript is what a user's Dockerfile `FROM image` / `USER root` / `RUN apt-get update &&
// apt-get install -y postgresql-MM-<ext>` does, followed by PostgreSQL started as postgres with
// the extension created and used. Facts are printed as "@@key=value".
const derivedScript = `
say() { printf '@@%s=%s\n' "$1" "$(printf '%s' "$2" | tr '\n' '\036' | sed 's/\x1e/ | /g')"; }
src=/etc/apt/sources.list.d/pgdg.sources
say sources "$(cat $src 2>&1)"
key=$(sed -n 's/^Signed-By: *//p' $src)
say signed_by "$key"
say key_sha256 "$(sha256sum "$key" 2>&1 | cut -d' ' -f1)"
export DEBIAN_FRONTEND=noninteractive
apt-get update >/tmp/update.log 2>&1; say update_rc $?
say update "$(grep -E '^(W|E):|pgdg|NO_PUBKEY' /tmp/update.log)"
say policy "$(apt-cache policy $E2E_EXT 2>&1)"
apt-get install -y --no-install-recommends $E2E_EXT >/tmp/install.log 2>&1; say install_rc $?
say install "$(grep -E '^(Get|W|E):' /tmp/install.log)"
say status "$(dpkg-query -W -f '${db:Status-Abbrev}${Version}' $E2E_EXT 2>&1)"
say control "$(ls /usr/share/postgresql/$E2E_MAJOR/extension/$E2E_EXTNAME.control 2>&1)"
say audit "$(dpkg --audit 2>&1)"
say image_versions "$(dpkg-query -W -f '${Package}=${Version}\n' postgresql-$E2E_MAJOR postgresql-client-$E2E_MAJOR libpq5 postgresql-common postgresql-client-common 2>&1)"
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups env HOME=/var/lib/postgresql PATH=/usr/lib/postgresql/$E2E_MAJOR/bin:$PATH "$@"; }
if as_pg initdb -D /tmp/pgdata -U postgres -A trust >/tmp/initdb.log 2>&1 &&
	as_pg pg_ctl -D /tmp/pgdata -l /tmp/pg.log -w -t 120 -o "-c listen_addresses='' -c unix_socket_directories=/tmp" start >/tmp/pg_ctl.log 2>&1; then
	say start ok
	q() { as_pg psql -h /tmp -U postgres -d postgres -X -A -t -v ON_ERROR_STOP=1 2>&1; }
	say create "$(echo "create extension $E2E_EXTNAME" | q)"
	say extversion "$(echo "select extversion from pg_extension where extname = '$E2E_EXTNAME'" | q)"
	# pg_hint_plan at work: with sequential scans off the planner takes the index; the hint
	# makes it scan the table.
	say hinted "$(q <<'SQL'
load 'pg_hint_plan';
create table t (i int primary key);
set enable_seqscan = off;
/*+ SeqScan(t) */ explain (costs off) select * from t where i = 1;
SQL
)"
	as_pg pg_ctl -D /tmp/pgdata -w -m fast stop >/dev/null 2>&1
else
	say start "failed: $(tail -n 20 /tmp/initdb.log /tmp/pg.log /tmp/pg_ctl.log 2>&1)"
fi
true
`

// TestPGDG checks E2E_IMAGE_PGDG, built with --pg-source pgdg from the PGDG-shaped mirror
// E2E_PGDG_MIRROR (real Debian packages re-signed with the throw-away key E2E_PGDG_KEY, given
// to pgassemble as --keyring): a container derived from it, as root, runs apt-get update and
// apt-get install of E2E_PGDG_EXTENSION with the image's own apt sources and keys, and
// PostgreSQL then creates and uses the extension, on both platforms (arm64 under qemu-user).
func TestPGDG(t *testing.T) {
	img := imageFromEnv(t, "E2E_IMAGE_PGDG")
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch+"-derived-container", func(t *testing.T) { derivedContainer(t, img, arch) })
	}
}

// derivedContainer is TestPGDG's check on one platform of the image.
func derivedContainer(t *testing.T, img imageRef, arch string) {
	what := arch + " derived container: apt-get install from the PGDG source"
	if arch != "amd64" {
		what += " (qemu)"
	}
	c := begin(t, img.Ref, what)
	mirror, keyPath, accessLog, ext := os.Getenv("E2E_PGDG_MIRROR"), os.Getenv("E2E_PGDG_KEY"), os.Getenv("E2E_PGDG_ACCESS_LOG"), os.Getenv("E2E_PGDG_EXTENSION")
	if mirror == "" || keyPath == "" || ext == "" {
		c.NotChecked("the derived container", "E2E_PGDG_MIRROR, E2E_PGDG_KEY or E2E_PGDG_EXTENSION is not set (run through test/e2e/run.sh pgdg)")
	}
	key, err := os.ReadFile(keyPath)
	if err != nil {
		c.Fatalf("the mirror's key: %v", err)
	}
	sum := sha256.Sum256(key)
	// The extension's name in SQL: postgresql-17-pg-hint-plan -> pg_hint_plan.
	extName := strings.ReplaceAll(strings.TrimPrefix(ext, "postgresql-"+img.Major+"-"), "-", "_")
	logBefore := readFile(accessLog)
	digest := platformDigest(c, img, arch)
	out := podmanRun{
		Image: img.Repo + "@" + digest, Arch: arch, User: "0", Network: "host",
		Env:    []string{"E2E_EXT=" + ext, "E2E_EXTNAME=" + extName, "E2E_MAJOR=" + img.Major},
		Script: derivedScript, Timeout: 15 * time.Minute,
	}.run(c)
	f := facts(out)
	c.Logf("derived container facts: %v", f)
	// The source postgresql-common's script writes, pointing at the mirror the image was
	// built from, trusting the key that mirror was verified with (not PGDG's own, which
	// does not sign this mirror): its file in the image is the --keyring file, byte for byte.
	for _, want := range []string{"URIs: " + mirror, "Suites: " + img.Suite + "-pgdg", "Components: main " + img.Major} {
		if !strings.Contains(f["sources"], want) {
			c.Errorf("pgdg.sources lacks %q: %s", want, orMissing(f["sources"]))
		}
	}
	if !strings.HasPrefix(f["signed_by"], "/etc/apt/keyrings/") {
		c.Errorf("pgdg.sources Signed-By %q, want the mirror's key under /etc/apt/keyrings/", f["signed_by"])
	}
	if f["key_sha256"] != hex.EncodeToString(sum[:]) {
		c.Errorf("%s in the image has SHA256 %s, the --keyring file %s", f["signed_by"], orMissing(f["key_sha256"]), hex.EncodeToString(sum[:]))
	}
	// apt-get update verifies every source, the PGDG one with the key the image carries.
	if f["update_rc"] != "0" || strings.Contains(f["update"], "NO_PUBKEY") || strings.Contains(f["update"], "W:") || strings.Contains(f["update"], "E:") {
		c.Fatalf("apt-get update in the derived container: exit %s: %s", f["update_rc"], orMissing(f["update"]))
	}
	if !strings.Contains(f["policy"], mirror+" "+img.Suite+"-pgdg/main "+arch+" Packages") {
		c.Errorf("apt-cache policy %s does not list the PGDG source: %s", ext, orMissing(f["policy"]))
	}
	if f["install_rc"] != "0" || !strings.HasPrefix(f["status"], "ii ") {
		c.Fatalf("apt-get install %s: exit %s, dpkg status %q: %s", ext, f["install_rc"], f["status"], orMissing(f["install"]))
	}
	// PostgreSQL in the image and the extension come from the mirror: their versions carry
	// its PGDG suffix, and apt downloaded the extension from it.
	suffix := os.Getenv("E2E_PGDG_VERSION_SUFFIX")
	if suffix != "" {
		for _, pv := range strings.Split(f["image_versions"], " | ") {
			if !strings.HasSuffix(pv, suffix) {
				c.Errorf("%s in the image: not the PGDG mirror's version (no %s suffix)", pv, suffix)
			}
		}
		if !strings.HasSuffix(f["status"], suffix) {
			c.Errorf("%s installed at %q, not the PGDG mirror's version (%s)", ext, f["status"], suffix)
		}
		if !strings.Contains(f["install"], mirror+" "+img.Suite+"-pgdg/main "+arch+" "+ext) {
			c.Errorf("apt-get install did not download %s from %s: %s", ext, mirror, orMissing(f["install"]))
		}
	}
	if !strings.HasSuffix(f["control"], "/"+extName+".control") {
		c.Errorf("%s.control after the install: %s", extName, orMissing(f["control"]))
	}
	if strings.TrimSpace(f["audit"]) != "" {
		c.Errorf("dpkg --audit after the install: %s", f["audit"])
	}
	// The container's apt fetched the PGDG indexes from the mirror (the server's log).
	if accessLog != "" {
		fetched := strings.TrimPrefix(readFile(accessLog), logBefore)
		if !strings.Contains(fetched, "/dists/"+img.Suite+"-pgdg/InRelease 200 Debian APT") {
			c.Errorf("the mirror served no InRelease to apt during the check; its log:\n%s", tail(fetched, 1500))
		}
		if !strings.Contains(fetched, "/"+ext+"_") {
			c.Errorf("the mirror served no %s .deb during the check; its log:\n%s", ext, tail(fetched, 1500))
		}
		c.Logf("requests to the mirror from the derived container:\n%s", fetched)
	}
	if f["start"] != "ok" {
		c.Fatalf("PostgreSQL in the derived container: %s", orMissing(f["start"]))
	}
	if f["create"] != "CREATE EXTENSION" {
		c.Errorf("create extension %s: %s", extName, orMissing(f["create"]))
	}
	if v := f["extversion"]; v == "" || strings.Contains(v, "ERROR") {
		c.Errorf("pg_extension has no %s: %s", extName, orMissing(v))
	}
	if extName == "pg_hint_plan" && !strings.Contains(f["hinted"], "Seq Scan on t") {
		c.Errorf("the SeqScan(t) hint was not applied: %s", orMissing(f["hinted"]))
	}
}

// readFile returns the file's content, "" when it cannot be read.
func readFile(p string) string {
	if p == "" {
		return ""
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return string(b)
}
