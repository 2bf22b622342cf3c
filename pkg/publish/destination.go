package publish

import (
	"errors"
	"fmt"
	"strings"
)

// ErrDestination is returned for a destination that cannot be parsed.
var ErrDestination = errors.New("bad destination")

// Destination is where Open publishes: an OCI image layout directory or a
// registry repository.
type Destination struct {
	Layout     string // directory of an OCI image layout; "" for a registry
	Repository string // registry repository, e.g. "localhost:5000/postgresql-testing"
}

// ParseDestination reads an output as a user writes it: "registry" (the
// repository given) or "oci:DIR".
func ParseDestination(output, repository string) (Destination, error) {
	if dir, ok := strings.CutPrefix(output, "oci:"); ok {
		if dir == "" {
			return Destination{}, fmt.Errorf("%w: oci:DIR needs a directory", ErrDestination)
		}
		return Destination{Layout: dir}, nil
	}
	if output != "registry" {
		return Destination{}, fmt.Errorf("%w %q: want registry or oci:DIR", ErrDestination, output)
	}
	if repository == "" {
		return Destination{}, fmt.Errorf("%w: no registry repository", ErrDestination)
	}
	return Destination{Repository: repository}, nil
}

// String is "oci:DIR" or the repository, as error messages name it.
func (d Destination) String() string {
	if d.Layout != "" {
		return "oci:" + d.Layout
	}
	return d.Repository
}

// Open returns the Publisher for d.
func Open(d Destination, opts ...Option) (Publisher, error) {
	if d.Layout != "" {
		return NewLayout(d.Layout, opts...), nil
	}
	return NewRegistry(d.Repository, opts...)
}
