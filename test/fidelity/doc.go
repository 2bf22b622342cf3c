// Package fidelity checks pgassemble's layers against the real thing.
//
// The suite itself (build tag "fidelity", run by `make fidelity` as root)
// takes one slim Debian minbase root, copies it twice, installs the same
// packages into one copy with pgassemble's own resolver, layer builder and
// replay, and into the other with apt-get in a chroot followed by the
// upstream Dockerfile's steps, then compares both trees file by file: path,
// type, mode, owner, size, content hash, link target and hard-link count.
// Every difference must be listed, with its reason, in allowlist.txt; any
// other difference fails the suite. It then checks pgassemble's tree in a
// chroot: dpkg --audit and dpkg -V, dpkg's view of the packages, the postgres
// account (uid 26), the CA bundle, and initdb + pg_ctl + psql as uid 26
// (arm64 under qemu-user).
//
// This file and tree.go/allowlist.go hold the comparison and the allow-list,
// which are unit-tested without root or network.
package fidelity
