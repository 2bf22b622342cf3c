package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pgassemble/pgassemble/cmd/pgassemble/options"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

// newTargetsCmd lists the matrix. It reads the catalog only: no archive
// client, no xz lookup, no network.
func newTargetsCmd() *cobra.Command {
	var (
		target options.TargetOptions
		report options.ReportOptions
		shards int
	)
	c := &cobra.Command{
		Use:   "targets",
		Short: "List the matrix's targets",
		Example: `  pgassemble targets
  pgassemble targets --pg 17 --json
  # a CI matrix: one job per target, each knowing its bake --shard
  pgassemble targets --json --shards 4`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if shards < 0 {
				return options.Usagef("--shards %d: want a count >= 1", shards)
			}
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
					Group     string     `json:"group"`           // targets sharing layers
					Shard     string     `json:"shard,omitempty"` // bake --shard's value, with --shards
				}
				var assigned []int
				if shards > 0 {
					assigned = variants.Assign(targets, shards)
				}
				rows := []row{}
				for i, t := range targets {
					r := row{Name: t.Name, Version: t.Version.String(), Type: t.Type, Base: t.Base.Reference(), Platforms: t.Platforms, Group: variants.ShardGroup(t)}
					if assigned != nil {
						r.Shard = variants.Shard{Index: assigned[i], Count: shards}.String()
					}
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
	c.Flags().IntVar(&shards, "shards", 0, "with --json, give each target the bake --shard I/N that builds it, for N shards")
	return c
}
