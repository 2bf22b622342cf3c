package main

import (
	"errors"
	"fmt"
	"os"

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

func run(args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, "pgassemble:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}
