# shellcheck shell=bash
# Library of the end-to-end suite: sourced by run.sh, never executed.
#
# Everything that changes the machine is undone at exit in reverse order through e2e_defer:
# servers are stopped by PID, temporary directories removed, and the binfmt_misc mount and
# qemu-aarch64 entry are undone only when this run added them. Installed Debian packages and
# the base-image cache (E2E_CACHE) stay, so a second run is fast.

# Bump when the way base images are built changes; it is part of the cache key.
E2E_BASE_VERSION=1

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_REPO=$(cd "$E2E_DIR/../.." && pwd)
: "${E2E_CACHE:=/var/cache/pgassemble-e2e}"
: "${E2E_REGISTRY_ADDR:=127.0.0.1:5000}"
export E2E_REGISTRY_ADDR
: "${E2E_BIN:=$E2E_CACHE/bin}"
: "${E2E_KEEP_WORK:=}"
E2E_WORK=${E2E_WORK:-}
E2E_DEFERRED=()

e2e_log() { printf 'e2e %s: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
e2e_die() {
	printf 'e2e FAILED: %s\n' "$*" >&2
	exit 1
}

# e2e_defer CMD... registers a command to run at exit; commands run last-registered first.
e2e_defer() { E2E_DEFERRED+=("$*"); }

e2e_cleanup() {
	local rc=$? i
	set +e
	for ((i = ${#E2E_DEFERRED[@]} - 1; i >= 0; i--)); do
		eval "${E2E_DEFERRED[i]}"
	done
	E2E_DEFERRED=()
	return "$rc"
}

# e2e_init creates the run's work directory and arms the cleanup trap.
e2e_init() {
	[ "$(id -u)" = 0 ] || e2e_die "must run as root (it installs packages, mounts binfmt_misc, runs podman)"
	trap e2e_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	E2E_WORK=$(mktemp -d /tmp/pgassemble-e2e.XXXXXX)
	if [ -n "$E2E_KEEP_WORK" ]; then
		e2e_defer "e2e_log 'kept work directory $E2E_WORK'"
	else
		e2e_defer "e2e_rm_work"
	fi
	mkdir -p "$E2E_CACHE" "$E2E_BIN"
	export PATH="$E2E_BIN:$PATH"
}

e2e_rm_work() {
	e2e_umount_under "$E2E_WORK"
	rm -rf --one-file-system "$E2E_WORK"
}

# e2e_umount_under DIR unmounts whatever a failed chroot left mounted below DIR.
e2e_umount_under() {
	local m
	[ -d "$1" ] || return 0
	findmnt -rno TARGET | grep -F "$1/" | sort -r | while read -r m; do
		umount -l "$m" || e2e_log "could not unmount $m"
	done
}

# e2e_stop_pid PID NAME stops a server this run started, and only that one.
e2e_stop_pid() {
	local pid=$1 name=$2 i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; e2e_log "stopped $name (pid $pid)"; return 0; }
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	e2e_log "killed $name (pid $pid) after 5s"
}

# Debian packages the suite uses, and the command each one provides.
E2E_PACKAGES=(
	docker-registry:docker-registry
	skopeo:skopeo
	podman:podman
	runc:runc
	debootstrap:debootstrap
	qemu-user-static:qemu-aarch64-static
	binfmt-support:update-binfmts
	debian-archive-keyring:
	curl:curl
	ca-certificates:
	gzip:gzip
	tar:tar
)

# e2e_install_packages installs the Debian packages that are missing, and only those.
e2e_install_packages() {
	local missing=() entry pkg
	for entry in "${E2E_PACKAGES[@]}"; do
		pkg=${entry%%:*}
		if [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" != installed ]; then
			missing+=("$pkg")
		fi
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	e2e_log "installing Debian packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || e2e_die "apt-get update failed: cannot reach the host's Debian mirror to install ${missing[*]}"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		e2e_die "apt-get install ${missing[*]} failed"
}

# e2e_crane_version prints the go-containerregistry version go.mod requires, so the crane we
# check with is the release the project builds against.
e2e_crane_version() {
	awk '$1 == "github.com/google/go-containerregistry" { print $2; exit }' "$E2E_REPO/go.mod"
}

e2e_install_crane() {
	local want have
	want=$(e2e_crane_version)
	[ -n "$want" ] || e2e_die "go.mod does not require github.com/google/go-containerregistry"
	have=$("$E2E_BIN/crane" version 2>/dev/null || true)
	[ "$have" = "$want" ] && return 0
	command -v go >/dev/null || e2e_die "go is not installed: needed to install crane $want"
	e2e_log "installing crane $want into $E2E_BIN"
	(cd "$E2E_WORK" && GOBIN="$E2E_BIN" GOFLAGS=-mod=mod go install "github.com/google/go-containerregistry/cmd/crane@$want") ||
		e2e_die "go install crane@$want failed"
}

# e2e_host_mirrors sets E2E_DEBIAN_MIRROR and E2E_DEBIAN_SECURITY from the host's apt
# configuration (deb822 .sources first, then one-line sources.list), unless already set.
# The repository names no mirror: CI and developers use whatever their machine uses.
e2e_host_mirrors() {
	local files=() f out main sec
	for f in /etc/apt/sources.list.d/*.sources; do [ -f "$f" ] && files+=("$f"); done
	out=$(
		{
			[ ${#files[@]} -gt 0 ] && awk '
				function flush() {
					if (types ~ /(^| )deb( |$)/ && uri != "") {
						n = split(uri, us, " ")
						if (suites ~ /-security/) print "security " us[1]; else print "main " us[1]
					}
					types = ""; uri = ""; suites = ""; enabled = 1
				}
				/^[ \t]*#/ { next }
				/^[ \t]*$/ { flush(); next }
				tolower($1) == "types:" { $1 = ""; types = $0 }
				tolower($1) == "uris:" { $1 = ""; sub(/^ +/, ""); uri = $0 }
				tolower($1) == "suites:" { $1 = ""; suites = $0 }
				tolower($1) == "enabled:" && tolower($2) == "no" { types = "" }
				END { flush() }' "${files[@]}"
			for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
				[ -f "$f" ] || continue
				awk '$1 == "deb" {
					i = 2
					if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
					if ($(i + 1) ~ /-security/) print "security " $i; else print "main " $i
				}' "$f"
			done
		}
	)
	main=$(awk '$1 == "main" { print $2; exit }' <<<"$out")
	sec=$(awk '$1 == "security" { print $2; exit }' <<<"$out")
	: "${E2E_DEBIAN_MIRROR:=${main%/}}"
	: "${E2E_DEBIAN_SECURITY:=${sec%/}}"
	[ -n "$E2E_DEBIAN_MIRROR" ] || e2e_die "no Debian mirror in the host's apt sources; set E2E_DEBIAN_MIRROR"
	if [ -z "$E2E_DEBIAN_SECURITY" ]; then
		# Most mirrors that carry debian also carry debian-security beside it.
		E2E_DEBIAN_SECURITY=${E2E_DEBIAN_MIRROR%/debian}/debian-security
	fi
	export E2E_DEBIAN_MIRROR E2E_DEBIAN_SECURITY
}

# e2e_check_mirror fails with a clear message when the archive cannot be reached, since
# everything after it downloads from there.
e2e_check_mirror() {
	local suite
	for suite in "$@"; do
		curl -fsS --max-time 30 -o /dev/null "$E2E_DEBIAN_MIRROR/dists/$suite/InRelease" ||
			e2e_die "the Debian archive is not reachable ($E2E_DEBIAN_MIRROR/dists/$suite/InRelease): nothing can be built or checked"
	done
}

# e2e_registry_start starts docker-registry on E2E_REGISTRY_ADDR with storage in the work
# directory, and stops it by PID at exit.
e2e_registry_start() {
	local port=${E2E_REGISTRY_ADDR##*:} storage="$E2E_WORK/registry" log="$E2E_WORK/registry.log" pid i
	if ss -Hltn "sport = :$port" | grep -q .; then
		e2e_die "port $port is already in use ($(ss -Hltnp "sport = :$port" | tr -s ' ' | head -n 1)); stop that process or set E2E_REGISTRY_ADDR=127.0.0.1:PORT"
	fi
	mkdir -p "$storage"
	REGISTRY_HTTP_ADDR=$E2E_REGISTRY_ADDR REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=$storage \
		docker-registry serve "$E2E_DIR/registry.yml" >"$log" 2>&1 &
	pid=$!
	e2e_defer "e2e_stop_pid $pid docker-registry"
	for ((i = 0; i < 100; i++)); do
		if curl -fs --max-time 2 -o /dev/null "http://$E2E_REGISTRY_ADDR/v2/"; then
			E2E_REGISTRY_PID=$pid
			e2e_log "registry listening on $E2E_REGISTRY_ADDR (pid $pid, storage $storage)"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	cat "$log" >&2
	e2e_die "docker-registry did not answer on http://$E2E_REGISTRY_ADDR/v2/"
}

# e2e_binfmt_setup makes arm64 binaries run under qemu-user. It returns non-zero, with the
# reason in E2E_BINFMT_MISSING, when the machine cannot; callers decide whether that is fatal.
e2e_binfmt_setup() {
	local dir=/proc/sys/fs/binfmt_misc entry=/proc/sys/fs/binfmt_misc/qemu-aarch64
	E2E_BINFMT_MISSING=
	if ! mountpoint -q "$dir"; then
		if ! mount -t binfmt_misc binfmt_misc "$dir" 2>/dev/null; then
			E2E_BINFMT_MISSING="binfmt_misc cannot be mounted on $dir (kernel without CONFIG_BINFMT_MISC, or no privilege)"
			return 1
		fi
		e2e_log "mounted binfmt_misc (will unmount at exit)"
		e2e_defer "umount $dir && e2e_log 'unmounted binfmt_misc'"
	fi
	if [ -e "$entry" ] && head -n 1 "$entry" | grep -qx enabled; then
		:
	elif [ -e "$entry" ]; then
		echo 1 >"$entry" || { E2E_BINFMT_MISSING="cannot enable $entry"; return 1; }
		e2e_log "enabled qemu-aarch64 in binfmt_misc (will disable at exit)"
		e2e_defer "echo 0 > $entry && e2e_log 'disabled qemu-aarch64 in binfmt_misc'"
	else
		if ! update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || [ ! -e "$entry" ]; then
			E2E_BINFMT_MISSING="update-binfmts --enable qemu-aarch64 failed (is qemu-user-static installed?)"
			return 1
		fi
		e2e_log "registered qemu-aarch64 in binfmt_misc (will remove at exit)"
		e2e_defer "update-binfmts --disable qemu-aarch64 >/dev/null 2>&1; e2e_log 'removed qemu-aarch64 from binfmt_misc'"
	fi
	E2E_BINFMT_FIXED=
	grep -q '^flags:.*F' "$entry" && E2E_BINFMT_FIXED=1
	return 0
}

# e2e_base_key SUITE ARCH prints the cache key of a base root filesystem: everything that
# decides its content, including the code of the functions that make it.
e2e_base_key() {
	{
		echo "version=$E2E_BASE_VERSION suite=$1 arch=$2"
		echo "mirror=$E2E_DEBIAN_MIRROR security=$E2E_DEBIAN_SECURITY"
		cat "$E2E_DIR"/base/*
		declare -f e2e_base_rootfs e2e_base_slim e2e_base_sources e2e_base_tar
	} | sha256sum | cut -c1-16
}

# e2e_base_tarball SUITE ARCH prints the path of the cached rootfs tarball, building it when
# missing.
e2e_base_tarball() {
	local suite=$1 arch=$2 key dir
	key=$(e2e_base_key "$suite" "$arch")
	dir="$E2E_CACHE/base/$suite-$arch-$key"
	if [ ! -s "$dir/rootfs.tar.gz" ]; then
		e2e_base_rootfs "$suite" "$arch" "$dir" >&2 || return 1
	fi
	echo "$dir/rootfs.tar.gz"
}

# e2e_base_rootfs SUITE ARCH DIR debootstraps a minbase system, slims it and writes
# DIR/rootfs.tar.gz plus DIR/build.log and DIR/seconds.
e2e_base_rootfs() {
	local suite=$1 arch=$2 dir=$3 root start log host_arch
	root="$E2E_WORK/rootfs-$suite-$arch"
	log="$E2E_WORK/debootstrap-$suite-$arch.log"
	host_arch=$(dpkg --print-architecture)
	start=$(date +%s)
	rm -rf "$root" && mkdir -p "$root" "$dir"
	e2e_log "debootstrap $suite/$arch (log: $log)"
	if [ "$arch" = "$host_arch" ]; then
		debootstrap --variant=minbase --arch="$arch" "$suite" "$root" "$E2E_DEBIAN_MIRROR" >"$log" 2>&1 ||
			{ tail -n 20 "$log" >&2; e2e_log "debootstrap $suite/$arch failed"; return 1; }
	else
		debootstrap --foreign --variant=minbase --arch="$arch" "$suite" "$root" "$E2E_DEBIAN_MIRROR" >"$log" 2>&1 ||
			{ tail -n 20 "$log" >&2; e2e_log "debootstrap --foreign $suite/$arch failed"; return 1; }
		# Without binfmt's F flag the interpreter must be inside the chroot for the second stage.
		local qemu=
		if [ -z "$E2E_BINFMT_FIXED" ]; then
			qemu=/usr/bin/qemu-aarch64-static
			cp "$qemu" "$root$qemu"
		fi
		chroot "$root" /debootstrap/debootstrap --second-stage >>"$log" 2>&1 ||
			{ e2e_umount_under "$root"; tail -n 20 "$log" >&2; e2e_log "debootstrap --second-stage $suite/$arch failed"; return 1; }
		e2e_umount_under "$root"
		[ -n "$qemu" ] && rm -f "$root$qemu"
	fi
	# Every mtime is clamped to the date of the suite's Release file, read before the lists go.
	local epoch
	epoch=$(sed -n 's/^Date: //p' "$root"/var/lib/apt/lists/*_"$suite"_Release | head -n 1)
	epoch=$(date -d "${epoch:-@0}" +%s)
	e2e_base_slim "$root"
	e2e_base_sources "$root" "$suite"
	e2e_base_tar "$root" "$dir/rootfs.tar.gz.tmp" "$epoch" || return 1
	mv "$dir/rootfs.tar.gz.tmp" "$dir/rootfs.tar.gz"
	cp "$log" "$dir/build.log"
	echo $(($(date +%s) - start)) >"$dir/seconds"
	rm -rf --one-file-system "$root"
	e2e_log "built base $suite/$arch in $(cat "$dir/seconds")s: $dir/rootfs.tar.gz ($(du -h "$dir/rootfs.tar.gz" | cut -f1))"
}

# e2e_base_slim ROOT applies what Debian's slim images do: the dpkg path-excludes, the files
# they cover removed as if dpkg had never unpacked them, and no caches, lists or logs.
e2e_base_slim() {
	local root=$1 d
	install -m 0644 "$E2E_DIR/base/dpkg-slim.cfg" "$root/etc/dpkg/dpkg.cfg.d/docker"
	install -m 0644 "$E2E_DIR/base/dpkg-speedup.cfg" "$root/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
	install -m 0644 "$E2E_DIR/base/apt-clean.conf" "$root/etc/apt/apt.conf.d/docker-clean"
	install -m 0644 "$E2E_DIR/base/apt-no-languages.conf" "$root/etc/apt/apt.conf.d/docker-no-languages"
	# dpkg matches with fnmatch without FNM_PATHNAME, so "*" crosses "/" as find's -path does.
	find "$root/usr/share/doc" -mindepth 1 ! -type d ! -path "$root/usr/share/doc/*/copyright" -delete
	find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
	find "$root/usr/share/locale" -mindepth 1 ! -type d ! -path "$root/usr/share/locale/locale.alias" -delete
	find "$root/usr/share/locale" -mindepth 1 -type d -empty -delete
	for d in man groff info lintian linda; do
		[ -d "$root/usr/share/$d" ] && find "$root/usr/share/$d" -mindepth 1 -delete
	done
	find "$root/var/lib/apt/lists" -mindepth 1 -maxdepth 1 ! -name partial -exec rm -rf {} +
	rm -f "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/archives/partial/*
	rm -f "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old "$root"/var/cache/ldconfig/aux-cache
	find "$root/var/log" -type f -delete
	find "$root/dev" "$root/proc" "$root/sys" "$root/run" "$root/tmp" "$root/var/tmp" -mindepth 1 -delete
	rm -f "$root/etc/hostname" "$root/etc/resolv.conf"
	printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
	[ -e "$root/etc/machine-id" ] && : >"$root/etc/machine-id"
	return 0
}

# e2e_base_sources ROOT SUITE writes the image's apt sources in deb822 form, pointing at the
# mirror the host uses, as Debian's images do with theirs.
e2e_base_sources() {
	local root=$1 suite=$2
	rm -f "$root/etc/apt/sources.list"
	cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $E2E_DEBIAN_MIRROR
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $E2E_DEBIAN_SECURITY
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
}

# e2e_base_tar ROOT OUT EPOCH writes a deterministic tarball: sorted names, numeric owners,
# mtimes clamped to EPOCH, no atime/ctime.
e2e_base_tar() {
	local root=$1 out=$2 epoch=$3
	tar --create --directory="$root" --sort=name --numeric-owner --format=pax \
		--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
		--mtime="@$epoch" --clamp-mtime . | gzip -n -6 >"$out"
}

# e2e_put_blob REPO FILE uploads FILE as a blob (monolithic upload of the distribution API)
# and prints its digest.
e2e_put_blob() {
	local repo=$1 file=$2 digest loc sep
	digest=sha256:$(sha256sum "$file" | cut -d' ' -f1)
	if ! curl -fs -o /dev/null -I "http://$E2E_REGISTRY_ADDR/v2/$repo/blobs/$digest"; then
		loc=$(curl -fsS -X POST -D - -o /dev/null "http://$E2E_REGISTRY_ADDR/v2/$repo/blobs/uploads/" |
			awk 'tolower($1) == "location:" { print $2 }' | tr -d '\r')
		[ -n "$loc" ] || e2e_die "blob upload to $repo: no Location"
		case $loc in /*) loc=http://$E2E_REGISTRY_ADDR$loc ;; esac
		sep='?'
		[[ $loc == *\?* ]] && sep='&'
		curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$file" \
			"$loc${sep}digest=$digest" >/dev/null || e2e_die "blob upload of $file to $repo failed"
	fi
	echo "$digest"
}

# e2e_put_manifest REPO REFERENCE MEDIATYPE FILE
e2e_put_manifest() {
	curl -fsS -X PUT -H "Content-Type: $3" --data-binary "@$4" \
		"http://$E2E_REGISTRY_ADDR/v2/$1/manifests/$2" >/dev/null || e2e_die "manifest upload $1:$2 failed"
}

# e2e_attestation REPO CHILD_DIGEST SUITE writes an attestation manifest for a platform image,
# shaped like those BuildKit adds to Docker Hub's official images (platform unknown/unknown,
# an in-toto layer), and prints its index entry. pgassemble must skip such entries.
e2e_attestation() {
	local repo=$1 child=$2 suite=$3 dir="$E2E_WORK/attest-$suite-${2#sha256:}" ldig lsize cdig csize mdig msize
	mkdir -p "$dir"
	printf '{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://slsa.dev/provenance/v0.2","subject":[{"name":"debian:%s-slim","digest":{"sha256":"%s"}}],"predicate":{"builder":{"id":"pgassemble-e2e"},"buildType":"debootstrap"}}' \
		"$suite" "${child#sha256:}" >"$dir/layer"
	ldig=$(e2e_put_blob "$repo" "$dir/layer") lsize=$(stat -c %s "$dir/layer")
	printf '{"architecture":"unknown","os":"unknown","config":{},"rootfs":{"type":"layers","diff_ids":["%s"]}}' "$ldig" >"$dir/config"
	cdig=$(e2e_put_blob "$repo" "$dir/config") csize=$(stat -c %s "$dir/config")
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.in-toto+json","digest":"%s","size":%d,"annotations":{"in-toto.io/predicate-type":"https://slsa.dev/provenance/v0.2"}}]}' \
		"$cdig" "$csize" "$ldig" "$lsize" >"$dir/manifest"
	mdig=sha256:$(sha256sum "$dir/manifest" | cut -d' ' -f1) msize=$(stat -c %s "$dir/manifest")
	e2e_put_manifest "$repo" "$mdig" application/vnd.oci.image.manifest.v1+json "$dir/manifest"
	printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d,"annotations":{"vnd.docker.reference.digest":"%s","vnd.docker.reference.type":"attestation-manifest"},"platform":{"architecture":"unknown","os":"unknown"}}' \
		"$mdig" "$msize" "$child"
}

# e2e_base_publish SUITE TARBALL... pushes REGISTRY/library/debian:SUITE-slim as an OCI index
# of the platform images plus, like Docker Hub's, one attestation manifest per platform. The
# images are made with crane in a staging repository, copied by digest, and the index is
# written by hand so its entries look like Docker Hub's (no artifactType, annotations).
e2e_base_publish() {
	local suite=$1 repo=library/debian stage="$E2E_REGISTRY_ADDR/e2e-staging/debian" arch tar plat variant
	local entries=() attests=() digest size index="$E2E_WORK/index-$suite.json"
	shift
	for tar in "$@"; do
		arch=$(basename "$(dirname "$tar")" | cut -d- -f2)
		plat=linux/$arch variant=
		[ "$arch" = arm64 ] && plat=linux/arm64/v8 variant=',"variant":"v8"'
		crane append --oci-empty-base -f "$tar" -t "$stage:$suite-slim-$arch" >/dev/null 2>>"$E2E_WORK/crane.log" ||
			e2e_die "crane append $tar"
		crane mutate "$stage:$suite-slim-$arch" --set-platform "$plat" \
			--env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			--cmd bash -t "$stage:$suite-slim-$arch" >/dev/null 2>>"$E2E_WORK/crane.log" || e2e_die "crane mutate $stage:$suite-slim-$arch"
		digest=$(crane digest "$stage:$suite-slim-$arch")
		size=$(crane manifest "$stage:$suite-slim-$arch" | wc -c)
		crane copy "$stage@$digest" "$E2E_REGISTRY_ADDR/$repo@$digest" 2>>"$E2E_WORK/crane.log" || e2e_die "crane copy $stage@$digest"
		entries+=("$(printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d,"annotations":{"org.opencontainers.image.version":"%s-slim","com.docker.official-images.bashbrew.arch":"%s"},"platform":{"architecture":"%s","os":"linux"%s}}' \
			"$digest" "$size" "$suite" "$arch" "$arch" "$variant")")
		[ -n "${E2E_BASE_ATTESTATIONS:-1}" ] && [ "${E2E_BASE_ATTESTATIONS:-1}" != 0 ] &&
			attests+=("$(e2e_attestation "$repo" "$digest" "$suite")")
	done
	local IFS=,
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' "${entries[*]}${attests[*]:+,${attests[*]}}" >"$index"
	unset IFS
	e2e_put_manifest "$repo" "$suite-slim" application/vnd.oci.image.index.v1+json "$index"
	e2e_log "published $E2E_REGISTRY_ADDR/$repo:$suite-slim (sha256:$(sha256sum "$index" | cut -d' ' -f1))"
}

# e2e_bases SUITE... builds (or takes from the cache) and publishes each suite's base image for
# E2E_ARCHES, in two lanes for the two cores. The foreign (qemu) second stage is the long,
# CPU-bound part, so with two suites each lane takes one suite, arm64 first: both cores work
# until the end, where one lane per architecture left one core idle for minutes (measured).
# With one suite, the lanes are its two architectures.
e2e_bases() {
	local suite arch tars=() pids=() pid lanes=() lane
	if [ $# -ge 2 ]; then
		for suite in "$@"; do
			lane=
			for arch in $(tr ' ' '\n' <<<"$E2E_ARCHES" | sort -r); do lane+=" $suite:$arch"; done
			lanes+=("$lane")
		done
	else
		for arch in $E2E_ARCHES; do lanes+=("$1:$arch"); done
	fi
	for lane in "${lanes[@]}"; do
		(
			for job in $lane; do
				e2e_base_tarball "${job%%:*}" "${job#*:}" >"$E2E_WORK/tar-${job%%:*}-${job#*:}" || true
			done
		) &
		pids+=($!)
	done
	# Wait for these lanes only: the registry is a child of this shell too.
	for pid in "${pids[@]}"; do wait "$pid" || true; done
	for suite in "$@"; do
		tars=()
		for arch in $E2E_ARCHES; do
			[ -s "$E2E_WORK/tar-$suite-$arch" ] || e2e_die "base image $suite/$arch could not be built (see messages above)"
			tars+=("$(cat "$E2E_WORK/tar-$suite-$arch")")
		done
		e2e_base_publish "$suite" "${tars[@]}"
	done
}
