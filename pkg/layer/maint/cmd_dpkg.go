package maint

// dpkgCommands: placeholder, filled by the family's owner.
func dpkgCommands() []Spec { return nil }
