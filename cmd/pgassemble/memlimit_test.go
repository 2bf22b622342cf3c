package main

import (
	"runtime/debug"
	"testing"
)

// The default soft memory limit applies unless GOMEMLIMIT says otherwise.
func TestSetMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(before)
	debug.SetMemoryLimit(1 << 40)
	if setMemoryLimit(func(k string) (string, bool) { return "off", k == "GOMEMLIMIT" }) {
		t.Error("GOMEMLIMIT set, but the default was applied")
	}
	if got := debug.SetMemoryLimit(-1); got != 1<<40 {
		t.Errorf("limit %d after GOMEMLIMIT=off, want it untouched", got)
	}
	// Empty is unset, for the runtime (no limit of its own) and here.
	debug.SetMemoryLimit(1 << 40)
	if !setMemoryLimit(func(k string) (string, bool) { return "", k == "GOMEMLIMIT" }) {
		t.Error("GOMEMLIMIT empty, but no default applied")
	}
	if got := debug.SetMemoryLimit(-1); got != defaultMemoryLimit {
		t.Errorf("limit %d with GOMEMLIMIT empty, want %d", got, defaultMemoryLimit)
	}
	debug.SetMemoryLimit(1 << 40)
	if !setMemoryLimit(func(string) (string, bool) { return "", false }) {
		t.Error("GOMEMLIMIT unset, but no default applied")
	}
	if got := debug.SetMemoryLimit(-1); got != defaultMemoryLimit {
		t.Errorf("limit %d, want %d", got, defaultMemoryLimit)
	}
}
