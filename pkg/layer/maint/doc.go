// Package maint runs Debian maintainer scripts the way dpkg would, but inside
// pgassemble: an in-process POSIX shell interpreter (mvdan.cc/sh/v3) whose
// filesystem is the image being built and whose commands are Go
// implementations. No program of the image is ever executed, so every
// architecture is the same work, with no QEMU, no root and no chroot.
//
// The package reads the base root through an fs.FS and sees the new
// packages' files through Observe; it knows nothing of .deb files, tar
// layers or registries.
package maint
