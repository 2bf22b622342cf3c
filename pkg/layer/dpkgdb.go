package layer

import (
	"bytes"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/pgassemble/pgassemble/pkg/apt"
)

// statusFieldOrder is the order in which dpkg writes the fields it knows
// (lib/dpkg/parse.c fieldinfos); other fields follow in control-file order.
// Verified against dpkg 1.21 on a Debian host.
var statusFieldOrder = []string{
	"Package", "Essential", "Protected", "Status", "Priority", "Section",
	"Installed-Size", "Origin", "Maintainer", "Bugs", "Architecture",
	"Multi-Arch", "Source", "Version", "Config-Version", "Replaces",
	"Provides", "Depends", "Pre-Depends", "Recommends", "Suggests", "Breaks",
	"Conflicts", "Enhances", "Conffiles", "Description", "Triggers-Pending",
	"Triggers-Awaited",
}

// relationFields are re-formatted by dpkg ("a (>= 1), b | c").
var relationFields = map[string]bool{
	"replaces": true, "provides": true, "depends": true, "pre-depends": true,
	"recommends": true, "suggests": true, "breaks": true, "conflicts": true,
	"enhances": true,
}

// droppedFields are never in a status stanza: the per-file fields dpkg
// knows but writes only to the available file, and those it computes.
// Other unknown fields are kept, as dpkg does.
var droppedFields = map[string]bool{
	"status": true, "conffiles": true, "filename": true, "size": true,
	"md5sum": true, "msdos-filename": true, "revision": true,
	"config-version": true,
}

// Conffile is one entry of a status stanza's Conffiles field.
type Conffile struct {
	Path            string // absolute, as listed in the conffiles member
	MD5             string // hex md5 of the shipped content; "" if not shipped
	Obsolete        bool   // no longer shipped, kept by dpkg on upgrade
	RemoveOnUpgrade bool   // "remove-on-upgrade" flag of the conffiles member
}

// StatusStanza returns the var/lib/dpkg/status stanza dpkg writes for a
// package installed from a .deb with this control paragraph.
func StatusStanza(control apt.Paragraph, conffiles []Conffile) apt.Paragraph {
	known := map[string]int{}
	for i, n := range statusFieldOrder {
		known[strings.ToLower(n)] = i
	}
	slots := make([]*apt.Field, len(statusFieldOrder))
	var extra apt.Paragraph
	for _, f := range control {
		lname := strings.ToLower(f.Name)
		if droppedFields[lname] {
			continue
		}
		v := f.Value
		if relationFields[lname] {
			if rs, err := apt.ParseRelations(v); err == nil {
				v = rs.String()
			}
		}
		if lname == "essential" || lname == "protected" {
			if !strings.EqualFold(v, "yes") {
				continue // dpkg writes these booleans only when true
			}
			v = "yes"
		}
		if i, ok := known[lname]; ok {
			slots[i] = &apt.Field{Name: statusFieldOrder[i], Value: v}
			continue
		}
		extra = append(extra, apt.Field{Name: f.Name, Value: v})
	}
	slots[known["status"]] = &apt.Field{Name: "Status", Value: "install ok installed"}
	if len(conffiles) > 0 {
		var b strings.Builder
		for _, c := range conffiles {
			b.WriteString("\n ")
			b.WriteString(c.Path)
			b.WriteByte(' ')
			if c.MD5 == "" {
				b.WriteString("newconffile") // dpkg's hash for a conffile not on disk
			} else {
				b.WriteString(c.MD5)
			}
			if c.Obsolete {
				b.WriteString(" obsolete")
			}
			if c.RemoveOnUpgrade {
				b.WriteString(" remove-on-upgrade")
			}
		}
		slots[known["conffiles"]] = &apt.Field{Name: "Conffiles", Value: b.String()}
	}
	out := make(apt.Paragraph, 0, len(control)+2)
	for _, f := range slots {
		if f != nil {
			out = append(out, *f)
		}
	}
	return append(out, extra...)
}

