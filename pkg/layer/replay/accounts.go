package replay

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// Debian adduser's system ranges (adduser.conf: FIRST_SYSTEM_UID ...).
const (
	firstSystemID = 100
	lastSystemID  = 999
)

// dbFile is one colon-separated account database (passwd, group, shadow,
// gshadow), kept as lines so it can be written back in its own order.
type dbFile struct {
	name    string // relative path, "etc/passwd"
	lines   []string
	exists  bool
	changed bool
}

func readDB(base fs.FS, name string) (*dbFile, error) {
	b, err := fs.ReadFile(base, name)
	if errors.Is(err, fs.ErrNotExist) {
		return &dbFile{name: name}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	d := &dbFile{name: name, exists: true}
	if s != "" {
		d.lines = strings.Split(s, "\n")
	}
	return d, nil
}

func (d *dbFile) find(name string) int {
	for i, l := range d.lines {
		if n, _, _ := strings.Cut(l, ":"); n == name {
			return i
		}
	}
	return -1
}

func (d *dbFile) fields(i int) []string { return strings.Split(d.lines[i], ":") }

func (d *dbFile) append(fields ...string) {
	d.lines = append(d.lines, strings.Join(fields, ":"))
	d.changed = true
}

func (d *dbFile) bytes() []byte {
	if len(d.lines) == 0 {
		return nil
	}
	return []byte(strings.Join(d.lines, "\n") + "\n")
}

// accounts is the base's account databases plus what the plan creates.
type accounts struct {
	passwd, group, shadow, gshadow *dbFile
	days                           int64 // shadow "last change", days since 1970-01-01
}

func readAccounts(base fs.FS, days int64) (*accounts, error) {
	a := &accounts{days: days}
	var err error
	for _, x := range []struct {
		p    **dbFile
		name string
	}{{&a.passwd, "etc/passwd"}, {&a.group, "etc/group"}, {&a.shadow, "etc/shadow"}, {&a.gshadow, "etc/gshadow"}} {
		if *x.p, err = readDB(base, x.name); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *accounts) uid(name string) (int, bool) { return idOf(a.passwd, name, 2) }
func (a *accounts) gid(name string) (int, bool) { return idOf(a.group, name, 2) }

func idOf(d *dbFile, name string, field int) (int, bool) {
	i := d.find(name)
	if i < 0 {
		return 0, false
	}
	f := d.fields(i)
	if len(f) <= field {
		return 0, false
	}
	id, err := strconv.Atoi(f[field])
	return id, err == nil
}

func usedIDs(d *dbFile) map[int]bool {
	used := map[int]bool{}
	for i := range d.lines {
		f := d.fields(i)
		if len(f) > 2 {
			if id, err := strconv.Atoi(f[2]); err == nil {
				used[id] = true
			}
		}
	}
	return used
}

// firstFree returns the lowest id of adduser's system range not in use,
// the way `adduser --system` picks it.
func firstFree(used map[int]bool) (int, error) {
	for id := firstSystemID; id <= lastSystemID; id++ {
		if !used[id] {
			return id, nil
		}
	}
	return 0, fmt.Errorf("no free id in %d-%d", firstSystemID, lastSystemID)
}

// lastFree returns the highest free id of the system range, the way
// systemd-sysusers allocates.
func lastFree(used map[int]bool) (int, error) {
	for id := lastSystemID; id >= firstSystemID; id-- {
		if !used[id] {
			return id, nil
		}
	}
	return 0, fmt.Errorf("no free id in %d-%d", firstSystemID, lastSystemID)
}

// addGroup creates a system group like `addgroup --system`; an existing
// group is kept as it is.
func (a *accounts) addGroup(name string, fixed int, hasFixed, sysusers bool) (int, error) {
	if gid, ok := a.gid(name); ok {
		return gid, nil
	}
	gid := fixed
	used := usedIDs(a.group)
	if hasFixed {
		if used[gid] {
			return 0, fmt.Errorf("group %s: fixed gid %d is already used", name, gid)
		}
	} else {
		pick := firstFree
		if sysusers {
			pick = lastFree
		}
		var err error
		if gid, err = pick(used); err != nil {
			return 0, fmt.Errorf("group %s: %w", name, err)
		}
	}
	a.group.append(name, "x", strconv.Itoa(gid), "")
	if sysusers {
		a.gshadow.append(name, "!*", "", "") // as systemd-sysusers writes it
	} else {
		a.gshadow.append(name, "!", "", "")
	}
	return gid, nil
}

// addUser creates a system user like `adduser --system` (with --group when
// u.OwnGroup): locked password, the table's home, shell and gecos, and a
// shadow entry dated days since the epoch.
func (a *accounts) addUser(u User, fixedUID int, hasFixedUID bool, fixedGID int, hasFixedGID bool) error {
	if _, ok := a.uid(u.Name); ok {
		return nil
	}
	uid := fixedUID
	used := usedIDs(a.passwd)
	if hasFixedUID {
		if used[uid] {
			return fmt.Errorf("user %s: fixed uid %d is already used", u.Name, uid)
		}
	} else {
		var err error
		if uid, err = firstFree(used); err != nil {
			return fmt.Errorf("user %s: %w", u.Name, err)
		}
	}
	gid, ok := 65534, false // adduser --system without --group: nogroup
	if u.OwnGroup {
		var err error
		if gid, err = a.addGroup(u.Name, fixedGID, hasFixedGID, false); err != nil {
			return err
		}
	} else if gid, ok = a.gid("nogroup"); !ok {
		gid = 65534
	}
	a.passwd.append(u.Name, "x", strconv.Itoa(uid), strconv.Itoa(gid), u.Gecos, u.Home, u.Shell)
	a.shadow.append(u.Name, "!", strconv.FormatInt(a.days, 10), "", "", "", "", "", "")
	return nil
}

// addMember adds user to group's member list (adduser USER GROUP), in
// /etc/group and /etc/gshadow. It does nothing if the group does not exist,
// like the scripts that test for it first.
func (a *accounts) addMember(user, group string) {
	for _, d := range []*dbFile{a.group, a.gshadow} {
		i := d.find(group)
		if i < 0 {
			continue
		}
		f := d.fields(i)
		if len(f) < 4 {
			continue
		}
		members := []string{}
		if f[3] != "" {
			members = strings.Split(f[3], ",")
		}
		present := false
		for _, m := range members {
			present = present || m == user
		}
		if present {
			continue
		}
		f[3] = strings.Join(append(members, user), ",")
		d.lines[i] = strings.Join(f, ":")
		d.changed = true
	}
}

// setUID changes a user's uid (usermod -u), keeping its group.
func (a *accounts) setUID(name string, uid int) error {
	i := a.passwd.find(name)
	if i < 0 {
		return nil
	}
	f := a.passwd.fields(i)
	if f[2] == strconv.Itoa(uid) {
		return nil
	}
	for j := range a.passwd.lines {
		if j != i && a.passwd.fields(j)[2] == strconv.Itoa(uid) {
			return fmt.Errorf("user %s: fixed uid %d is already used", name, uid)
		}
	}
	f[2] = strconv.Itoa(uid)
	a.passwd.lines[i] = strings.Join(f, ":")
	a.passwd.changed = true
	return nil
}
