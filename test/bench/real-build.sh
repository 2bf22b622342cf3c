#!/usr/bin/env bash
# Measures pgassemble on the real Debian archive (the host's apt mirror) into a local
# registry: cold and warm builds of postgresql-17-standard-trixie for both platforms
# (gzip and zstd), and a cold and warm bake of every target Debian itself can build
# (PostgreSQL 17 on trixie, 15 on bookworm, each type).
#
# Run it inside the e2e environment, which provides the registry and the base images:
#   test/e2e/run.sh env -- bash test/bench/real-build.sh
# Prints a table (wall seconds, CPU seconds, peak RSS) and writes it to $OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
REG=${E2E_REGISTRY_ADDR:-127.0.0.1:5000}
OUT=${OUT:-test/bench/real-build.txt}
BIN=$(mktemp -d)/pgassemble
go build -trimpath -o "$BIN" ./cmd/pgassemble
work=$(mktemp -d /var/tmp/pgassemble-bench.XXXXXX)
trap 'rm -rf "$work" "$(dirname "$BIN")"' EXIT

rows=()
measure() { # name cache args...
	local name=$1 cache=$2; shift 2
	local t="$work/time"
	/usr/bin/time -f '%e %U %S %M' -o "$t" "$BIN" --cache-dir "$cache" --registry "$REG" -q "$@" \
		|| { echo "FAILED: $name" >&2; exit 1; }
	read -r wall user sys rss < "$t"
	rows+=("$(printf '%-44s %8.1f %8.1f %8d' "$name" "$wall" "$(echo "$user + $sys" | bc)" "$((rss / 1024))")")
}
std=(--pg 17 --type standard --base trixie --pg-source debian --base-image "$REG/library/debian:trixie-slim")

measure "build 17-standard-trixie, cold, gzip"  "$work/c1" "${std[@]}"
measure "build 17-standard-trixie, warm, gzip"  "$work/c1" "${std[@]}"
measure "build 17-standard-trixie, cold, zstd"  "$work/c2" "${std[@]}" --compression zstd --environment production
measure "build 17-standard-trixie, warm, zstd"  "$work/c2" "${std[@]}" --compression zstd --environment production
targets=(postgresql-17-minimal-trixie postgresql-17-standard-trixie)
measure "bake 2 trixie targets, warm caches"     "$work/c1" bake --pg-source debian --base-image "$REG/library/debian:trixie-slim" "${targets[@]}"
measure "bake 2 trixie targets, again (all cached)" "$work/c1" bake --pg-source debian --base-image "$REG/library/debian:trixie-slim" "${targets[@]}"

{
	echo "pgassemble on the real Debian archive, $(nproc) cores, $(date -u +%Y-%m-%d)"
	printf '%-44s %8s %8s %8s\n' "run" "wall s" "CPU s" "RSS MiB"
	printf '%s\n' "${rows[@]}"
} | tee "$OUT"
