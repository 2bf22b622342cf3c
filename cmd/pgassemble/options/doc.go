// Package options holds pgassemble's command-line flags as typed option
// structs, one file per concern (in the style of ko's options package):
// target.go says what to build, build.go how layers are made, archive.go
// where packages come from and how they are trusted, cache.go where they
// are kept, publish.go where images go, report.go what is printed, and
// resolve.go the resolve command's own inputs.
//
// Each struct registers its flags with AddFlags and turns their values
// into the typed values the library packages take; a command names the
// structs it uses. A new flag goes into the struct of its concern, or a
// new file for a new concern (signing, SBOM, ...), never into a command's
// RunE.
//
// The package parses and validates; it does not open network connections
// or build archive clients (that is the command's session, created only by
// the commands that need it).
package options
