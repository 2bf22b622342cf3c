// Command pgassemble builds PostgreSQL container images without Docker.
//
// The command is thin: flags are typed options (package options), each
// command is one file that turns them into calls of pkg/assemble (the
// pipeline) and pkg/publish, and prints the result.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// defaultMemoryLimit is the Go runtime's soft memory limit unless
// GOMEMLIMIT sets another (GOMEMLIMIT=off: none). A build's live heap
// stays under about 130 MB (the parsed indexes of two architectures while
// planning, then the conversions); without a limit the collector lets the
// heap grow to twice the live data, and the peak RSS of a two-platform
// build was about 380 MB. The CPU cost is in README "Performance".
const defaultMemoryLimit = 200 << 20

func main() {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	// The one signal context: every command gets it as cmd.Context().
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfiles := startProfiles(os.Stderr)
	code := runWith(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stopProfiles()
	cancel()
	os.Exit(code)
}
