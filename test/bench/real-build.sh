#!/usr/bin/env bash
# Measures pgassemble on the real Debian archive (the host's apt mirror) into a local
# registry: postgresql-17-standard-trixie for both platforms (gzip and zstd), each run
# cold (empty cache), warm (everything cached, built and pushed again: --rebuild) and
# no-op (nothing changed: the fast path proves it and builds nothing); a warm and a
# no-op bake of the trixie targets Debian can build; and, in the same run, the
# Docker-less baseline for amd64 (debootstrap minbase + apt-get install in a chroot +
# crane append), against which the amd64-only cold build is compared.
#
# Run it inside the e2e environment, which provides the registry, the base images and
# crane, on a quiet machine (nothing else holding the cores or 127.0.0.1:5000):
#   test/e2e/run.sh env -- bash test/bench/real-build.sh      (or: make bench-real)
# Prints a table (wall seconds, CPU seconds, peak RSS) and writes it to $OUT.
# BASELINE=0 skips the baseline (it needs root for debootstrap and chroot).
set -euo pipefail
cd "$(dirname "$0")/../.."
REG=${E2E_REGISTRY_ADDR:-127.0.0.1:5000}
OUT=${OUT:-test/bench/real-build.txt}
BASELINE=${BASELINE:-1}
BIN=$(mktemp -d)/pgassemble
go build -trimpath -o "$BIN" ./cmd/pgassemble
work=$(mktemp -d /var/tmp/pgassemble-bench.XXXXXX)
cleanup() {
	for m in proc dev/pts dev sys; do umount "$work/root/$m" 2>/dev/null || true; done
	rm -rf "$work" "$(dirname "$BIN")"
}
trap cleanup EXIT

rows=()
declare -A walls=()
record() { # name timefile
	local wall user sys rss
	read -r wall user sys rss < "$2"
	walls[$1]=$wall
	rows+=("$(printf '%-50s %8.1f %8.1f %8d' "$1" "$wall" "$(echo "$user + $sys" | bc)" "$((rss / 1024))")")
}
measure() { # name cache args...
	local name=$1 cache=$2; shift 2
	/usr/bin/time -f '%e %U %S %M' -o "$work/time" "$BIN" --cache-dir "$cache" --registry "$REG" -q "$@" \
		|| { echo "FAILED: $name" >&2; exit 1; }
	record "$name" "$work/time"
}
std=(--pg 17 --type standard --base trixie --pg-source debian --base-image "$REG/library/debian:trixie-slim")

measure "build 17-standard-trixie, cold, gzip"   "$work/c1" "${std[@]}"
measure "build 17-standard-trixie, warm, gzip"   "$work/c1" "${std[@]}" --rebuild
measure "build 17-standard-trixie, no-op, gzip"  "$work/c1" "${std[@]}"
measure "build 17-standard-trixie, cold, zstd"   "$work/c2" "${std[@]}" --compression zstd --environment production
measure "build 17-standard-trixie, warm, zstd"   "$work/c2" "${std[@]}" --compression zstd --environment production --rebuild
measure "build 17-standard-trixie, no-op, zstd"  "$work/c2" "${std[@]}" --compression zstd --environment production
targets=(postgresql-17-minimal-trixie postgresql-17-standard-trixie)
measure "bake 2 trixie targets, warm caches"     "$work/c1" bake --pg-source debian --base-image "$REG/library/debian:trixie-slim" --rebuild "${targets[@]}"
measure "bake 2 trixie targets, no-op"           "$work/c1" bake --pg-source debian --base-image "$REG/library/debian:trixie-slim" "${targets[@]}"
measure "build 17-standard-trixie amd64, cold, gzip" "$work/c3" "${std[@]}" --platform linux/amd64 --registry "$REG/amd64"

# The Docker-less baseline, amd64: what one would script without pgassemble.
if [ "$BASELINE" = 1 ]; then
	mirror=${DEBIAN_MIRROR:-$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)}
	[ -n "$mirror" ] || mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources)
	pkgs=$("$BIN" targets --json --pg 17 --type standard --base trixie | python3 -c 'import json,sys; print(" ".join(p for s in json.load(sys.stdin)[0]["stages"] for p in s))')
	crane=$(command -v crane || echo "${E2E_BIN:-/nonexistent}/crane")
	cat > "$work/baseline.sh" <<EOS
set -euo pipefail
debootstrap --variant=minbase trixie "$work/root" "$mirror" >/dev/null
mount -t proc proc "$work/root/proc"
chroot "$work/root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $pkgs >/dev/null
umount "$work/root/proc"
chroot "$work/root" sh -c 'rm -rf /var/lib/apt/lists/* /var/cache/* /var/log/*'
tar -C "$work/root" --numeric-owner -cf "$work/root.tar" .
"$crane" append --insecure --platform linux/amd64 -f "$work/root.tar" -t "$REG/baseline/postgresql:17-standard-trixie" >/dev/null
EOS
	/usr/bin/time -f '%e %U %S %M' -o "$work/time" bash "$work/baseline.sh" || { echo "FAILED: baseline" >&2; exit 1; }
	record "baseline amd64: debootstrap + apt-get + crane" "$work/time"
fi

{
	echo "pgassemble on the real Debian archive, $(nproc) cores, $(date -u +%Y-%m-%d)"
	printf '%-50s %8s %8s %8s\n' "run" "wall s" "CPU s" "RSS MiB"
	printf '%s\n' "${rows[@]}"
	b=${walls["baseline amd64: debootstrap + apt-get + crane"]:-}
	p=${walls["build 17-standard-trixie amd64, cold, gzip"]:-}
	if [ -n "$b" ] && [ -n "$p" ]; then
		printf 'amd64 cold build / baseline: %.2f (%.1f s / %.1f s)\n' "$(echo "$p / $b" | bc -l)" "$p" "$b"
	fi
} | tee "$OUT"
