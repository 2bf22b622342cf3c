// Package archive talks to Debian archives: it reads apt's source
// configuration (deb822 *.sources and one-line sources.list) from a
// filesystem root, fetches and verifies InRelease/Release files with
// OpenPGP, fetches Packages indexes checked against the Release's SHA256,
// and downloads .deb files into a content-addressed cache.
//
// Nothing enters the cache before it is verified: every download goes to a
// temporary file in the cache directory and is renamed into place only once
// its SHA256 and size match. Nothing leaves it unverified either: a cached
// .deb, index or decompressed index is checked against its signed SHA256
// before use, and removed and fetched again when it differs.
//
// Trust policy, following Debian's verifier where it has one: signatures
// with weak digests (MD5, SHA-1, RIPEMD-160) or by keys outside apt's
// APT::Key::Assert-Pubkey-Algo default do not count (ErrWeakSignature); a
// Release older than the newest validated for its repository
// (ErrRollback) or dated in the future (ErrNotValidYet) is refused; index
// entries must have a hex SHA256, a sane Size and a relative Filename
// (ErrBadIndex); input is bounded (apt.ErrTooLarge). Requests have
// connect, idle and overall timeouts (ErrTimeout) and follow redirects
// only to http(s), never from https to http (ErrRedirect).
//
// The package knows nothing of resolution policy (see pkg/apt) nor of
// container images. It never names a mirror: URIs come from configuration.
package archive
