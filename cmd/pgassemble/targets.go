package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pgassemble/pgassemble/cmd/pgassemble/options"
)

// newTargetsCmd lists the matrix. It reads the catalog only: no archive
// client, no xz lookup, no network.
func newTargetsCmd() *cobra.Command {
	var (
		target options.TargetOptions
		report options.ReportOptions
	)
	c := &cobra.Command{
		Use:   "targets",
		Short: "List the matrix's targets",
		Example: `  pgassemble targets
  pgassemble targets --pg 17 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cat, err := target.Catalog()
			if err != nil {
				return err
			}
			targets, err := target.Targets(cat, nil)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if report.JSON {
				type row struct {
					Name      string     `json:"name"`
					Version   string     `json:"version"`
					Type      string     `json:"type"`
					Base      string     `json:"base"`
					Platforms []string   `json:"platforms"`
					Stages    [][]string `json:"stages"`
				}
				var rows []row
				for _, t := range targets {
					r := row{Name: t.Name, Version: t.Version.String(), Type: t.Type, Base: t.Base.Reference(), Platforms: t.Platforms}
					for _, st := range t.Stages {
						r.Stages = append(r.Stages, st.Packages)
					}
					rows = append(rows, r)
				}
				return options.PrintJSON(out, rows)
			}
			for _, t := range targets {
				fmt.Fprintf(out, "%-40s %-22s %s\n", t.Name, t.Base.Reference(), strings.Join(t.Platforms, ","))
			}
			return nil
		},
	}
	target.AddFlags(c.Flags(), true)
	report.AddFlags(c.Flags())
	return c
}
