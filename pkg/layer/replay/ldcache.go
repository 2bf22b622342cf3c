package replay

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"github.com/pgassemble/pgassemble/pkg/layer/maint/ldso"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

// ldState collects what ldconfig needs: the base's cache and the libraries
// the packages add.
type ldState struct {
	base      fs.FS
	arch      string
	baseCache []ldEntry
	generator string
	hasCache  bool
	bigEndian bool
	// sonames of observed ELF files ("" if not a shared object), by
	// relative path; links are resolved at the end.
	sonames map[string]libInfo
	links   map[string]string // relative path -> link target
}

func newLdState(base fs.FS, arch string) (*ldState, error) {
	st := &ldState{base: base, arch: arch, sonames: map[string]libInfo{}, links: map[string]string{}}
	b, err := fs.ReadFile(base, "etc/ld.so.cache")
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read etc/ld.so.cache: %w", err)
	}
	c, err := ParseLdCache(b)
	if err != nil {
		return nil, fmt.Errorf("etc/ld.so.cache of the base: %w", err)
	}
	st.baseCache, st.generator, st.hasCache, st.bigEndian = c.Entries, c.Generator, true, c.BigEndian
	return st, nil
}

// isLibCandidate reports whether an observed file may be a library
// ldconfig would see: a DSO-looking name in any directory (the directory
// list is only known at the end, when ld.so.conf.d may have grown).
func (st *ldState) isLibCandidate(name string) bool {
	return isDSO(path.Base(name)) && !strings.HasPrefix(name, "usr/share/")
}

func (st *ldState) observeLink(name string, e entry) {
	if isDSO(path.Base(name)) && e.typ == tar.TypeSymlink {
		st.links[name] = e.linkname
	}
	if e.typ == tar.TypeLink && isDSO(path.Base(name)) {
		st.links[name] = "/" + e.linkname // hard link: same file
	}
}

// spoolLimit: larger libraries go through a temporary file, so memory stays
// flat (libLLVM is over 100 MB).
const spoolLimit = 16 << 20

func (st *ldState) observeFile(name string, size int64, r io.Reader) error {
	// The layer offers random access to bodies: then only the ELF header,
	// section headers and the dynamic section are read.
	if ra, ok := r.(io.ReaderAt); ok {
		st.sonames[name] = readLibInfo(ra)
		return nil
	}
	var ra io.ReaderAt
	if size <= spoolLimit {
		b, err := io.ReadAll(io.LimitReader(r, spoolLimit+1))
		if err != nil {
			return err
		}
		ra = bytes.NewReader(b)
	} else {
		f, err := os.CreateTemp("", "pgassemble-elf-*")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		if _, err := io.Copy(f, r); err != nil {
			return err
		}
		ra = f
	}
	st.sonames[name] = readLibInfo(ra)
	return nil
}

// ldDirs lists the directories ldconfig scans, in its order: those of
// etc/ld.so.conf (includes expanded, sorted like glob), then the built-in
// /lib and /usr/lib.
func (p *Plan) ldDirs() []string {
	var dirs []string
	var parse func(name string, depth int)
	parse = func(name string, depth int) {
		if depth > 8 {
			return
		}
		b, ok := p.readFile(p.canonical("/" + name))
		if !ok {
			return
		}
		for _, line := range strings.Split(string(b), "\n") {
			if i := strings.IndexByte(line, '#'); i >= 0 {
				line = line[:i]
			}
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			if rest, ok := strings.CutPrefix(line, "include"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
				for _, pat := range strings.Fields(rest) {
					for _, m := range p.glob(rel(pat)) {
						parse(m, depth+1)
					}
				}
				continue
			}
			if strings.HasPrefix(strings.ToLower(line), "hwcap") {
				continue
			}
			dirs = append(dirs, strings.TrimRight(line, "/"))
		}
	}
	parse("etc/ld.so.conf", 0)
	return append(dirs, "/lib", "/usr/lib")
}

// glob matches a pattern against the base and the observed entries.
func (p *Plan) glob(pattern string) []string {
	dir := p.canonical("/" + path.Dir(pattern))
	seen := map[string]bool{}
	if ents, err := fs.ReadDir(p.base, dir); err == nil {
		for _, e := range ents {
			seen[e.Name()] = true
		}
	}
	for name := range p.observed {
		if path.Dir(name) == dir {
			seen[path.Base(name)] = true
		}
	}
	var out []string
	for n := range seen {
		if ok, _ := path.Match(path.Base(pattern), n); ok {
			out = append(out, path.Join(dir, n))
		}
	}
	sort.Strings(out)
	return out
}

