package archive

import (
	"io"
	"strings"

	"github.com/pgassemble/pgassemble/pkg/apt"
)

// parsePackages reads a Packages index and sets each package's Repository.
func parsePackages(r io.Reader, ar *apt.Repository) ([]*apt.Package, error) {
	var out []*apt.Package
	err := apt.ParsePackages(r, func(p *apt.Package) error {
		p.Repository = ar
		p.SHA256 = strings.ToLower(p.SHA256)
		out = append(out, p)
		return nil
	})
	return out, err
}
