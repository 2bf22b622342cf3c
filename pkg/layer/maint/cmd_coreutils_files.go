package maint

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
)

// File operations of GNU coreutils: rm, rmdir, mkdir, chmod, chown, chgrp,
// ln, mv, cp, touch, install. Timestamps are not part of the virtual root
// (the layer writer clamps them to SOURCE_DATE_EPOCH), so touch on an
// existing file and cp -p's time preservation change nothing.

func runRm(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{
		{short: 'f', long: "force"}, {key: "r", short: 'r', long: "recursive"}, {key: "r", short: 'R'},
		{short: 'd', long: "dir"}, {short: 'v', long: "verbose"},
		{long: "preserve-root"}, {long: "one-file-system"},
	})
	if err != nil {
		return err
	}
	force, recursive := o.has("force"), o.has("r")
	if len(ops) == 0 {
		if force {
			return nil
		}
		return usageError(c, "missing operand")
	}
	status := error(nil)
	for _, op := range ops {
		base := lastElem(op)
		if base == "." || base == ".." {
			fmt.Fprintf(c.Stderr, "rm: refusing to remove '.' or '..' directory: skipping %s\n", quoteName(op))
			status = ExitStatus(1)
			continue
		}
		if recursive && c.Abs(op) == "/" {
			fmt.Fprintf(c.Stderr, "rm: it is dangerous to operate recursively on '/'\nrm: use --no-preserve-root to override this failsafe\n")
			status = ExitStatus(1)
			continue
		}
		if err := rmOne(c, op, force, recursive, o.has("dir"), o.has("verbose")); err != nil {
			if _, ok := err.(ExitStatus); !ok {
				return err
			}
			status = err
		}
	}
	return status
}

func rmOne(c *Call, op string, force, recursive, dirOK, verbose bool) error {
	p := c.Abs(op)
	info, err := c.FS.Lstat(p)
	if err != nil {
		if force && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return diag(c, err, "cannot remove %s", quoteName(op))
	}
	if info.IsDir() {
		if !recursive && !dirOK {
			fmt.Fprintf(c.Stderr, "rm: cannot remove %s: Is a directory\n", quoteName(op))
			return ExitStatus(1)
		}
		if recursive {
			entries, err := c.FS.ReadDir(p)
			if err != nil {
				return diag(c, err, "cannot remove %s", quoteName(op))
			}
			status := error(nil)
			for _, e := range entries {
				if err := rmOne(c, joinOperand(op, e.Name), force, true, dirOK, verbose); err != nil {
					if _, ok := err.(ExitStatus); !ok {
						return err
					}
					status = err
				}
			}
			if status != nil {
				return status
			}
		}
	}
	if err := c.FS.Remove(p); err != nil {
		return diag(c, err, "cannot remove %s", quoteName(op))
	}
	c.Effect("removed %s", p)
	if verbose {
		if info.IsDir() {
			fmt.Fprintf(c.Stdout, "removed directory %s\n", quoteName(op))
		} else {
			fmt.Fprintf(c.Stdout, "removed %s\n", quoteName(op))
		}
	}
	return nil
}

func runRmdir(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{
		{key: "p", short: 'p', long: "parents"}, {long: "ignore-fail-on-non-empty"}, {short: 'v', long: "verbose"},
	})
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return usageError(c, "missing operand")
	}
	ignore, verbose := o.has("ignore-fail-on-non-empty"), o.has("verbose")
	// GNU ignores ENOTEMPTY and EEXIST with --ignore-fail-on-non-empty
	// when the directory is indeed not empty.
	remove := func(op string, parent bool) (bool, error) {
		what := ""
		if parent {
			what = "directory "
		}
		if verbose {
			fmt.Fprintf(c.Stdout, "rmdir: removing directory, %s\n", quoteName(op))
		}
		p := c.Abs(op)
		if i, err := c.FS.Lstat(p); err == nil && !i.IsDir() {
			return false, diag(c, &fs.PathError{Op: "rmdir", Path: op, Err: ErrNotDir}, "failed to remove %s", quoteName(op))
		}
		err := c.FS.Remove(p)
		if err == nil {
			c.Effect("removed directory %s", p)
			return true, nil
		}
		if ignore && (errors.Is(err, ErrNotEmpty) || errors.Is(err, fs.ErrExist)) {
			return false, nil
		}
		return false, diag(c, err, "failed to remove %s%s", what, quoteName(op))
	}
	status := error(nil)
	for _, op := range ops {
		ok, err := remove(op, false)
		if err != nil {
			if _, isStatus := err.(ExitStatus); !isStatus {
				return err
			}
			status = err
			continue
		}
		if !ok || !o.has("p") {
			continue
		}
		for d := strings.TrimRight(op, "/"); ; {
			d = strings.TrimRight(path.Dir(d), "/")
			if d == "" || d == "." || d == "/" {
				break
			}
			ok, err := remove(d, true)
			if err != nil {
				if _, isStatus := err.(ExitStatus); !isStatus {
					return err
				}
				status = err
				break
			}
			if !ok {
				break
			}
		}
	}
	return status
}

