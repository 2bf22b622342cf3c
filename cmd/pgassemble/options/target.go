package options

import (
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/pgassemble/pgassemble/pkg/variants"
)

// TargetOptions say what to build: one target (build, plan, explain) or a
// filtered matrix (bake, targets), on which platforms, with which catalog.
type TargetOptions struct {
	PG, Type, Base string
	Platforms      []string
	Config         string // YAML file applied to the default catalog
	// Matrix: --pg, --type and --base are comma-separated filters.
	Matrix bool
}

// AddFlags registers the target flags; matrix makes them filters.
func (o *TargetOptions) AddFlags(fl *pflag.FlagSet, matrix bool) {
	o.Matrix = matrix
	if matrix {
		fl.StringVar(&o.PG, "pg", "", "PostgreSQL versions to keep, comma-separated (e.g. 17,18)")
		fl.StringVar(&o.Type, "type", "", "image types to keep, comma-separated (minimal, standard, system)")
		fl.StringVar(&o.Base, "base", "", "Debian bases to keep, comma-separated (bookworm, trixie)")
	} else {
		fl.StringVar(&o.PG, "pg", "", "PostgreSQL `VERSION`: a major (17, newest minor), a minor pin (17.12) or the preview (19~beta3)")
		fl.StringVar(&o.Type, "type", "", "image `TYPE`: minimal, standard or system")
		fl.StringVar(&o.Base, "base", "", "Debian `CODENAME` of the base image: bookworm or trixie")
	}
	fl.StringSliceVar(&o.Platforms, "platform", nil, "platforms to build, comma-separated (default linux/amd64,linux/arm64)")
	fl.StringVar(&o.Config, "config", "", "YAML `FILE` adding or overriding versions, types, bases, packages, repositories, labels")
}

// Catalog is the default catalog with --config applied.
func (o *TargetOptions) Catalog() (*variants.Catalog, error) {
	c := variants.Default()
	if o.Config == "" {
		return c, nil
	}
	fh, err := os.Open(o.Config)
	if err != nil {
		return nil, Usagef("--config: %w", err)
	}
	defer fh.Close()
	cfg, err := variants.LoadConfig(fh)
	if err != nil {
		return nil, Usagef("--config %s: %w", o.Config, err)
	}
	if err := c.Apply(cfg); err != nil {
		return nil, Usagef("--config %s: %w", o.Config, err)
	}
	return c, nil
}

// Target is the single target --pg, --type and --base name.
func (o *TargetOptions) Target(c *variants.Catalog) (variants.Target, error) {
	var missing []string
	for _, m := range []struct{ name, v string }{{"--pg", o.PG}, {"--type", o.Type}, {"--base", o.Base}} {
		if m.v == "" {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		return variants.Target{}, Usagef("missing %s (e.g. pgassemble --pg 17 --type minimal --base trixie)", strings.Join(missing, ", "))
	}
	t, err := c.Target(o.PG, o.Type, o.Base)
	if err != nil {
		return t, UsageError{err}
	}
	return o.withPlatforms(t)
}

// Targets are the named targets, or else the matrix filtered by --pg,
// --type and --base; never empty.
func (o *TargetOptions) Targets(c *variants.Catalog, names []string) ([]variants.Target, error) {
	var targets []variants.Target
	if len(names) > 0 {
		for _, n := range names {
			t, err := c.TargetByName(n)
			if err != nil {
				return nil, UsageError{err}
			}
			targets = append(targets, t)
		}
	} else {
		ts, err := c.Targets(variants.Filter{Versions: splitList(o.PG), Types: splitList(o.Type), Bases: splitList(o.Base)})
		if err != nil {
			return nil, UsageError{err}
		}
		targets = ts
	}
	if len(targets) == 0 {
		return nil, Usagef("no target matches")
	}
	for i := range targets {
		t, err := o.withPlatforms(targets[i])
		if err != nil {
			return nil, err
		}
		targets[i] = t
	}
	return targets, nil
}

func (o *TargetOptions) withPlatforms(t variants.Target) (variants.Target, error) {
	if len(o.Platforms) == 0 {
		return t, nil
	}
	t, err := t.WithPlatforms(o.Platforms)
	if err != nil {
		return t, Usagef("--platform: %w", err)
	}
	return t, nil
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
