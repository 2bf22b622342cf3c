package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/apt/archive"
)

type resolveFlags struct {
	sources          []string
	keyrings         []string
	arch             string
	status           string
	root             string
	why              bool
	download         string
	cacheDir         string
	ignoreValidUntil bool
	parallel         int
	verbose          bool
	quiet            bool
}

func newResolveCmd() *cobra.Command {
	var f resolveFlags
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
				return usagef("resolve: name at least one PACKAGE (see --help)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runResolve(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.sources, "source", nil, `repository "URI SUITE COMPONENT..." (repeatable); default: the apt sources of --root`)
	fl.StringArrayVar(&f.keyrings, "keyring", nil, "keyring file (.gpg or .asc) trusted for every --source (repeatable)")
	fl.StringVar(&f.arch, "arch", debianArch(runtime.GOARCH), "Debian architecture to resolve for (amd64, arm64, ...)")
	fl.StringVar(&f.status, "status", "", "dpkg status file of the system to install onto (default: nothing installed)")
	fl.StringVar(&f.root, "root", "/", "filesystem root whose apt sources and keyrings are used")
	fl.BoolVar(&f.why, "why", false, `append "  # reason" to each line: the relation that pulled the package in`)
	fl.StringVar(&f.download, "download", "", "also download the verified .debs into `DIR` (hard links into the cache when possible)")
	fl.StringVar(&f.cacheDir, "cache-dir", "", "cache directory (default $XDG_CACHE_HOME/pgassemble or ~/.cache/pgassemble)")
	fl.BoolVar(&f.ignoreValidUntil, "ignore-valid-until", false, "accept Release files past their Valid-Until (snapshot pins)")
	fl.IntVar(&f.parallel, "parallel", 6, "concurrent downloads")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log what is fetched and verified to stderr")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no download progress on stderr")
	return cmd
}

// debianArch maps GOARCH to Debian's architecture names.
func debianArch(goarch string) string {
	switch goarch {
	case "386":
		return "i386"
	case "arm":
		return "armhf"
	case "ppc64le":
		return "ppc64el"
	case "mips64le":
		return "mips64el"
	case "mipsle":
		return "mipsel"
	}
	return goarch
}

func runResolve(ctx context.Context, stdout, stderr io.Writer, f resolveFlags, requests []string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if f.arch == "" || strings.ContainsAny(f.arch, " /") {
		return usagef("resolve: --arch %q is not a Debian architecture", f.arch)
	}
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	rootFS := os.DirFS(f.root)

	var sources []archive.Source
	for _, s := range f.sources {
		src, err := archive.ParseSourceLine(s)
		if err != nil {
			return usagef("resolve: --source: %v", err)
		}
		sources = append(sources, src)
	}
	var repos []archive.Repo
	var err error
	if len(sources) > 0 {
		var kr *archive.Keyring
		if len(f.keyrings) > 0 {
			kr = &archive.Keyring{}
			for _, k := range f.keyrings {
				b, err := os.ReadFile(k)
				if err != nil {
					return fmt.Errorf("resolve: --keyring: %w", err)
				}
				one, err := archive.ParseKeyring(b, k)
				if err != nil {
					return fmt.Errorf("resolve: --keyring: %w", err)
				}
				kr.Entities = append(kr.Entities, one.Entities...)
				kr.Files = append(kr.Files, one.Files...)
			}
		}
		repos, err = archive.Repos(rootFS, sources)
		if err != nil {
			return fmt.Errorf("resolve: %w", err)
		}
		if kr != nil {
			for i := range repos {
				repos[i].Keyring = kr
			}
		}
	} else {
		if len(f.keyrings) > 0 {
			return usagef("resolve: --keyring applies to --source repositories; without --source the sources' own Signed-By keyrings are used")
		}
		all, err := archive.ReadSources(rootFS)
		if err != nil {
			return fmt.Errorf("resolve: apt sources of %s: %w", f.root, err)
		}
		if repos, err = archive.Repos(rootFS, all); err != nil {
			return fmt.Errorf("resolve: apt sources of %s: %w", f.root, err)
		}
		if len(repos) == 0 {
			return fmt.Errorf("resolve: no enabled deb sources in %s; pass --source", filepath.Join(f.root, "etc/apt"))
		}
	}

	var installed []*apt.Package
	if f.status != "" {
		sf, err := os.Open(f.status)
		if err != nil {
			return fmt.Errorf("resolve: --status: %w", err)
		}
		installed, err = apt.ParseStatus(sf)
		sf.Close()
		if err != nil {
			return fmt.Errorf("resolve: %s: %w", f.status, err)
		}
	}

	opts := []archive.Option{
		archive.WithLogger(logger),
		archive.WithParallelism(f.parallel),
		archive.WithIgnoreValidUntil(f.ignoreValidUntil),
	}
	if f.cacheDir != "" {
		opts = append(opts, archive.WithCacheDir(f.cacheDir))
	}
	progress := newUI(stderr, f.quiet)
	defer progress.Wait()
	opts = append(opts, archive.WithProgress(downloadProgress{progress}))
	client := archive.New(opts...)
	pkgs, err := client.Indexes(ctx, repos, f.arch)
	if err != nil {
		return fmt.Errorf("resolve: %w", err)
	}
	u := apt.NewUniverse(f.arch, pkgs)
	set, err := apt.Resolve(u, installed, requests, apt.ResolveOptions{Logger: logger})
	if err != nil {
		return fmt.Errorf("resolve: %w", err)
	}

	if f.download != "" {
		list := make([]*apt.Package, len(set.Packages))
		for i, p := range set.Packages {
			list[i] = p.Package
		}
		paths, err := client.Download(ctx, list)
		if err != nil {
			return fmt.Errorf("resolve: %w", err)
		}
		if err := os.MkdirAll(f.download, 0o755); err != nil {
			return fmt.Errorf("resolve: --download: %w", err)
		}
		for i, p := range list {
			dst := filepath.Join(f.download, path.Base(p.Filename))
			if err := linkOrCopy(paths[i], dst); err != nil {
				return fmt.Errorf("resolve: --download: %s: %w", p.ID(), err)
			}
		}
	}

	for _, p := range set.Packages {
		line := p.Name + " " + p.Version + " " + p.Architecture
		var notes []string
		if p.Upgrade != nil {
			notes = append(notes, "upgrade from "+p.Upgrade.Version)
		}
		if f.why {
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
// filesystem, else a copy through a temporary file.
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
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
