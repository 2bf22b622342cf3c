#!/usr/bin/env bash
# chroot.sh ROOT [CHROOT-OPTION...] -- CMD...
#
# Runs CMD in ROOT the way a container runtime would see it: /proc, a minimal /dev (null, zero,
# full, random, urandom, tty, shm, pts) and a tmpfs /tmp, all mounted inside a private mount and PID
# namespace. Nothing is ever mounted in the host's namespace, so nothing can be left mounted
# when the command fails or is killed, ROOT's own /dev and /tmp stay untouched, and every
# process the command started (a postgres server, say) dies with it.
# CHROOT-OPTIONs are passed to chroot(8), e.g. --userspec=26:101.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: chroot.sh ROOT [CHROOT-OPTION...] -- CMD..." >&2; exit 2; }
root=$(cd "$1" && pwd)
shift
exec unshare --mount --pid --fork --propagation private -- /bin/bash -c '
	set -euo pipefail
	r=$1
	shift
	mount -t proc proc "$r/proc"
	mount -t tmpfs -o mode=0755,size=64m fidelity-dev "$r/dev"
	for n in null zero full random urandom tty; do
		: >"$r/dev/$n"
		mount --bind "/dev/$n" "$r/dev/$n"
	done
	mkdir -p "$r/dev/shm" "$r/dev/pts"
	mount -t tmpfs -o mode=1777 fidelity-shm "$r/dev/shm"
	# A private devpts instance: apt logs the dpkg run through a pty.
	mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 fidelity-pts "$r/dev/pts"
	ln -s pts/ptmx "$r/dev/ptmx"
	ln -s /proc/self/fd "$r/dev/fd"
	ln -s /proc/self/fd/0 "$r/dev/stdin"
	ln -s /proc/self/fd/1 "$r/dev/stdout"
	ln -s /proc/self/fd/2 "$r/dev/stderr"
	mount -t tmpfs -o mode=1777 fidelity-tmp "$r/tmp"
	opts=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
	[ "${1:-}" = -- ] && shift
	exec chroot "${opts[@]}" "$r" "$@"
' fidelity-chroot "$root" "$@"
