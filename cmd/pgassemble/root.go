package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pgassemble/pgassemble/cmd/pgassemble/options"
)

func newRootCmd() *cobra.Command {
	root := newBuildCmd("pgassemble")
	root.Short = "Build PostgreSQL container images without Docker"
	root.SilenceUsage, root.SilenceErrors = true, true
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return options.UsageError{Err: err} })
	root.AddCommand(newBuildCmd("build"), newBakeCmd(), newLockCmd(), newCatalogCmd(), newTargetsCmd(), newPlanCmd(), newExplainCmd(), newResolveCmd(), newOutdatedCmd())
	return root
}

// runWith runs the command line and returns the exit code: 0 done, 1 the
// work failed, 2 bad usage (outdated: 1 a rebuild is due, 3 the check
// failed). The error is printed once, here.
func runWith(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ce codeError
	if errors.As(err, &ce) { // a command's own exit code (outdated: 1 due, 3 failed)
		if ce.err != nil {
			fmt.Fprintln(stderr, "pgassemble:", ce.err)
		}
		return ce.code
	}
	fmt.Fprintln(stderr, "pgassemble:", err)
	var ue options.UsageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		return 2
	}
	return 1
}

// isCobraUsage recognizes the command-line errors cobra reports as plain
// errors (unknown subcommands, wrong argument counts).
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command ", "accepts ", "requires at least ", "accepts at most ", "invalid argument "} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
