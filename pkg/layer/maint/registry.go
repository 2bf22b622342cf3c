package maint

// DefaultRegistry lists every command family: the one place a new family
// is added. Each family lives in its own file (cmd_*.go) and returns its
// specs; a family may also register shims for sourced helpers.
func DefaultRegistry() *Registry {
	return NewRegistry(
		// shell utilities (coreutils, grep/sed/..., getent)
		coreutilsCommands(),
		textCommands(),
		getentCommands(),
		// dpkg's programs
		dpkgCommands(),
		// Debian's helpers
		alternativesCommands(),
		accountsCommands(),
		debconfCommands(),
		ucfCommands(),
		servicesCommands(),
		ldconfigCommands(),
		cacertsCommands(),
		pythonCommands(),
		miscDebianCommands(),
		// running as another user (the runner's)
		suCommands(),
	).WithShims(debconfShims()...)
}
