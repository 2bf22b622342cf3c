#!/usr/bin/env bash
# End-to-end suite of pgassemble. As root on Debian 12:
#
#   test/e2e/run.sh [e2e]          everything: registry, base images, pgassemble builds, checks, summary
#   test/e2e/run.sh env [-- CMD]   registry and base images only; runs CMD (e.g. bash) while they are up
#   test/e2e/run.sh base-checks    the generic checks against the published base images (harness check)
#   test/e2e/run.sh checks         the checks only, against images named by E2E_IMAGE_* (registry must be up)
#   test/e2e/run.sh reference      the checks against 17-standard-trixie made the Dockerfile way (podman)
#   test/e2e/run.sh pgdg           17-minimal-trixie from a PGDG-shaped mirror, then a derived container
#                                  that apt-get installs an extension from it (amd64)
#   test/e2e/run.sh demo           registry, trixie base, pgassemble minimal 17, then podman run of it
#   test/e2e/run.sh clean          remove the base-image cache and podman images this suite pulled
#
# Environment (all optional):
#   PGASSEMBLE            the binary to test (default: built from this tree into the work directory)
#   PGASSEMBLE_ARGS       extra arguments for every pgassemble build (e.g. --debian-mirror URL)
#   PGASSEMBLE_REVISION   revision label of the images (default: git rev-parse HEAD of this tree)
#   E2E_REGISTRY_ADDR     registry listen address (default 127.0.0.1:5000)
#   E2E_CACHE             base-image cache (default /var/cache/pgassemble-e2e)
#   E2E_DEBIAN_MIRROR     Debian archive URL (default: read from the host's apt sources)
#   E2E_DEBIAN_SECURITY   Debian security archive URL (default: idem)
#   E2E_SUMMARY           where to write the summary (default: test/e2e/summary.txt in the tree)
#   E2E_KEEP_WORK=1       keep the temporary work directory (logs, registry storage)
#   E2E_GO_TEST_FLAGS     extra flags for go test (e.g. -run TestStandard/amd64)
#   E2E_PGDG_ADDR         listen address of the PGDG-shaped mirror (default 127.0.0.1:5150)
set -Eeuo pipefail

# shellcheck source=test/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=test/e2e/supply.sh
. "$(dirname "${BASH_SOURCE[0]}")/supply.sh"
# shellcheck source=test/e2e/pgdg.sh
. "$(dirname "${BASH_SOURCE[0]}")/pgdg.sh"

E2E_REPOSITORY=${E2E_REPOSITORY:-postgresql-testing}
E2E_SUMMARY=${E2E_SUMMARY:-$E2E_DIR/summary.txt}

# e2e_env brings up everything the builds and checks need: packages, crane, the registry,
# qemu for arm64, and the base images of the given suites.
e2e_env() {
	e2e_install_packages
	e2e_install_crane
	e2e_supply_tools
	e2e_host_mirrors
	e2e_log "Debian archive: $E2E_DEBIAN_MIRROR (security: $E2E_DEBIAN_SECURITY), from the host's apt sources"
	e2e_check_mirror "$@"
	E2E_ARCHES="amd64 arm64"
	E2E_NOT_CHECKED=
	if ! e2e_binfmt_setup; then
		E2E_ARCHES=amd64
		E2E_NOT_CHECKED="arm64 not checked: $E2E_BINFMT_MISSING"
		e2e_log "$E2E_NOT_CHECKED"
	fi
	export E2E_NOT_CHECKED E2E_ARCHES
	e2e_registry_start
	local start=$SECONDS
	e2e_bases "$@"
	e2e_log "base images ready in $((SECONDS - start))s"
	e2e_defer e2e_podman_rmi
	export E2E_REGISTRY=$E2E_REGISTRY_ADDR
	export E2E_IMAGE_BASE_TRIXIE=$E2E_REGISTRY_ADDR/library/debian:trixie-slim
	export E2E_IMAGE_BASE_BOOKWORM=$E2E_REGISTRY_ADDR/library/debian:bookworm-slim
}