func runMkdir(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{
		{key: "p", short: 'p', long: "parents"}, {key: "m", short: 'm', long: "mode", arg: true},
		{short: 'v', long: "verbose"},
	})
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return usageError(c, "missing operand")
	}
	umask := modeBits(c.Umask)
	mode := 0o777 &^ umask
	explicit := o.has("m")
	if explicit {
		m, ok := applyMode(o.val("m"), 0o777, false, umask)
		if !ok {
			fmt.Fprintf(c.Stderr, "mkdir: invalid mode %s\n", quoteName(o.val("m")))
			return ExitStatus(1)
		}
		mode = m
	}
	status := error(nil)
	for _, op := range ops {
		var err error
		if o.has("p") {
			err = mkdirParents(c, op, unixMode(mode), explicit, o.has("verbose"))
		} else {
			err = mkdirOne(c, op, unixMode(mode), explicit, o.has("verbose"))
		}
		if err != nil {
			if _, ok := err.(ExitStatus); !ok {
				return err
			}
			status = err
		}
	}
	return status
}

func mkdirOne(c *Call, op string, mode fs.FileMode, explicit, verbose bool) error {
	p := c.Abs(op)
	if err := c.FS.Mkdir(p, mode); err != nil {
		return diag(c, err, "cannot create directory %s", quoteName(op))
	}
	c.Effect("created directory %s", p)
	if explicit {
		// mkdir(2) masks the mode with the umask; -m sets it exactly.
		if err := c.FS.Chmod(p, mode); err != nil {
			return diag(c, err, "cannot set permissions of %s", quoteName(op))
		}
	}
	if verbose {
		fmt.Fprintf(c.Stdout, "mkdir: created directory %s\n", quoteName(op))
	}
	return nil
}

