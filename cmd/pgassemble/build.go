package main

import (
	"context"
	"encoding/json"

	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/pgassemble/pgassemble/pkg/apt/archive"
	"github.com/pgassemble/pgassemble/pkg/assemble"
	"github.com/pgassemble/pgassemble/pkg/assemble/publish"
	"github.com/pgassemble/pgassemble/pkg/layer"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

// buildFlags are shared by the root command, build, bake, plan and explain.
type buildFlags struct {
	pg, typ, base    string
	platforms        []string
	registry         string
	environment      string
	output           string
	baseImage        string
	pgSource         string
	debianMirror     string
	securityMirror   string
	pgdgMirror       string
	keyrings         []string
	cacheDir         string
	config           string
	json             bool
	quiet            bool
	verbose          bool
	compression      string
	allowUnhandled   bool
	ignoreValidUntil bool
	insecure         bool
	revision         string
	xz               string
}

func (f *buildFlags) register(c *cobra.Command, filters bool) {
	fl := c.Flags()
	if filters {
		fl.StringVar(&f.pg, "pg", "", "PostgreSQL versions to keep, comma-separated (e.g. 17,18)")
		fl.StringVar(&f.typ, "type", "", "image types to keep, comma-separated (minimal, standard, system)")
		fl.StringVar(&f.base, "base", "", "Debian bases to keep, comma-separated (bookworm, trixie)")
	} else {
		fl.StringVar(&f.pg, "pg", "", "PostgreSQL `VERSION`: a major (17, newest minor), a minor pin (17.12) or the preview (19~beta3)")
		fl.StringVar(&f.typ, "type", "", "image `TYPE`: minimal, standard or system")
		fl.StringVar(&f.base, "base", "", "Debian `CODENAME` of the base image: bookworm or trixie")
	}
	fl.StringSliceVar(&f.platforms, "platform", nil, "platforms to build, comma-separated (default linux/amd64,linux/arm64)")
	fl.StringVar(&f.registry, "registry", variants.DefaultRegistry, "registry `HOST[:PORT][/PATH]` to push to")
	fl.StringVar(&f.environment, "environment", "testing", "testing (repository postgresql-testing) or production (postgresql)")
	fl.StringVar(&f.output, "output", "registry", "where to publish: registry, or oci:DIR for an OCI image layout")
	fl.StringVar(&f.baseImage, "base-image", "", "base image `REF` instead of the catalog's debian:<codename>-slim")
	fl.StringVar(&f.pgSource, "pg-source", "pgdg", "where PostgreSQL comes from: pgdg, or debian (the base's own archive)")
	fl.StringVar(&f.debianMirror, "debian-mirror", "", "Debian mirror `URL` replacing the base image's apt sources")
	fl.StringVar(&f.securityMirror, "debian-security-mirror", "", "Debian security mirror `URL` for the -security suites")
	fl.StringVar(&f.pgdgMirror, "pgdg-mirror", "", "PGDG mirror `URL` (default: the one postgresql-common names)")
	fl.StringArrayVar(&f.keyrings, "keyring", nil, "extra OpenPGP keyring `FILE` (.gpg or .asc); with --pg-source pgdg it is the PGDG key (repeatable)")
	fl.StringVar(&f.cacheDir, "cache-dir", archive.DefaultCacheDir(), "cache of verified indexes, .debs and layers")
	fl.StringVar(&f.config, "config", "", "YAML `FILE` adding or overriding versions, types, bases, packages, repositories, labels")
	fl.BoolVar(&f.json, "json", false, "print a machine-readable report on stdout")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print nothing but errors (and --json)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log every step")
	fl.StringVar(&f.compression, "compression", "gzip", "layer compression: gzip or zstd")
	fl.BoolVar(&f.allowUnhandled, "allow-unhandled-scripts", false, "build even if a maintainer script does something pgassemble cannot replay")
	fl.BoolVar(&f.ignoreValidUntil, "ignore-valid-until", false, "accept expired Release files (snapshot mirrors)")
	fl.BoolVar(&f.insecure, "insecure", false, "plain HTTP to a registry that is not on this machine")
	fl.StringVar(&f.xz, "xz", "auto", "xz decoder for data.tar.xz: auto (the system's xz when installed), go (built in), or a `PATH`; the output is the same")
	fl.StringVar(&f.revision, "revision", os.Getenv("PGASSEMBLE_REVISION"), "revision label value (the build recipe's commit)")
}

// session holds what one command invocation needs.
type session struct {
	flags   *buildFlags
	ui      *ui
	catalog *variants.Catalog
	builder *assemble.Builder
	out     io.Writer
}

func newSession(cmd *cobra.Command, f *buildFlags) (*session, error) {
	s := &session{flags: f, out: cmd.OutOrStdout(), ui: newUI(cmd.ErrOrStderr(), f.quiet)}
	s.catalog = variants.Default()
	if f.config != "" {
		fh, err := os.Open(f.config)
		if err != nil {
			return nil, usagef("--config: %w", err)
		}
		defer fh.Close()
		cfg, err := variants.LoadConfig(fh)
		if err != nil {
			return nil, usagef("--config %s: %w", f.config, err)
		}
		if err := s.catalog.Apply(cfg); err != nil {
			return nil, usagef("--config %s: %w", f.config, err)
		}
	}
	src, err := variants.ParsePGSource(f.pgSource)
	if err != nil {
		return nil, usagef("--pg-source: %w", err)
	}
	var comp layer.Compression
	switch f.compression {
	case "gzip":
		comp = layer.Gzip
	case "zstd":
		comp = layer.Zstd
	default:
		return nil, usagef("--compression %q: want gzip or zstd", f.compression)
	}
	xz, err := xzCommand(f.xz)
	if err != nil {
		return nil, err
	}
	epoch, created, err := sourceDateEpoch()
	if err != nil {
		return nil, usagef("%w", err)
	}
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	client := archive.New(archive.WithCacheDir(f.cacheDir), archive.WithIgnoreValidUntil(f.ignoreValidUntil),
		archive.WithLogger(logger), archive.WithProgress(downloadProgress{s.ui}))
	s.builder, err = assemble.New(assemble.Options{
		Client: client, BaseImage: f.baseImage,
		DebianMirror: f.debianMirror, DebianSecurityMirror: f.securityMirror,
		PGSource: src, PGDGMirror: f.pgdgMirror, Keyrings: f.keyrings,
		CacheDir: filepath.Join(f.cacheDir, "layers"), Compression: comp,
		Epoch: epoch, Created: created, AllowUnhandled: f.allowUnhandled, XZCommand: xz,
		Revision: f.revision, Progress: stepProgress{s.ui}, Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// xzCommand turns --xz into an xz binary path, or "" for the pure-Go decoder.
func xzCommand(v string) (string, error) {
	switch v {
	case "go":
		return "", nil
	case "auto", "":
		p, err := exec.LookPath("xz")
		if err != nil {
			return "", nil
		}
		return p, nil
	}
	p, err := exec.LookPath(v)
	if err != nil {
		return "", usagef("--xz %q: %w", v, err)
	}
	return p, nil
}

// sourceDateEpoch reads SOURCE_DATE_EPOCH: it clamps file times and is the
// image's creation time. Unset, both are zero: assemble derives them from
// the inputs (base image and packages), so builds stay reproducible.
func sourceDateEpoch() (epoch, created time.Time, err error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Time{}, time.Time{}, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970", v)
	}
	t := time.Unix(n, 0).UTC()
	return t, t, nil
}

func (s *session) publisher() (publish.Publisher, string, error) {
	f := s.flags
	env, err := variants.ParseEnvironment(f.environment)
	if err != nil {
		return nil, "", usagef("--environment: %w", err)
	}
	if dir, ok := strings.CutPrefix(f.output, "oci:"); ok {
		if dir == "" {
			return nil, "", usagef("--output oci:DIR needs a directory")
		}
		return publish.NewLayout(dir, publish.WithProgress(blobProgress{s.ui})), "oci:" + dir, nil
	}
	if f.output != "registry" {
		return nil, "", usagef("--output %q: want registry or oci:DIR", f.output)
	}
	repo := strings.TrimRight(f.registry, "/") + "/" + env.Repository()
	p, err := publish.NewRegistry(repo, publish.WithInsecure(f.insecure), publish.WithProgress(blobProgress{s.ui}))
	if err != nil {
		return nil, "", usagef("--registry %q: %w", f.registry, err)
	}
	return p, repo, nil
}

func (s *session) withPlatforms(t variants.Target) (variants.Target, error) {
	if len(s.flags.platforms) == 0 {
		return t, nil
	}
	t, err := t.WithPlatforms(s.flags.platforms)
	if err != nil {
		return t, usagef("--platform: %w", err)
	}
	return t, nil
}

// newTargetSession is the start of build, plan and explain: the session
// and the one target the flags name.
func newTargetSession(cmd *cobra.Command, f *buildFlags) (*session, variants.Target, error) {
	s, err := newSession(cmd, f)
	if err != nil {
		return nil, variants.Target{}, err
	}
	t, err := s.target()
	return s, t, err
}

// printJSON writes v indented on stdout (--json).
func (s *session) printJSON(v any) error {
	enc := json.NewEncoder(s.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// target is the single target of build, plan and explain.
func (s *session) target() (variants.Target, error) {
	f := s.flags
	var missing []string
	for _, m := range []struct{ name, v string }{{"--pg", f.pg}, {"--type", f.typ}, {"--base", f.base}} {
		if m.v == "" {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		return variants.Target{}, usagef("missing %s (e.g. pgassemble --pg 17 --type minimal --base trixie)", strings.Join(missing, ", "))
	}
	t, err := s.catalog.Target(f.pg, f.typ, f.base)
	if err != nil {
		return t, usageError{err}
	}
	return s.withPlatforms(t)
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// buildAndPublish builds every target in order, sharing one Builder (and so
// pulled bases, parsed indexes, downloads and layers), and publishes each.
func (s *session) buildAndPublish(ctx context.Context, targets []variants.Target) error {
	pub, dest, err := s.publisher()
	if err != nil {
		return err
	}
	var reports []assemble.TargetReport
	for _, t := range targets {
		start := time.Now()
		s.ui.Printf("building %s (%s) from %s\n", t.Name, strings.Join(t.Platforms, ", "), s.baseRef(t))
		res, err := s.builder.Build(ctx, t)
		if err != nil {
			s.ui.Wait()
			return err
		}
		pr, err := pub.Publish(ctx, res.Index, res.Tags)
		if err != nil {
			s.ui.Wait()
			return fmt.Errorf("%s: publish to %s: %w", t.Name, dest, err)
		}
		res.Report.Refs = pr.Refs
		res.Report.Uploaded, res.Report.Skipped = pr.Uploaded, pr.Skipped
		res.Report.Seconds = time.Since(start).Seconds()
		reports = append(reports, res.Report)
		s.ui.Printf("published %s %s (%d blobs uploaded, %d already there) in %.1fs\n", t.Name, pr.Digest, pr.Uploaded, pr.Skipped, res.Report.Seconds)
		for _, r := range pr.Refs {
			s.ui.Printf("  %s\n", r)
		}
	}
	s.ui.Wait()
	if s.flags.json {
		return s.printJSON(reports)
	}
	return nil
}

func (s *session) baseRef(t variants.Target) string {
	if s.flags.baseImage != "" {
		return s.flags.baseImage
	}
	return t.Base.Reference()
}

const buildExample = `  # PostgreSQL 17, minimal, on Debian trixie, both platforms, to localhost:5000/postgresql-testing
  pgassemble --pg 17 --type minimal --base trixie

  # PostgreSQL from Debian's own archive, a local base image, one platform
  pgassemble --pg 17 --type standard --base trixie --pg-source debian \
    --base-image 127.0.0.1:5000/library/debian:trixie-slim --platform linux/amd64

  # An OCI layout for an air-gapped registry, then push it with skopeo
  pgassemble --pg 17.12 --type minimal --base trixie --output oci:./out
  skopeo copy oci:./out:17.12-minimal-trixie docker://registry.internal/postgresql:17.12-minimal-trixie`

func newBuildCmd(use string) *cobra.Command {
	f := &buildFlags{}
	c := &cobra.Command{
		Use:   use,
		Short: "Build one image (a PostgreSQL version, type and Debian base) and publish it",
		Long: `Build one CloudNativePG operand image for every platform and publish it as a
multi-platform OCI index, without Docker, root or emulation.

pgassemble pulls the base image, resolves the packages of each stage against its
dpkg database as apt-get install --no-install-recommends would, downloads and
verifies them (InRelease signature, then SHA256), turns them into layers with a
correct dpkg database, replays what the maintainer scripts do (users, directories,
alternatives, config files, CA bundle, ld.so.cache) and pushes blobs, manifests,
the index and, last, the tags:
  <MM>-<type>-<codename>, <MM.mm>-<type>-<codename>, <MM.mm>-<YYYYMMDDhhmm>-<type>-<codename>

Mirrors come from the base image's apt sources unless --debian-mirror is given.
SOURCE_DATE_EPOCH sets file times and the creation time; unset, they are derived
from the inputs (the newest package build time and the base's creation time).
The same inputs give the same digests.`,
		Example: buildExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if use == "pgassemble" && cmd.Flags().NFlag() == 0 {
				return cmd.Help()
			}
			s, t, err := newTargetSession(cmd, f)
			if err != nil {
				return err
			}
			ctx, cancel := signalContext()
			defer cancel()
			return s.buildAndPublish(ctx, []variants.Target{t})
		},
	}
	f.register(c, false)
	return c
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (s *session) matrix(names []string) ([]variants.Target, error) {
	f := s.flags
	var targets []variants.Target
	if len(names) > 0 {
		for _, n := range names {
			t, err := s.catalog.TargetByName(n)
			if err != nil {
				return nil, usageError{err}
			}
			targets = append(targets, t)
		}
	} else {
		ts, err := s.catalog.Targets(variants.Filter{Versions: splitList(f.pg), Types: splitList(f.typ), Bases: splitList(f.base)})
		if err != nil {
			return nil, usageError{err}
		}
		targets = ts
	}
	if len(targets) == 0 {
		return nil, usagef("no target matches")
	}
	for i := range targets {
		t, err := s.withPlatforms(targets[i])
		if err != nil {
			return nil, err
		}
		targets[i] = t
	}
	return targets, nil
}

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
			s, err := newSession(cmd, f)
			if err != nil {
				return err
			}
			targets, err := s.matrix(args)
			if err != nil {
				return err
			}
			ctx, cancel := signalContext()
			defer cancel()
			return s.buildAndPublish(ctx, targets)
		},
	}
	f.register(c, true)
	return c
}

func newTargetsCmd() *cobra.Command {
	f := &buildFlags{}
	c := &cobra.Command{
		Use:   "targets",
		Short: "List the matrix's targets",
		Example: `  pgassemble targets
  pgassemble targets --pg 17 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newSession(cmd, f)
			if err != nil {
				return err
			}
			targets, err := s.matrix(nil)
			if err != nil {
				return err
			}
			if f.json {
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
				return s.printJSON(rows)
			}
			for _, t := range targets {
				fmt.Fprintf(s.out, "%-40s %-22s %s\n", t.Name, t.Base.Reference(), strings.Join(t.Platforms, ","))
			}
			return nil
		},
	}
	f.register(c, true)
	return c
}

func newPlanCmd() *cobra.Command {
	f := &buildFlags{}
	c := &cobra.Command{
		Use:   "plan",
		Short: "Show, per platform, the base digest and the packages each stage adds",
		Long: `Resolve a target as build would, downloading package indexes only, and print per
platform the base image digest and each stage's packages with versions.`,
		Example: `  pgassemble plan --pg 17 --type standard --base trixie --pg-source debian`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, t, err := newTargetSession(cmd, f)
			if err != nil {
				return err
			}
			ctx, cancel := signalContext()
			defer cancel()
			tp, err := s.builder.Plan(ctx, t)
			s.ui.Wait()
			if err != nil {
				return err
			}
			if f.json {
				return s.printJSON(planJSON(tp))
			}
			fmt.Fprintf(s.out, "%s: %s %s\n", t.Name, serverName(t), tp.Version)
			for _, l := range tp.PackageLines() {
				fmt.Fprintln(s.out, l)
			}
			return nil
		},
	}
	f.register(c, false)
	return c
}

func serverName(t variants.Target) string { return "postgresql-" + t.Version.MajorString() }

func planJSON(tp *assemble.TargetPlan) any {
	type pkg struct{ Name, Version, Arch, Reason, UpgradeFrom string }
	type stage struct {
		Name     string
		Packages []pkg
	}
	type plat struct {
		Platform   string
		BaseDigest string
		Stages     []stage
	}
	out := struct {
		Target, Version string
		Platforms       []plat
	}{Target: tp.Target.Name, Version: tp.Version}
	for _, pp := range tp.Platforms {
		p := plat{Platform: platformString(pp.Platform), BaseDigest: pp.Base.Digest.String()}
		for _, s := range pp.Stages {
			st := stage{Name: s.Name}
			for _, x := range s.Packages {
				q := pkg{Name: x.Name, Version: x.Version, Arch: x.Architecture, Reason: x.Reason}
				if x.Upgrade != nil {
					q.UpgradeFrom = x.Upgrade.Version
				}
				st.Packages = append(st.Packages, q)
			}
			p.Stages = append(p.Stages, st)
		}
		out.Platforms = append(out.Platforms, p)
	}
	return out
}

func platformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// downloadProgress adapts the UI to archive.Progress.
type downloadProgress struct{ u *ui }

func (d downloadProgress) Start(name string, size int64) archive.Task {
	return d.u.Task("download", name, size)
}

// blobProgress adapts the UI to publish.Progress.
type blobProgress struct{ u *ui }

func (b blobProgress) BlobStart(d v1.Hash, size int64) {
	b.u.blob(d.String(), size)
}
func (b blobProgress) BlobBytes(d v1.Hash, written int64) { b.u.blobBytes(d.String(), written) }
func (b blobProgress) BlobDone(d v1.Hash, err error)      { b.u.blobDone(d.String(), err) }
func (b blobProgress) BlobSkipped(v1.Hash, int64)         {}

// stepProgress adapts the UI to assemble.Progress.
type stepProgress struct{ u *ui }

func (p stepProgress) Task(kind, name string, total int64) assemble.Task {
	return p.u.Task(kind, name, total)
}