# e2e_pgassemble_bin sets PGASSEMBLE, building it from this tree when not given.
e2e_pgassemble_bin() {
	if [ -n "${PGASSEMBLE:-}" ]; then
		[ -x "$PGASSEMBLE" ] || e2e_die "PGASSEMBLE=$PGASSEMBLE is not an executable"
		return 0
	fi
	PGASSEMBLE=$E2E_WORK/bin/pgassemble
	e2e_log "building pgassemble from $E2E_REPO"
	(cd "$E2E_REPO" && go build -o "$PGASSEMBLE" ./cmd/pgassemble) || e2e_die "go build ./cmd/pgassemble failed"
}

# e2e_build NAME ARGS... runs one pgassemble build as a user would, timing it. A failed build
# is recorded (the checks of its image then fail too), not fatal, so the summary shows all.
e2e_build() {
	local name=$1 start rc=0 log="$E2E_WORK/build-$1.log"
	shift
	# shellcheck disable=SC2086 # PGASSEMBLE_ARGS is a list of words by design
	e2e_log "build $name: $PGASSEMBLE $* ${PGASSEMBLE_ARGS:-}"
	start=$(date +%s%N)
	"$PGASSEMBLE" "$@" ${PGASSEMBLE_ARGS:-} 2>&1 | tee "$log" >&2 || rc=$?
	printf '%s\t%d\t%d\t%s\n' "$name" $((($(date +%s%N) - start) / 1000000)) "$rc" "$log" >>"$E2E_WORK/builds.tsv"
	[ "$rc" = 0 ] || e2e_log "build $name FAILED (exit $rc), log: $log"
}

# e2e_revision sets the revision label the way a CI job does: the commit being tested.
e2e_revision() {
	if [ -z "${PGASSEMBLE_REVISION:-}" ]; then
		PGASSEMBLE_REVISION=$(git -C "$E2E_REPO" rev-parse HEAD 2>/dev/null || true)
		[ -n "$PGASSEMBLE_REVISION" ] || e2e_log "no git revision for the org.opencontainers.image.revision label; set PGASSEMBLE_REVISION"
	fi
	export PGASSEMBLE_REVISION
}

e2e_builds() {
	e2e_pgassemble_bin
	e2e_revision
	e2e_supply_key
	: >"$E2E_WORK/builds.tsv"
	# Both images are signed (and carry their SBOM and provenance, pgassemble's default).
	e2e_build standard-17-trixie --pg 17 --type standard --base trixie --pg-source debian \
		--base-image "$E2E_IMAGE_BASE_TRIXIE" --registry "$E2E_REGISTRY_ADDR" --sign-key "$E2E_SIGN_KEY"
	e2e_build minimal-15-bookworm --pg 15 --type minimal --base bookworm --pg-source debian \
		--base-image "$E2E_IMAGE_BASE_BOOKWORM" --registry "$E2E_REGISTRY_ADDR" --sign-key "$E2E_SIGN_KEY"
	export E2E_IMAGE_STANDARD=$E2E_REGISTRY_ADDR/$E2E_REPOSITORY:17-standard-trixie
	export E2E_IMAGE_MINIMAL_BOOKWORM=$E2E_REGISTRY_ADDR/$E2E_REPOSITORY:15-minimal-bookworm
}

# e2e_checks RUN-REGEXP runs the Go checks, collecting one result line per check.
e2e_checks() {
	export E2E_RESULTS=$E2E_WORK/results.jsonl
	local rc=0
	# shellcheck disable=SC2086
	(cd "$E2E_REPO" && go test -tags e2e -count=1 -timeout 60m -v ./test/e2e/ -run "$1" ${E2E_GO_TEST_FLAGS:-}) 2>&1 |
		tee "$E2E_WORK/checks.log" || rc=$?
	return $rc
}

# e2e_summary IMAGE-REFS... prints and saves the summary; its exit status says whether all passed.
e2e_summary() {
	(cd "$E2E_REPO" && go run -tags e2e ./test/e2e/cmd/e2e-summary \
		-results "$E2E_WORK/results.jsonl" -builds "$E2E_WORK/builds.tsv" \
		-not-checked "${E2E_NOT_CHECKED:-}" -out "$E2E_SUMMARY" "$@")
}

cmd_e2e() {
	e2e_init
	local start=$SECONDS rc=0
	e2e_env trixie bookworm
	e2e_builds
	e2e_checks 'TestStandard|TestMinimalBookworm|TestSupply' || rc=1
	e2e_log "suite finished in $((SECONDS - start))s"
	e2e_summary "$E2E_IMAGE_STANDARD" "$E2E_IMAGE_MINIMAL_BOOKWORM" || rc=1
	return $rc
}

