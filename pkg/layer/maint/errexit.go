package maint

import "mvdan.cc/sh/v3/syntax"

// exemptCompounds works around mvdan.cc/sh v3.14.1 applying `set -e` to a
// compound command (`{ }`, if, while, for, case) whose status comes from an
// exempt failure, the left side of `a && b` as its last statement:
//
//	set -e; if true; then which restorecon >/dev/null && restorecon x; fi; echo ok
//
// prints ok in sh, bash and dash (tzdata's postinst relies on it) but exits
// in the interpreter. Such a compound statement C runs as `! { ! C; }`: the
// same status and $?, and a negated pipeline is exempt from -e while the
// interpreter still applies -e to the simple commands inside C. A negation
// would turn a `return 0`/`exit 0` inside C into status 1, so compounds
// that can return or exit (the words return/exit, or a call to one of the
// script's functions) are left as they are, and so are the ones whose last
// statements are no && / || list (nothing to fix).
func exemptCompounds(f *syntax.File) {
	funcs := map[string]bool{}
	bodies := map[*syntax.Stmt]bool{}
	syntax.Walk(f, func(n syntax.Node) bool {
		if fd, ok := n.(*syntax.FuncDecl); ok {
			// Name is nil for an anonymous function ("() cmd"), which the
			// parser accepts; Names is Zsh's many names.
			if fd.Name != nil {
				funcs[fd.Name.Value] = true
			}
			for _, n := range fd.Names {
				funcs[n.Value] = true
			}
			bodies[fd.Body] = true
		}
		return true
	})
	var targets []*syntax.Stmt
	syntax.Walk(f, func(n syntax.Node) bool {
		st, ok := n.(*syntax.Stmt)
		if !ok || st.Negated || st.Background || st.Coprocess || bodies[st] {
			return true
		}
		switch st.Cmd.(type) {
		case *syntax.Block, *syntax.IfClause, *syntax.WhileClause, *syntax.ForClause, *syntax.CaseClause:
			if endsInList(st) && !mayLeave(st, funcs) {
				targets = append(targets, st)
			}
		}
		return true
	})
	for _, st := range targets {
		inner := &syntax.Stmt{Position: st.Position, Semicolon: st.Semicolon, Negated: true, Cmd: st.Cmd, Redirs: st.Redirs}
		st.Cmd = &syntax.Block{Lbrace: st.Position, Rbrace: st.Position, Stmts: []*syntax.Stmt{inner}}
		st.Negated = true
		st.Redirs = nil
	}
}

// endsInList reports whether a statement's status can come from an && or
// || list run last.
func endsInList(st *syntax.Stmt) bool {
	if st == nil {
		return false
	}
	last := func(list []*syntax.Stmt) bool {
		return len(list) > 0 && endsInList(list[len(list)-1])
	}
	switch c := st.Cmd.(type) {
	case *syntax.BinaryCmd:
		return !st.Negated && (c.Op == syntax.AndStmt || c.Op == syntax.OrStmt)
	case *syntax.Block:
		return last(c.Stmts)
	case *syntax.IfClause:
		for ; c != nil; c = c.Else {
			if last(c.Then) {
				return true
			}
		}
	case *syntax.WhileClause:
		return last(c.Do)
	case *syntax.ForClause:
		return last(c.Do)
	case *syntax.CaseClause:
		for _, it := range c.Items {
			if last(it.Stmts) {
				return true
			}
		}
	}
	return false
}

// mayLeave reports whether a statement may run return or exit (directly,
// or through a function of the script) in the shell itself, not in a
// command substitution or subshell.
func mayLeave(st *syntax.Stmt, funcs map[string]bool) bool {
	found := false
	syntax.Walk(st, func(n syntax.Node) bool {
		if found {
			return false
		}
		switch n.(type) {
		case *syntax.CmdSubst, *syntax.Subshell, *syntax.ProcSubst:
			return false // a return or exit there ends a subshell only
		}
		if ce, ok := n.(*syntax.CallExpr); ok && len(ce.Args) > 0 {
			if w := ce.Args[0].Lit(); w == "return" || w == "exit" || funcs[w] || w == "" {
				found = true
			}
		}
		return true
	})
	return found
}
