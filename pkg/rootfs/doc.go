// Package rootfs is a read-only, in-memory view of a container image's
// filesystem, built by applying its layer tarballs in order with OCI
// whiteouts honoured. It implements fs.FS, fs.ReadDirFS, fs.StatFS and
// fs.ReadLinkFS so that pkg/apt/archive and pkg/layer can read a base image
// exactly as they read a directory (os.DirFS) in tests.
//
// Metadata is kept for every path; content only for the files pgassemble
// reads (configuration, the dpkg database, keyrings, certificates), so
// memory stays small whatever the image size. It knows nothing of
// registries: callers hand it uncompressed layer streams.
package rootfs
