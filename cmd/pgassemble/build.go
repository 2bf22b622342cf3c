package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgassemble/pgassemble/pkg/assemble"
	"github.com/pgassemble/pgassemble/pkg/publish"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

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

pgassemble pulls the base image, upgrades its packages as apt-get upgrade would
(--upgrade=false keeps them), resolves the packages of each stage against its
dpkg database as apt-get install --no-install-recommends would, downloads and
verifies them (InRelease signature, then SHA256), turns them into layers with a
correct dpkg database, runs their maintainer scripts in dpkg's order in an
in-process shell over the image being built, and pushes blobs, manifests, the
index and, last, the tags:
  <MM>-<type>-<codename>, <MM.mm>-<type>-<codename>, <MM.mm>-<YYYYMMDDhhmm>-<type>-<codename>

Each platform image gets an SPDX SBOM and SLSA provenance attached as OCI
referrers (--attest, --sbom-format); --sign-key FILE or --sign keyless signs the
index, the platform images and the attestations so that cosign verify and cosign
verify-attestation accept them. A run whose inputs are unchanged since the last
publish builds nothing (--rebuild forces it).

Mirrors come from the base image's apt sources unless --debian-mirror is given.
SOURCE_DATE_EPOCH sets file times and the creation time; unset, they are derived
from the inputs (the newest package build time and the base's creation time).
The same inputs give the same digests.

Environment:
  registry              default for --registry, as upstream's bake file reads it
  SOURCE_DATE_EPOCH     the images' creation time and file-time ceiling
  COSIGN_PASSWORD       the password of a cosign-encrypted --sign-key
  SIGSTORE_ID_TOKEN     the OIDC token for --sign keyless (or --oidc-token FILE)
  PGASSEMBLE_REVISION   the revision label (else $revision)
  GOMEMLIMIT            the Go heap's soft limit (default 200MiB; "off" for none)
  PGASSEMBLE_CPUPROFILE, PGASSEMBLE_MEMPROFILE
                        write pprof CPU and heap profiles of the run to these files`,
		Example: buildExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if use == "pgassemble" && cmd.Flags().NFlag() == 0 {
				return cmd.Help()
			}
			cat, err := f.target.Catalog()
			if err != nil {
				return err
			}
			t, err := f.target.Target(cat)
			if err != nil {
				return err
			}
			return buildAndPublish(cmd, f, []variants.Target{t})
		},
	}
	f.register(c, false)
	f.registerPublishing(c)
	return c
}

// buildAndPublish builds every target in order, sharing one Builder (and so
// pulled bases, parsed indexes, downloads and layers), and publishes each.
// keep, when given, chooses the targets to build (bake --if-outdated) with
// the same Builder.
func buildAndPublish(cmd *cobra.Command, f *buildFlags, targets []variants.Target, keep ...func(*session, variants.Target) (bool, error)) error {
	dest, err := f.publish.Destination()
	if err != nil {
		return err
	}
	sup, err := newSupply(cmd, f, dest) // a bad key or flag fails before anything is built
	if err != nil {
		return err
	}
	s, err := newSession(cmd, f)
	if err != nil {
		return err
	}
	for _, k := range keep {
		var kept []variants.Target
		for _, t := range targets {
			ok, err := k(s, t)
			if err != nil {
				s.ui.Wait()
				return err
			}
			if ok {
				kept = append(kept, t)
			}
		}
		targets = kept
	}
	pub, err := publish.Open(dest, append(f.publish.PublishOptions(),
		publish.WithProgress(blobProgress{s.ui}), publish.WithLogger(s.log), publish.WithUserAgent("pgassemble"))...)
	if err != nil {
		return err
	}
	n, err := newNoop(cmd, f, dest.Layout != "")
	if err != nil {
		return err
	}
	reports, err := s.buildAll(cmd.Context(), pub, sup, n, targets, f.build.BaseImage)
	s.ui.Wait()
	st := s.builder.LayerStats()
	// What a CI log needs to see that shards share their conversions.
	s.ui.Printf("layers: %d converted, %d from the local cache, %d from the cache repository, %d stored there\n",
		st.Converted, st.LocalHits, st.RemoteHits, st.Stored)
	if err != nil {
		return err
	}
	if f.report.JSON {
		return s.printJSON(reports)
	}
	return nil
}

func (s *session) buildAll(ctx context.Context, pub publish.Publisher, sup *supply, n *noop, targets []variants.Target, baseImage string) ([]assemble.TargetReport, error) {
	// First what the no-op check proves unchanged, then a plan for every
	// other target, then the builds: the parsed indexes (the largest part
	// of the memory) are released before any layer is converted.
	reports := make([]*assemble.TargetReport, len(targets))
	plans := make([]*assemble.TargetPlan, len(targets))
	starts := make([]time.Time, len(targets))      // when a target's work began
	planned := make([]time.Duration, len(targets)) // how long its plan took
	for i, t := range targets {
		start := time.Now()
		if rep, err := n.skip(ctx, s, t); err != nil {
			return nil, err
		} else if rep != nil {
			rep.Seconds = time.Since(start).Seconds()
			reports[i] = rep
			s.ui.Printf("unchanged %s %s: base, repositories, target and options as when it was published; not rebuilt (--rebuild forces it)\n", t.Name, rep.Index)
			for _, r := range rep.Refs {
				s.ui.Printf("  %s\n", r)
			}
		}
	}
	if slices.Contains(reports, nil) {
		// Something is to be built: the signer now (keyless: the first
		// certificate), before any plan or layer.
		if err := sup.ready(ctx); err != nil {
			return nil, err
		}
	}
	for i, t := range targets {
		if reports[i] != nil {
			continue
		}
		starts[i] = time.Now()
		tp, err := s.builder.PlanBuild(ctx, t)
		if err != nil {
			return nil, err
		}
		plans[i], planned[i] = tp, time.Since(starts[i])
	}
	s.builder.ReleaseIndexes()
	for i, t := range targets {
		tp := plans[i]
		if tp == nil {
			continue
		}
		plans[i] = nil // what the build needs of it, the Result keeps
		start, building := starts[i], time.Now()
		base := baseImage
		if base == "" {
			base = t.Base.Reference()
		}
		s.ui.Printf("building %s (%s) from %s\n", t.Name, strings.Join(t.Platforms, ", "), base)
		res, err := s.builder.BuildPlan(ctx, tp)
		if err != nil {
			return nil, err
		}
		s.upgradeNote(res.Plan)
		extras, err := sup.extras(ctx, res, start)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Name, err)
		}
		var pr publish.Result
		if ep, ok := pub.(publish.ExtrasPublisher); ok && len(extras) > 0 {
			pr, err = ep.PublishWith(ctx, res.Index, res.Tags, extras)
		} else {
			pr, err = pub.Publish(ctx, res.Index, res.Tags)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Name, err) // a publish.Error names the destination and the step
		}
		res.Report.Refs = pr.Refs
		if err := n.record(t, res, pr.Refs); err != nil {
			s.log.Warn("cannot record the published image for the no-op check", "target", t.Name, "err", err)
		}
		res.Report.Uploaded, res.Report.Skipped = pr.Uploaded, pr.Skipped
		res.Report.Seconds = (planned[i] + time.Since(building)).Seconds()
		reports[i] = &res.Report
		s.ui.Printf("published %s %s (%d blobs uploaded, %d already there) in %.1fs\n", t.Name, pr.Digest, pr.Uploaded, pr.Skipped, res.Report.Seconds)
		for _, r := range pr.Refs {
			s.ui.Printf("  %s\n", r)
		}
		if len(extras) > 0 {
			s.ui.Printf("  with %d attached manifests (%s)\n", len(extras), sup.summary())
		}
	}
	out := make([]assemble.TargetReport, len(reports))
	for i, r := range reports {
		out[i] = *r
	}
	return out, nil
}

// upgradeNote says, once per build, which of the base's packages apt-get
// upgrade keeps back and why, and how many have newer versions that the
// build leaves as they are (--upgrade off).
func (s *session) upgradeNote(tp *assemble.TargetPlan) {
	pp := tp.Platforms[0]
	if pp.Upgrade == nil {
		return
	}
	// As apt-get upgrade says "The following packages have been kept back".
	for _, k := range pp.Upgrade.Kept {
		s.ui.Printf("note: %s: %s %s kept back (%s available): %s\n", tp.Target.Name, k.Installed.Name, k.Installed.Version, k.Candidate.Version, k.Reason)
	}
	if len(pp.Upgrade.Set.Packages) == 0 || len(pp.Stages) > 0 && pp.Stages[0].Name == assemble.UpgradeStage {
		return
	}
	sec := 0
	for _, p := range pp.Upgrade.Set.Packages {
		if p.Repository != nil && strings.HasSuffix(p.Repository.Suite, "-security") {
			sec++
		}
	}
	why := "--upgrade=false"
	s.ui.Printf("note: %s: %d base packages (%d from -security) have newer versions and are not upgraded (%s); pgassemble plan lists them\n",
		tp.Target.Name, len(pp.Upgrade.Set.Packages), sec, why)
}