// mkdirParents is mkdir -p: missing parents get u+wx over the umask's
// default, the last one the mode; an existing directory is fine.
func mkdirParents(c *Call, op string, mode fs.FileMode, explicit, verbose bool) error {
	p := c.Abs(op)
	parentMode := unixMode((0o777 &^ modeBits(c.Umask)) | 0o300)
	var missing []string
	for q := p; q != "/"; q = path.Dir(q) {
		i, err := c.FS.Stat(q)
		if err == nil {
			if !i.IsDir() {
				if q == p {
					return diag(c, &fs.PathError{Op: "mkdir", Path: op, Err: fs.ErrExist}, "cannot create directory %s", quoteName(op))
				}
				shown := relativeSpelling(op, p, q)
				return diag(c, &fs.PathError{Op: "mkdir", Path: shown, Err: ErrNotDir}, "cannot create directory %s", quoteName(shown))
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, ErrNotDir) {
			return diag(c, err, "cannot create directory %s", quoteName(op))
		}
		missing = append(missing, q)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		q := missing[i]
		m := parentMode
		if i == 0 {
			m = mode
		}
		if err := c.FS.Mkdir(q, m); err != nil {
			return diag(c, err, "cannot create directory %s", quoteName(op))
		}
		c.Effect("created directory %s", q)
		if i == 0 && explicit {
			if err := c.FS.Chmod(q, m); err != nil {
				return diag(c, err, "cannot set permissions of %s", quoteName(op))
			}
		}
		if verbose {
			fmt.Fprintf(c.Stdout, "mkdir: created directory %s\n", quoteName(relativeSpelling(op, p, q)))
		}
	}
	return nil
}

// relativeSpelling renders q (an ancestor of or equal to p, the resolved
// operand op) in op's relative spelling.
func relativeSpelling(op, p, q string) string {
	trimmed := strings.TrimRight(op, "/")
	extra := strings.Count(strings.TrimPrefix(p, q), "/")
	for ; extra > 0; extra-- {
		trimmed = path.Dir(trimmed)
	}
	return trimmed
}

// isModeLike says whether a chmod argument that starts with '-' is a mode
// ("-x", "-w,o+r") rather than an option, as GNU's chmod accepts.
func isModeLike(a string) bool {
	if len(a) < 2 || a[0] != '-' {
		return false
	}
	return strings.Trim(a[1:], "rwxXstugoa+-=,") == "" && strings.ContainsAny(a[1:], "rwxXst")
}

func runChmod(c *Call) error {
	// A mode like "-x" looks like an option: take it as the mode when
	// no mode was given before it, as GNU does.
	var rest []string
	mode := ""
	for i, a := range c.Args {
		if a == "--" {
			rest = append(rest, c.Args[i:]...)
			break
		}
		if mode == "" && isModeLike(a) {
			mode = a
			continue
		}
		rest = append(rest, a)
	}
	cc := *c
	cc.Args = rest
	o, ops, err := parseOpts(&cc, []optDef{
		{key: "R", short: 'R', long: "recursive"}, {short: 'v', long: "verbose"},
		{key: "c", short: 'c', long: "changes"}, {key: "f", short: 'f', long: "silent"}, {key: "f", long: "quiet"},
		{key: "reference", long: "reference", arg: true},
	})
	if err != nil {
		return err
	}
	if ref := o.val("reference"); o.has("reference") {
		// --reference=RFILE: RFILE's mode (debianutils' update-shells).
		if mode != "" {
			ops = append([]string{mode}, ops...)
		}
		info, err := c.FS.Stat(c.Abs(ref))
		if err != nil {
			return diag(c, err, "failed to get attributes of %s", quoteName(ref))
		}
		mode = fmt.Sprintf("%04o", modeBits(info.Mode))
	}
	if mode == "" {
		if len(ops) == 0 {
			return usageError(c, "missing operand")
		}
		mode, ops = ops[0], ops[1:]
	}
	if len(ops) == 0 {
		return usageError(c, "missing operand after %s", quoteName(mode))
	}
	if _, ok := applyMode(mode, 0, false, 0); !ok {
		fmt.Fprintf(c.Stderr, "chmod: invalid mode: %s\nTry 'chmod --help' for more information.\n", quoteName(mode))
		return ExitStatus(1)
	}
	status := error(nil)
	for _, op := range ops {
		err := walkOperand(c, op, o.has("R"), func(name, shown string, info Info, top bool) error {
			if info.Mode&fs.ModeSymlink != 0 {
				return nil // symlinks found while recursing are skipped
			}
			old := modeBits(info.Mode)
			n, _ := applyMode(mode, old, info.IsDir(), modeBits(c.Umask))
			if n == old {
				if o.has("verbose") {
					fmt.Fprintf(c.Stdout, "mode of %s retained as %04o (%s)\n", quoteName(shown), old, modeString(info.Mode&^fs.ModeType|info.Mode&fs.ModeDir))
				}
				return nil
			}
			if err := c.FS.Chmod(name, unixMode(n)); err != nil {
				return diag(c, err, "changing permissions of %s", quoteName(shown))
			}
			c.Effect("chmod %04o %s", n, name)
			if o.has("verbose") || o.has("c") {
				fmt.Fprintf(c.Stdout, "mode of %s changed from %04o (%s) to %04o (%s)\n", quoteName(shown),
					old, modeString(info.Mode&fs.ModeDir|unixMode(old)), n, modeString(info.Mode&fs.ModeDir|unixMode(n)))
			}
			return nil
		})
		if err != nil {
			if _, ok := err.(ExitStatus); !ok {
				return err
			}
			status = err
		}
	}
	return status
}

// walkOperand calls fn for an operand (following a symlink given on the
// command line) and, when recursive, for everything under it without
// following symlinks (-P, GNU's default for -R).
func walkOperand(c *Call, op string, recursive bool, fn func(name, shown string, info Info, top bool) error) error {
	p := c.Abs(op)
	info, err := c.FS.Stat(p)
	if err != nil {
		return diag(c, err, "cannot access %s", quoteName(op))
	}
	if err := fn(p, op, info, true); err != nil {
		return err
	}
	if !recursive || !info.IsDir() {
		return nil
	}
	return walkTree(c, p, op, fn)
}

func walkTree(c *Call, dir, shown string, fn func(name, shown string, info Info, top bool) error) error {
	entries, err := c.FS.ReadDir(dir)
	if err != nil {
		return diag(c, err, "cannot read directory %s", quoteName(shown))
	}
	status := error(nil)
	for _, e := range entries {
		name, sh := joinAbs(dir, e.Name), joinOperand(shown, e.Name)
		info, err := c.FS.Lstat(name)
		if err != nil {
			return diag(c, err, "cannot access %s", quoteName(sh))
		}
		if err := fn(name, sh, info, false); err != nil {
			if _, ok := err.(ExitStatus); !ok {
				return err
			}
			status = err
		}
		if info.IsDir() {
			if err := walkTree(c, name, sh, fn); err != nil {
				if _, ok := err.(ExitStatus); !ok {
					return err
				}
				status = err
			}
		}
	}
	return status
}

func runChown(c *Call) error { return chownCommon(c, false) }
func runChgrp(c *Call) error { return chownCommon(c, true) }

// chownCommon is chown OWNER[:GROUP] / chgrp GROUP: names are the image's
// (/etc/passwd, /etc/group), never the host's.
func chownCommon(c *Call, chgrp bool) error {
	o, ops, err := parseOpts(c, []optDef{
		{key: "R", short: 'R', long: "recursive"}, {key: "h", short: 'h', long: "no-dereference"},
		{short: 'v', long: "verbose"}, {key: "c", short: 'c', long: "changes"},
		{key: "f", short: 'f', long: "silent"}, {key: "f", long: "quiet"}, {long: "dereference"},
		{key: "reference", long: "reference", arg: true},
	})
	if err != nil {
		return err
	}
	if o.has("reference") {
		// --reference=RFILE: RFILE's owner and group (chgrp: its group),
		// every operand a file (debianutils' update-shells).
		ref := o.val("reference")
		info, err := c.FS.Stat(c.Abs(ref))
		if err != nil {
			return diag(c, err, "failed to get attributes of %s", quoteName(ref))
		}
		spec := fmt.Sprintf("+%d:+%d", info.Uid, info.Gid)
		if chgrp {
			spec = fmt.Sprintf("+%d", info.Gid)
		}
		ops = append([]string{spec}, ops...)
	}
	if len(ops) < 2 {
		if len(ops) == 0 {
			return usageError(c, "missing operand")
		}
		return usageError(c, "missing operand after %s", quoteName(ops[0]))
	}
	spec := ops[0]
	uid, gid := -1, -1
	db := loadUserDB(c)
	if chgrp {
		g, ok := db.groupID(spec)
		if !ok {
			fmt.Fprintf(c.Stderr, "chgrp: invalid group: %s\n", quoteName(spec))
			return ExitStatus(1)
		}
		gid = g
	} else {
		u, g, msg := db.parseOwner(spec)
		if msg != "" {
			fmt.Fprintf(c.Stderr, "chown: %s\n", msg)
			return ExitStatus(1)
		}
		uid, gid = u, g
	}
	status := error(nil)
	for _, op := range ops[1:] {
		err := walkOperand(c, op, o.has("R"), func(name, shown string, info Info, top bool) error {
			var err error
			if o.has("h") || (!top && info.Mode&fs.ModeSymlink != 0) {
				err = c.FS.Lchown(name, uid, gid)
			} else {
				err = c.FS.Chown(name, uid, gid)
			}
			if err != nil {
				what := "ownership"
				if chgrp || uid < 0 {
					what = "group"
				}
				return diag(c, err, "changing %s of %s", what, quoteName(shown))
			}
			c.Effect("chown %d:%d %s", uid, gid, name)
			// Linux clears setuid, and setgid when group-executable, on
			// a non-directory whose owner changes (chown(2) by root).
			if info.Mode.IsRegular() && (uid >= 0 || gid >= 0) {
				m := info.Mode
				if o.has("h") || top {
					if i, err := c.FS.Stat(name); err == nil {
						m = i.Mode
					}
				}
				clear := fs.FileMode(0)
				if m&fs.ModeSetuid != 0 {
					clear |= fs.ModeSetuid
				}
				if m&fs.ModeSetgid != 0 && m&0o010 != 0 {
					clear |= fs.ModeSetgid
				}
				if clear != 0 {
					if err := c.FS.Chmod(name, m&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)&^clear); err != nil {
						return diag(c, err, "changing permissions of %s", quoteName(shown))
					}
				}
			}
			return nil
		})
		if err != nil {
			if _, ok := err.(ExitStatus); !ok {
				return err
			}
			status = err
		}
	}
	return status
}

