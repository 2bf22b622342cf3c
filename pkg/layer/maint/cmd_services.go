package maint

// servicesCommands: placeholder, filled by the family's owner.
func servicesCommands() []Spec { return nil }
