package layer

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/pgassemble/pgassemble/pkg/apt"
)

// ErrUnsafePath is wrapped by errors about entries that would be written
// outside the root, through a symlink leaving it, or over a merged-/usr link.
var ErrUnsafePath = errors.New("unsafe path")

// baseState is what the builder reads once from the base filesystem.
type baseState struct {
	fsys       fs.FS
	users      map[string]int
	groups     map[string]int
	filters    Filters
	status     []apt.Paragraph // base stanzas, file order
	protected  map[string]bool // top-level symlinks into usr/ (merged /usr)
	diverted   map[string]diversion
	divertedTo map[string]string // diversion target -> diverted path, built on first need
	overrides  map[string]statOverride
	digest     [32]byte        // over every fact that shapes a converted layer
	kinds      map[string]node // Lstat cache
}

// node is what a path is in the tree the entries are unpacked onto.
type node struct {
	kind byte // 0 absent, 'd' directory, 'l' symlink, 'f' anything else
	link string
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

func readBase(fsys fs.FS) (*baseState, error) {
	b := &baseState{fsys: fsys, kinds: map[string]node{}, protected: map[string]bool{}}
	h := sha256.New()
	var err error
	readOpt := func(name string) ([]byte, error) {
		data, err := fs.ReadFile(fsys, name)
		if err != nil && !isNotExist(err) {
			return nil, fmt.Errorf("read base %s: %w", name, err)
		}
		fmt.Fprintf(h, "file %s %d\n", name, len(data))
		h.Write(data)
		return data, nil
	}
	passwd, err := readOpt("etc/passwd")
	if err != nil {
		return nil, err
	}
	group, err := readOpt("etc/group")
	if err != nil {
		return nil, err
	}
	b.users = parseIDs(passwd)
	b.groups = parseIDs(group)
	status, err := readOpt("var/lib/dpkg/status")
	if err != nil {
		return nil, err
	}
	if err := parseDpkgParagraphs(status, func(p apt.Paragraph) error {
		b.status = append(b.status, p)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("parse base var/lib/dpkg/status: %w", err)
	}
	divs, err := readOpt("var/lib/dpkg/diversions")
	if err != nil {
		return nil, err
	}
	b.diverted = parseDiversions(divs)
	so, err := readOpt("var/lib/dpkg/statoverride")
	if err != nil {
		return nil, err
	}
	b.overrides = parseStatOverrides(so)
	if b.filters, err = ReadFilters(fsys); err != nil {
		return nil, err
	}
	for _, f := range b.filters {
		fmt.Fprintf(h, "filter %s\n", f)
	}
	// Directories and symlinks decide where entries land and which are
	// emitted, so they are part of every layer's cache key.
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "." && isNotExist(err) {
				return fs.SkipAll
			}
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			t, err := b.readLink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "l %s %s\n", p, t)
		case d.IsDir():
			fmt.Fprintf(h, "d %s\n", p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk base: %w", err)
	}
	ents, _ := fs.ReadDir(fsys, ".")
	for _, e := range ents {
		if e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		t, err := b.readLink(e.Name())
		if err != nil {
			return nil, err
		}
		t = strings.TrimPrefix(path.Clean("/"+t), "/")
		if t == "usr" || strings.HasPrefix(t, "usr/") {
			b.protected[e.Name()] = true
		}
	}
	h.Sum(b.digest[:0])
	return b, nil
}

// parseIDs reads name -> id from passwd/group lines.
func parseIDs(b []byte) map[string]int {
	out := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 3 || f[0] == "" {
			continue
		}
		id, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		if _, dup := out[f[0]]; !dup { // getpwnam returns the first
			out[f[0]] = id
		}
	}
	return out
}

func (b *baseState) readLink(p string) (string, error) {
	rl, ok := b.fsys.(fs.ReadLinkFS)
	if !ok {
		return "", fmt.Errorf("base filesystem cannot read symlink %s (no fs.ReadLinkFS)", p)
	}
	t, err := rl.ReadLink(p)
	if err != nil {
		return "", fmt.Errorf("read base symlink %s: %w", p, err)
	}
	return t, nil
}

// lookup returns what p is in the base, without following a final symlink.
func (b *baseState) lookup(p string) node {
	if n, ok := b.kinds[p]; ok {
		return n
	}
	var n node
	var fi fs.FileInfo
	var err error
	if rl, ok := b.fsys.(fs.ReadLinkFS); ok {
		fi, err = rl.Lstat(p)
	} else {
		fi, err = fs.Stat(b.fsys, p)
	}
	if err == nil {
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			n.kind = 'l'
			n.link, _ = b.readLink(p)
		case fi.IsDir():
			n.kind = 'd'
		default:
			n.kind = 'f'
		}
	}
	b.kinds[p] = n
	return n
}

