package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pgassemble/pgassemble/cmd/pgassemble/options"
	"github.com/pgassemble/pgassemble/internal/atomicfile"
	"github.com/pgassemble/pgassemble/pkg/assemble"
)

func newResolveCmd() *cobra.Command {
	var (
		f      options.ResolveOptions
		trust  options.ArchiveOptions
		cache  options.CacheOptions
		report options.ReportOptions
	)
	cmd := &cobra.Command{
		Use:   "resolve [flags] PACKAGE...",
		Short: "Resolve packages like apt-get install --no-install-recommends",
		Long: `Resolve prints the packages that "apt-get install --no-install-recommends PACKAGE..."
would install, one line per package in install order (dependencies first):

    name version architecture

Every InRelease is verified with OpenPGP against the keyrings, every Packages
index against the Release's SHA256, and every downloaded .deb against the
index. Indexes and .debs are kept in a content-addressed cache, so a second
run with an unchanged InRelease downloads nothing else.

Repositories come from --source flags, or else from the apt configuration of
--root (default "/": this host's /etc/apt/sources.list and sources.list.d),
with each source's Signed-By keyrings. Without --keyring, a --source is
verified against the root's trusted keyrings (/etc/apt/trusted.gpg and
/etc/apt/trusted.gpg.d).

The installed set is empty unless --status names a dpkg status file (e.g. the
/var/lib/dpkg/status of a base image); packages it lists are kept when they
satisfy a dependency, and upgraded when a newer version is required: such a
line ends with "  # upgrade from OLD-VERSION". Text after "#" is a comment;
--why adds the relation that pulled each package in.

PACKAGE is "name", "name=version", "name=17.12*" (a glob pin as apt accepts)
or "name:arch".

Exit status: 0 on success, 1 on failure (network, signature, checksum,
unsatisfiable or conflicting packages), 2 on bad usage.`,
		Example: `  # What would postgresql-17 add to a trixie minbase system on arm64?
  pgassemble resolve --source "http://mirror.example/debian trixie main" \
      --keyring /usr/share/keyrings/debian-archive-keyring.gpg \
      --arch arm64 --status testdata/trixie-minbase-arm64.status --why postgresql-17

  # Use this host's apt sources and fetch the verified .debs into ./debs
  pgassemble resolve --download ./debs curl

  # A snapshot whose Release has expired
  pgassemble resolve --ignore-valid-until \
      --source "http://snapshot.example/archive/debian/20250101T000000Z bookworm main" \
      --keyring /usr/share/keyrings/debian-archive-keyring.gpg libpq5=15.*`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return options.Usagef("resolve: name at least one PACKAGE (see --help)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.Validate(); err != nil {
				return err
			}
			return runResolve(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f, trust, cache, report, args)
		},
	}
	fl := cmd.Flags()
	f.AddFlags(fl)
	trust.AddValidUntilFlag(fl)
	cache.AddFlags(fl)
	report.AddFlags(fl)
	return cmd
}

func runResolve(ctx context.Context, stdout, stderr io.Writer, f options.ResolveOptions, ao options.ArchiveOptions, co options.CacheOptions, ro options.ReportOptions, requests []string) error {
	progress := newUI(stderr, ro.Quiet)
	defer progress.Wait()
	b, err := assemble.New(assemble.Options{
		ArchiveCacheDir: co.Dir, ClientOptions: ao.ClientOptions(), Downloads: f.Parallel,
		Progress: stepProgress{progress}, Logger: ro.Logger(progress),
	})
	if err != nil {
		return err
	}
	set, err := b.Query(ctx, assemble.Query{
		Root: os.DirFS(f.Root), Sources: f.Sources, Keyrings: f.Keyrings,
		Arch: f.Arch, Status: f.Status, Packages: requests,
	})
	switch {
	case errors.Is(err, assemble.ErrBadSource):
		return options.UsageError{Err: fmt.Errorf("resolve: --source: %w", err)}
	case errors.Is(err, assemble.ErrNoSources):
		return fmt.Errorf("resolve: %s: %w; pass --source", f.Root, err)
	case err != nil:
		return fmt.Errorf("resolve: %w", err)
	}

	if f.Download != "" {
		paths, err := b.Fetch(ctx, set.Packages)
		if err != nil {
			return fmt.Errorf("resolve: %w", err)
		}
		for i, p := range set.Packages {
			dst := filepath.Join(f.Download, path.Base(p.Filename))
			if err := linkOrCopy(paths[i], dst); err != nil {
				return fmt.Errorf("resolve: --download %s: %w", p.ID(), err)
			}
		}
	}
	progress.Wait()

	if ro.JSON {
		type row struct {
			Name        string `json:"name"`
			Version     string `json:"version"`
			Arch        string `json:"arch"`
			Reason      string `json:"reason"`
			UpgradeFrom string `json:"upgradeFrom,omitempty"`
		}
		rows := []row{}
		for _, p := range set.Packages {
			r := row{Name: p.Name, Version: p.Version, Arch: p.Architecture, Reason: p.Reason}
			if p.Upgrade != nil {
				r.UpgradeFrom = p.Upgrade.Version
			}
			rows = append(rows, r)
		}
		return options.PrintJSON(stdout, rows)
	}
	for _, p := range set.Packages {
		line := p.Name + " " + p.Version + " " + p.Architecture
		var notes []string
		if p.Upgrade != nil {
			notes = append(notes, "upgrade from "+p.Upgrade.Version)
		}
		if f.Why {
			notes = append(notes, p.Reason)
		}
		if len(notes) > 0 {
			line += "  # " + strings.Join(notes, "; ")
		}
		if _, err := fmt.Fprintln(stdout, line); err != nil {
			return err
		}
	}
	return nil
}

// linkOrCopy places src at dst: a hard link when both are on one
// filesystem, else a copy written whole or not at all.
func linkOrCopy(src, dst string) error {
	if st, err := os.Stat(dst); err == nil {
		if sst, err2 := os.Stat(src); err2 == nil && os.SameFile(st, sst) {
			return nil
		}
		if err := os.Remove(dst); err != nil {
			return err
		}
	}
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := atomicfile.Create(dst)
	if err != nil {
		return err
	}
	defer out.Abort()
	if _, err := io.Copy(out, in); err != nil {
		return err
	}
	return out.Commit()
}
