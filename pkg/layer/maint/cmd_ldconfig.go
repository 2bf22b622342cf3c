package maint

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/pgassemble/pgassemble/pkg/layer/maint/ldso"
)

// ldconfig regenerates /etc/ld.so.cache as glibc's ldconfig does (package
// ldso writes the bytes): the directories of /etc/ld.so.conf (includes
// expanded in glob order) then /lib and /usr/lib, each scanned once (by
// its real path), per SONAME the file ldconfig prefers; missing SONAME
// links are created as ldconfig does without -X. A library whose bytes
// the base root did not keep is known from the existing cache.

func ldconfigCommands() []Spec {
	return []Spec{{Name: "ldconfig", Run: runLdconfig, Kind: Exact, Paths: []string{"/usr/sbin/ldconfig", "/sbin/ldconfig"}}}
}

type libInfoFS interface {
	LibInfo(name string) (ldso.LibInfo, bool)
}

// ldLibInfo asks the VFS (which knows unpacked libraries without keeping
// their bytes) or reads the file.
func ldLibInfo(fsys FS, name string) (ldso.LibInfo, bool) {
	if l, ok := fsys.(libInfoFS); ok {
		return l.LibInfo(name)
	}
	b, err := readImageFile(fsys, name)
	if err != nil {
		return ldso.LibInfo{}, false
	}
	return ldso.ReadLibInfo(bytes.NewReader(b)), true
}

