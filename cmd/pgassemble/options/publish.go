package options

import (
	"strings"

	"github.com/spf13/pflag"

	"github.com/pgassemble/pgassemble/pkg/assemble/publish"
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
	fl.StringVar(&o.Registry, "registry", variants.DefaultRegistry, "registry `HOST[:PORT][/PATH]` to push to")
	fl.StringVar(&o.Environment, "environment", "testing", "testing (repository postgresql-testing) or production (postgresql)")
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
