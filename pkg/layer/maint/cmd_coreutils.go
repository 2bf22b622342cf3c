package maint

// coreutilsCommands: placeholder, filled by the family's owner.
func coreutilsCommands() []Spec { return nil }
