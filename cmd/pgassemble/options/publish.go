package options

import (
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/pgassemble/pgassemble/pkg/publish"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

// PublishOptions say where images go: a registry repository (the
// registry and the environment's repository) or an OCI layout.
type PublishOptions struct {
	Registry    string
	Environment string
	Output      string
	Insecure    bool
}

// AddFlags registers the publishing flags.
func (o *PublishOptions) AddFlags(fl *pflag.FlagSet) {
	fl.StringVar(&o.Registry, "registry", envOr("registry", variants.DefaultRegistry), "registry `HOST[:PORT][/PATH]` to push to (default: $registry, as in upstream's bake file, else "+variants.DefaultRegistry+")")
	fl.StringVar(&o.Environment, "environment", envOr("environment", "testing"), "testing (repository postgresql-testing) or production (postgresql); default $environment, else testing")
	fl.StringVar(&o.Output, "output", "registry", "where to publish: registry, or oci:DIR for an OCI image layout")
	fl.BoolVar(&o.Insecure, "insecure", false, "plain HTTP to a registry that is not on this machine")
}

// Destination is where --output, --registry and --environment point.
func (o *PublishOptions) Destination() (publish.Destination, error) {
	env, err := variants.ParseEnvironment(o.Environment)
	if err != nil {
		return publish.Destination{}, Usagef("--environment: %w", err)
	}
	d, err := publish.ParseDestination(o.Output, strings.TrimRight(o.Registry, "/")+"/"+env.Repository())
	if err != nil {
		return d, Usagef("--output: %w", err)
	}
	return d, nil
}

// PublishOptions turn the flags into the publisher's options.
func (o *PublishOptions) PublishOptions() []publish.Option {
	return []publish.Option{publish.WithInsecure(o.Insecure)}
}

// envOr is the variable name's value, else def: upstream's bake file takes
// its variables (registry, environment, revision) from the environment,
// as `registry=HOST:PORT docker buildx bake` in its BUILD.md shows.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