# cmd_types builds the custom types of the README's --config example (PostGIS, pg_partman) and
# system, none with --allow-unhandled-scripts, and checks them on both architectures.
cmd_types() {
	e2e_init
	local start=$SECONDS rc=0 cfg
	e2e_env trixie
	e2e_pgassemble_bin
	e2e_revision
	: >"$E2E_WORK/builds.tsv"
	cfg=$E2E_WORK/types.yaml
	cat >"$cfg" <<'YAML'
types:
  - {name: postgis, parent: standard, packages: ["postgresql-{{MM}}-postgis-3"]}
  - {name: partman, parent: standard, packages: ["postgresql-{{MM}}-partman"]}
YAML
	for type in postgis partman system; do
		e2e_build "$type-17-trixie" --config "$cfg" --pg 17 --type "$type" --base trixie --pg-source debian \
			--base-image "$E2E_IMAGE_BASE_TRIXIE" --registry "$E2E_REGISTRY_ADDR" || rc=1
	done
	export E2E_IMAGE_POSTGIS=$E2E_REGISTRY_ADDR/$E2E_REPOSITORY:17-postgis-trixie
	export E2E_IMAGE_PARTMAN=$E2E_REGISTRY_ADDR/$E2E_REPOSITORY:17-partman-trixie
	export E2E_IMAGE_SYSTEM=$E2E_REGISTRY_ADDR/$E2E_REPOSITORY:17-system-trixie
	e2e_checks 'TestPostGIS|TestPartman|TestSystem' || rc=1
	e2e_log "types finished in $((SECONDS - start))s"
	e2e_summary "$E2E_IMAGE_POSTGIS" "$E2E_IMAGE_PARTMAN" "$E2E_IMAGE_SYSTEM" || rc=1
	return $rc
}

# cmd_pgdg builds 17-minimal-trixie with PostgreSQL from a PGDG-shaped mirror of real Debian
# packages, re-signed with a throw-away key given as --keyring, and checks that a container
# derived from it (root, host network to reach the mirror on loopback) runs apt-get update and
# apt-get install of an extension from that mirror, then CREATE EXTENSION.
cmd_pgdg() {
	e2e_init
	local start=$SECONDS rc=0
	e2e_env trixie
	e2e_pgassemble_bin
	e2e_revision
	: >"$E2E_WORK/builds.tsv"
	e2e_pgdg_mirror_start 17 trixie .pgdg13+1
	e2e_build pgdg-minimal-17-trixie --pg 17 --type minimal --base trixie --pg-source pgdg \
		--pgdg-mirror "$E2E_PGDG_MIRROR" --keyring "$E2E_PGDG_KEY" \
		--base-image "$E2E_IMAGE_BASE_TRIXIE" --registry "$E2E_REGISTRY_ADDR" || rc=1
	export E2E_IMAGE_PGDG=$E2E_REGISTRY_ADDR/$E2E_REPOSITORY:17-minimal-trixie
	e2e_checks 'TestPGDG' || rc=1
	e2e_log "pgdg finished in $((SECONDS - start))s"
	e2e_summary "$E2E_IMAGE_PGDG" || rc=1
	return $rc
}

cmd_base_checks() {
	e2e_init
	local rc=0
	e2e_env trixie bookworm
	: >"$E2E_WORK/builds.tsv"
	e2e_checks 'TestBase' || rc=1
	e2e_summary "$E2E_IMAGE_BASE_TRIXIE" "$E2E_IMAGE_BASE_BOOKWORM" || rc=1
	return $rc
}

cmd_checks() {
	e2e_init
	: >"$E2E_WORK/builds.tsv"
	local rc=0
	e2e_checks "${1:-TestStandard|TestMinimalBookworm}" || rc=1
	e2e_summary ${E2E_IMAGE_STANDARD:+"$E2E_IMAGE_STANDARD"} ${E2E_IMAGE_MINIMAL_BOOKWORM:+"$E2E_IMAGE_MINIMAL_BOOKWORM"} || rc=1
	return $rc
}

