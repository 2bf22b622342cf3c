package main

import (
	"github.com/spf13/cobra"
)

func newBakeCmd() *cobra.Command {
	f := &buildFlags{}
	c := &cobra.Command{
		Use:   "bake [TARGET...]",
		Short: "Build and publish the whole matrix, or the named targets",
		Long: `Build the default matrix (every PostgreSQL version x type x base, like upstream's
docker-bake.hcl), or the named targets, sharing everything between them: each .deb
is downloaded once per architecture and each layer is built and pushed once.
--pg, --type and --base filter the matrix (comma-separated); --platform restricts
every target.`,
		Example: `  pgassemble bake
  pgassemble bake postgresql-17-minimal-bookworm postgresql-17-standard-bookworm
  pgassemble bake --pg 17,18 --type minimal,standard --platform linux/amd64`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cat, err := f.target.Catalog()
			if err != nil {
				return err
			}
			targets, err := f.target.Targets(cat, args)
			if err != nil {
				return err
			}
			return buildAndPublish(cmd, f, targets)
		},
	}
	f.register(c, true)
	return c
}
