# Fidelity suite (issue 3): pgassemble's layers against real apt-get on the real Debian
# archive, file by file, plus chroot checks (dpkg, accounts, CA bundle, initdb/psql as uid 26)
# on amd64 and, under qemu-user, arm64. Runs as root; needs the host's Debian mirror.
#   make fidelity                        both architectures
#   make fidelity FIDELITY_ARCHES=amd64  amd64 only (arm64 is then reported as not checked)
FIDELITY_ARCHES ?= amd64 arm64
FIDELITY_FLAGS  ?=

.PHONY: fidelity fidelity-types fidelity-unit

fidelity:
	FIDELITY_ARCHES="$(FIDELITY_ARCHES)" test/fidelity/run.sh $(FIDELITY_FLAGS)

# The custom types (issue 8): PostGIS and pg_partman as the README's --config writes them, and
# system; compared with apt-get on amd64, chroot checks on both architectures (results under
# /var/tmp/pgassemble-fidelity-results/TYPE).
FIDELITY_TYPES ?= postgis partman system
fidelity-types:
	@set -e; for t in $(FIDELITY_TYPES); do \
	  echo "== fidelity of type $$t"; \
	  FIDELITY_TYPE=$$t FIDELITY_ARCHES="$(FIDELITY_ARCHES)" test/fidelity/run.sh $(FIDELITY_FLAGS); \
	done

# The allow-list parser and the tree comparison, without root or network.
fidelity-unit:
	$(GO) test -count=1 ./test/fidelity/