// ldDirs lists ldconfig's directories in its order.
func ldDirs(fsys FS, conf string) []string {
	var dirs []string
	var parse func(name string, depth int)
	parse = func(name string, depth int) {
		if depth > 8 {
			return
		}
		b, err := readImageFileOpt(fsys, name)
		if err != nil || b == nil {
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
					if !strings.HasPrefix(pat, "/") {
						pat = path.Join(path.Dir(name), pat)
					}
					for _, m := range globImage(fsys, pat) {
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
	parse(conf, 0)
	return append(dirs, "/lib", "/usr/lib")
}

// globImage expands a pattern whose last element may hold wildcards.
func globImage(fsys FS, pattern string) []string {
	dir, base := path.Dir(pattern), path.Base(pattern)
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if ok, _ := path.Match(base, e.Name); ok {
			out = append(out, path.Join(dir, e.Name))
		}
	}
	sort.Strings(out)
	return out
}

func runLdconfig(c *Call) error {
	conf, cache := "/etc/ld.so.conf", "/etc/ld.so.cache"
	noCache, noLinks, print := false, false, false
	for i := 0; i < len(c.Args); i++ {
		switch a := c.Args[i]; a {
		case "-X":
			noLinks = true
		case "-N":
			noCache = true
		case "-p", "--print-cache":
			print = true
		case "-v", "--verbose", "-q":
		case "-f", "-C", "-r":
			if i+1 >= len(c.Args) {
				fmt.Fprintf(c.Stderr, "ldconfig: option requires an argument -- '%s'\n", a[1:])
				return ExitStatus(1)
			}
			i++
			switch a {
			case "-f":
				conf = c.Abs(c.Args[i])
			case "-C":
				cache = c.Abs(c.Args[i])
			case "-r":
				if cleanAbs(c.Args[i]) != "/" {
					return Refuse("ldconfig -r", "another root than the image's is not supported")
				}
			}
		default:
			if strings.HasPrefix(a, "-") {
				return Refuse("ldconfig "+a, "not a form maintainer scripts use")
			}
			return Refuse("ldconfig "+a, "ldconfig with explicit directories or libraries is not a form maintainer scripts use")
		}
	}
	var old *ldso.Cache
	if b, err := readImageFileOpt(c.FS, cache); err != nil {
		return err
	} else if b != nil {
		if old, err = ldso.Parse(b); err != nil {
			return Refuse("ldconfig", "the image's %s is not in the format ldconfig writes: %v", cache, err)
		}
	}
	if print {
		return ldPrint(c, cache, old)
	}
	seen := map[string]bool{}
	var entries []ldso.Entry
	for _, d := range ldDirs(c.FS, conf) {
		canon := resolveImageLink(c.FS, d)
		for p := path.Dir(canon); p != "/"; p = path.Dir(p) { // a symlinked parent (/lib -> usr/lib)
			if r := resolveImageLink(c.FS, p); r != p {
				canon = path.Join(r, strings.TrimPrefix(canon, p+"/"))
				break
			}
		}
		if seen[canon] {
			continue
		}
		if i, err := c.FS.Stat(d); err != nil || !i.IsDir() {
			continue
		}
		seen[canon] = true
		es, err := ldScanDir(c, d, old, noLinks)
		if err != nil {
			return err
		}
		entries = append(entries, es...)
	}
	if noCache {
		return nil
	}
	gen := "ldconfig (pgassemble)"
	big := false
	if old != nil {
		gen, big = old.Generator, old.BigEndian
	} else if c.Host.Arch() == "s390x" {
		big = true
	}
	data := ldso.Write(entries, gen, big)
	if old != nil {
		if b, _ := readImageFile(c.FS, cache); bytes.Equal(b, data) {
			return nil
		}
	}
	if err := writeImageFile(c.FS, cache, data, 0o644); err != nil {
		return err
	}
	effect(c, "wrote %s (%d entries)", cache, len(entries))
	return nil
}

// ldScanDir is one directory's entries; libraries of unknown content keep
// what the existing cache says of the directory.
func ldScanDir(c *Call, dir string, old *ldso.Cache, noLinks bool) ([]ldso.Entry, error) {
	ents, err := c.FS.ReadDir(dir)
	if err != nil {
		return nil, nil //nolint:nilerr // an unreadable directory is skipped, as ldconfig does
	}
	var cands []ldso.Candidate
	unknown := false
	for _, e := range ents {
		if !ldso.IsDSO(e.Name) {
			continue
		}
		p := dir + "/" + e.Name
		li, err := c.FS.Lstat(p)
		if err != nil {
			continue
		}
		isLink := li.Mode&fs.ModeSymlink != 0
		if !isLink && !li.Mode.IsRegular() {
			continue
		}
		info, ok := ldLibInfo(c.FS, p)
		if !ok {
			if isLink {
				if _, err := c.FS.Stat(p); err != nil {
					continue // dangling link
				}
			}
			unknown = true
			continue
		}
		cands = append(cands, ldso.Candidate{Name: e.Name, Info: info, IsLink: isLink})
	}
	chosen := ldso.ChooseDir(dir, cands)
	if !noLinks {
		for _, cand := range cands {
			if cand.IsLink || !cand.Info.OK || cand.Info.Soname == "" || cand.Info.Soname == cand.Name {
				continue
			}
			link := dir + "/" + cand.Info.Soname
			if existsImage(c.FS, link) {
				continue
			}
			if err := c.FS.Symlink(cand.Name, link); err != nil {
				return nil, err
			}
			effect(c, "%s -> %s", link, cand.Name)
		}
	}
	if !unknown || old == nil {
		return chosen, nil
	}
	have := map[string]bool{}
	for _, e := range chosen {
		have[e.Key] = true
	}
	for _, e := range old.Entries {
		if path.Dir(e.Path) == dir && !have[e.Key] && e.HWCap == 0 {
			chosen = append(chosen, e)
			have[e.Key] = true
		}
	}
	return chosen, nil
}

// ldPrint is ldconfig -p.
func ldPrint(c *Call, cache string, old *ldso.Cache) error {
	if old == nil {
		fmt.Fprintf(c.Stderr, "ldconfig: Can't open cache file %s\n: No such file or directory\n", cache)
		return ExitStatus(1)
	}
	fmt.Fprintf(c.Stdout, "%d libs found in cache `%s'\n", len(old.Entries), cache)
	for _, e := range old.Entries {
		fmt.Fprintf(c.Stdout, "\t%s (%s) => %s\n", e.Key, ldFlagName(e.Flags), e.Path)
	}
	return nil
}

func ldFlagName(f int32) string {
	abi := map[int32]string{0x0300: ",x86-64", 0x0400: ",64bit", 0x0500: ",64bit", 0x0800: ",x32", 0x0900: ",hard-float", 0x0a00: ",AArch64"}[f&0xff00]
	return "libc6" + abi
}
