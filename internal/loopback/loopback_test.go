package loopback

import "testing"

func TestRegistry(t *testing.T) {
	for ref, want := range map[string]bool{
		"localhost:5000/postgresql-testing":         true,
		"localhost/x":                               true,
		"registry.localhost:5000/x:17":              true,
		"REGISTRY.LOCALHOST/x":                      true,
		"127.0.0.1:5000/library/debian:trixie-slim": true,
		"127.1.2.3/x":                               true,
		"[::1]:5000/x":                              true,
		"127.0.0.1:5000":                            true,
		"localhost.example.com/x":                   false,
		"10.0.0.1:5000/x":                           false,
		"[::2]:5000/x":                              false,
		"debian:trixie-slim":                        false,
		"library/debian":                            false,
		"registry.internal/postgresql":              false,
		"notlocalhost/x":                            false,
		"localhost:latest":                          false,
		"127.0.0.1:17-standard":                     false,
		"localhost:/x":                              false,
	} {
		if got := Registry(ref); got != want {
			t.Errorf("Registry(%q) = %v, want %v", ref, got, want)
		}
	}
}
