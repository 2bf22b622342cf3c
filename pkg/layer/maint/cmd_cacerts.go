package maint

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/pgassemble/pgassemble/pkg/layer/maint/cacerts"
)

// update-ca-certificates as ca-certificates' script does it, with `openssl
// rehash` computed by package cacerts: the .pem links of
// /etc/ca-certificates.conf and /usr/local/share/ca-certificates, the
// bundle, the subject-hash links, and the hooks of
// /etc/ca-certificates/update.d run (as the image's programs) with the
// added/removed list on their input.

func cacertsCommands() []Spec {
	return []Spec{{Name: "update-ca-certificates", Run: runUpdateCACertificates, Kind: Exact, Paths: []string{"/usr/sbin/update-ca-certificates"}}}
}

type caRun struct {
	c                                     *Call
	conf, certsDir, localDir, bundle, etc string
	hooks                                 string
	added, removed                        []string
	tempBundle                            bytes.Buffer
	haveTemp                              bool
}

func runUpdateCACertificates(c *Call) error {
	r := &caRun{c: c, conf: "/etc/ca-certificates.conf", certsDir: "/usr/share/ca-certificates",
		localDir: "/usr/local/share/ca-certificates", bundle: "ca-certificates.crt", etc: "/etc/ssl/certs",
		hooks: "/etc/ca-certificates/update.d"}
	verbose, fresh, def := false, false, false
	args := c.Args
	for i := 0; i < len(args); i++ {
		val := func() string {
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch args[i] {
		case "--verbose", "-v":
			verbose = true
		case "--fresh", "-f":
			fresh = true
		case "--default", "-d":
			def, fresh = true, true
		case "--certsconf":
			r.conf = c.Abs(val())
		case "--certsdir":
			r.certsDir = c.Abs(val())
		case "--localcertsdir":
			r.localDir = c.Abs(val())
		case "--certbundle":
			r.bundle = val()
		case "--etccertsdir":
			r.etc = c.Abs(val())
		case "--hooksdir":
			r.hooks = c.Abs(val())
		case "--sysroot":
			if cleanAbs(val()) != "/" {
				return Refuse("update-ca-certificates --sysroot", "another root than the image's is not supported")
			}
		default:
			fmt.Fprintln(c.Stdout, "/usr/sbin/update-ca-certificates: [--verbose] [--fresh]")
			return nil
		}
	}
	if i, err := c.FS.Stat(r.conf); err != nil || i.Size == 0 {
		fresh = true
	}
	if i, err := c.FS.Stat(r.etc); err != nil || !i.IsDir() {
		fmt.Fprintf(c.Stderr, "update-ca-certificates: cd: %s: No such file or directory\n", r.etc)
		return ExitStatus(2)
	}
	if fresh {
		fmt.Fprintf(c.Stdout, "Clearing symlinks in %s...\n", r.etc)
		if err := r.walkLinks(r.etc, func(p, target string) error {
			if strings.HasPrefix(target, r.certsDir) || strings.HasPrefix(target, r.localDir) {
				return c.FS.Remove(p)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := r.walkLinks(r.etc, func(p, _ string) error {
			if i, err := c.FS.Stat(p); err != nil || !i.Mode.IsRegular() {
				return c.FS.Remove(p)
			}
			return nil
		}); err != nil {
			return err
		}
		fmt.Fprintln(c.Stdout, "done.")
	}
	fmt.Fprintf(c.Stdout, "Updating certificates in %s...\n", r.etc)
	if def {
		for _, crt := range r.findCrts(r.certsDir) {
			if err := r.add(crt); err != nil {
				return err
			}
		}
	}
	confb, _ := readImageFileOpt(c.FS, r.conf)
	for _, l := range splitLines(confb) {
		if strings.HasPrefix(l, "!") {
			if err := r.remove(r.certsDir + "/" + strings.TrimSpace(l[1:])); err != nil {
				return err
			}
		}
	}
	for _, l := range splitLines(confb) {
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "!") {
			continue
		}
		crt := r.certsDir + "/" + strings.TrimSpace(l)
		if i, err := c.FS.Stat(crt); err != nil || !i.Mode.IsRegular() {
			fmt.Fprintf(c.Stderr, "W: %s not found, but listed in %s.\n", crt, r.conf)
			continue
		}
		if err := r.add(crt); err != nil {
			return err
		}
	}
	if i, err := c.FS.Stat(r.localDir); err == nil && i.IsDir() {
		for _, crt := range r.findCrts(r.localDir) {
			if err := r.add(crt); err != nil {
				return err
			}
		}
	}
	if len(r.added) > 0 || len(r.removed) > 0 {
		if err := r.walkLinks(r.etc, func(p, _ string) error {
			if _, err := c.FS.Stat(p); err != nil {
				if verbose {
					fmt.Fprintf(c.Stdout, "Removed orphan symlink %s\n", p)
				}
				return c.FS.Remove(p)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := r.rehash(); err != nil {
			return err
		}
	}
	if r.haveTemp {
		dst := r.etc + "/" + r.bundle
		if strings.HasPrefix(r.bundle, "/") {
			dst = r.bundle
		}
		if li, err := c.FS.Lstat(dst); err == nil && li.Mode&fs.ModeSymlink != 0 {
			if err := c.FS.Remove(dst); err != nil {
				return err
			}
		}
		if err := writeImageFile(c.FS, dst, r.tempBundle.Bytes(), 0o644); err != nil {
			return err
		}
		if err := c.FS.Chmod(dst, 0o644); err != nil {
			return err
		}
		effect(c, "wrote %s", dst)
	}
	fmt.Fprintf(c.Stdout, "%d added, %d removed; done.\n", len(r.added), len(r.removed))
	if i, err := c.FS.Stat(r.hooks); err == nil && i.IsDir() {
		fmt.Fprintf(c.Stdout, "Running hooks in %s...\n", r.hooks)
		list := strings.Join(append(append([]string{}, r.added...), r.removed...), "\n")
		if list != "" {
			list += "\n"
		}
		for _, hook := range runParts(c.FS, r.hooks) {
			if c.Exec == nil {
				return Refuse("update-ca-certificates", "cannot run the hook %s", hook)
			}
			if err := c.Exec([]string{hook}, strings.NewReader(list), c.Stdout, c.Stderr); err != nil {
				if _, ok := err.(ExitStatus); !ok {
					return err
				}
				fmt.Fprintf(c.Stdout, "E: %s exited with code %d.\n", hook, int(err.(ExitStatus)))
			}
		}
		fmt.Fprintln(c.Stdout, "done.")
	}
	return nil
}

// runPartsName is run-parts' default name rule (Debian: LSB and cron
// styles): letters, digits, underscores and hyphens.
var runPartsName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// runParts lists what `run-parts --test DIR` prints: executable regular
// files with valid names, in C order.
func runParts(fsys FS, dir string) []string {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if !runPartsName.MatchString(e.Name) {
			continue
		}
		i, err := fsys.Stat(dir + "/" + e.Name)
		if err != nil || !i.Mode.IsRegular() || i.Mode&0o111 == 0 {
			continue
		}
		out = append(out, dir+"/"+e.Name)
	}
	sort.Strings(out)
	return out
}

// walkLinks calls fn on every symlink under dir (find DIR -type l).
func (r *caRun) walkLinks(dir string, fn func(p, target string) error) error {
	ents, err := r.c.FS.ReadDir(dir)
	if err != nil {
		return nil //nolint:nilerr // find skips what it cannot read
	}
	for _, e := range ents {
		p := dir + "/" + e.Name
		li, err := r.c.FS.Lstat(p)
		if err != nil {
			continue
		}
		switch {
		case li.Mode&fs.ModeSymlink != 0:
			if err := fn(p, li.Target); err != nil {
				return err
			}
		case li.IsDir():
			if err := r.walkLinks(p, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// findCrts is `find -L DIR -type f -name '*.crt' | sort`.
func (r *caRun) findCrts(dir string) []string {
	var out []string
	var walk func(d string, depth int)
	walk = func(d string, depth int) {
		if depth > 40 {
			return
		}
		ents, err := r.c.FS.ReadDir(d)
		if err != nil {
			return
		}
		for _, e := range ents {
			p := d + "/" + e.Name
			i, err := r.c.FS.Stat(p)
			if err != nil {
				continue
			}
			if i.IsDir() {
				walk(p, depth+1)
			} else if i.Mode.IsRegular() && strings.HasSuffix(e.Name, ".crt") {
				out = append(out, p)
			}
		}
	}
	walk(dir, 0)
	sort.Strings(out)
	return out
}

func (r *caRun) add(crt string) error {
	pemPath := r.etc + "/" + cacerts.PEMName(crt)
	t, err := r.c.FS.Readlink(pemPath)
	if !existsImageFollow(r.c.FS, pemPath) || err != nil || t != crt {
		if existsImage(r.c.FS, pemPath) {
			if err := r.c.FS.Remove(pemPath); err != nil {
				return err
			}
		}
		if err := r.c.FS.Symlink(crt, pemPath); err != nil {
			return err
		}
		r.added = append(r.added, "+"+pemPath)
		effect(r.c, "%s -> %s", pemPath, crt)
	}
	b, err := readImageFile(r.c.FS, crt)
	if err != nil {
		return err
	}
	r.tempBundle.Write(b)
	if len(b) > 0 && b[len(b)-1] != '\n' {
		r.tempBundle.WriteByte('\n')
	}
	r.haveTemp = true
	return nil
}

// existsImageFollow is test -e: the path or its link target exists.
func existsImageFollow(fsys FS, p string) bool {
	_, err := fsys.Stat(p)
	return err == nil
}

func (r *caRun) remove(crt string) error {
	pemPath := r.etc + "/" + strings.TrimSuffix(path.Base(crt), ".crt") + ".pem"
	li, err := r.c.FS.Lstat(pemPath)
	if err != nil || li.Mode&fs.ModeSymlink == 0 {
		return nil
	}
	if err := r.c.FS.Remove(pemPath); err != nil {
		return err
	}
	r.removed = append(r.removed, "-"+pemPath)
	effect(r.c, "removed %s", pemPath)
	return nil
}

var hashLinkName = regexp.MustCompile(`^[0-9a-f]{8}\.r?[0-9]+$`)

// rehash is `openssl rehash` of the certificates directory: the hash
// links are recomputed for every .pem/.crt/.cer file holding exactly one
// certificate.
func (r *caRun) rehash() error {
	ents, err := r.c.FS.ReadDir(r.etc)
	if err != nil {
		return err
	}
	var certs []cacerts.Cert
	for _, e := range ents {
		p := r.etc + "/" + e.Name
		if hashLinkName.MatchString(e.Name) {
			if li, err := r.c.FS.Lstat(p); err == nil && li.Mode&fs.ModeSymlink != 0 {
				if err := r.c.FS.Remove(p); err != nil {
					return err
				}
			}
			continue
		}
		ext := path.Ext(e.Name)
		if ext != ".pem" && ext != ".crt" && ext != ".cer" && ext != ".crl" {
			continue
		}
		if i, err := r.c.FS.Stat(p); err != nil || !i.Mode.IsRegular() {
			continue
		}
		b, err := readImageFile(r.c.FS, p)
		if err != nil {
			return err
		}
		certs = append(certs, cacerts.Cert{PEMName: e.Name, Body: b})
	}
	links, err := cacerts.Rehash(certs)
	if err != nil {
		return fmt.Errorf("update-ca-certificates: rehash: %w", err)
	}
	linked := map[string]bool{}
	for _, l := range links {
		linked[l.Target] = true
	}
	for _, ct := range certs { // sorted by name, as openssl reads them
		if _, err := cacerts.SingleCertDER(ct.Body); err != nil {
			fmt.Fprintf(r.c.Stderr, "rehash: warning: skipping %s,it does not contain exactly one certificate or CRL\n", ct.PEMName)
		} else if !linked[ct.PEMName] {
			fmt.Fprintf(r.c.Stderr, "rehash: warning: skipping duplicate certificate in %s\n", ct.PEMName)
		}
	}
	for _, l := range links {
		p := r.etc + "/" + l.Name
		if existsImage(r.c.FS, p) {
			continue // a file of that name that is not a link is left, as openssl does
		}
		if err := r.c.FS.Symlink(l.Target, p); err != nil {
			return err
		}
	}
	effect(r.c, "rehashed %s (%d links)", r.etc, len(links))
	return nil
}
