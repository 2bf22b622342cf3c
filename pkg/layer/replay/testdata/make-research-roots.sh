#!/bin/sh
# Builds the real Debian roots the replay's fidelity tests compare with
# (TestRealFidelity, TestRealTrixieNoUnhandled). Needs root, debootstrap and
# the Debian archive. The mirror is read from the host's apt sources unless
# MIRROR is set; nothing here names a host.
#
#   sudo MIRROR=http://mirror.example/debian sh make-research-roots.sh [DIR]
#
# DIR (default /var/cache/pgassemble-research) gets, per suite:
#   <suite>-base     debootstrap --variant=minbase
#   <suite>-minimal  after CloudNativePG's "minimal" install steps (trixie)
#   <suite>-root     after the "standard" steps
#   <suite>/debs     the .debs apt installed
set -eu
DIR=${1:-/var/cache/pgassemble-research}
if [ -z "${MIRROR:-}" ]; then
	MIRROR=$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
fi
if [ -z "${MIRROR:-}" ]; then
	MIRROR=$(awk '$1=="deb" && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
fi
[ -n "$MIRROR" ] || { echo "no Debian mirror in the apt sources; set MIRROR" >&2; exit 1; }
SECURITY=${SECURITY:-${MIRROR}-security}
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
mkdir -p "$DIR"

install_set() { # root, packages...
	r=$1; shift
	chroot "$r" apt-get install -y --no-install-recommends \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

for suite in trixie bookworm; do
	case $suite in
	trixie) pg=17 ;;
	bookworm) pg=15 ;;
	esac
	base=$DIR/$suite-base root=$DIR/$suite-root
	[ -d "$base" ] || debootstrap --variant=minbase "$suite" "$base" "$MIRROR"
	cat >"$base/etc/apt/sources.list" <<EOS
deb $MIRROR $suite main
deb $MIRROR $suite-updates main
deb $SECURITY $suite-security main
EOS
	rm -rf "$root"
	cp -a "$base" "$root"
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod +x "$root/usr/sbin/policy-rc.d"
	mount -t proc proc "$root/proc"
	trap 'umount "$root/proc" 2>/dev/null || true' EXIT
	chroot "$root" apt-get update
	# The upstream Dockerfile's order: postgresql-common first, then
	# create_main_cluster = false, then the server.
	install_set "$root" postgresql-common ca-certificates gnupg
	chroot "$root" sed -ri 's/#(create_main_cluster) .*$/\1 = false/' /etc/postgresql-common/createcluster.conf
	install_set "$root" libsasl2-modules libldap-common "postgresql-$pg"
	umount "$root/proc"
	if [ "$suite" = trixie ]; then
		rm -rf "$DIR/$suite-minimal"
		cp -a "$root" "$DIR/$suite-minimal"
	fi
	mount -t proc proc "$root/proc"
	if [ "$suite" = trixie ]; then
		install_set "$root" locales-all "postgresql-$pg-pgaudit" "postgresql-$pg-pgvector" "postgresql-$pg-pg-failover-slots"
	else
		install_set "$root" locales-all
	fi
	umount "$root/proc"
	trap - EXIT
	mkdir -p "$DIR/$suite/debs"
	cp "$root"/var/cache/apt/archives/*.deb "$DIR/$suite/debs/"
	# CloudNativePG's last step: the postgres user gets uid 26.
	rm -rf "$DIR/$suite-usermod"
	cp -a "$root" "$DIR/$suite-usermod"
	chroot "$DIR/$suite-usermod" usermod -u 26 postgres
done

# The arm64 .debs of the same trixie set, for TestRealArm64NoUnhandled.
root=$DIR/trixie-root
chroot "$root" dpkg --add-architecture arm64
chroot "$root" apt-get update
chroot "$DIR/trixie-base" dpkg-query -W -f '${Package}\n' | sort >"$DIR/base.pkgs"
# arch-specific packages as :arm64, arch-all ones as they are
pkgs=$(chroot "$root" dpkg-query -W -f '${Package} ${Architecture}\n' | sort |
	awk -v base="$DIR/base.pkgs" 'BEGIN { while ((getline l < base) > 0) had[l] = 1 }
		!had[$1] { print ($2 == "all" ? $1 : $1 ":arm64") }' | tr '\n' ' ')
mkdir -p "$DIR/trixie-arm64/debs"
chroot "$root" sh -c "cd /tmp && apt-get download $pkgs"
mv "$root"/tmp/*.deb "$DIR/trixie-arm64/debs/"
chroot "$root" dpkg --remove-architecture arm64 || true
