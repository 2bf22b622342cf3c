package fidelity

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/pgassemble/pgassemble/internal/digest"
)

// Entry is what the comparison knows of one path of a tree. Mtimes are
// deliberately absent: pgassemble clamps them, dpkg keeps the archive's.
type Entry struct {
	Path  string // absolute inside the tree: "/etc/passwd"
	Type  string // "file", "dir", "symlink", "char", "block", "fifo", "socket"
	Mode  fs.FileMode
	UID   int
	GID   int
	Size  int64  // regular files only
	Hash  string // sha256 of regular files
	Link  string // symlink target
	Nlink uint64 // regular files only: hard links to the same inode
	Rdev  uint64 // device nodes
	// Records is a digest of the sorted records of the files listed in
	// recordFiles, and Dateless the digest of /etc/shadow without its
	// last-change days: equal digests turn a content difference into an
	// "order" or a "date" one.
	Records  string
	Dateless string
}

// recordFiles are files made of records whose order no reader depends on,
// with the record size in lines (0: blank-line separated paragraphs).
var recordFiles = map[string]int{
	"/var/lib/dpkg/diversions":     3, // path, diverted-to, package: dpkg-divert writes its hash order
	"/var/lib/apt/extended_states": 0, // apt writes its cache order; read as a set of stanzas
}

// Kinds of difference, in the order reports list them.
const (
	KindMissing = "missing" // in the apt-get tree only
	KindExtra   = "extra"   // in pgassemble's tree only
	KindType    = "type"
	KindMode    = "mode"
	KindOwner   = "owner"
	KindContent = "content" // size or sha256
	KindLink    = "link"    // symlink target
	KindNlink   = "nlink"   // hard-link count
	KindRdev    = "rdev"
	// KindOrder: a record file holds the same records in another order
	// (see recordFiles); the order carries no meaning for its readers.
	KindOrder = "order"
	// KindDate: /etc/shadow differs only in the last-change day of
	// accounts (pgassemble dates them at SOURCE_DATE_EPOCH).
	KindDate = "date"
)

// Kinds lists every kind in report order.
var Kinds = []string{KindMissing, KindExtra, KindType, KindMode, KindOwner, KindContent, KindOrder, KindDate, KindLink, KindNlink, KindRdev}

// Diff is one difference between pgassemble's tree (Ours) and apt-get's (Apt).
type Diff struct {
	Path string
	Kind string
	Ours string // what pgassemble has, "" when absent
	Apt  string // what apt-get has, "" when absent
}

func (d Diff) String() string {
	switch d.Kind {
	case KindMissing:
		return fmt.Sprintf("%-8s %s (apt-get: %s)", d.Kind, d.Path, d.Apt)
	case KindExtra:
		return fmt.Sprintf("%-8s %s (ours: %s)", d.Kind, d.Path, d.Ours)
	}
	return fmt.Sprintf("%-8s %s: ours %s, apt-get %s", d.Kind, d.Path, d.Ours, d.Apt)
}

// Tree is a walked root filesystem, by absolute path.
type Tree map[string]Entry

// Walk reads every entry under root except the subtrees skip returns true
// for (given the absolute in-tree path; the skipped directory itself is
// still recorded). Regular files are hashed.
func Walk(root string, skip func(p string) bool) (Tree, error) {
	t := Tree{}
	err := filepath.WalkDir(root, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, full)
		if err != nil {
			return err
		}
		p := "/" + filepath.ToSlash(rel)
		if rel == "." {
			p = "/"
		}
		e, err := stat(full, p)
		if err != nil {
			return err
		}
		t[p] = e
		if d.IsDir() && p != "/" && skip != nil && skip(p) {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk %s: %w", root, err)
	}
	return t, nil
}

func stat(full, p string) (Entry, error) {
	fi, err := os.Lstat(full)
	if err != nil {
		return Entry{}, err
	}
	e := Entry{Path: p, Mode: fi.Mode().Perm() | fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.UID, e.GID = int(st.Uid), int(st.Gid)
		if fi.Mode().IsRegular() {
			e.Nlink = uint64(st.Nlink)
		}
		if fi.Mode()&fs.ModeDevice != 0 {
			e.Rdev = uint64(st.Rdev)
		}
	}
	switch m := fi.Mode(); {
	case m.IsRegular():
		e.Type = "file"
		e.Size = fi.Size()
		if e.Hash, err = digest.FileSHA256(full); err != nil {
			return Entry{}, err
		}
		if n, ok := recordFiles[p]; ok {
			if e.Records, err = recordsDigest(full, n); err != nil {
				return Entry{}, err
			}
		}
		if p == "/etc/shadow" {
			if e.Dateless, err = datelessDigest(full); err != nil {
				return Entry{}, err
			}
		}
	case m.IsDir():
		e.Type = "dir"
	case m&fs.ModeSymlink != 0:
		e.Type = "symlink"
		if e.Link, err = os.Readlink(full); err != nil {
			return Entry{}, err
		}
	case m&fs.ModeCharDevice != 0:
		e.Type = "char"
	case m&fs.ModeDevice != 0:
		e.Type = "block"
	case m&fs.ModeNamedPipe != 0:
		e.Type = "fifo"
	case m&fs.ModeSocket != 0:
		e.Type = "socket"
	default:
		e.Type = "other"
	}
	return e, nil
}

