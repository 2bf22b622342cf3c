package maint

// ldconfigCommands: placeholder, filled by the family's owner.
func ldconfigCommands() []Spec { return nil }
