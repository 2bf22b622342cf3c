package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pgassemble/pgassemble/pkg/lock"
)

func newLockCmd() *cobra.Command {
	f := &buildFlags{}
	c := &cobra.Command{
		Use:   "lock [TARGET...]",
		Short: "Write pgassemble.lock: what each target resolves to now",
		Long: `Resolve the named targets (or the matrix, filtered by --pg, --type and --base) as
a build would, downloading package indexes only, and record per target and platform
the base image digest, every package of every stage (name, version, architecture,
SHA256, size, pool path, repository) and each repository's InRelease digest in the
lock file (JSON, stable order). Targets already in the file and not named keep
their entries.

A later build or bake with --locked builds exactly that set, and fails naming every
package that moved or vanished; with --snapshot URL-TEMPLATE it fetches those from
a snapshot-style mirror instead. The snapshot must serve every locked repository's
InRelease (or Release) exactly as locked, or the build fails naming the repository
and both digests; the live archive's InRelease moving (it is re-signed every few
hours) is only reported, one line per repository.`,
		Example: `  pgassemble lock postgresql-17-standard-trixie
  pgassemble --pg 17 --type standard --base trixie --locked
  pgassemble bake --locked --snapshot 'http://snapshot.example/archive/debian/20261101T000000Z/{path}'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cat, err := f.target.Catalog()
			if err != nil {
				return err
			}
			targets, err := f.target.Targets(cat, args)
			if err != nil {
				return err
			}
			lf, err := lock.Read(f.lock.File, true)
			if err != nil {
				return err
			}
			s, err := newSession(cmd, f)
			if err != nil {
				return err
			}
			for _, t := range targets {
				tp, err := s.builder.Plan(cmd.Context(), t)
				if err != nil {
					s.ui.Wait()
					return err
				}
				lt := lock.FromPlan(tp)
				lf.Put(lt)
				n := 0
				for _, st := range lt.Platforms[0].Stages {
					n += len(st.Packages)
				}
				s.ui.Printf("locked %s: %s, %d platforms, %d packages on %s\n", t.Name, tp.Version, len(lt.Platforms), n, lt.Platforms[0].Platform)
			}
			s.ui.Wait()
			if err := lf.Write(f.lock.File); err != nil {
				return err
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "wrote", f.lock.File)
			return nil
		},
	}
	f.register(c, true)
	f.lock.AddFileFlag(c.Flags())
	return c
}
