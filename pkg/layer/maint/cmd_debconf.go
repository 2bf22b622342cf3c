package maint

// debconfCommands: placeholder, filled by the family's owner.
func debconfCommands() []Spec { return nil }

// debconfShims: placeholder, filled by the family's owner.
func debconfShims() []Shim { return nil }