// tree resolves paths over the base plus what stages placed on top of it.
type tree struct {
	base    *baseState
	overlay map[string]node // resolved path -> node, newer than the base
}

func (t *tree) lookup(p string) node {
	if n, ok := t.overlay[p]; ok {
		return n
	}
	return t.base.lookup(p)
}

const maxSymlinkHops = 40

var errEscape = errors.New("symlink leads out of the root")

// resolveParent resolves every component of p but the last through
// symlinks, as the kernel would inside a chroot: absolute link targets start
// at the root, and ".." above the root is an escape (refused, since the
// layer may be unpacked on a host directory that is not a chroot).
func (t *tree) resolveParent(p string) (string, error) {
	dir, last := path.Split(p)
	hops := 0
	res, err := t.walk(nil, splitPath(dir), true, &hops)
	if err != nil {
		return "", err
	}
	return joinPath(append(res, last)), nil
}

// resolveFull resolves p including a final symlink.
func (t *tree) resolveFull(p string) (string, error) {
	hops := 0
	res, err := t.walk(nil, splitPath(p), true, &hops)
	if err != nil {
		return "", err
	}
	return joinPath(res), nil
}

// walk resolves comps from dir. hops counts symlinks followed during the
// whole resolution (like the kernel's limit of 40), so crafted chains
// cannot make it exponential.
func (t *tree) walk(dir []string, comps []string, followLast bool, hops *int) ([]string, error) {
	dir = append([]string(nil), dir...)
	for i, c := range comps {
		switch c {
		case "", ".":
			continue
		case "..":
			if len(dir) == 0 {
				return nil, errEscape
			}
			dir = dir[:len(dir)-1]
			continue
		}
		cand := append(dir[:len(dir):len(dir)], c)
		if i == len(comps)-1 && !followLast {
			dir = cand
			continue
		}
		n := t.lookup(joinPath(cand))
		if n.kind != 'l' {
			dir = cand
			continue
		}
		*hops++
		if *hops > maxSymlinkHops {
			return nil, fmt.Errorf("too many levels of symlinks at /%s", joinPath(cand))
		}
		start := dir
		if strings.HasPrefix(n.link, "/") {
			start = nil
		}
		res, err := t.walk(start, splitPath(n.link), true, hops)
		if err != nil {
			return nil, err
		}
		dir = res
	}
	return dir, nil
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func joinPath(c []string) string { return strings.Join(c, "/") }

// isDirAt reports whether p resolves (following symlinks) to a directory.
func (t *tree) isDirAt(p string) bool {
	r, err := t.resolveFull(p)
	if err != nil {
		return false
	}
	return t.lookup(r).kind == 'd'
}

// installedKey identifies an installed package as dpkg does: by name, plus
// the architecture for Multi-Arch: same packages.
func installedKey(name, arch, multiArch string) string {
	if multiArch == "same" {
		return name + ":" + arch
	}
	return name
}

// infoName is the file name stem dpkg uses in var/lib/dpkg/info.
func infoName(name, arch, multiArch string) string { return installedKey(name, arch, multiArch) }

func paragraphKey(p apt.Paragraph) string {
	return installedKey(p.Get("Package"), p.Get("Architecture"), p.Get("Multi-Arch"))
}

// sortedKeys returns m's keys sorted.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// diversion is one dpkg-divert entry: files shipped at a path by any
// package but Package are unpacked at To instead.
type diversion struct {
	To      string // absolute
	Package string // ":" means a local diversion (no package)
}

// parseDiversions reads var/lib/dpkg/diversions: triples of lines
// (from, to, diverting package).
func parseDiversions(b []byte) map[string]diversion {
	out := map[string]diversion{}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	for i := 0; i+2 < len(lines); i += 3 {
		out[lines[i]] = diversion{To: lines[i+1], Package: lines[i+2]}
	}
	return out
}

// statOverride is one dpkg-statoverride entry: dpkg applies it whenever it
// unpacks the path.
type statOverride struct {
	User, Group string // names, or "#uid" / "#gid"
	Mode        int64
}

// parseStatOverrides reads var/lib/dpkg/statoverride ("user group mode path").
func parseStatOverrides(b []byte) map[string]statOverride {
	out := map[string]statOverride{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) != 4 {
			continue
		}
		m, err := strconv.ParseInt(f[2], 8, 64)
		if err != nil {
			continue
		}
		out[f[3]] = statOverride{User: f[0], Group: f[1], Mode: m & 0o7777}
	}
	return out
}
