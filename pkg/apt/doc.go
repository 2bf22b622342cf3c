// Package apt models Debian package metadata and answers the question
// "which packages must be added to this installed set": deb822 control
// paragraphs, Debian versions, relation fields, the Package type shared by
// Packages indexes and dpkg status files, and a resolver that behaves like
// `apt-get install --no-install-recommends`.
//
// It knows nothing of the network (see pkg/apt/archive) and nothing of
// container images.
package apt
