package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newResolveCmd is owned by the pkg/apt/archive work; this placeholder is replaced there.
func newResolveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "resolve PACKAGE...",
		Short: "Resolve packages like apt-get install --no-install-recommends",
		RunE:  func(*cobra.Command, []string) error { return errors.New("resolve: not implemented yet") },
	}
}
