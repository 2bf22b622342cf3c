// Package ldso reads and writes glibc's ld.so.cache (the new format) as
// ldconfig does, and reads what ldconfig needs of an ELF file (SONAME,
// flags); ChooseDir is ldconfig's per-directory choice. The runner's
// ldconfig command and trigger use it; the bytes match ldconfig's.
package ldso

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// The glibc ld.so.cache "new" format (glibc >= 2.32 writes only this one):
// a 48-byte header, 24-byte entries sorted like ldconfig sorts them, a
// string table with shared suffixes, and an extension directory naming the
// generator.
const (
	Magic            = "glibc-ld.so.cache1.1"
	ldHeaderSize     = 48
	EntrySize        = 24
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

// Entry is one cache entry.
type Entry struct {
	Flags     int32
	Key, Path string
	OSVersion uint32
	HWCap     uint64
}

// LibInfo is what ldconfig reads of a file: its SONAME and flags; OK
// is false for anything but an ELF shared object.
type LibInfo struct {
	Soname string
	Flags  int32
	OK     bool
}

// Cache is a parsed ld.so.cache.
type Cache struct {
	Entries   []Entry
	Generator string
	BigEndian bool
}

// Parse reads a new-format ld.so.cache.
func Parse(b []byte) (*Cache, error) {
	if len(b) < ldHeaderSize || string(b[:len(Magic)]) != Magic {
		return nil, errors.New("not a glibc-ld.so.cache1.1 file (only the new format is supported)")
	}
	var bo binary.ByteOrder = binary.LittleEndian
	c := &Cache{}
	if b[28] == ldEndianBig {
		bo, c.BigEndian = binary.BigEndian, true
	}
	n := bo.Uint32(b[20:])
	if uint64(n)*EntrySize+ldHeaderSize > uint64(len(b)) {
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
		e := b[ldHeaderSize+i*EntrySize:]
		k, err := str(bo.Uint32(e[4:]))
		if err != nil {
			return nil, err
		}
		v, err := str(bo.Uint32(e[8:]))
		if err != nil {
			return nil, err
		}
		c.Entries = append(c.Entries, Entry{Flags: int32(bo.Uint32(e[0:])), Key: k, Path: v,
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

// IsDSO mirrors ldconfig's test for names worth looking at.
func IsDSO(name string) bool {
	return (strings.HasPrefix(name, "lib") || strings.HasPrefix(name, "ld-")) && strings.Contains(name, ".so")
}

// ReadLibInfo reads the SONAME and ldconfig flags of an ELF shared object.
func ReadLibInfo(ra io.ReaderAt) LibInfo {
	f, err := elf.NewFile(ra)
	if err != nil {
		return LibInfo{}
	}
	defer f.Close()
	if f.Type != elf.ET_DYN {
		return LibInfo{}
	}
	info := LibInfo{OK: true, Flags: elfFlags(f, ra)}
	if names, err := f.DynString(elf.DT_SONAME); err == nil && len(names) > 0 {
		info.Soname = names[0]
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

// Compare is glibc's _dl_cache_libcmp: runs of digits compare
// numerically, other bytes by value.
func Compare(a, b string) int {
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

// Write serializes entries as ldconfig does: sorted by key
// (descending in _dl_cache_libcmp order, then flags descending, then
// hwcap), strings tail-merged in ldconfig's string-table order.
func Write(entries []Entry, generator string, bigEndian bool) []byte {
	es := append([]Entry(nil), entries...)
	sort.SliceStable(es, func(i, j int) bool {
		if c := Compare(es[j].Key, es[i].Key); c != 0 {
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
	strOff := uint32(ldHeaderSize + EntrySize*len(es))
	ext := (strOff + uint32(len(table)) + 3) &^ 3
	b := make([]byte, ext, int(ext)+24+len(generator))
	copy(b, Magic)
	bo.PutUint32(b[20:], uint32(len(es)))
	bo.PutUint32(b[24:], uint32(len(table)))
	b[28] = endian
	bo.PutUint32(b[32:], ext)
	for i, e := range es {
		p := b[ldHeaderSize+i*EntrySize:]
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

// Candidate is one file of a directory ldconfig scans.
type Candidate struct {
	Name   string // base name
	Info   LibInfo
	IsLink bool // a symlink (its Info is the target's)
}

// ChooseDir picks the entries ldconfig records for one directory, as
// listed (abs) in its configuration: per SONAME, a real file over a link,
// then the higher version; a link counts only when it is named after the
// SONAME (or is the .so development link of it). cands must be sorted by
// name.
func ChooseDir(abs string, cands []Candidate) []Entry {
	type dlib struct {
		name, soname string
		flags        int32
		isLink       bool
	}
	var libs []*dlib
	for _, c := range cands {
		if !c.Info.OK {
			continue
		}
		base, isLink := c.Name, c.IsLink
		soname := c.Info.Soname
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
			if (!isLink && found.isLink) || (isLink == found.isLink && Compare(found.name, base) < 0) {
				found.name, found.isLink = base, isLink
			}
			continue
		}
		libs = append(libs, &dlib{name: base, soname: soname, flags: c.Info.Flags, isLink: isLink})
	}
	var out []Entry
	for _, l := range libs {
		out = append(out, Entry{Flags: l.flags, Key: l.soname, Path: abs + "/" + l.soname})
	}
	return out
}
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
