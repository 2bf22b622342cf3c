package main

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgassemble/pgassemble/cmd/pgassemble/options"
	"github.com/pgassemble/pgassemble/pkg/assemble"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

func newBakeCmd() *cobra.Command {
	f := &buildFlags{}
	var bake options.BakeOptions
	c := &cobra.Command{
		Use:   "bake [TARGET...]",
		Short: "Build and publish the whole matrix, or the named targets",
		Long: `Build the default matrix (every PostgreSQL version x type x base, like upstream's
docker-bake.hcl), or the named targets, sharing everything between them: each .deb
is downloaded once per architecture and each layer is built and pushed once.
--pg, --type and --base filter the matrix (comma-separated); --platform restricts
every target.

bake keeps docker buildx bake's habits: the registry, environment and revision
environment variables set the defaults of --registry, --environment and
--revision (registry=HOST:PORT pgassemble bake); --push is accepted (publishing
is the default); --set TARGET.KEY=VALUE overrides a target (TARGET a name or a
pattern such as '*'; KEY platform, args.BASE, labels.NAME; an unknown key is a
usage error); --print prints the resolved targets as bake's --print JSON does.`,
		Example: `  pgassemble bake
  pgassemble bake postgresql-17-minimal-bookworm postgresql-17-standard-bookworm
  pgassemble bake --pg 17,18 --type minimal,standard --platform linux/amd64
  registry=127.0.0.1:5000 pgassemble bake --push --set '*.platform=linux/amd64' postgresql-17-minimal-trixie
  pgassemble bake --print --pg 17
  # In CI with an OIDC identity (GitHub Actions: permissions: id-token: write): keyless
  # cosign signatures and attestations, each certified by Fulcio and logged in Rekor
  registry=registry.example/cnpg pgassemble bake --environment production --sign keyless`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bake.Validate(&f.publish); err != nil {
				return err
			}
			cat, err := f.target.Catalog()
			if err != nil {
				return err
			}
			targets, err := f.target.Targets(cat, args)
			if err != nil {
				return err
			}
			dest, err := f.publish.Destination()
			if err != nil {
				return err
			}
			targets, err = bake.ApplySet(targets, dest.Repository, func(msg string) { fmt.Fprintln(cmd.ErrOrStderr(), "pgassemble: warning:", msg) })
			if err != nil {
				return err
			}
			all := len(targets)
			if targets, err = bake.ApplyShard(targets); err != nil {
				return err
			}
			if bake.Shard != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "pgassemble: shard %s: %d of %d targets\n", bake.Shard, len(targets), all)
				if len(targets) == 0 {
					return nil // more shards than groups of targets: nothing to do here
				}
			}
			if bake.Print {
				return printBake(cmd, f, targets)
			}
			if bake.IfOutdated {
				return buildAndPublish(cmd, f, targets, func(s *session, t variants.Target) (bool, error) {
					ref, err := f.publishedRef(t)
					if err != nil {
						return false, err
					}
					rep, err := s.builder.Outdated(cmd.Context(), t, ref, assemble.OutdatedInsecure(f.publish.Insecure))
					switch {
					case errors.Is(err, assemble.ErrImageNotFound):
						s.ui.Printf("%s: not published, building\n", t.Name)
						return true, nil
					case err != nil:
						return false, fmt.Errorf("%s: --if-outdated: %w", t.Name, err)
					case !rep.Due():
						s.ui.Printf("%s: up to date (%s), skipped\n", t.Name, ref)
						return false, nil
					}
					s.ui.Printf("%s: rebuild due (%d newer packages)\n", t.Name, len(rep.Packages))
					return true, nil
				})
			}
			return buildAndPublish(cmd, f, targets)
		},
	}
	f.register(c, true)
	f.registerPublishing(c)
	bake.AddFlags(c.Flags())
	return c
}

// bakeFile is the JSON docker buildx bake --print writes: groups and
// targets by name. Fields about a Dockerfile (context, dockerfile) have no
// meaning here and are left out.
type bakeFile struct {
	Group  map[string]bakeGroup  `json:"group"`
	Target map[string]bakeTarget `json:"target"`
}

type bakeGroup struct {
	Targets []string `json:"targets"`
}

type bakeTarget struct {
	Target      string            `json:"target"` // the type, as upstream's Dockerfile stage
	Args        map[string]string `json:"args"`
	Labels      map[string]string `json:"labels"`
	Annotations []string          `json:"annotations"`
	Tags        []string          `json:"tags"`
	Platforms   []string          `json:"platforms"`
	Output      []string          `json:"output"`
}

// printBake resolves each target (indexes only, like plan) so the tags
// carry the version that would be built, and prints them. The creation
// date is derived from the packages at build time, so it is printed only
// when SOURCE_DATE_EPOCH fixes it.
func printBake(cmd *cobra.Command, f *buildFlags, targets []variants.Target) error {
	dest, err := f.publish.Destination()
	if err != nil {
		return err
	}
	env, err := variants.ParseEnvironment(f.publish.Environment)
	if err != nil {
		return options.Usagef("--environment: %w", err)
	}
	epoch, err := options.SourceDateEpoch()
	if err != nil {
		return err
	}
	s, err := newSession(cmd, f)
	if err != nil {
		return err
	}
	out := bakeFile{Group: map[string]bakeGroup{"default": {Targets: []string{}}}, Target: map[string]bakeTarget{}}
	output := []string{"type=registry"}
	if dest.Layout != "" {
		output = []string{"type=oci,dest=" + dest.Layout}
	}
	now := time.Now().UTC()
	for _, t := range targets {
		tp, err := s.builder.Plan(cmd.Context(), t)
		if err != nil {
			s.ui.Wait()
			return err
		}
		base := tp.BaseRef
		labels := t.Labels(variants.Facts{Created: epoch, Version: tp.Version, Revision: f.build.Revision, BaseDigest: tp.Platforms[0].Base.Digest.String()})
		if epoch.IsZero() {
			delete(labels, "org.opencontainers.image.created")
		}
		var ann []string
		for _, k := range sortedKeys(labels) {
			ann = append(ann, "index,manifest:"+k+"="+labels[k])
		}
		out.Group["default"] = bakeGroup{Targets: append(out.Group["default"].Targets, t.Name)}
		out.Target[t.Name] = bakeTarget{
			Target:      t.Type,
			Args:        map[string]string{"PG_VERSION": variants.UpstreamVersion(tp.Version), "PG_MAJOR": t.Version.MajorString(), "BASE": base},
			Labels:      labels,
			Annotations: ann,
			Tags:        t.References(f.publish.Registry, env, tp.Version, now),
			Platforms:   t.Platforms,
			Output:      output,
		}
	}
	s.ui.Wait()
	return s.printJSON(out)
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
