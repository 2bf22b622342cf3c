package replay

import (
	"archive/tar"
	"bytes"
	"fmt"
	"github.com/pgassemble/pgassemble/pkg/layer/maint/cacerts"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// caFiles replays ca-certificates' postinst on a fresh install:
// /etc/ca-certificates.conf (the script's header, then every certificate
// under /usr/share/ca-certificates, all enabled as debconf's default, sorted
// bytewise like `sort` in the C locale) and update-ca-certificates:
// one <name>.pem link per certificate, the `openssl rehash` subject-hash
// links, and ca-certificates.crt, the concatenation in configuration order.
func (p *Plan) caFiles(out files) error {
	const shareDir = "usr/share/ca-certificates/"
	var certs []string
	for name := range p.captured {
		if strings.HasPrefix(name, shareDir) && strings.HasSuffix(name, ".crt") {
			certs = append(certs, strings.TrimPrefix(name, shareDir))
		}
	}
	certs = append(certs, p.baseCerts(shareDir)...)
	sort.Strings(certs)
	certs = dedupSorted(certs)

	confPath := p.canonical("/etc/ca-certificates.conf")
	conf, ok := out[confPath]
	if !ok {
		// The base had a configuration: the postinst keeps its choices
		// and appends new certificates, enabled.
		b, err := fs.ReadFile(p.base, confPath)
		if err != nil {
			return fmt.Errorf("ca-certificates: no %s generated and none in the base", confPath)
		}
		conf = File{Path: confPath, Type: tar.TypeReg, Mode: 0o644, Data: b}
		listed := map[string]bool{}
		for _, l := range strings.Split(string(b), "\n") {
			listed[strings.TrimPrefix(l, "!")] = true
		}
		for _, c := range certs {
			if !listed[c] {
				conf.Data = append(conf.Data, c+"\n"...)
			}
		}
	} else {
		for _, c := range certs {
			conf.Data = append(conf.Data, c+"\n"...)
		}
	}
	out.add(conf)

	etcCerts := p.canonical("/etc/ssl/certs")
	var bundle bytes.Buffer
	var certs2 []cacerts.Cert
	for _, line := range strings.Split(string(conf.Data), "\n") {
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		body, ok := p.readFile(shareDir + line)
		if !ok {
			continue // "not found, but listed": skipped with a warning
		}
		pemName := cacerts.PEMName(line)
		out.add(File{Path: path.Join(etcCerts, pemName), Type: tar.TypeSymlink, Mode: 0o777,
			Linkname: "/usr/share/ca-certificates/" + line})
		bundle.Write(body)
		if len(body) > 0 && body[len(body)-1] != '\n' {
			bundle.WriteByte('\n')
		}
		certs2 = append(certs2, cacerts.Cert{PEMName: pemName, Body: body})
	}
	links, err := cacerts.Rehash(certs2)
	if err != nil {
		return fmt.Errorf("ca-certificates: %w", err)
	}
	for _, l := range links {
		out.add(File{Path: path.Join(etcCerts, l.Name), Type: tar.TypeSymlink, Mode: 0o777, Linkname: l.Target})
	}
	out.reg(path.Join(etcCerts, "ca-certificates.crt"), 0o644, 0, 0, bundle.Bytes())
	return nil
}

func dedupSorted(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// baseCerts lists certificates the base already has under dir.
func (p *Plan) baseCerts(dir string) []string {
	var out []string
	_ = fs.WalkDir(p.base, strings.TrimSuffix(dir, "/"), func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(name, ".crt") {
			out = append(out, strings.TrimPrefix(name, dir))
		}
		return nil
	})
	return out
}
