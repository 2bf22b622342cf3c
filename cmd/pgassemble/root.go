package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// usageError marks errors that are the user's command line, not the build:
// they exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func newRootCmd() *cobra.Command {
	root := newBuildCmd("pgassemble")
	root.Short = "Build PostgreSQL container images without Docker"
	root.SilenceUsage, root.SilenceErrors = true, true
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newBuildCmd("build"), newBakeCmd(), newTargetsCmd(), newPlanCmd(), newExplainCmd(), newResolveCmd())
	return root
}

func run(args []string) int { return runWith(args, os.Stdout, os.Stderr) }

// runWith runs the command line and returns the exit code: 0 done, 1 the
// work failed, 2 bad usage.
func runWith(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "pgassemble:", err)
	var ue usageError
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
