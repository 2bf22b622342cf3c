// Package assemble builds one target (a PostgreSQL major, type and Debian
// base) into one multi-platform OCI index: it pulls the base image per
// platform, reads its state, asks pkg/apt/archive and pkg/apt for the
// verified install set of every stage, asks pkg/layer for the layers, sets
// the image config and annotations, and hands the index to a
// pkg/assemble/publish Publisher.
//
// It is the only package that knows images, registries, apt and layers at
// once; pkg/variants says what to build, this package says how.
package assemble
