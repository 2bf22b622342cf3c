# End-to-end suite (test/e2e). Included from the top-level Makefile; needs root on Debian 12.
# Everything it starts stops when the target ends; the base-image cache stays in
# $(E2E_CACHE) so the next run does not debootstrap again.

E2E_RUN    ?= test/e2e/run.sh
E2E_CACHE  ?= /var/cache/pgassemble-e2e
# The binary under test; empty: run.sh builds ./cmd/pgassemble from this tree (go build).
PGASSEMBLE ?=
E2E_PGASSEMBLE = $(if $(PGASSEMBLE),PGASSEMBLE=$(abspath $(PGASSEMBLE)))

export E2E_CACHE

.PHONY: e2e e2e-types e2e-pgdg e2e-env e2e-base-checks e2e-reference e2e-clean demo-env demo

# The whole suite: registry, base images, the two pgassemble builds, the checks, the summary
# (also written to test/e2e/summary.txt). Exits non-zero if anything failed or was not checked.
e2e:
	$(E2E_PGASSEMBLE) $(E2E_RUN) e2e

# The custom types of the README's --config example (PostGIS, pg_partman) and system, built
# without --allow-unhandled-scripts and checked with podman on amd64 and arm64.
e2e-types:
	$(E2E_PGASSEMBLE) $(E2E_RUN) types

# PostgreSQL from a PGDG-shaped mirror of real Debian packages (re-signed with a throw-away
# key), then a container derived from the image apt-get installs an extension from it (amd64).
e2e-pgdg:
	$(E2E_PGASSEMBLE) $(E2E_RUN) pgdg

# Registry and base images only (builds the cached base images when missing), then stops.
# E2E_SHELL=1 keeps them up for an interactive shell: make e2e-env E2E_SHELL=1
e2e-env:
	$(E2E_RUN) env $(if $(E2E_SHELL),-- bash)

# The generic checks against the published Debian base images: proves the harness itself.
e2e-base-checks:
	$(E2E_RUN) base-checks

# The checks against 17-standard-trixie made the Dockerfile way (apt-get in podman).
e2e-reference:
	$(E2E_RUN) reference

# Removes the base-image cache and the podman images pulled from the suite's registry.
e2e-clean:
	$(E2E_RUN) clean

# The README's first command: local registry, local trixie base, pgassemble --pg 17
# --type minimal, then the podman run line that starts the published image, run once.
demo-env:
	$(E2E_RUN) env

demo:
	$(E2E_PGASSEMBLE) $(E2E_RUN) demo
