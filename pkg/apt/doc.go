// Package apt models Debian package metadata and answers the question
// "which packages must be added to this installed set": deb822 control
// paragraphs, Debian versions, relation fields, the Package type shared by
// Packages indexes and dpkg status files, and a resolver that behaves like
// `apt-get install --no-install-recommends`.
//
// The resolver follows apt's classic depcache (the solver of apt 2.x, which
// `apt-get` uses): requests are marked first, then Pre-Depends and Depends
// are followed depth-first, taking for each unsatisfied or-group the first
// candidate that can be installed, upgrades of installed packages first and
// providers ordered like apt's CompareProviders. Installed packages are kept
// unless a relation needs a newer one; conflicts and breaks with installed
// packages are solved by upgrading them when a candidate allows it, and
// installed binaries of the same source follow an upgraded or new one as
// apt 2.5+ does. It never removes a package: where apt would, it fails with
// ErrConflict. Where apt falls back on its cache's internal order, it uses
// the package name, so the answer is deterministic. It was checked against
// `apt-get install -s` on the trixie archive for hundreds of requests.
//
// It knows nothing of the network (see pkg/apt/archive) and nothing of
// container images.
package apt
