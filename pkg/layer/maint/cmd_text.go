package maint

// textCommands: placeholder, filled by the family's owner.
func textCommands() []Spec { return nil }