// ldFiles regenerates etc/ld.so.cache when packages added libraries to the
// directories ldconfig scans.
func (p *Plan) ldFiles(out files) error {
	st := p.ld
	type dirInfo struct{ abs, canon string }
	var dirs []dirInfo
	seen := map[string]bool{}
	for _, d := range p.ldDirs() {
		c := p.canonical(d + "/.")
		c = strings.TrimSuffix(c, "/.")
		if c == "." || seen[c] || !p.isDir(c) {
			continue
		}
		seen[c] = true
		dirs = append(dirs, dirInfo{abs: d, canon: c})
	}
	var added []ldEntry
	for _, d := range dirs {
		added = append(added, p.scanLdDir(d.abs, d.canon)...)
	}
	if len(added) == 0 && st.hasCache {
		return nil
	}
	entries := append([]ldEntry(nil), st.baseCache...)
	if !st.hasCache {
		for _, d := range dirs {
			entries = append(entries, p.scanBaseLdDir(d.abs, d.canon)...)
		}
	}
	have := map[string]bool{}
	for _, e := range entries {
		have[e.Key+"\x00"+e.Path] = true
	}
	for _, e := range added {
		if !have[e.Key+"\x00"+e.Path] {
			have[e.Key+"\x00"+e.Path] = true
			entries = append(entries, e)
		}
	}
	gen := st.generator
	if gen == "" {
		gen = "ldconfig (pgassemble)"
	}
	data := WriteLdCache(entries, gen, st.bigEndian)
	out.reg(p.canonical("/etc/ld.so.cache"), 0o644, 0, 0, data)
	return nil
}

func (p *Plan) isDir(name string) bool {
	if e, ok := p.observed[name]; ok {
		return e.typ == tar.TypeDir
	}
	fi, err := fs.Stat(p.base, name)
	return err == nil && fi.IsDir()
}

// scanLdDir builds the entries ldconfig would add for the observed files of
// one directory (abs is the path as listed, canon where it really is).
func (p *Plan) scanLdDir(abs, canon string) []ldEntry {
	var names []string
	for name := range p.observed {
		if path.Dir(name) == canon && isDSO(path.Base(name)) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var cands []ldso.Candidate
	for _, name := range names {
		info, ok := p.libInfoOf(name, 0)
		if !ok {
			continue
		}
		cands = append(cands, ldso.Candidate{Name: path.Base(name), Info: info, IsLink: p.observed[name].typ == tar.TypeSymlink})
	}
	return ldso.ChooseDir(abs, cands)
}

// scanBaseLdDir is scanLdDir for a base without ld.so.cache.
func (p *Plan) scanBaseLdDir(abs, canon string) []ldEntry {
	ents, err := fs.ReadDir(p.base, canon)
	if err != nil {
		return nil
	}
	saved := map[string]entry{}
	for _, e := range ents {
		name := path.Join(canon, e.Name())
		if _, ok := p.observed[name]; ok || !isDSO(e.Name()) {
			continue
		}
		typ := byte(tar.TypeReg)
		if e.Type()&fs.ModeSymlink != 0 {
			typ = tar.TypeSymlink
		} else if !e.Type().IsRegular() {
			continue
		}
		saved[name] = entry{typ: typ}
	}
	// Reuse the observed-directory logic over the base's entries.
	for n, e := range saved {
		p.observed[n] = e
	}
	defer func() {
		for n := range saved {
			delete(p.observed, n)
		}
	}()
	return p.scanLdDir(abs, canon)
}

// libInfoOf returns the SONAME of a file, following symlinks through the
// observed entries and the base.
func (p *Plan) libInfoOf(name string, depth int) (libInfo, bool) {
	if depth > 16 {
		return libInfo{}, false
	}
	if e, ok := p.observed[name]; ok && (e.typ == tar.TypeSymlink || e.typ == tar.TypeLink) {
		t := e.linkname
		if e.typ == tar.TypeLink {
			return p.libInfoOf(strings.TrimPrefix(t, "/"), depth+1)
		}
		if strings.HasPrefix(t, "/") {
			return p.libInfoOf(p.canonical(t), depth+1)
		}
		return p.libInfoOf(p.canonical("/"+path.Join(path.Dir(name), t)), depth+1)
	}
	if info, ok := p.ld.sonames[name]; ok {
		return info, true
	}
	if _, ok := p.observed[name]; ok {
		return libInfo{}, false
	}
	// In the base: follow a link, or read the ELF file.
	if t, err := fs.ReadLink(p.base, name); err == nil {
		if strings.HasPrefix(t, "/") {
			return p.libInfoOf(p.canonical(t), depth+1)
		}
		return p.libInfoOf(p.canonical("/"+path.Join(path.Dir(name), t)), depth+1)
	}
	f, err := p.base.Open(name)
	if err != nil {
		return libInfo{}, false
	}
	defer f.Close()
	if ra, ok := f.(io.ReaderAt); ok {
		return readLibInfo(ra), true
	}
	b, err := io.ReadAll(io.LimitReader(f, 256<<20))
	if err != nil {
		return libInfo{}, false
	}
	return readLibInfo(bytes.NewReader(b)), true
}

// Names kept for the replay, which the runner replaces.
type (
	ldEntry = ldso.Entry
	libInfo = ldso.LibInfo
	LdCache = ldso.Cache
)

const ldMagic = ldso.Magic

func isDSO(name string) bool                  { return ldso.IsDSO(name) }
func readLibInfo(ra io.ReaderAt) libInfo      { return ldso.ReadLibInfo(ra) }
func dlCacheLibcmp(a, b string) int           { return ldso.Compare(a, b) }
func ParseLdCache(b []byte) (*LdCache, error) { return ldso.Parse(b) }

// WriteLdCache is ldso.Write.
func WriteLdCache(entries []ldEntry, generator string, bigEndian bool) []byte {
	return ldso.Write(entries, generator, bigEndian)
}