func runLn(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{
		{key: "s", short: 's', long: "symbolic"}, {key: "f", short: 'f', long: "force"},
		{key: "n", short: 'n', long: "no-dereference"}, {key: "n", long: "no-target-directory-dereference"},
		{key: "T", short: 'T', long: "no-target-directory"}, {key: "v", short: 'v', long: "verbose"},
		{key: "t", short: 't', long: "target-directory", arg: true}, {key: "r", short: 'r', long: "relative"},
	})
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return usageError(c, "missing file operand")
	}
	if o.has("r") && !o.has("s") {
		return Refuse("ln -r", "relative hard links are not a thing: GNU requires -s")
	}
	type pair struct{ target, link string }
	var pairs []pair
	switch {
	case o.has("t"):
		for _, t := range ops {
			pairs = append(pairs, pair{t, joinOperand(o.val("t"), lastElem(t))})
		}
	case len(ops) == 1:
		pairs = append(pairs, pair{ops[0], "./" + lastElem(ops[0])})
	case o.has("T"):
		if len(ops) > 2 {
			return usageError(c, "extra operand %s", quoteName(ops[2]))
		}
		pairs = append(pairs, pair{ops[0], ops[1]})
	default:
		last := ops[len(ops)-1]
		dest := isDir(c, last)
		if dest && o.has("n") {
			if i, err := c.FS.Lstat(c.Abs(last)); err == nil && i.Mode&fs.ModeSymlink != 0 {
				dest = false
			}
		}
		if !dest {
			if len(ops) > 2 {
				fmt.Fprintf(c.Stderr, "ln: target %s is not a directory\n", quoteName(last))
				return ExitStatus(1)
			}
			pairs = append(pairs, pair{ops[0], last})
		} else {
			for _, t := range ops[:len(ops)-1] {
				pairs = append(pairs, pair{t, joinOperand(last, lastElem(t))})
			}
		}
	}
	status := error(nil)
	for _, pr := range pairs {
		target := pr.target
		if o.has("r") {
			target = relativeTarget(c, pr.target, pr.link)
		}
		if err := lnOne(c, target, pr.link, o.has("s"), o.has("f"), o.has("v")); err != nil {
			if _, ok := err.(ExitStatus); !ok {
				return err
			}
			status = err
		}
	}
	return status
}

