package maint

// accountsCommands: placeholder, filled by the family's owner.
func accountsCommands() []Spec { return nil }
