//go:build e2e

package e2e

import "testing"

// TestDpkgFilters pins the path-exclude semantics checkDpkg relies on to tell files the image
// kept out on purpose from files that went missing.
func TestDpkgFilters(t *testing.T) {
	fs := parseDpkgFilters(`# slim
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
force-unsafe-io
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
`)
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"/usr/share/doc/bash/README", true},
		{"/usr/share/doc/bash", true},
		{"/usr/share/doc/bash/copyright", false},
		{"/usr/share/doc/bash/examples/x/copyright", false}, // "*" crosses "/" as in dpkg
		{"/usr/share/doc", false},
		{"/usr/share/man/man1/ls.1.gz", true},
		{"/usr/share/locale/locale.alias", false},
		{"/usr/share/locale/de/LC_MESSAGES/x.mo", true},
		{"/usr/bin/ls", false},
		{"/var/lib/apt/lists/partial", false},
	} {
		if got := fs.excluded(tc.path); got != tc.want {
			t.Errorf("excluded(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}