func lnOne(c *Call, target, link string, symbolic, force, verbose bool) error {
	lp := c.Abs(link)
	what := "hard link"
	if symbolic {
		what = "symbolic link"
	}
	if !symbolic {
		ti, err := c.FS.Lstat(c.Abs(target))
		if err != nil {
			return diag(c, err, "failed to access %s", quoteName(target))
		}
		if ti.IsDir() {
			fmt.Fprintf(c.Stderr, "ln: %s: hard link not allowed for directory\n", quoteIfNeeded(target))
			return ExitStatus(1)
		}
	}
	if force {
		if li, err := c.FS.Lstat(lp); err == nil {
			if li.IsDir() {
				fmt.Fprintf(c.Stderr, "ln: %s: cannot overwrite directory\n", quoteName(link))
				return ExitStatus(1)
			}
			if !symbolic && sameFile(c, c.Abs(target), lp) {
				fmt.Fprintf(c.Stderr, "ln: %s and %s are the same file\n", quoteName(target), quoteName(link))
				return ExitStatus(1)
			}
			if err := c.FS.Remove(lp); err != nil {
				return diag(c, err, "cannot remove %s", quoteName(link))
			}
		}
	}
	var err error
	if symbolic {
		err = c.FS.Symlink(target, lp)
	} else {
		err = c.FS.Link(c.Abs(target), lp)
	}
	if err != nil {
		return diag(c, err, "failed to create %s %s", what, quoteName(link))
	}
	if symbolic {
		c.Effect("symlink %s -> %s", lp, target)
	} else {
		c.Effect("hard link %s => %s", lp, c.Abs(target))
	}
	if verbose {
		arrow := "->"
		if !symbolic {
			arrow = "=>"
		}
		fmt.Fprintf(c.Stdout, "%s %s %s\n", quoteName(link), arrow, quoteName(target))
	}
	return nil
}

// relativeTarget is ln -r's target: the path from the link's directory to
// the target, both canonicalized (missing components allowed).
func relativeTarget(c *Call, target, link string) string {
	t, err1 := canonical(c, c.Abs(target), canonMissing)
	d, err2 := canonical(c, path.Dir(c.Abs(link)), canonMissing)
	if err1 != nil || err2 != nil {
		return target
	}
	tp := strings.Split(strings.Trim(t, "/"), "/")
	dp := strings.Split(strings.Trim(d, "/"), "/")
	if d == "/" {
		dp = nil
	}
	if t == "/" {
		tp = nil
	}
	i := 0
	for i < len(tp) && i < len(dp) && tp[i] == dp[i] {
		i++
	}
	var parts []string
	for range dp[i:] {
		parts = append(parts, "..")
	}
	parts = append(parts, tp[i:]...)
	if len(parts) == 0 {
		return "."
	}
	return strings.Join(parts, "/")
}

// sameFile says whether two paths name the same file (after symlinks).
func sameFile(c *Call, a, b string) bool {
	ra, err1 := canonical(c, a, canonExisting)
	rb, err2 := canonical(c, b, canonExisting)
	return err1 == nil && err2 == nil && ra == rb
}

func runMv(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{
		{key: "f", short: 'f', long: "force"}, {key: "n", short: 'n', long: "no-clobber"},
		{key: "v", short: 'v', long: "verbose"}, {key: "T", short: 'T', long: "no-target-directory"},
		{key: "t", short: 't', long: "target-directory", arg: true},
		// -Z: the destination gets SELinux's default context. An image
		// build has no SELinux policy loaded, where GNU mv moves the same.
		{key: "Z", short: 'Z', long: "context"},
	})
	if err != nil {
		return err
	}
	pairs, err := srcDestPairs(c, o, ops)
	if err != nil {
		return err
	}
	status := error(nil)
	for _, pr := range pairs {
		if err := mvOne(c, pr[0], pr[1], o.has("n"), o.has("v")); err != nil {
			if _, ok := err.(ExitStatus); !ok {
				return err
			}
			status = err
		}
	}
	return status
}

// srcDestPairs expands "SRC DEST", "SRC... DIR", -t DIR and -T as cp and
// mv do.
func srcDestPairs(c *Call, o opts, ops []string) ([][2]string, error) {
	if o.has("t") {
		if len(ops) == 0 {
			return nil, usageError(c, "missing file operand")
		}
		dir := o.val("t")
		if !isDir(c, dir) {
			fmt.Fprintf(c.Stderr, "%s: target directory %s: Not a directory\n", c.Name, quoteName(dir))
			return nil, ExitStatus(1)
		}
		var out [][2]string
		for _, s := range ops {
			out = append(out, [2]string{s, joinOperand(dir, lastElem(s))})
		}
		return out, nil
	}
	switch len(ops) {
	case 0:
		return nil, usageError(c, "missing file operand")
	case 1:
		return nil, usageError(c, "missing destination file operand after %s", quoteName(ops[0]))
	}
	last := ops[len(ops)-1]
	if o.has("T") {
		if len(ops) > 2 {
			return nil, usageError(c, "extra operand %s", quoteName(ops[2]))
		}
		return [][2]string{{ops[0], last}}, nil
	}
	if !isDir(c, last) {
		if len(ops) > 2 {
			fmt.Fprintf(c.Stderr, "%s: target %s is not a directory\n", c.Name, quoteName(last))
			return nil, ExitStatus(1)
		}
		return [][2]string{{ops[0], last}}, nil
	}
	var out [][2]string
	for _, s := range ops[:len(ops)-1] {
		out = append(out, [2]string{s, joinOperand(last, lastElem(s))})
	}
	return out, nil
}

