// Package e2e is pgassemble's end-to-end suite: it checks images that pgassemble published
// to a real registry using only tools the project did not write (skopeo, crane, podman with
// runc, qemu-user for arm64, PostgreSQL's own client, dpkg and apt inside the image).
//
// Its tests carry the build tag e2e, so `go test ./...` does not run them. test/e2e/run.sh
// (`make e2e`) starts the registry, publishes the base images, runs pgassemble and then
//
//	go test -tags e2e ./test/e2e/ -run 'TestStandard|TestMinimalBookworm'
//
// with the image references in E2E_IMAGE_* variables. Each check is a subtest that can be
// run alone (-run TestStandard/amd64-session) and appends one line to the E2E_RESULTS file,
// which cmd/e2e-summary turns into the summary. A check whose prerequisite the machine lacks
// fails with "<what> not checked: <why>"; it never skips.
package e2e
