// Package coverage holds the real-archive coverage test of the maintainer
// script runner (issue 8): every postgresql-17-* package of trixie and
// every postgresql-15-* of bookworm, each built as a one-package type over
// standard with its scripts executed, must run with no refusal. It lives
// under test/ rather than in pkg/layer/maint because it drives the whole
// pipeline (archive client, resolver, layer builder, runner), which
// pkg/layer/maint cannot import, and because it needs the network and a
// minbase root filesystem. Run it with `go test ./test/coverage -v`
// (COVERAGE_PACKAGES=regexp for a subset, COVERAGE_SUITES="trixie").
package coverage
