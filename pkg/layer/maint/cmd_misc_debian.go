package maint

// miscDebianCommands: placeholder, filled by the family's owner.
func miscDebianCommands() []Spec { return nil }
