package maint

// pythonCommands: placeholder, filled by the family's owner.
func pythonCommands() []Spec { return nil }
