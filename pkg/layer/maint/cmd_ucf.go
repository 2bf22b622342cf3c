package maint

// ucfCommands: placeholder, filled by the family's owner.
func ucfCommands() []Spec { return nil }
