package apt

// Op is a version constraint operator of a relation field.
type Op string

const (
	OpNone Op = ""
	OpLT   Op = "<<"
	OpLE   Op = "<="
	OpEQ   Op = "="
	OpGE   Op = ">="
	OpGT   Op = ">>"
)

// Relation is one package reference in a relation field, e.g.
// "libc6:any (>= 2.36) [amd64]".
type Relation struct {
	Name    string
	ArchQ   string   // arch qualifier after ':' ("any", "native", "amd64"), or ""
	Op      Op       // OpNone when unversioned
	Version string   // empty when unversioned
	Archs   []string // architecture restriction list "[amd64 !arm64]", rarely in binary indexes
}

// Alternatives is an or-group "a | b | c"; apt tries them in order.
type Alternatives []Relation

// Relations is a comma-separated relation field.
type Relations []Alternatives