func mvOne(c *Call, src, dst string, noClobber, verbose bool) error {
	sp, dp := c.Abs(src), c.Abs(dst)
	si, err := c.FS.Lstat(sp)
	if err != nil {
		return diag(c, err, "cannot stat %s", quoteName(src))
	}
	di, derr := c.FS.Lstat(dp)
	if derr == nil {
		if sp == dp || sameFile(c, sp, dp) && si.Mode&fs.ModeSymlink == 0 && di.Mode&fs.ModeSymlink == 0 {
			fmt.Fprintf(c.Stderr, "mv: %s and %s are the same file\n", quoteName(src), quoteName(dst))
			return ExitStatus(1)
		}
		if noClobber {
			return nil
		}
		if si.IsDir() && !di.IsDir() {
			fmt.Fprintf(c.Stderr, "mv: cannot overwrite non-directory %s with directory %s\n", quoteName(dst), quoteName(src))
			return ExitStatus(1)
		}
		if !si.IsDir() && di.IsDir() {
			fmt.Fprintf(c.Stderr, "mv: cannot overwrite directory %s with non-directory\n", quoteName(dst))
			return ExitStatus(1)
		}
	}
	if si.IsDir() && strings.HasPrefix(dp, sp+"/") {
		fmt.Fprintf(c.Stderr, "mv: cannot move %s to a subdirectory of itself, %s\n", quoteName(src), quoteName(dst))
		return ExitStatus(1)
	}
	if err := c.FS.Rename(sp, dp); err != nil {
		if errors.Is(err, ErrNotEmpty) || errors.Is(err, fs.ErrExist) {
			return diag(c, err, "cannot move %s to %s", quoteName(src), quoteName(dst))
		}
		return diag(c, err, "cannot move %s to %s", quoteName(src), quoteName(dst))
	}
	c.Effect("renamed %s -> %s", sp, dp)
	if verbose {
		fmt.Fprintf(c.Stdout, "renamed %s -> %s\n", quoteName(src), quoteName(dst))
	}
	return nil
}

func runCp(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{
		{key: "a", short: 'a', long: "archive"}, {key: "p", short: 'p'},
		{key: "preserve", long: "preserve", arg: true},
		{key: "r", short: 'r', long: "recursive"}, {key: "r", short: 'R'},
		{key: "d", short: 'd'}, {key: "P", short: 'P', long: "no-dereference"}, {key: "L", short: 'L', long: "dereference"},
		{key: "f", short: 'f', long: "force"}, {key: "n", short: 'n', long: "no-clobber"},
		{key: "v", short: 'v', long: "verbose"}, {key: "T", short: 'T', long: "no-target-directory"},
		{key: "t", short: 't', long: "target-directory", arg: true},
		// -Z: the SELinux context of the copy; images carry none.
		{key: "Z", short: 'Z'},
	})
	if err != nil {
		return err
	}
	if o.has("preserve") {
		for _, a := range strings.Split(o.val("preserve"), ",") {
			switch a {
			case "mode", "ownership", "timestamps", "all", "links", "context", "xattr":
			default:
				return Refuse("cp --preserve="+a, "attribute not implemented")
			}
		}
	}
	// Symlinks are copied as symlinks with -a, -d, -P, and by default
	// when copying recursively; otherwise (and with -L) followed.
	cp := cpRun{c: c,
		recursive:   o.has("r") || o.has("a"),
		preserve:    o.has("a") || o.has("p") || o.has("preserve"),
		force:       o.has("f"),
		noClobber:   o.has("n"),
		verbose:     o.has("v"),
		keepSymlink: !o.has("L") && (o.has("a") || o.has("d") || o.has("P") || o.has("r")),
	}
	pairs, err := srcDestPairs(c, o, ops)
	if err != nil {
		return err
	}
	status := error(nil)
	for _, pr := range pairs {
		if err := cp.copy(pr[0], pr[1], true); err != nil {
			if _, ok := err.(ExitStatus); !ok {
				return err
			}
			status = err
		}
	}
	return status
}

type cpRun struct {
	c                                     *Call
	recursive, preserve, force, noClobber bool
	verbose, keepSymlink                  bool
}

