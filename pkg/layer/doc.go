// Package layer turns Debian binary packages (.deb) into OCI image layers,
// the way dpkg would have unpacked them onto a base image, without running
// dpkg: one normalized, deterministic tar layer per stage of packages, with
// dpkg's database entries (info/<pkg>.list, .md5sums, .conffiles, maintainer
// scripts), and a final small state layer with var/lib/dpkg/status and what
// the maintainer scripts wrote, executed by pkg/layer/maint in a virtual root.
//
// # Normalization
//
// Rules applied to each data.tar entry, in order:
//
//   - names are made relative ("./usr/bin/x" -> "usr/bin/x"); absolute names
//     and names with ".." components are refused (ErrUnsafePath);
//   - dpkg path filters (path-exclude/path-include in etc/dpkg/dpkg.cfg.d/*)
//     decide whether the entry is written; filtered entries are still listed
//     in info/<pkg>.list, exactly as dpkg does;
//   - diversions (the base's var/lib/dpkg/diversions, and those a Replayer
//     reports through Diverter) move the entry, the .list keeps its name;
//   - the parent directories are resolved through symlinks of the base and of
//     the packages unpacked before (as dpkg follows them on disk), so with a
//     merged-/usr base "bin/ls" is written as "usr/bin/ls"; a symlink that
//     climbs out of the root is refused; an entry never replaces the
//     merged-/usr symlinks; a directory entry never replaces an existing
//     directory or symlink to one, and a symlink never replaces a directory
//     (dpkg keeps what is on disk);
//   - owners: the user and group NAMES in the .deb win, mapped through the
//     image's accounts as the scripts left them (a preinst's adduser) and the
//     base's; unknown names fall back to the
//     numeric ids of the archive; the base's statoverrides apply;
//   - modes keep setuid/setgid/sticky; mtimes are clamped to Options.Epoch;
//     uname/gname, atime and ctime are dropped, so headers are USTAR when
//     possible and PAX only for long names;
//   - entries are sorted by path, component by component, which puts parents
//     before children; a hardlink group's body goes to its first path.
//
// Upgrades of installed packages white out files the new version dropped
// (and directories left empty), keep obsolete conffiles, and replace the
// info files; Replaces take files out of the old package's .list, and a
// package left without files, or replaced and conflicted, is removed.
// These behaviours are tested against the host's dpkg.
//
// # How a stage is converted, and why
//
// Sorting needs every header of the stage before the first byte is written,
// while memory must stay flat. So the .debs are decoded in parallel (xz is
// the bottleneck; the largest first), each one's headers kept in memory
// (a few hundred bytes per entry) and its file bodies spooled to one
// temporary file. Then, in install order, entries are placed, the stage is
// sorted, and the tar is written once, reading bodies back from the spools,
// through a parallel deterministic compressor that hashes both streams on
// the way (digest and diffID without a second pass). Re-reading the .debs
// in a second pass instead would decompress xz twice.
//
// # Cache
//
// A stage's layer is cached under a key over everything that shapes it
// (format version, arch, epoch, compression, the base's layout and
// account/filter/status files, earlier stages' diffIDs, the .debs' SHA256),
// with the owner ids it used recorded and checked on reuse. A hit reads no
// .deb (control members are cached by SHA256 too) and compresses nothing;
// the replay's observations are fed back from a sidecar file.
//
// The package knows nothing of registries or of apt repositories: it is
// handed verified .deb files and a base filesystem (fs.FS, ideally also
// fs.ReadLinkFS) and hands back v1.Layer values.
package layer
