// Package replay reproduces, as data, what Debian maintainer scripts would
// have done to a root filesystem: system accounts, directories with owners,
// update-alternatives links and state, ucf-managed configuration files, the
// CA bundle and ld.so.cache. No script is ever run.
//
// The effects are listed in one table (effects.go), per package. Every
// command of every maintainer script is classified against it: handled,
// known to be a no-op inside an image (with the reason), or unhandled, which
// stops the build unless the caller allows it.
//
// The package reads the base root through an fs.FS and sees the new
// packages' files through Observe; it knows nothing of .deb files, tar
// layers or registries.
package replay
