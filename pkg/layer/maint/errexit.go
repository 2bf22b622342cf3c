package maint

import "mvdan.cc/sh/v3/syntax"

// exemptCompounds works around mvdan.cc/sh v3.14.1 applying `set -e` to a
// compound command (`{ }`, if, while, for, case) whose status comes from an
// exempt failure, such as the left side of `a && b` as its last statement:
//
//	set -e; if true; then which restorecon >/dev/null && restorecon x; fi; echo ok
//
// prints ok in sh, bash and dash (tzdata's postinst relies on it) but exits
// in the interpreter. Each such compound statement C becomes `! { ! C; }`:
// the same status and $?, and a negated pipeline is exempt from -e; the
// interpreter still applies -e to the simple commands inside C, so a real
// failure there exits the shell as it should. Function bodies and negated
// or background statements are left alone.
func exemptCompounds(f *syntax.File) {
	var targets []*syntax.Stmt
	bodies := map[*syntax.Stmt]bool{}
	syntax.Walk(f, func(n syntax.Node) bool {
		switch x := n.(type) {
		case *syntax.FuncDecl:
			bodies[x.Body] = true
		case *syntax.Stmt:
			if x.Negated || x.Background || x.Coprocess || bodies[x] {
				return true
			}
			switch x.Cmd.(type) {
			case *syntax.Block, *syntax.IfClause, *syntax.WhileClause, *syntax.ForClause, *syntax.CaseClause:
				targets = append(targets, x)
			}
		}
		return true
	})
	if len(targets) == 0 {
		return
	}
	for _, st := range targets {
		inner := &syntax.Stmt{Position: st.Position, Semicolon: st.Semicolon, Negated: true, Cmd: st.Cmd, Redirs: st.Redirs}
		st.Cmd = &syntax.Block{Lbrace: st.Position, Rbrace: st.Position, Stmts: []*syntax.Stmt{inner}}
		st.Negated = true
		st.Redirs = nil
	}
}