# e2e_reference MAJOR TYPE SUITE builds the image the Dockerfile way (apt-get in a container
# of the base, under qemu for arm64, podman commit, push) as REGISTRY/e2e-reference/
# postgresql:MAJOR-TYPE-SUITE, with upstream's labels, annotations and tags set by crane. It
# proves the checks pass on an image pgassemble did not make, and gives the time the
# Docker-less alternative takes, for comparison.
e2e_reference() {
	local major=$1 type=$2 suite=$3 arch args=() start name pkgs version created stamp k
	local repo="$E2E_REGISTRY_ADDR/e2e-reference/postgresql" tag="$major-$type-$suite" meta=()
	pkgs="postgresql-$major"
	[ "$type" = standard ] && pkgs="$pkgs locales-all postgresql-$major-pgaudit postgresql-$major-pgvector postgresql-$major-pg-failover-slots"
	: >"$E2E_WORK/builds.tsv"
	for arch in ${E2E_REFERENCE_ARCHES:-$E2E_ARCHES}; do
		name=e2e-reference-$$-$arch
		start=$(date +%s%N)
		e2e_log "reference $tag/$arch: apt-get install in a container (log $E2E_WORK/reference-$arch.log)"
		podman run --name "$name" --arch "$arch" --tls-verify=false --runtime runc \
			--ulimit nofile=1024:1024 --ulimit nproc=4096:4096 "$E2E_REGISTRY_ADDR/library/debian:$suite-slim" sh -ec "
				export DEBIAN_FRONTEND=noninteractive
				groupadd -r -g 26 postgres && useradd -r -u 26 -g 26 -d /var/lib/postgresql -s /bin/bash postgres
				apt-get update -q
				apt-get install -y -q --no-install-recommends postgresql-common ca-certificates gnupg libsasl2-modules libldap-common
				sed -ri 's/^#? *create_main_cluster .*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf
				apt-get install -y -q --no-install-recommends $pkgs
				find /var/lib/apt/lists -mindepth 1 -maxdepth 1 ! -name partial -exec rm -rf {} +
				rm -rf /var/cache/debconf/*-old /var/lib/dpkg/*-old
				echo @@version=\$(dpkg-query -W -f '\${Version}' postgresql-$major)" >"$E2E_WORK/reference-$arch.log" 2>&1 ||
			{ podman rm -f "$name" >/dev/null; tail -n 20 "$E2E_WORK/reference-$arch.log" >&2; e2e_die "reference build $arch failed"; }
		version=$(sed -n 's/^@@version=\([0-9]*\.[0-9]*\).*/\1/p' "$E2E_WORK/reference-$arch.log")
		podman commit -q --change "USER 26" --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/postgresql/$major/bin" \
			"$name" "$repo:$tag-$arch" >/dev/null
		podman rm -f "$name" >/dev/null
		podman push -q --tls-verify=false --format oci "$repo:$tag-$arch" >/dev/null
		podman rmi -f "$repo:$tag-$arch" >/dev/null
		printf 'reference-%s-%s\t%d\t0\t%s\n' "$tag" "$arch" $((($(date +%s%N) - start) / 1000000)) "$E2E_WORK/reference-$arch.log" >>"$E2E_WORK/builds.tsv"
		args+=(-m "$repo:$tag-$arch")
	done
	created=$(date -u +%Y-%m-%dT%H:%M:%SZ) stamp=$(date -u +%Y%m%d%H%M)
	for k in "created=$created" "url=http://reference.example/" "source=http://reference.example/src" \
		"documentation=http://reference.example/docs" "version=$version" "revision=e2e-reference" \
		"vendor=pgassemble e2e" "authors=pgassemble e2e" "title=PostgreSQL $major $type $suite" \
		"description=Reference image made with apt-get in podman" "licenses=PostgreSQL" \
		"base.name=$E2E_REGISTRY_ADDR/library/debian:$suite-slim" "base.digest=$(crane digest "$E2E_REGISTRY_ADDR/library/debian:$suite-slim")"; do
		meta+=("org.opencontainers.image.$k")
	done
	for arch in ${E2E_REFERENCE_ARCHES:-$E2E_ARCHES}; do
		crane mutate "$repo:$tag-$arch" "${meta[@]/#/--label=}" "${meta[@]/#/--annotation=}" -t "$repo:$tag-$arch" >/dev/null 2>>"$E2E_WORK/crane.log" ||
			e2e_die "crane mutate $repo:$tag-$arch"
	done
	crane index append "${args[@]}" -t "$repo:$tag" >/dev/null 2>>"$E2E_WORK/crane.log" || e2e_die "crane index append $repo:$tag"
	# crane cannot annotate an index: add the annotations to its JSON and put it back.
	local ann="" m
	for m in "${meta[@]}"; do ann+="${ann:+,}\"${m%%=*}\":\"${m#*=}\""; done
	crane manifest "$repo:$tag" | sed 's/}$/,"annotations":{'"${ann//\//\\/}"'}}/' >"$E2E_WORK/reference-index.json"
	e2e_put_manifest "${repo#"$E2E_REGISTRY_ADDR"/}" "$tag" application/vnd.oci.image.index.v1+json "$E2E_WORK/reference-index.json"
	crane tag "$repo:$tag" "$version-$type-$suite" && crane tag "$repo:$tag" "$version-$stamp-$type-$suite" || e2e_die "crane tag $repo:$tag"
	E2E_REFERENCE=$repo:$tag
}

