#!/usr/bin/env bash
# base.sh SUITE ARCH prints the path of a slim minbase root filesystem tarball of SUITE for
# ARCH, built with debootstrap from the host's Debian mirror when the end-to-end suite's cache
# (test/e2e/lib.sh, E2E_CACHE) does not have it yet. The same functions and cache key as the
# end-to-end suite are used, so both suites share one cache. For a foreign ARCH, binfmt_misc
# must already run its binaries (run.sh sets that up).
set -euo pipefail
# shellcheck source=test/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"
[ $# -eq 2 ] || { echo "usage: base.sh SUITE ARCH" >&2; exit 2; }
E2E_WORK=$(mktemp -d /var/tmp/pgassemble-fidelity-base.XXXXXX)
trap 'e2e_umount_under "$E2E_WORK"; rm -rf --one-file-system "$E2E_WORK"' EXIT
mkdir -p "$E2E_CACHE"
E2E_BINFMT_FIXED=
if [ "$2" != "$(dpkg --print-architecture)" ] && grep -qs '^flags:.*F' /proc/sys/fs/binfmt_misc/qemu-aarch64; then
	E2E_BINFMT_FIXED=1
fi
e2e_host_mirrors
e2e_base_tarball "$1" "$2"
