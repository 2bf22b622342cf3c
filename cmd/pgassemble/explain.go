package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/pgassemble/pgassemble/pkg/assemble"
)

func newExplainCmd() *cobra.Command {
	f := &buildFlags{}
	c := &cobra.Command{
		Use:   "explain",
		Short: "Show what each package's maintainer scripts do, and how pgassemble replays it",
		Long: `Resolve a target, read the maintainer scripts of every package it adds, and print
for each command: handled (replayed declaratively), no-op inside an image (with the
reason), or unhandled (a build would stop unless --allow-unhandled-scripts).
With PACKAGE arguments, only those packages are shown.`,
		Example: `  pgassemble explain --pg 17 --type minimal --base trixie --pg-source debian
  pgassemble explain --pg 17 --type standard --base trixie --pg-source debian postgresql-common ca-certificates`,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, t, err := singleTarget(cmd, f)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			tp, err := s.builder.Plan(ctx, t)
			if err != nil {
				s.ui.Wait()
				return err
			}
			cls, err := s.builder.Explain(ctx, tp)
			s.ui.Wait()
			if err != nil {
				return err
			}
			keep := map[string]bool{}
			for _, a := range args {
				keep[a] = true
			}
			var rows []assemble.ScriptReport
			found := map[string]bool{}
			for _, c := range cls {
				if len(keep) == 0 || keep[c.Package] {
					rows = append(rows, c)
					found[c.Package] = true
				}
			}
			for _, a := range args {
				if !found[a] {
					s.ui.Warnf("note: %s is not installed by %s, or its scripts do nothing\n", a, t.Name)
				}
			}
			if f.report.JSON {
				return s.printJSON(rows)
			}
			tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PACKAGE\tSCRIPT\tVERDICT\tCOMMAND\tREASON")
			for _, c := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Package, c.Script, c.Verdict, oneLine(c.Command, 60), c.Reason)
			}
			return tw.Flush()
		},
	}
	f.register(c, false)
	return c
}

func oneLine(s string, n int) string {
	b := []rune(s)
	for i, r := range b {
		if r == '\n' || r == '\t' {
			b[i] = ' '
		}
	}
	if len(b) > n {
		return string(b[:n-1]) + "…"
	}
	return string(b)
}