cmd_reference() {
	e2e_init
	local rc=0
	e2e_env trixie
	e2e_reference 17 standard trixie
	export E2E_IMAGE_STANDARD=$E2E_REFERENCE
	e2e_checks 'TestStandard' || rc=1
	e2e_summary "$E2E_IMAGE_STANDARD" || rc=1
	return $rc
}

cmd_env() {
	e2e_init
	e2e_env trixie bookworm
	if [ $# -gt 0 ]; then
		e2e_log "running: $* (registry up on $E2E_REGISTRY_ADDR; it stops when this returns)"
		"$@"
	fi
}

cmd_demo() {
	e2e_init
	e2e_env trixie
	e2e_pgassemble_bin
	e2e_revision
	: >"$E2E_WORK/builds.tsv"
	e2e_build minimal-17-trixie --pg 17 --type minimal --base trixie --pg-source debian \
		--base-image "$E2E_IMAGE_BASE_TRIXIE" --registry "$E2E_REGISTRY_ADDR"
	local ref=$E2E_REGISTRY_ADDR/$E2E_REPOSITORY:17-minimal-trixie
	local run="podman run --rm --quiet --runtime runc --tls-verify=false --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 --network none $ref"
	local session="initdb -D /tmp/pgdata -A trust >/dev/null && pg_ctl -D /tmp/pgdata -o '-c listen_addresses= -c unix_socket_directories=/tmp' -l /tmp/pg.log -w start >/dev/null && psql -h /tmp -d postgres -Atc 'select version()' && pg_ctl -D /tmp/pgdata -w stop >/dev/null"
	echo
	echo "The image is published. Start it with:"
	echo
	echo "  $run bash -c \"$session\""
	echo
	e2e_log "running it once"
	# shellcheck disable=SC2086 # $run is the line printed above, split as the shell would
	$run bash -c "$session"
}

# e2e_podman_rmi removes the images podman holds from the suite's registry: that registry is
# gone when the suite ends, so they are only disk use.
e2e_podman_rmi() {
	local ids
	ids=$(podman images --format '{{.Repository}}:{{.Tag}} {{.ID}}' 2>/dev/null | awk -v r="$E2E_REGISTRY_ADDR/" 'index($1, r) == 1 { print $2 }' | sort -u)
	# shellcheck disable=SC2086
	[ -z "$ids" ] || podman rmi -f $ids >/dev/null 2>&1 || true
}

cmd_clean() {
	[ "$(id -u)" = 0 ] || e2e_die "must run as root"
	e2e_podman_rmi
	rm -rf --one-file-system "$E2E_CACHE"
	e2e_log "removed $E2E_CACHE and podman images from $E2E_REGISTRY_ADDR"
}

main() {
	local cmd=${1:-e2e}
	[ $# -gt 0 ] && shift
	[ "${1:-}" = -- ] && shift
	case $cmd in
	e2e) cmd_e2e ;;
	env) cmd_env "$@" ;;
	base-checks) cmd_base_checks ;;
	types) cmd_types ;;
	checks) cmd_checks "$@" ;;
	demo) cmd_demo ;;
	reference) cmd_reference ;;
	pgdg) cmd_pgdg ;;
	clean) cmd_clean ;;
	*) e2e_die "unknown command $cmd (e2e, env, base-checks, types, checks, demo, reference, pgdg, clean)" ;;
	esac
}

# One line, so that bash never reads this file again after main returns.
main "$@"; exit
