// Package archive talks to Debian archives: it reads apt's source
// configuration (deb822 *.sources and one-line sources.list) from a
// filesystem root, fetches and verifies InRelease/Release files with
// OpenPGP, fetches Packages indexes checked against the Release's SHA256,
// and downloads .deb files into a content-addressed cache.
//
// Nothing enters the cache before it is verified: every download goes to a
// temporary file in the cache directory and is renamed into place only once
// its SHA256 and size match.
//
// The package knows nothing of resolution policy (see pkg/apt) nor of
// container images. It never names a mirror: URIs come from configuration.
package archive