// StatusFile renders a status file from stanzas, sorted as dpkg writes it
// (by package name, then architecture), each followed by a blank line.
func StatusFile(stanzas []apt.Paragraph) []byte {
	s := append([]apt.Paragraph(nil), stanzas...)
	sort.SliceStable(s, func(i, j int) bool {
		a, b := s[i].Get("Package"), s[j].Get("Package")
		if a != b {
			return a < b
		}
		return s[i].Get("Architecture") < s[j].Get("Architecture")
	})
	var buf bytes.Buffer
	for _, p := range s {
		p.WriteTo(&buf)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// listFile renders info/<pkg>.list: "/." then every path as shipped.
func listFile(paths []string) []byte {
	var b bytes.Buffer
	for _, p := range paths {
		b.WriteString(p)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func parseList(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// parseDpkgParagraphs parses deb822 stanzas the way dpkg does, so values
// are written back byte for byte: the first line of a value loses its
// leading blanks, the whole value its trailing whitespace, and nothing else
// changes (apt.ParseParagraphs also trims the first line's end, which
// would drop e.g. the trailing space some Description lines have).
func parseDpkgParagraphs(data []byte, fn func(apt.Paragraph) error) error {
	var cur apt.Paragraph
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		for i := range cur {
			cur[i].Value = strings.TrimRight(cur[i].Value, " \t\r\n")
		}
		p := cur
		cur = nil
		return fn(p)
	}
	for n, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			if err := flush(); err != nil {
				return err
			}
			continue
		}
		switch line[0] {
		case ' ', '\t':
			if len(cur) == 0 {
				return fmt.Errorf("line %d: continuation line outside a field", n+1)
			}
			cur[len(cur)-1].Value += "\n" + line
			continue
		case '#':
			if len(cur) == 0 {
				continue
			}
		}
		i := strings.IndexByte(line, ':')
		if i <= 0 {
			return fmt.Errorf("line %d: %q is not a field", n+1, line)
		}
		cur = append(cur, apt.Field{Name: line[:i], Value: strings.TrimLeft(line[i+1:], " \t")})
	}
	return flush()
}

const extendedStatesPath = "var/lib/apt/extended_states"

type autoMark struct{ name, arch string }

// markAuto records the stage's dependency packages for extended_states.
// A package the base already has keeps the base's mark, as apt does on
// upgrade.
func (b *Builder) markAuto(debs []Deb, infos []*ControlInfo) {
	for i, d := range debs {
		if !d.Auto {
			continue
		}
		p := infos[i].Paragraph
		name, arch := p.Get("Package"), p.Get("Architecture")
		if cur, ok := b.pkgs[installedKey(name, arch, p.Get("Multi-Arch"))]; ok && cur.fromBase {
			continue
		}
		if arch == "all" && b.opts.Arch != "" {
			arch = b.opts.Arch // apt records the native architecture for arch: all
		}
		b.auto = append(b.auto, autoMark{name, arch})
	}
}

// extendedStates returns var/lib/apt/extended_states: the base's stanzas
// (minus removed packages), then one stanza per auto-installed package in
// install order (apt writes its cache order; same set, other order). nil
// when there is nothing to write.
func (b *Builder) extendedStates() ([]byte, error) {
	data, err := fs.ReadFile(b.base.fsys, extendedStatesPath)
	if err != nil && !isNotExist(err) {
		return nil, fmt.Errorf("read base %s: %w", extendedStatesPath, err)
	}
	if data == nil && len(b.auto) == 0 {
		return nil, nil
	}
	var out bytes.Buffer
	have := map[string]bool{}
	err = parseDpkgParagraphs(data, func(p apt.Paragraph) error {
		k := p.Get("Package") + ":" + p.Get("Architecture")
		if b.removed[k] {
			return nil
		}
		have[k] = true
		p.WriteTo(&out)
		out.WriteByte('\n')
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("parse base %s: %w", extendedStatesPath, err)
	}
	for _, a := range b.auto {
		if have[a.name+":"+a.arch] {
			continue
		}
		have[a.name+":"+a.arch] = true
		fmt.Fprintf(&out, "Package: %s\nArchitecture: %s\nAuto-Installed: 1\n\n", a.name, a.arch)
	}
	return out.Bytes(), nil
}
