# Supply-chain part of the end-to-end suite (issue 10), sourced by run.sh: the verifying
# clients at pinned versions and a throw-away signing key. The checks themselves are
# supply_test.go (TestSupply), run with the other Go checks, and supply_keyless_test.go
# (TestSupplyKeyless: a --sign keyless build against a local Fulcio, Rekor and OIDC issuer it
# starts itself, verified with the same cosign; `-run TestSupply` in run.sh selects both).

# Pinned clients. go install compiles them once (cosign takes minutes); the binaries are kept in
# $E2E_BIN (the cache) and reinstalled only when their version differs.
E2E_COSIGN_VERSION=${E2E_COSIGN_VERSION:-v2.6.5}
E2E_ORAS_VERSION=${E2E_ORAS_VERSION:-v1.3.6}
# syft: an SBOM reader independent of pgassemble, compared with its SPDX SBOM in TestSupply.
E2E_SYFT_VERSION=${E2E_SYFT_VERSION:-v1.57.1}

# e2e_install_go_tool NAME PACKAGE VERSION: installs PACKAGE@VERSION as $E2E_BIN/NAME unless the
# binary there already is VERSION: the main module's version Go recorded in it (go version -m),
# else the first version its `version` command prints (with or without its leading v). A
# go-installed syft prints no version of its own, only its SBOM schema's.
e2e_install_go_tool() {
	local name=$1 pkg=$2 want=$3 have
	have=$(go version -m "$E2E_BIN/$name" 2>/dev/null | awk '$1 == "mod" { print $3; exit }' || true)
	[ "$have" = "$want" ] && return 0
	have=$("$E2E_BIN/$name" version 2>/dev/null | grep -Eo '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1 || true)
	[ "$have" = "${want#v}" ] && return 0
	command -v go >/dev/null || e2e_die "go is not installed: needed to install $name $want"
	e2e_log "installing $name $want into $E2E_BIN (go install, compiles once)"
	(cd "$E2E_WORK" && GOBIN="$E2E_BIN" GOFLAGS=-mod=mod go install "$pkg@$want") >"$E2E_WORK/install-$name.log" 2>&1 ||
		{ tail -n 20 "$E2E_WORK/install-$name.log" >&2; e2e_die "go install $pkg@$want failed"; }
}

e2e_supply_tools() {
	e2e_install_go_tool cosign github.com/sigstore/cosign/v2/cmd/cosign "$E2E_COSIGN_VERSION"
	e2e_install_go_tool oras oras.land/oras/cmd/oras "$E2E_ORAS_VERSION"
	e2e_install_go_tool syft github.com/anchore/syft/cmd/syft "$E2E_SYFT_VERSION"
}

# e2e_supply_key makes a cosign key pair in the work directory (never the cache), encrypted with
# a random password, and exports what the builds (--sign-key, COSIGN_PASSWORD) and the checks
# (E2E_COSIGN_PUB) need. The work directory is removed at exit.
e2e_supply_key() {
	COSIGN_PASSWORD=$(head -c 18 /dev/urandom | base64)
	export COSIGN_PASSWORD
	(cd "$E2E_WORK" && cosign generate-key-pair --output-key-prefix cosign >/dev/null 2>"$E2E_WORK/cosign-keygen.log") ||
		{ cat "$E2E_WORK/cosign-keygen.log" >&2; e2e_die "cosign generate-key-pair failed"; }
	chmod 600 "$E2E_WORK/cosign.key"
	E2E_SIGN_KEY=$E2E_WORK/cosign.key
	E2E_COSIGN_PUB=$E2E_WORK/cosign.pub
	export E2E_SIGN_KEY E2E_COSIGN_PUB
}
