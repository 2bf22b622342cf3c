package maint

// cacertsCommands: placeholder, filled by the family's owner.
func cacertsCommands() []Spec { return nil }
