// Package sbom describes a Debian-based image's contents as an SPDX 2.3 or
// CycloneDX 1.6 JSON document, from the image's own dpkg database: every
// package dpkg lists as present, base and added alike, with its purl
// (pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=debian-NN), its source
// package, the license its machine-readable copyright file states, and, for
// packages pgassemble fetched, the SHA256 and URL of the .deb.
//
// The documents are written with the formats' own libraries
// (github.com/spdx/tools-golang, github.com/CycloneDX/cyclonedx-go) and are
// reproducible: no random identifiers, and the only time in them is the one
// the caller passes (the build's SOURCE_DATE_EPOCH time).
package sbom
