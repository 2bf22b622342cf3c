// Package publish writes a finished multi-platform image index to its
// destination: a container registry ([NewRegistry]) or an OCI image layout
// directory ([NewLayout]), both behind the one [Publisher] interface.
//
// Both implementations keep the same order so that a reference never points
// at something incomplete: every blob (layers and configs of every
// platform) first, skipping blobs the destination already has; then each
// platform manifest; then the index itself, by digest; and only then the
// tags. If any step before tagging fails, no tag is touched and the error
// matches [ErrIncomplete]. A failure while tagging matches [ErrTagging].
//
// The package knows images and destinations only. It does not know how the
// images were built, what PostgreSQL is, or how progress is drawn: progress
// is reported through the small [Progress] interface.
package publish
