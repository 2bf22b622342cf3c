package archive

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pgassemble/pgassemble/pkg/apt"
)

// Release is a parsed (and, when returned by Client, verified) Release file.
type Release struct {
	Origin, Label, Suite, Codename, Version string
	Date, ValidUntil                        time.Time // zero when absent
	Architectures, Components               []string
	AcquireByHash                           bool
	// NoAll is "No-Support-for-Architecture-all: Packages": the archive
	// also lists its Architecture: all packages in every binary-ARCH index
	// (Debian does), so binary-all need not be fetched. Informational: this
	// client reads binary-ARCH only.
	NoAll bool
	// Files maps a path relative to dists/SUITE/ to its SHA256 and size.
	Files map[string]FileHash
	// SHA256 of the raw InRelease (or Release) file as fetched.
	Digest string
	// URL is where that file was read: .../InRelease, or .../Release for
	// a repository without InRelease.
	URL string
}

// FileHash is one line of the Release's SHA256 field.
type FileHash struct {
	SHA256 string
	Size   int64
}

// ParseRelease parses the text of a Release file (the signed part of an
// InRelease). It does not verify anything.
func ParseRelease(b []byte) (*Release, error) {
	var para apt.Paragraph
	err := apt.ParseParagraphs(bytes.NewReader(b), func(p apt.Paragraph) error {
		if para == nil {
			para = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("parse Release: %w", err)
	}
	if para == nil {
		return nil, errors.New("parse Release: empty")
	}
	r := &Release{
		Origin:        para.Get("Origin"),
		Label:         para.Get("Label"),
		Suite:         para.Get("Suite"),
		Codename:      para.Get("Codename"),
		Version:       para.Get("Version"),
		Architectures: strings.Fields(para.Get("Architectures")),
		Components:    strings.Fields(para.Get("Components")),
		AcquireByHash: strings.EqualFold(strings.TrimSpace(para.Get("Acquire-By-Hash")), "yes"),
		NoAll:         strings.TrimSpace(para.Get("No-Support-for-Architecture-all")) == "Packages",
		Files:         map[string]FileHash{},
	}
	if v := para.Get("Date"); v != "" {
		t, err := parseReleaseDate(v)
		if err != nil {
			return nil, fmt.Errorf("parse Release: Date: %w", err)
		}
		r.Date = t
	}
	if v := para.Get("Valid-Until"); v != "" {
		t, err := parseReleaseDate(v)
		if err != nil {
			return nil, fmt.Errorf("parse Release: Valid-Until: %w", err)
		}
		r.ValidUntil = t
	}
	for _, line := range strings.Split(para.Get("SHA256"), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 || len(f[0]) != 64 || !isHex(f[0]) {
			return nil, fmt.Errorf("parse Release: SHA256 line %s is not \"hash size path\"", apt.Excerpt(strings.TrimSpace(line)))
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || size < 0 || size > maxDebSize {
			return nil, fmt.Errorf("parse Release: SHA256 line %s: bad size", apt.Excerpt(strings.TrimSpace(line)))
		}
		r.Files[f[2]] = FileHash{SHA256: strings.ToLower(f[0]), Size: size}
	}
	return r, nil
}

// parseReleaseDate accepts the RFC 2822-like dates of Release files
// ("Sat, 22 Nov 2026 08:31:38 UTC"), with numeric zones and single-digit
// days as some archive tools write them.
func parseReleaseDate(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	for _, layout := range []string{
		"Mon, _2 Jan 2006 15:04:05 MST",
		"Mon, _2 Jan 2006 15:04:05 -0700",
		"Mon, 02 Jan 2006 15:04:05 MST",
		"Mon, 02 Jan 2006 15:04:05 -0700",
		"_2 Jan 2006 15:04:05 MST",
		time.RFC1123Z,
		time.RFC1123,
	} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%s is not a date", apt.Excerpt(v))
}

// checkValid rejects an expired Release.
func (r *Release) checkValid(url string, now time.Time) error {
	if !r.ValidUntil.IsZero() && now.After(r.ValidUntil) {
		return fmt.Errorf("%s: Valid-Until %s is past (now %s); use the ignore-valid-until option for snapshot pins: %w",
			url, r.ValidUntil.UTC().Format(time.RFC1123), now.UTC().Format(time.RFC1123), ErrExpired)
	}
	return nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}