func (cp *cpRun) copy(src, dst string, top bool) error {
	c := cp.c
	sp, dp := c.Abs(src), c.Abs(dst)
	var si Info
	var err error
	if cp.keepSymlink {
		si, err = c.FS.Lstat(sp)
	} else {
		si, err = c.FS.Stat(sp)
	}
	if err != nil {
		return diag(c, err, "cannot stat %s", quoteName(src))
	}
	di, derr := c.FS.Stat(dp)
	if derr == nil && sameFile(c, sp, dp) {
		fmt.Fprintf(c.Stderr, "cp: %s and %s are the same file\n", quoteName(src), quoteName(dst))
		return ExitStatus(1)
	}
	if derr == nil && cp.noClobber {
		return nil
	}
	if cp.verbose {
		fmt.Fprintf(c.Stdout, "%s -> %s\n", quoteName(src), quoteName(dst))
	}
	switch {
	case si.IsDir():
		if !cp.recursive {
			fmt.Fprintf(c.Stderr, "cp: -r not specified; omitting directory %s\n", quoteName(src))
			return ExitStatus(1)
		}
		if strings.HasPrefix(dp+"/", sp+"/") {
			fmt.Fprintf(c.Stderr, "cp: cannot copy a directory, %s, into itself, %s\n", quoteName(src), quoteName(dst))
			return ExitStatus(1)
		}
		if derr == nil && !di.IsDir() {
			fmt.Fprintf(c.Stderr, "cp: cannot overwrite non-directory %s with directory %s\n", quoteName(dst), quoteName(src))
			return ExitStatus(1)
		}
		created := false
		if derr != nil {
			if err := c.FS.Mkdir(dp, si.Mode.Perm()&^c.Umask|0o700); err != nil {
				return diag(c, err, "cannot create directory %s", quoteName(dst))
			}
			created = true
			c.Effect("created directory %s", dp)
		}
		entries, err := c.FS.ReadDir(sp)
		if err != nil {
			return diag(c, err, "cannot access %s", quoteName(src))
		}
		status := error(nil)
		for _, e := range entries {
			if err := cp.copy(joinOperand(src, e.Name), joinOperand(dst, e.Name), false); err != nil {
				if _, ok := err.(ExitStatus); !ok {
					return err
				}
				status = err
			}
		}
		if cp.preserve || created {
			m := si.Mode & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
			if !cp.preserve {
				m &^= c.Umask
			}
			if err := c.FS.Chmod(dp, m); err != nil {
				return diag(c, err, "setting permissions for %s", quoteName(dst))
			}
		}
		if cp.preserve {
			if err := c.FS.Lchown(dp, si.Uid, si.Gid); err != nil {
				return diag(c, err, "failed to preserve ownership for %s", quoteName(dst))
			}
		}
		return status
	case si.Mode&fs.ModeSymlink != 0:
		if derr == nil || errors.Is(derr, ErrLoop) {
			if err := c.FS.Remove(dp); err != nil {
				return diag(c, err, "cannot remove %s", quoteName(dst))
			}
		} else if _, lerr := c.FS.Lstat(dp); lerr == nil {
			// a dangling symlink in the way
			if err := c.FS.Remove(dp); err != nil {
				return diag(c, err, "cannot remove %s", quoteName(dst))
			}
		}
		if err := c.FS.Symlink(si.Target, dp); err != nil {
			return diag(c, err, "cannot create symbolic link %s", quoteName(dst))
		}
		c.Effect("symlink %s -> %s", dp, si.Target)
		if cp.preserve {
			if err := c.FS.Lchown(dp, si.Uid, si.Gid); err != nil {
				return diag(c, err, "failed to preserve ownership for %s", quoteName(dst))
			}
		}
		return nil
	case !si.Mode.IsRegular():
		return Refuse("cp", "copying %s: only regular files, directories and symlinks are implemented", sp)
	}
	if derr == nil && di.IsDir() {
		fmt.Fprintf(c.Stderr, "cp: cannot overwrite directory %s with non-directory\n", quoteName(dst))
		return ExitStatus(1)
	}
	data, err := readAllFile(c, sp)
	if err != nil {
		return diag(c, err, "cannot open %s for reading", quoteName(src))
	}
	perm := si.Mode & fs.ModePerm
	f, err := c.FS.OpenFile(dp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm&^c.Umask)
	if err != nil && cp.force {
		if rerr := c.FS.Remove(dp); rerr == nil {
			f, err = c.FS.OpenFile(dp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm&^c.Umask)
		}
	}
	if err != nil {
		return diag(c, err, "cannot create regular file %s", quoteName(dst))
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return diag(c, err, "error writing %s", quoteName(dst))
	}
	if err := f.Close(); err != nil {
		return diag(c, err, "error writing %s", quoteName(dst))
	}
	c.Effect("copied %s to %s", sp, dp)
	if cp.preserve {
		if err := c.FS.Chown(dp, si.Uid, si.Gid); err != nil {
			return diag(c, err, "failed to preserve ownership for %s", quoteName(dst))
		}
		if err := c.FS.Chmod(dp, si.Mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return diag(c, err, "preserving permissions for %s", quoteName(dst))
		}
	}
	return nil
}

func runTouch(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{
		{key: "c", short: 'c', long: "no-create"}, {key: "a", short: 'a'}, {key: "m", short: 'm'},
		{key: "h", short: 'h', long: "no-dereference"},
	})
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return usageError(c, "missing file operand")
	}
	status := error(nil)
	for _, op := range ops {
		p := c.Abs(op)
		var err error
		if o.has("h") {
			_, err = c.FS.Lstat(p)
		} else {
			_, err = c.FS.Stat(p)
		}
		if err == nil {
			continue // times are the layer writer's (SOURCE_DATE_EPOCH)
		}
		if !errors.Is(err, fs.ErrNotExist) || o.has("c") || o.has("h") {
			if o.has("c") && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			e := diag(c, err, "cannot touch %s", quoteName(op))
			if _, ok := e.(ExitStatus); !ok {
				return e
			}
			status = e
			continue
		}
		f, err := c.FS.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o666&^c.Umask)
		if err != nil {
			e := diag(c, err, "cannot touch %s", quoteName(op))
			if _, ok := e.(ExitStatus); !ok {
				return e
			}
			status = e
			continue
		}
		f.Close()
		c.Effect("created %s", p)
	}
	return status
}

