package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/pgassemble/pgassemble/pkg/assemble"
)

func newExplainCmd() *cobra.Command {
	f := &buildFlags{}
	c := &cobra.Command{
		Use:   "explain",
		Short: "Trace the maintainer scripts: each command run, what ran it and what it changed",
		Long: `Resolve a target, build its first platform's layers (nothing is published) and print
the maintainer scripts' trace, in the order dpkg runs them: each script run (preinst
install, postinst configure, postinst triggered...), then each command it ran with the
implementation that ran it: go (a Go implementation), script (a shell script of the image,
interpreted), no-op (with the reason), deviation (skipped on purpose by the policy),
refused or skipped (no faithful implementation: a build stops unless
--allow-unhandled-scripts), not-found; and what it changed.
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
			s.builder.ReleaseIndexes() // as build: not held while layers are converted
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
			fmt.Fprintln(tw, "PACKAGE\tSCRIPT\tLINE\tRAN BY\tCOMMAND\tDETAIL")
			for _, c := range rows {
				if c.Verdict == "run" {
					fmt.Fprintf(tw, "%s\t%s\t\t\t%s\t\n", c.Package, c.Script, oneLine(c.Command, 60))
					continue
				}
				line := ""
				if c.Line > 0 {
					line = fmt.Sprint(c.Line)
				}
				if c.File != "" {
					line = c.File + ":" + line
				}
				detail := c.Reason
				if len(c.Effects) > 0 {
					detail = strings.TrimPrefix(detail+"; "+strings.Join(c.Effects, "; "), "; ")
				}
				if c.Status != 0 {
					detail = strings.TrimPrefix(fmt.Sprintf("%s; exit %d", detail, c.Status), "; ")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s%s\t%s\n", c.Package, c.Script, line, c.Verdict,
					strings.Repeat("  ", c.Depth), oneLine(c.Command, 60), detail)
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
