// Package apttest generates real, signed apt repositories on disk for
// tests and serves them on 127.0.0.1: pool/ with .debs built by
// internal/debtest, dists/SUITE/COMP/binary-ARCH/Packages{,.gz,.xz} with
// by-hash copies, a Release with SHA256 sums, InRelease (clearsigned) and
// Release.gpg (detached), signed by an OpenPGP key generated in the test.
//
// Faults can be injected per URL path (status codes, truncated bodies),
// files corrupted after signing, the Release re-signed with another key or
// expired, and every request is counted, so tests can assert what a
// client fetched.
//
// It is test support: it must not be imported by non-test code, and it
// knows nothing of how clients resolve or verify (see pkg/apt/archive).
package apttest
