# shellcheck shell=bash
# The PGDG-shaped mirror of the end-to-end suite: sourced by run.sh, never executed.
#
# PGDG itself is not reachable from the machines this suite runs on. test/e2e/cmd/pgdg-mirror
# republishes real Debian packages (downloaded and verified from the host's Debian mirror by
# pgassemble's archive client) in PGDG's layout, signed with a key it makes at start: what an
# air-gapped mirror that re-signs PGDG is to pgassemble. The .debs stay in
# $E2E_CACHE/pgdg-mirror, so a second run downloads nothing.

: "${E2E_PGDG_ADDR:=127.0.0.1:5150}"
# The extension the derived container installs: one the minimal image does not carry.
: "${E2E_PGDG_EXTENSION:=postgresql-17-pg-hint-plan}"

# e2e_pgdg_mirror_start MAJOR CODENAME SUFFIX builds and starts the mirror, stops it by PID at
# exit, and sets E2E_PGDG_MIRROR (URL), E2E_PGDG_KEY (its public key), E2E_PGDG_ACCESS_LOG and
# E2E_PGDG_VERSION_SUFFIX. SUFFIX is what PGDG appends to the versions of its builds for the
# codename (".pgdg13+1" for trixie): the mirror appends it to the republished packages' versions,
# so they are newer than Debian's own and apt prefers them, as it prefers PGDG's.
e2e_pgdg_mirror_start() {
	local major=$1 codename=$2 suffix=$3 dir="$E2E_WORK/pgdg-mirror" bin="$E2E_WORK/bin/pgdg-mirror" pid i
	local port=${E2E_PGDG_ADDR##*:}
	if ss -Hltn "sport = :$port" | grep -q .; then
		e2e_die "port $port is already in use; stop that process or set E2E_PGDG_ADDR=127.0.0.1:PORT"
	fi
	mkdir -p "$dir" "$E2E_CACHE/pgdg-mirror"
	(cd "$E2E_REPO" && go build -o "$bin" ./test/e2e/cmd/pgdg-mirror) || e2e_die "go build ./test/e2e/cmd/pgdg-mirror failed"
	E2E_PGDG_KEY=$dir/pgdg-mirror.asc
	E2E_PGDG_ACCESS_LOG=$dir/access.log
	"$bin" -dir "$dir" -cache "$E2E_CACHE/pgdg-mirror" -listen "$E2E_PGDG_ADDR" -codename "$codename" -major "$major" -version-suffix "$suffix" \
		-packages "postgresql-$major,postgresql-common,$E2E_PGDG_EXTENSION" -key-out "$E2E_PGDG_KEY" \
		-access-log "$E2E_PGDG_ACCESS_LOG" -ttl 2h >"$dir/mirror.log" 2>&1 &
	pid=$!
	e2e_defer "e2e_stop_pid $pid pgdg-mirror"
	# Cold, it downloads the packages first (about 90 MB for two architectures).
	for ((i = 0; i < 1500; i++)); do
		if curl -fs --max-time 2 -o /dev/null "http://$E2E_PGDG_ADDR/pub/repos/apt/dists/$codename-pgdg/InRelease"; then
			E2E_PGDG_MIRROR=http://$E2E_PGDG_ADDR/pub/repos/apt
			E2E_PGDG_VERSION_SUFFIX=$suffix
			export E2E_PGDG_MIRROR E2E_PGDG_KEY E2E_PGDG_ACCESS_LOG E2E_PGDG_EXTENSION E2E_PGDG_VERSION_SUFFIX
			e2e_log "PGDG-shaped mirror at $E2E_PGDG_MIRROR (pid $pid, $(grep -vc serving "$dir/mirror.log") packages, log $dir/mirror.log)"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	tail -n 20 "$dir/mirror.log" >&2
	e2e_die "the PGDG-shaped mirror did not serve on http://$E2E_PGDG_ADDR"
}
