package replay

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
)

// The glibc ld.so.cache "new" format (glibc >= 2.32 writes only this one):
// a 48-byte header, 24-byte entries sorted like ldconfig sorts them, a
// string table with shared suffixes, and an extension directory naming the
// generator.
const (
	ldMagic          = "glibc-ld.so.cache1.1"
	ldHeaderSize     = 48
	ldEntrySize      = 24
	ldExtensionMagic = 0xeaa42174
	ldEndianLittle   = 2
	ldEndianBig      = 3
)

// ldconfig's library flags (sysdeps/generic/ldconfig.h): the ELF/libc6 type
// in the low byte, the ABI in the second byte.
const (
	flagELFLibc6     = 0x0003
	flagX8664Lib64   = 0x0300
	flagS390Lib64    = 0x0400
	flagPowerPCLib64 = 0x0500
	flagX32          = 0x0800
	flagARMLibHF     = 0x0900
	flagAArch64Lib64 = 0x0a00
)

// ldEntry is one cache entry.
type ldEntry struct {
	Flags     int32
	Key, Path string
	OSVersion uint32
	HWCap     uint64
}

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

type libInfo struct {
	soname string
	flags  int32
	ok     bool
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

// LdCache is a parsed ld.so.cache.
type LdCache struct {
	Entries   []ldEntry
	Generator string
	BigEndian bool
}

// ParseLdCache reads a new-format ld.so.cache.
func ParseLdCache(b []byte) (*LdCache, error) {
	if len(b) < ldHeaderSize || string(b[:len(ldMagic)]) != ldMagic {
		return nil, errors.New("not a glibc-ld.so.cache1.1 file (only the new format is supported)")
	}
	var bo binary.ByteOrder = binary.LittleEndian
	c := &LdCache{}
	if b[28] == ldEndianBig {
		bo, c.BigEndian = binary.BigEndian, true
	}
	n := bo.Uint32(b[20:])
	if uint64(n)*ldEntrySize+ldHeaderSize > uint64(len(b)) {
		return nil, errors.New("truncated entries")
	}
	str := func(off uint32) (string, error) {
		if int(off) >= len(b) {
			return "", fmt.Errorf("string offset %d out of range", off)
		}
		end := bytes.IndexByte(b[off:], 0)
		if end < 0 {
			return "", errors.New("unterminated string")
		}
		return string(b[off : int(off)+end]), nil
	}
	for i := uint32(0); i < n; i++ {
		e := b[ldHeaderSize+i*ldEntrySize:]
		k, err := str(bo.Uint32(e[4:]))
		if err != nil {
			return nil, err
		}
		v, err := str(bo.Uint32(e[8:]))
		if err != nil {
			return nil, err
		}
		c.Entries = append(c.Entries, ldEntry{Flags: int32(bo.Uint32(e[0:])), Key: k, Path: v,
			OSVersion: bo.Uint32(e[12:]), HWCap: bo.Uint64(e[16:])})
	}
	if ext := bo.Uint32(b[32:]); ext != 0 && int(ext)+8 <= len(b) && bo.Uint32(b[ext:]) == ldExtensionMagic {
		count := bo.Uint32(b[ext+4:])
		for i := uint32(0); i < count && int(ext+8+16*i+16) <= len(b); i++ {
			s := b[ext+8+16*i:]
			if bo.Uint32(s) == 0 { // generator
				off, size := bo.Uint32(s[8:]), bo.Uint32(s[12:])
				if int(off+size) <= len(b) {
					c.Generator = string(b[off : off+size])
				}
			}
		}
	}
	return c, nil
}

// isDSO mirrors ldconfig's test for names worth looking at.
func isDSO(name string) bool {
	return (strings.HasPrefix(name, "lib") || strings.HasPrefix(name, "ld-")) && strings.Contains(name, ".so")
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

// readLibInfo reads the SONAME and ldconfig flags of an ELF shared object.
func readLibInfo(ra io.ReaderAt) libInfo {
	f, err := elf.NewFile(ra)
	if err != nil {
		return libInfo{}
	}
	defer f.Close()
	if f.Type != elf.ET_DYN {
		return libInfo{}
	}
	info := libInfo{ok: true, flags: elfFlags(f, ra)}
	if names, err := f.DynString(elf.DT_SONAME); err == nil && len(names) > 0 {
		info.soname = names[0]
	}
	return info
}

// elfFlags returns the flags ldconfig records for a libc6 ELF object.
func elfFlags(f *elf.File, ra io.ReaderAt) int32 {
	switch f.Machine {
	case elf.EM_X86_64:
		if f.Class == elf.ELFCLASS64 {
			return flagELFLibc6 | flagX8664Lib64
		}
		return flagELFLibc6 | flagX32
	case elf.EM_AARCH64:
		return flagELFLibc6 | flagAArch64Lib64
	case elf.EM_S390:
		if f.Class == elf.ELFCLASS64 {
			return flagELFLibc6 | flagS390Lib64
		}
	case elf.EM_PPC64:
		return flagELFLibc6 | flagPowerPCLib64
	case elf.EM_ARM:
		// e_flags (offset 36 in ELF32), which debug/elf does not expose.
		const efARMABIFloatHard = 0x400
		var fl [4]byte
		if _, err := ra.ReadAt(fl[:], 36); err == nil && f.ByteOrder.Uint32(fl[:])&efARMABIFloatHard != 0 {
			return flagELFLibc6 | flagARMLibHF
		}
	}
	return flagELFLibc6
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
	type dlib struct {
		name, soname string
		flags        int32
		isLink       bool
	}
	var libs []*dlib
	var names []string
	for name := range p.observed {
		if path.Dir(name) == canon && isDSO(path.Base(name)) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		base := path.Base(name)
		e := p.observed[name]
		isLink := e.typ == tar.TypeSymlink
		info, ok := p.libInfoOf(name, 0)
		if !ok || !info.ok {
			continue
		}
		soname := info.soname
		if soname == "" {
			soname = base
		}
		if isLink && base != soname && !(strings.HasSuffix(base, ".so") && strings.HasPrefix(soname, base)) {
			isLink = false
		}
		if isLink {
			soname = base
		}
		var found *dlib
		for _, l := range libs {
			if l.soname == soname {
				found = l
			}
		}
		if found != nil {
			if (!isLink && found.isLink) || (isLink == found.isLink && dlCacheLibcmp(found.name, base) < 0) {
				found.name, found.isLink = base, isLink
			}
			continue
		}
		libs = append(libs, &dlib{name: base, soname: soname, flags: info.flags, isLink: isLink})
	}
	var out []ldEntry
	for _, l := range libs {
		out = append(out, ldEntry{Flags: l.flags, Key: l.soname, Path: abs + "/" + l.soname})
	}
	return out
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

// dlCacheLibcmp is glibc's _dl_cache_libcmp: runs of digits compare
// numerically, other bytes by value.
func dlCacheLibcmp(a, b string) int {
	i, j := 0, 0
	for i < len(a) {
		ca := a[i]
		var cb byte
		if j < len(b) {
			cb = b[j]
		}
		switch {
		case isDigit(ca):
			if !isDigit(cb) {
				return 1
			}
			va, vb := 0, 0
			for i < len(a) && isDigit(a[i]) {
				va = va*10 + int(a[i]-'0')
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				vb = vb*10 + int(b[j]-'0')
				j++
			}
			if va != vb {
				return va - vb
			}
		case isDigit(cb):
			return -1
		case ca != cb:
			return int(ca) - int(cb)
		default:
			i++
			j++
		}
	}
	if j < len(b) {
		return -int(b[j])
	}
	return 0
}

// WriteLdCache serializes entries as ldconfig does: sorted by key
// (descending in _dl_cache_libcmp order, then flags descending, then
// hwcap), strings tail-merged in ldconfig's string-table order.
func WriteLdCache(entries []ldEntry, generator string, bigEndian bool) []byte {
	es := append([]ldEntry(nil), entries...)
	sort.SliceStable(es, func(i, j int) bool {
		if c := dlCacheLibcmp(es[j].Key, es[i].Key); c != 0 {
			return c < 0
		}
		if es[i].Flags != es[j].Flags {
			return es[i].Flags > es[j].Flags
		}
		return es[i].HWCap > es[j].HWCap
	})
	// String table: distinct strings sorted by reversed bytes, descending,
	// longer first; a string that is a suffix of its predecessor shares it.
	set := map[string]bool{}
	for _, e := range es {
		set[e.Key], set[e.Path] = true, true
	}
	strs := make([]string, 0, len(set))
	for s := range set {
		strs = append(strs, s)
	}
	sort.Slice(strs, func(i, j int) bool { return finalizeCompare(strs[i], strs[j]) < 0 })
	offs := map[string]uint32{}
	var table []byte
	for k, s := range strs {
		if k > 0 {
			prev := strs[k-1]
			if len(prev) >= len(s) && strings.HasSuffix(prev, s) {
				offs[s] = offs[prev] + uint32(len(prev)-len(s))
				continue
			}
		}
		offs[s] = uint32(len(table))
		table = append(table, s...)
		table = append(table, 0)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	endian := byte(ldEndianLittle)
	if bigEndian {
		bo, endian = binary.BigEndian, ldEndianBig
	}
	strOff := uint32(ldHeaderSize + ldEntrySize*len(es))
	ext := (strOff + uint32(len(table)) + 3) &^ 3
	b := make([]byte, ext, int(ext)+24+len(generator))
	copy(b, ldMagic)
	bo.PutUint32(b[20:], uint32(len(es)))
	bo.PutUint32(b[24:], uint32(len(table)))
	b[28] = endian
	bo.PutUint32(b[32:], ext)
	for i, e := range es {
		p := b[ldHeaderSize+i*ldEntrySize:]
		bo.PutUint32(p[0:], uint32(e.Flags))
		bo.PutUint32(p[4:], strOff+offs[e.Key])
		bo.PutUint32(p[8:], strOff+offs[e.Path])
		bo.PutUint32(p[12:], e.OSVersion)
		bo.PutUint64(p[16:], e.HWCap)
	}
	copy(b[strOff:], table)
	var x [24]byte
	bo.PutUint32(x[0:], ldExtensionMagic)
	bo.PutUint32(x[4:], 1)
	bo.PutUint32(x[8:], 0) // tag: generator
	bo.PutUint32(x[12:], 0)
	bo.PutUint32(x[16:], ext+24)
	bo.PutUint32(x[20:], uint32(len(generator)))
	b = append(b, x[:]...)
	return append(b, generator...)
}

// finalizeCompare orders strings as glibc's stringtable_finalize: compare
// from the last byte backwards, larger bytes first; when one is a suffix of
// the other, the longer comes first.
func finalizeCompare(l, r string) int {
	n := min(len(l), len(r))
	for i := 1; i <= n; i++ {
		lc, rc := l[len(l)-i], r[len(r)-i]
		if lc != rc {
			return int(rc) - int(lc)
		}
	}
	switch {
	case len(l) == len(r):
		return 0
	case len(l) < len(r):
		return 1
	}
	return -1
}