func runInstall(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{
		{key: "d", short: 'd', long: "directory"}, {key: "D", short: 'D'},
		{key: "m", short: 'm', long: "mode", arg: true}, {key: "o", short: 'o', long: "owner", arg: true},
		{key: "g", short: 'g', long: "group", arg: true}, {key: "v", short: 'v', long: "verbose"},
		{key: "T", short: 'T', long: "no-target-directory"}, {key: "t", short: 't', long: "target-directory", arg: true},
		{key: "p", short: 'p', long: "preserve-timestamps"}, {key: "c", short: 'c'},
	})
	if err != nil {
		return err
	}
	mode := uint32(0o755)
	if o.has("m") {
		m, ok := applyMode(o.val("m"), 0o777, false, 0)
		if !ok {
			fmt.Fprintf(c.Stderr, "install: invalid mode %s\n", quoteName(o.val("m")))
			return ExitStatus(1)
		}
		mode = m
	}
	db := loadUserDB(c)
	uid, gid := -1, -1
	if o.has("o") {
		u, ok := db.userID(o.val("o"))
		if !ok {
			fmt.Fprintf(c.Stderr, "install: invalid user %s\n", quoteName(o.val("o")))
			return ExitStatus(1)
		}
		uid = u
	}
	if o.has("g") {
		g, ok := db.groupID(o.val("g"))
		if !ok {
			fmt.Fprintf(c.Stderr, "install: invalid group %s\n", quoteName(o.val("g")))
			return ExitStatus(1)
		}
		gid = g
	}
	finish := func(p, shown string) error {
		if err := c.FS.Chmod(p, unixMode(mode)); err != nil {
			return diag(c, err, "cannot change permissions of %s", quoteName(shown))
		}
		if uid >= 0 || gid >= 0 {
			if err := c.FS.Chown(p, uid, gid); err != nil {
				return diag(c, err, "cannot change ownership of %s", quoteName(shown))
			}
		}
		return nil
	}
	if o.has("d") {
		if len(ops) == 0 {
			return usageError(c, "missing file operand")
		}
		status := error(nil)
		for _, op := range ops {
			p := c.Abs(op)
			if err := mkdirParents(c, op, 0o755, false, o.has("v")); err != nil {
				if _, ok := err.(ExitStatus); !ok {
					return err
				}
				status = err
				continue
			}
			if err := finish(p, op); err != nil {
				return err
			}
			c.Effect("install -d %s (%04o)", p, mode)
		}
		return status
	}
	pairs, err := srcDestPairs(c, o, ops)
	if err != nil {
		return err
	}
	status := error(nil)
	for _, pr := range pairs {
		src, dst := pr[0], pr[1]
		sp, dp := c.Abs(src), c.Abs(dst)
		if o.has("D") {
			if err := mkdirParents(c, path.Dir(dp), 0o755, false, false); err != nil {
				return err
			}
		}
		si, err := c.FS.Stat(sp)
		if err != nil {
			return diag(c, err, "cannot stat %s", quoteName(src))
		}
		if si.IsDir() {
			fmt.Fprintf(c.Stderr, "install: omitting directory %s\n", quoteName(src))
			status = ExitStatus(1)
			continue
		}
		data, err := readAllFile(c, sp)
		if err != nil {
			return diag(c, err, "cannot open %s for reading", quoteName(src))
		}
		if i, err := c.FS.Lstat(dp); err == nil && !i.IsDir() {
			if err := c.FS.Remove(dp); err != nil {
				return diag(c, err, "cannot remove %s", quoteName(dst))
			}
		}
		f, err := c.FS.OpenFile(dp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return diag(c, err, "cannot create regular file %s", quoteName(dst))
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return diag(c, err, "error writing %s", quoteName(dst))
		}
		f.Close()
		if err := finish(dp, dst); err != nil {
			return err
		}
		c.Effect("installed %s as %s (%04o)", sp, dp, mode)
		if o.has("v") {
			fmt.Fprintf(c.Stdout, "%s -> %s\n", quoteName(src), quoteName(dst))
		}
	}
	return status
}

// modeString renders a mode as ls does ("drwxr-xr-x").
func modeString(m fs.FileMode) string {
	var b [10]byte
	switch {
	case m.IsDir():
		b[0] = 'd'
	case m&fs.ModeSymlink != 0:
		b[0] = 'l'
	case m&fs.ModeNamedPipe != 0:
		b[0] = 'p'
	case m&fs.ModeSocket != 0:
		b[0] = 's'
	case m&fs.ModeCharDevice != 0:
		b[0] = 'c'
	case m&fs.ModeDevice != 0:
		b[0] = 'b'
	default:
		b[0] = '-'
	}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if m&(1<<uint(8-i)) != 0 {
			b[i+1] = rwx[i]
		} else {
			b[i+1] = '-'
		}
	}
	special := func(i int, set bool, lower, upper byte) {
		if !set {
			return
		}
		if b[i] == '-' {
			b[i] = upper
		} else {
			b[i] = lower
		}
	}
	special(3, m&fs.ModeSetuid != 0, 's', 'S')
	special(6, m&fs.ModeSetgid != 0, 's', 'S')
	special(9, m&fs.ModeSticky != 0, 't', 'T')
	return string(b[:])
}