// Names maps numeric ids to names for readable owners.
type Names struct{ Users, Groups map[int]string }

// ReadNames reads etc/passwd and etc/group of a tree.
func ReadNames(root string) Names {
	n := Names{Users: map[int]string{}, Groups: map[int]string{}}
	read := func(file string, into map[int]string) {
		b, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Split(line, ":")
			if len(f) < 3 {
				continue
			}
			var id int
			if _, err := fmt.Sscanf(f[2], "%d", &id); err == nil {
				if _, dup := into[id]; !dup {
					into[id] = f[0]
				}
			}
		}
	}
	read("etc/passwd", n.Users)
	read("etc/group", n.Groups)
	return n
}

func (n Names) owner(uid, gid int) string {
	u, g := n.Users[uid], n.Groups[gid]
	if u == "" {
		u = "?"
	}
	if g == "" {
		g = "?"
	}
	return fmt.Sprintf("%d:%d(%s:%s)", uid, gid, u, g)
}

func describe(e Entry, n Names) string {
	s := fmt.Sprintf("%s %04o %s", e.Type, uint32(e.Mode.Perm())|modeBits(e.Mode), n.owner(e.UID, e.GID))
	switch e.Type {
	case "file":
		s += fmt.Sprintf(" %dB sha256:%.12s", e.Size, e.Hash)
	case "symlink":
		s += " -> " + e.Link
	}
	return s
}

// modeBits renders setuid/setgid/sticky as the octal digit chmod uses.
func modeBits(m fs.FileMode) uint32 {
	var b uint32
	if m&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

func octal(m fs.FileMode) string { return fmt.Sprintf("%04o", uint32(m.Perm())|modeBits(m)) }

// Compare lists the differences between pgassemble's tree and apt-get's,
// sorted by path then kind. Owners are compared numerically (what a
// container runtime sees); names are shown for reading.
func Compare(ours, apt Tree, oursNames, aptNames Names) []Diff {
	var out []Diff
	for p, a := range apt {
		o, ok := ours[p]
		if !ok {
			out = append(out, Diff{Path: p, Kind: KindMissing, Apt: describe(a, aptNames)})
			continue
		}
		if o.Type != a.Type {
			out = append(out, Diff{Path: p, Kind: KindType, Ours: describe(o, oursNames), Apt: describe(a, aptNames)})
			continue
		}
		if o.Mode != a.Mode {
			out = append(out, Diff{Path: p, Kind: KindMode, Ours: octal(o.Mode), Apt: octal(a.Mode)})
		}
		if o.UID != a.UID || o.GID != a.GID {
			out = append(out, Diff{Path: p, Kind: KindOwner, Ours: oursNames.owner(o.UID, o.GID), Apt: aptNames.owner(a.UID, a.GID)})
		}
		if o.Size != a.Size || o.Hash != a.Hash {
			kind := KindContent
			if o.Records != "" && o.Records == a.Records {
				kind = KindOrder
			} else if o.Dateless != "" && o.Dateless == a.Dateless {
				kind = KindDate
			}
			out = append(out, Diff{Path: p, Kind: kind,
				Ours: fmt.Sprintf("%dB sha256:%.12s", o.Size, o.Hash), Apt: fmt.Sprintf("%dB sha256:%.12s", a.Size, a.Hash)})
		}
		if o.Link != a.Link {
			out = append(out, Diff{Path: p, Kind: KindLink, Ours: o.Link, Apt: a.Link})
		}
		if o.Nlink != a.Nlink {
			out = append(out, Diff{Path: p, Kind: KindNlink, Ours: fmt.Sprint(o.Nlink), Apt: fmt.Sprint(a.Nlink)})
		}
		if o.Rdev != a.Rdev {
			out = append(out, Diff{Path: p, Kind: KindRdev, Ours: fmt.Sprint(o.Rdev), Apt: fmt.Sprint(a.Rdev)})
		}
	}
	for p, o := range ours {
		if _, ok := apt[p]; !ok {
			out = append(out, Diff{Path: p, Kind: KindExtra, Ours: describe(o, oursNames)})
		}
	}
	rank := map[string]int{}
	for i, k := range Kinds {
		rank[k] = i
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return rank[out[i].Kind] < rank[out[j].Kind]
	})
	return out
}

// recordsDigest hashes the file's n-line records (n == 0: paragraphs),
// sorted.
func recordsDigest(name string, n int) (string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	var recs []string
	if n == 0 {
		recs = strings.Split(strings.TrimRight(string(b), "\n"), "\n\n")
	} else {
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(lines)%n != 0 {
			return "", nil // not records: compare bytes only
		}
		for i := 0; i < len(lines); i += n {
			recs = append(recs, strings.Join(lines[i:i+n], "\n"))
		}
	}
	sort.Strings(recs)
	h := sha256.Sum256([]byte(strings.Join(recs, "\n\n")))
	return hex.EncodeToString(h[:]), nil
}

// datelessDigest hashes /etc/shadow with the third field (day of the last
// password change) of every line blanked.
func datelessDigest(name string) (string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if f := strings.Split(l, ":"); len(f) >= 3 {
			f[2] = ""
			lines[i] = strings.Join(f, ":")
		}
	}
	h := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(h[:]), nil
}
