package archive

import (
	"io"
	"strconv"
	"strings"

	"github.com/pgassemble/pgassemble/pkg/apt"
)

// parsePackages reads a Packages index and sets each package's Repository.
func parsePackages(r io.Reader, ar *apt.Repository) ([]*apt.Package, error) {
	var out []*apt.Package
	err := apt.ParseParagraphs(r, func(p apt.Paragraph) error {
		size, _ := strconv.ParseInt(p.Get("Size"), 10, 64)
		out = append(out, &apt.Package{
			Name:         p.Get("Package"),
			Version:      p.Get("Version"),
			Architecture: p.Get("Architecture"),
			MultiArch:    p.Get("Multi-Arch"),
			Filename:     p.Get("Filename"),
			Size:         size,
			SHA256:       strings.ToLower(p.Get("SHA256")),
			Repository:   ar,
			Paragraph:    p,
		})
		return nil
	})
	return out, err
}
