// Package layer turns Debian binary packages (.deb) into OCI image layers,
// the way dpkg would have unpacked them onto a base image, without running
// dpkg: one normalized, deterministic tar layer per stage of packages, with
// dpkg's database entries (info/<pkg>.list, .md5sums, .conffiles, maintainer
// scripts), and a final small state layer with var/lib/dpkg/status and the
// effects of maintainer scripts replayed by pkg/layer/replay.
//
// Normalization rules, in the order they are applied to each data.tar entry:
//
//   - names are made relative ("./usr/bin/x" -> "usr/bin/x"); absolute names
//     and names with ".." components are refused (ErrUnsafePath);
//   - dpkg path filters (path-exclude/path-include in etc/dpkg/dpkg.cfg.d/*)
//     decide whether the entry is written; filtered entries are still listed
//     in info/<pkg>.list, exactly as dpkg 1.21+ does;
//   - the parent directories are resolved through symlinks of the base and of
//     the packages unpacked before (as dpkg follows them on disk), so with a
//     merged-/usr base "bin/ls" is written as "usr/bin/ls"; a symlink that
//     climbs out of the root is refused; an entry never replaces the
//     merged-/usr symlinks, and a directory entry never replaces an existing
//     directory or symlink to a directory (dpkg keeps what is on disk);
//   - owners: the user and group NAMES in the .deb win, mapped through the
//     base's accounts plus those created by the replay; unknown names fall
//     back to the numeric ids of the archive;
//   - modes keep setuid/setgid/sticky; mtimes are clamped to Options.Epoch;
//     uname/gname, atime and ctime are dropped, so headers are USTAR when
//     possible and PAX only for long names;
//   - entries are sorted by path, component by component, which puts parents
//     before children; hardlinks point at the first path of their group.
//
// The package knows nothing of registries or of apt repositories: it is
// handed verified .deb files and a base filesystem (fs.FS, ideally also
// fs.ReadLinkFS) and hands back v1.Layer values.
package layer
