// Package loopback holds the one rule by which pgassemble decides that a
// registry is on this machine and speaks plain HTTP to it without
// --insecure, for pushing images and pulling bases alike: the host of the
// reference is "localhost", a name under ".localhost" (RFC 6761 reserves
// it for loopback), an address of 127.0.0.0/8, or ::1.
package loopback

import (
	"net"
	"strings"
)

// Registry reports whether ref ("HOST[:PORT]/repo[:tag|@digest]", or a
// bare "HOST[:PORT]") names a registry on this machine.
func Registry(ref string) bool {
	host, _, _ := strings.Cut(ref, "/")
	if h, port, err := net.SplitHostPort(host); err == nil {
		if !digits(port) {
			// "localhost:latest" is the image "localhost", tagged, on
			// the default registry: not a host and port.
			return false
		}
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
