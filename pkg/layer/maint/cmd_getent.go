package maint

import (
	"fmt"
	"strconv"
	"strings"
)

// getent and the account lookups of chown, chgrp, install -o/-g and id:
// answered from the image's /etc/passwd, /etc/group, /etc/shadow and
// /etc/gshadow (nsswitch "files", what a Debian image has), never from the
// host.

func getentCommands() []Spec {
	return []Spec{{Name: "getent", Run: runGetent}}
}

// userDB is the image's account files, read once per command.
type userDB struct {
	passwd, group [][]string // fields of each valid line, in file order
	c             *Call
}

func loadUserDB(c *Call) *userDB {
	return &userDB{passwd: readColonFile(c, "/etc/passwd", 7), group: readColonFile(c, "/etc/group", 4), c: c}
}

// readColonFile reads a colon-separated database; lines with fewer than
// min fields (comments, blanks, "+" NIS entries) are skipped as glibc's
// files backend skips unparsable lines.
func readColonFile(c *Call, name string, min int) [][]string {
	data, err := readAllFile(c, name)
	if err != nil {
		return nil
	}
	var out [][]string
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < min {
			continue
		}
		out = append(out, f)
	}
	return out
}

func (db *userDB) user(name string) ([]string, bool) {
	for _, f := range db.passwd {
		if f[0] == name {
			return f, true
		}
	}
	return nil, false
}

func (db *userDB) userByID(id int) ([]string, bool) {
	for _, f := range db.passwd {
		if n, err := strconv.Atoi(f[2]); err == nil && n == id {
			return f, true
		}
	}
	return nil, false
}

func (db *userDB) groupEntry(name string) ([]string, bool) {
	for _, f := range db.group {
		if f[0] == name {
			return f, true
		}
	}
	return nil, false
}

func (db *userDB) groupByID(id int) ([]string, bool) {
	for _, f := range db.group {
		if n, err := strconv.Atoi(f[2]); err == nil && n == id {
			return f, true
		}
	}
	return nil, false
}

// userID resolves a user name, or a number (names first, as coreutils).
func (db *userDB) userID(s string) (int, bool) {
	if f, ok := db.user(s); ok {
		n, err := strconv.Atoi(f[2])
		return n, err == nil
	}
	return numericID(s)
}

func (db *userDB) groupID(s string) (int, bool) {
	if f, ok := db.groupEntry(s); ok {
		n, err := strconv.Atoi(f[2])
		return n, err == nil
	}
	return numericID(s)
}

func numericID(s string) (int, bool) {
	s = strings.TrimPrefix(s, "+")
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0xFFFFFFFF {
		return 0, false
	}
	return int(n), true
}

// parseOwner parses chown's OWNER[:[GROUP]] / :GROUP / OWNER.GROUP; a
// trailing ':' takes the owner's login group. It returns a diagnostic
// (without the program name) for a bad spec.
func (db *userDB) parseOwner(spec string) (uid, gid int, msg string) {
	uid, gid = -1, -1
	u, g, colon := strings.Cut(spec, ":")
	if !colon {
		// The obsolete "user.group" form, only when "user.group" is
		// not itself a user name.
		if _, ok := db.userID(spec); !ok {
			if a, b, dot := strings.Cut(spec, "."); dot {
				u, g, colon = a, b, true
			}
		}
	}
	if u != "" {
		id, ok := db.userID(u)
		if !ok {
			return 0, 0, "invalid user: " + quoteName(spec)
		}
		uid = id
		if colon && g == "" {
			f, ok := db.user(u)
			if !ok {
				f, ok = db.userByID(id)
			}
			if !ok {
				return 0, 0, "invalid spec: " + quoteName(spec)
			}
			gid, _ = strconv.Atoi(f[3])
		}
	}
	if g != "" {
		id, ok := db.groupID(g)
		if !ok {
			return 0, 0, "invalid group: " + quoteName(spec)
		}
		gid = id
	}
	if u == "" && g == "" && colon {
		return -1, -1, ""
	}
	return uid, gid, ""
}

// getent DATABASE [KEY...]: passwd and group by name or id, shadow and
// gshadow by name; exit 2 when a key is not found, as glibc's getent.
func runGetent(c *Call) error {
	o, ops, err := parseOpts(c, []optDef{{key: "s", short: 's', long: "service", arg: true}})
	if err != nil {
		return err
	}
	if o.has("s") && o.val("s") != "files" {
		return Refuse("getent -s "+o.val("s"), "only the files service exists in an image")
	}
	if len(ops) == 0 {
		fmt.Fprintf(c.Stderr, "Usage: getent [OPTION...] database [key ...]\n")
		return ExitStatus(1)
	}
	type dbase struct {
		file    string
		fields  int
		byID    bool
		idField int
	}
	dbs := map[string]dbase{
		"passwd":  {"/etc/passwd", 7, true, 2},
		"group":   {"/etc/group", 4, true, 2},
		"shadow":  {"/etc/shadow", 9, false, 0},
		"gshadow": {"/etc/gshadow", 4, false, 0},
	}
	d, ok := dbs[ops[0]]
	if !ok {
		switch ops[0] {
		case "hosts", "ahosts", "ahostsv4", "ahostsv6", "networks", "services", "protocols", "netgroup", "initgroups", "ethers", "rpc", "aliases":
			return Refuse("getent "+ops[0], "database not implemented")
		}
		fmt.Fprintf(c.Stderr, "Unknown database: %s\n", ops[0])
		fmt.Fprintf(c.Stderr, "Try `getent --help' or `getent --usage' for more information.\n")
		return ExitStatus(1)
	}
	entries := readColonFile(c, d.file, d.fields)
	if len(ops) == 1 {
		for _, f := range entries {
			fmt.Fprintln(c.Stdout, strings.Join(f, ":"))
		}
		return nil
	}
	status := error(nil)
	for _, key := range ops[1:] {
		found := false
		for _, f := range entries {
			if f[0] == key {
				fmt.Fprintln(c.Stdout, strings.Join(f, ":"))
				found = true
				break
			}
		}
		if !found && d.byID {
			if id, err := strconv.ParseUint(key, 10, 32); err == nil {
				for _, f := range entries {
					if n, err := strconv.ParseUint(f[d.idField], 10, 32); err == nil && n == id {
						fmt.Fprintln(c.Stdout, strings.Join(f, ":"))
						found = true
						break
					}
				}
			}
		}
		if !found {
			status = ExitStatus(2)
		}
	}
	return status
}
