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
// GOMEMLIMIT sets another (GOMEMLIMIT=off: none). A two-platform build's
// live heap peaks at about 180 MB at the end of planning (the parsed
// indexes of both architectures, most of it) and stays well under that
// while layers are converted; without a limit the collector lets the heap
// grow to twice the live data, and the build's peak RSS was about 320 MB.
// The CPU cost is in README "Performance".
const defaultMemoryLimit = 200 << 20

func main() {
	setMemoryLimit(os.LookupEnv)
	// The one signal context: every command gets it as cmd.Context().
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfiles := startProfiles(os.Stderr)
	code := runWith(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stopProfiles()
	cancel()
	os.Exit(code)
}

// setMemoryLimit sets defaultMemoryLimit unless GOMEMLIMIT is set (the
// runtime has applied that one); it reports whether it did. An empty
// GOMEMLIMIT is unset, as for the runtime (which reads it as no limit):
// a CI variable left empty does not turn the default off.
func setMemoryLimit(lookupEnv func(string) (string, bool)) bool {
	if v, set := lookupEnv("GOMEMLIMIT"); set && v != "" {
		return false
	}
	debug.SetMemoryLimit(defaultMemoryLimit)
	return true
}
