package archive

import (
	"bytes"
	"io"
	"runtime"
	"strings"

	"golang.org/x/sync/errgroup"

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

// parsePackagesParallel parses an index held in memory on every CPU: it is
// cut at blank lines (paragraph boundaries) into chunks parsed
// concurrently, and the results are joined in file order. Parsing is most
// of a warm run's time.
func parsePackagesParallel(b []byte, ar *apt.Repository) ([]*apt.Package, error) {
	n := runtime.GOMAXPROCS(0)
	if n > 8 {
		n = 8
	}
	if n < 2 || len(b) < 1<<20 {
		return parsePackages(bytes.NewReader(b), ar)
	}
	var chunks [][]byte
	for i := 1; i < n && len(b) > 0; i++ {
		cut := len(b) / (n - i + 1)
		j := bytes.Index(b[cut:], []byte("\n\n"))
		if j < 0 {
			break
		}
		end := cut + j + 2
		chunks = append(chunks, b[:end])
		b = b[end:]
	}
	chunks = append(chunks, b)
	results := make([][]*apt.Package, len(chunks))
	var g errgroup.Group
	for i, c := range chunks {
		g.Go(func() error {
			var err error
			results[i], err = parsePackages(bytes.NewReader(c), ar)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	total := 0
	for _, r := range results {
		total += len(r)
	}
	out := make([]*apt.Package, 0, total)
	for _, r := range results {
		out = append(out, r...)
	}
	return out, nil
}
