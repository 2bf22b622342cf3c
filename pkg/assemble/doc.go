// Package assemble builds one target (a PostgreSQL major, type and Debian
// base) into one multi-platform OCI index: it pulls the base image per
// platform, reads its state, asks pkg/apt/archive and pkg/apt for the
// verified install set of every stage, asks pkg/layer for the layers, sets
// the image config and annotations, and returns the index for a
// pkg/publish Publisher.
//
// The steps are one pipeline with public entry points (pipeline.go):
// PlanRoot, Fetch, BuildRoot and ApplyTo work on any root (a pulled base's
// tree or a directory), Plan and Build run them on every platform of a base
// image, Query is the resolver on its own. The CLI and the fidelity suite
// call these and nothing under them, so what the suites test is what ships.
//
// It is the only package that knows images, registries, apt and layers at
// once; pkg/variants says what to build, this package says how.
package assemble
