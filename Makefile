# pgassemble — build, test, benchmark and lint.
GO      ?= go
BIN     ?= bin/pgassemble
PKGS    ?= ./...
# Benchmarks worth reporting; override with BENCH=regexp.
BENCH   ?= .

.PHONY: all build test test-short bench bench-real coverage lint fuzz clean

.DEFAULT_GOAL := build

include mk/e2e.mk
include mk/fidelity.mk

all: build

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/pgassemble

# The test command the README names and CI runs.
test:
	$(GO) test -count=1 -timeout 45m $(PKGS)

test-short:
	$(GO) test -short $(PKGS)

bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -timeout 60m ./pkg/... ./cmd/...

# The real-archive benchmark (cold, warm, no-op, and the Docker-less baseline) in the
# e2e environment: needs the network to the Debian archive, root, a quiet machine and
# 127.0.0.1:5000 free.
bench-real:
	test/e2e/run.sh env -- bash test/bench/real-build.sh

# The maintainer-script coverage over the real archive alone (README, "Coverage over the
# archive"): every postgresql-17-* of trixie and postgresql-15-* of bookworm over standard.
coverage:
	$(GO) test -count=1 -timeout 60m -v ./test/coverage

lint:
	$(GO) mod tidy -diff
	@unformatted=$$("$$($(GO) env GOROOT)/bin/gofmt" -l $$(git ls-files '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "not gofmt-formatted:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	@test -x "$$($(GO) env GOPATH)/bin/staticcheck" || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	"$$($(GO) env GOPATH)/bin/staticcheck" $(PKGS)

# Short runs of every fuzz target (each FUZZTIME long).
FUZZTIME ?= 10s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  list=$$($(GO) test -list '^Fuzz' $$pkg) || { echo "$$list"; exit 1; }; \
	  for f in $$(echo "$$list" | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin
