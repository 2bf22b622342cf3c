package archive

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/pgassemble/pgassemble/pkg/apt"
)

// ErrBadIndex: a signed index holds an entry that cannot be used safely
// (a SHA256 that is not 64 hexadecimal digits, a negative or absurd Size,
// a Filename that is absolute or climbs out with "..").
var ErrBadIndex = errors.New("invalid index entry")

// maxDebSize bounds the Size of a package: far above any real .deb, it
// keeps a forged Size from turning the download bound off.
const maxDebSize = 64 << 30

// checkIndexFields validates the fields of an index entry that name and
// bound its download. The index is signed, so an entry failing here is a
// broken or hostile repository: pgassemble refuses the index where apt
// would only fail that package's download.
func checkIndexFields(p *apt.Package) error {
	bad := func(field, value, why string) error {
		return fmt.Errorf("package %s: %s %s %s: %w", p.ID(), field, apt.Excerpt(value), why, ErrBadIndex)
	}
	if p.SHA256 != "" && (len(p.SHA256) != 64 || !isLowerHex(p.SHA256)) {
		return bad("SHA256", p.SHA256, "is not 64 hexadecimal digits")
	}
	if p.Size < 0 || p.Size > maxDebSize {
		return bad("Size", strconv.FormatInt(p.Size, 10), "is out of range")
	}
	if p.Filename != "" {
		f := p.Filename
		switch {
		case strings.HasPrefix(f, "/"):
			return bad("Filename", f, "is absolute")
		case strings.Contains("/"+f+"/", "/../"):
			return bad("Filename", f, `climbs out with ".."`)
		case strings.ContainsFunc(f, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			return bad("Filename", f, "holds control characters")
		}
	} else if p.SHA256 != "" && p.Repository != nil {
		return bad("Filename", "", "is missing")
	}
	return nil
}

// lowerHex marks the bytes of lower-case hexadecimal.
var lowerHex = func() (t [256]bool) {
	for _, c := range "0123456789abcdef" {
		t[c] = true
	}
	return t
}()

func isLowerHex(s string) bool {
	ok := true
	for i := 0; i < len(s); i++ {
		ok = ok && lowerHex[s[i]]
	}
	return ok
}

// parsePackages reads a Packages index, checks the download fields of each
// entry and sets its Repository; pool (may be nil) shares strings and
// relations with other indexes. share, when not nil, may replace each
// package by an equal one already held (Client.shareAll): done as the
// index is read, a duplicate is garbage at once rather than held until
// the whole index is parsed.
func parsePackages(r io.Reader, ar *apt.Repository, pool *apt.Pool, share func(*apt.Package) *apt.Package) ([]*apt.Package, error) {
	var out []*apt.Package
	err := apt.ParsePackagesWith(r, pool, func(p *apt.Package) error {
		p.Repository = ar
		if !isLowerHex(p.SHA256) {
			p.SHA256 = strings.ToLower(p.SHA256)
		}
		if err := checkIndexFields(p); err != nil {
			return err
		}
		if share != nil {
			p = share(p)
		}
		out = append(out, p)
		return nil
	})
	return out, err
}
