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
	"syscall"
)

func main() {
	// The one signal context: every command gets it as cmd.Context().
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfiles := startProfiles(os.Stderr)
	code := runWith(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stopProfiles()
	cancel()
	os.Exit(code)
}
