package maint

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// pam-auth-update (libpam-runtime, a perl program) as it runs from
// libpam-runtime's postinst: the profiles of /usr/share/pam-configs, the
// choice through debconf (libpam-runtime/profiles, in the calling script's
// frontend run), local changes of /etc/pam.d/common-* recognised against
// /var/lib/pam's saved blocks and merged, the files regenerated from their
// template, /var/lib/pam/seen and the saved blocks written. Checked against
// the real program on a --root tree.

const (
	pamTemplate         = "libpam-runtime/profiles"
	pamErrTemplate      = "libpam-runtime/conflicts"
	pamOverrideTemplate = "libpam-runtime/override"
	pamBlankTemplate    = "libpam-runtime/no_profiles_chosen"
	pamTitleTemplate    = "libpam-runtime/title"
)

var pamTypes = []string{"auth", "account", "password", "session", "session-noninteractive"}

// pamTemplateMD5 are the md5sums of the pristine templates' fixed parts
// the program knows: a file whose fixed parts match is regenerated from
// /usr/share/pam's template.
var pamTemplateMD5 = map[string][]string{
	"auth":                   {"8d4fe17e66ba25de16a117035d1396aa"},
	"account":                {"3c0c362eaf3421848b679d63fd48c3fa"},
	"password":               {"4d5c92d595a46b69cd61f18feb4c0574", "50fce2113dfda83ac8bdd5a6e706caec", "4bd7610f2e85f8ddaef79c7db7cb49eb", "9ba753d0824276b44bcadfee1f87b6bc"},
	"session":                {"f297c731a467822cbd86e1283263e8a3", "240fb92986c885b327cdb21dd641da8c", "4a25673e8b36f1805219027d3be02cd2", "9e633425b1878897695217ecaf75e204"},
	"session-noninteractive": {"ad2b78ce1498dd637ef36469430b6ac6", "53c1ede0bf4c07879d3582d875917545"},
}

type pamProfile struct {
	f         map[string]string
	has       map[string]bool
	conflicts map[string]bool
	disabled  bool
}

func (p *pamProfile) get(k string) (string, bool) { v, ok := p.f[k]; return v, ok && p.has[k] }

var pamField = regexp.MustCompile(`^(\S+):\s+(.*?)\s*$`)

func parsePamProfile(b []byte) *pamProfile {
	p := &pamProfile{f: map[string]string{}, has: map[string]bool{}, conflicts: map[string]bool{}}
	field := ""
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line == "" {
			continue
		}
		if m := pamField.FindStringSubmatch(line); m != nil {
			field = strings.TrimSuffix(m[1], "-Final")
			if field == "Conflicts" {
				for _, e := range strings.Split(m[2], ", ") {
					p.conflicts[e] = true
				}
			} else {
				p.f[field], p.has[field] = m[2], true
			}
			continue
		}
		l := strings.TrimSpace(strings.TrimSuffix(line, "\n"))
		if l != "" {
			p.f[field] += "\n" + l
			p.has[field] = true
		}
		if strings.Contains(p.f[field], "pam_tally") {
			p.disabled = true
		}
		p.f[field] = strings.TrimLeft(p.f[field], "\n \t")
	}
	if v, ok := p.get("Session-Interactive-Only"); !ok || v != "yes" {
		for _, s := range []string{"-Type", "", "-Initial"} {
			if v, ok := p.get("Session" + s); ok {
				p.f["Session-noninteractive"+s], p.has["Session-noninteractive"+s] = v, true
			} else {
				delete(p.has, "Session-noninteractive"+s)
			}
		}
	}
	return p
}

type pamDiff struct {
	mods   []string
	add    map[string]map[string]map[string]bool // type -> module -> option
	remove map[string]map[string]map[string]bool
}

var (
	pamBracketNum = regexp.MustCompile(`(\[[^0-9]*)[0-9]+(.*\])`)
	pamBracketEnd = regexp.MustCompile(`(\[.*)end(.*\])`)
	pamModLine    = regexp.MustCompile(`^((\[[^]]+\]|\w+)\s+\S+)\s*(.*)`)
)

// pamSubstAll applies a perl s///g whose pattern may match again after a
// replacement, as the loop of the real regex engine does.
func pamSubstAll(re *regexp.Regexp, s, repl string) string { return re.ReplaceAllString(s, repl) }

// diffProfiles is the program's diff_profiles: nil when the current files
// cannot be explained by the saved blocks (locally modified beyond options).
func diffProfiles(c *Call, confdir, savedir string) *pamDiff {
	d := &pamDiff{add: map[string]map[string]map[string]bool{}, remove: map[string]map[string]map[string]bool{}}
	for _, typ := range pamTypes {
		sb, err := readImageFileOpt(c.FS, savedir+"/"+typ)
		if err != nil || sb == nil {
			return nil
		}
		type saved struct{ mod, line string }
		var sv []saved
		mod := ""
		for _, l := range splitLines(sb) {
			if strings.HasPrefix(l, "Module: ") {
				mod = l[len("Module: "):]
				continue
			}
			l = pamSubstAll(pamBracketNum, l, "${1}${2}")
			l = pamSubstAll(pamBracketEnd, l, "${1}${2}")
			sv = append(sv, saved{mod, l})
		}
		cb, err := readImageFileOpt(c.FS, confdir+"/common-"+typ)
		if err != nil || cb == nil {
			return nil
		}
		realtype := strings.TrimSuffix(typ, "-noninteractive")
		prefix := regexp.MustCompile(`^` + regexp.QuoteMeta(realtype) + `\s+`)
		state := 0
		for _, line := range splitLines(cb) {
			if state == 0 {
				if strings.HasPrefix(line, `# here are the per-package modules (the "Primary" block)`) {
					state = 1
				}
				continue
			}
			if state == 1 {
				line = prefix.ReplaceAllString(line, "")
				if strings.HasPrefix(line, "# here's the fallback if no module succeeds") {
					state = 2
					continue
				}
			}
			if state == 2 {
				if strings.HasPrefix(line, `# and here are more per-package modules (the "Additional" block)`) {
					state = 3
				}
				continue
			}
			if state == 3 {
				if strings.HasPrefix(line, "# end of pam-auth-update config") {
					break
				}
				line = prefix.ReplaceAllString(line, "")
			}
			found := false
			var prev []string
			cur, curopts := "", ""
			for !found && len(sv) > 0 {
				s := sv[0]
				sv = sv[1:]
				m := pamModLine.FindStringSubmatch(s.line)
				if m == nil {
					continue
				}
				prev = strings.Fields(m[3])
				cur = m[1]
				line = pamSubstAll(pamBracketNum, line, "${1}${2}")
				if mm := regexp.MustCompile(`^` + regexp.QuoteMeta(cur) + `\s*(.*)$`).FindStringSubmatch(line); mm != nil {
					found = true
					curopts = mm[1]
					d.mods = append(d.mods, s.mod)
				}
			}
			if !found {
				return nil
			}
			for _, opt := range strings.Fields(curopts) {
				hit := false
				for i := 0; i < len(prev); i++ {
					if prev[i] == opt {
						hit = true
						prev = append(prev[:i], prev[i+1:]...)
					}
				}
				if !hit {
					pamSet(d.add, typ, cur, opt)
				}
			}
			for _, opt := range prev {
				pamSet(d.remove, typ, cur, opt)
			}
		}
		if state < 3 {
			return nil
		}
	}
	return d
}

func pamSet(m map[string]map[string]map[string]bool, typ, mod, opt string) {
	if m[typ] == nil {
		m[typ] = map[string]map[string]bool{}
	}
	if m[typ][mod] == nil {
		m[typ][mod] = map[string]bool{}
	}
	m[typ][mod][opt] = true
}

func pamLines(p *pamProfile, uctype string, modpos int) string {
	if modpos == 0 {
		if v, ok := p.get(uctype + "-Initial"); ok && v != "" {
			return v
		}
	}
	v, _ := p.get(uctype)
	return v
}

func mergeOneLine(line string, d *pamDiff, typ string, count int) string {
	m := pamModLine.FindStringSubmatch(line)
	if m == nil {
		return line + "\n"
	}
	opts := strings.Fields(m[3])
	modline := strings.ReplaceAll(m[1], "end", strconv.Itoa(count))
	var adds, removes map[string]bool
	if d != nil {
		mod := pamSubstAll(pamBracketNum, modline, "${1}${2}")
		adds, removes = map[string]bool{}, map[string]bool{}
		for k := range d.add[typ][mod] {
			adds[k] = true
		}
		for k := range d.remove[typ][mod] {
			removes[k] = true
		}
	}
	var kept []string
	for _, o := range opts {
		delete(adds, o)
		if removes[o] {
			continue
		}
		kept = append(kept, o)
	}
	var extra []string
	for k := range adds {
		extra = append(extra, k)
	}
	sort.Strings(extra)
	return modline + " " + strings.Join(append(kept, extra...), " ") + "\n"
}

// templateMD5 is the md5sum of a file's fixed parts (the blocks removed).
func pamTemplateMD5Of(b []byte) string {
	var out strings.Builder
	state := 0
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if l == "" {
			continue
		}
		switch state {
		case 1:
			if strings.HasPrefix(l, "# here's the fallback if no module succeeds") {
				out.WriteString(l)
				state++
			}
			continue
		case 3:
			if strings.HasPrefix(l, "# end of pam-auth-update config") {
				out.WriteString(l)
				state++
			}
			continue
		}
		out.WriteString(l)
		if state == 0 && strings.HasPrefix(l, `# here are the per-package modules (the "Primary" block)`) ||
			state == 2 && strings.HasPrefix(l, `# and here are more per-package modules (the "Additional" block)`) {
			state++
		}
	}
	return md5Hex([]byte(out.String()))
}

func createFromTemplate(tmpl []byte, profiles map[string]*pamProfile, enabled []string, d *pamDiff, typ string) ([]byte, bool) {
	uctype := strings.ToUpper(typ[:1]) + typ[1:]
	short := strings.TrimSuffix(typ, "-noninteractive")
	var out strings.Builder
	state := 0
	for _, l := range strings.SplitAfter(string(tmpl), "\n") {
		if l == "" {
			continue
		}
		if state == 1 {
			if strings.HasPrefix(l, "# here's the fallback if no module succeeds") {
				out.WriteString(l)
				state++
			}
			continue
		}
		if state == 3 {
			if strings.HasPrefix(l, "# end of pam-auth-update config") {
				out.WriteString(l)
				state++
			}
			continue
		}
		out.WriteString(l)
		val := ""
		switch {
		case state == 0 && strings.HasPrefix(l, `# here are the per-package modules (the "Primary" block)`):
			val = "Primary"
		case state == 2 && strings.HasPrefix(l, `# and here are more per-package modules (the "Additional" block)`):
			val = "Additional"
		default:
			continue
		}
		count, i := 0, 0
		for _, mod := range enabled {
			if t, ok := profiles[mod].get(uctype + "-Type"); !ok || t == "" || t != val {
				continue
			}
			for _, x := range strings.Split(pamLines(profiles[mod], uctype, i), "\n") {
				if x != "" {
					count++
				}
			}
			i++
		}
		if val == "Additional" {
			count--
		}
		if val == "Primary" && count == 0 {
			out.WriteString(short + "\t[default=1]\t\t\tpam_permit.so\n")
		}
		i = 0
		for _, mod := range enabled {
			if t, ok := profiles[mod].get(uctype + "-Type"); !ok || t == "" || t != val {
				continue
			}
			for _, line := range strings.Split(pamLines(profiles[mod], uctype, i), "\n") {
				out.WriteString(short + "\t" + mergeOneLine(line, d, typ, count))
				count--
			}
			i++
		}
		state++
	}
	return []byte(out.String()), state >= 4
}

func runPamAuthUpdate(c *Call) error {
	inputdir, confdir, savedir := "/usr/share/pam-configs", "/etc/pam.d", "/var/lib/pam"
	force, pkg := false, false
	removals, toDisable, toEnable := map[string]bool{}, map[string]bool{}, map[string]bool{}
	args := c.Args
	for len(args) > 0 {
		opt := args[0]
		args = args[1:]
		list := func(m map[string]bool) {
			for len(args) > 0 && !strings.HasPrefix(args[0], "--") {
				m[args[0]] = true
				args = args[1:]
			}
		}
		switch opt {
		case "--force":
			force = true
		case "--package":
			pkg = true
		case "--root":
			root := ""
			if len(args) > 0 {
				root, args = args[0], args[1:]
			}
			if root != "" && cleanAbs(root) != "/" {
				return Refuse("pam-auth-update --root", "another root than the image's is not supported")
			}
		case "--remove":
			list(removals)
			pkg = pkg || len(removals) > 0
		case "--disable":
			list(toDisable)
			pkg = pkg || len(toDisable) > 0
		case "--enable":
			list(toEnable)
			pkg = pkg || len(toEnable) > 0
		}
	}
	if !pkg && !force {
		return Refuse("pam-auth-update", "without --package it asks the administrator interactively")
	}
	ents, err := c.FS.ReadDir(inputdir)
	if err != nil {
		fmt.Fprintf(c.Stderr, "could not open config directory: %v\n", err)
		return ExitStatus(2)
	}
	profiles := map[string]*pamProfile{}
	for _, e := range ents {
		if strings.HasSuffix(e.Name, "~") || regexp.MustCompile(`^#.+#$`).MatchString(e.Name) {
			continue
		}
		b, err := readImageFile(c.FS, inputdir+"/"+e.Name)
		if err != nil {
			return err
		}
		if p := parsePamProfile(b); !p.disabled {
			profiles[e.Name] = p
		}
	}
	prio := func(n string) float64 {
		f, _ := strconv.ParseFloat(strings.TrimSpace(profiles[n].f["Priority"]), 64)
		return f
	}
	order := func(list []string) {
		sort.SliceStable(list, func(i, j int) bool {
			if pi, pj := prio(list[i]), prio(list[j]); pi != pj {
				return pi > pj
			}
			return list[i] > list[j]
		})
	}
	priority := "high"
	if pkg {
		priority = "medium"
	}
	if c.Env("DEBIAN_HAS_FRONTEND") == "" {
		return Refuse("pam-auth-update", "run outside a debconf frontend it starts its own; the form supported is libpam-runtime's postinst's")
	}
	db, err := debconfState(c)
	if err != nil {
		return err
	}
	cmd := func(format string, a ...any) (int, string) {
		code, text := db.command(fmt.Sprintf(format, a...))
		if code == dcEscaped {
			code, text = dcSuccess, debconfUnescape(text)
		}
		return code, text
	}
	cmd("VERSION 2.0")
	cmd("CAPB backup escape")
	cmd("X_LOADTEMPLATEFILE /var/lib/dpkg/info/libpam-runtime.templates libpam-runtime")
	var sorted []string
	for n := range profiles {
		if !removals[n] {
			sorted = append(sorted, n)
		}
	}
	order(sorted)
	names := make([]string, len(sorted))
	for i, n := range sorted {
		names[i] = profiles[n].f["Name"]
	}
	cmd("SUBST %s profile_names %s", pamTemplate, debconfEscape(strings.Join(sorted, ", ")))
	cmd("SUBST %s profiles %s", pamTemplate, debconfEscape(strings.Join(names, ", ")))
	d := diffProfiles(c, confdir, savedir)
	var enabled []string
	if d != nil {
		for _, m := range d.mods {
			if !removals[m] {
				enabled = append(enabled, m)
			}
		}
	} else {
		_, v := cmd("GET %s", pamTemplate)
		if v != "" {
			enabled = strings.Split(v, ", ")
		}
	}
	seen := map[string]bool{}
	if b, err := readImageFileOpt(c.FS, savedir+"/seen"); err != nil {
		return err
	} else {
		for _, l := range splitLines(b) {
			seen[l] = true
		}
	}
	var keep []string
	for _, e := range enabled {
		if profiles[e] != nil {
			keep = append(keep, e)
		}
	}
	enabled = keep
	for _, n := range sorted {
		if toEnable[n] {
			enabled = append(enabled, n)
		}
	}
	keep = nil
	for _, e := range enabled {
		if !toDisable[e] {
			keep = append(keep, e)
		}
	}
	enabled = keep
	for n := range toDisable {
		seen[n] = true
	}
	if len(enabled) == 0 {
		seen = map[string]bool{}
		if !force {
			priority = "high"
		}
	}
	for _, n := range sorted {
		if profiles[n].f["Default"] == "yes" && !seen[n] {
			enabled = append(enabled, n)
		}
	}
	order(enabled)
	var uniq []string
	for i, e := range enabled {
		if i == 0 || e != enabled[i-1] {
			uniq = append(uniq, e)
		}
	}
	enabled = uniq
	var newProfiles []string
	for _, n := range sorted {
		if !seen[n] {
			newProfiles = append(newProfiles, n)
		}
	}
	cmd("SETTITLE %s", pamTitleTemplate)
	if d == nil && !force {
		cmd("INPUT high %s", pamOverrideTemplate)
		cmd("GO")
		if _, v := cmd("GET %s", pamOverrideTemplate); v == "true" {
			force = true
		}
	}
	if d == nil && !force {
		fmt.Fprint(c.Stderr, "pam-auth-update: Local modifications to /etc/pam.d/common-*, not updating.\npam-auth-update: Run pam-auth-update --force to override.\n")
		return db.save()
	}
	for {
		var conflicts []string
		if len(newProfiles) > 0 || !pkg {
			cmd("FSET %s seen false", pamTemplate)
		}
		cmd("SET %s %s", pamTemplate, debconfEscape(strings.Join(enabled, ", ")))
		cmd("INPUT %s %s", priority, pamTemplate)
		cmd("GO")
		_, v := cmd("GET %s", pamTemplate)
		enabled = nil
		if v != "" {
			enabled = strings.Split(v, ", ")
		}
		for k := 0; k < len(enabled); k++ {
			elem := enabled[k]
			for i := len(enabled) - 1; i >= 0; i-- {
				cf := enabled[i]
				if profiles[elem] != nil && profiles[elem].conflicts[cf] {
					enabled = append(enabled[:i], enabled[i+1:]...)
					conflicts = append(conflicts, profiles[elem].f["Name"]+", "+profiles[cf].f["Name"])
				}
			}
		}
		if len(conflicts) > 0 {
			cmd("SUBST %s conflicts %s", pamErrTemplate, debconfEscape(strings.Join(conflicts, `\n`)))
			cmd("INPUT high %s", pamErrTemplate)
		}
		cmd("SET %s %s", pamTemplate, debconfEscape(strings.Join(enabled, ", ")))
		if len(enabled) == 0 {
			cmd("INPUT high %s", pamBlankTemplate)
			cmd("FSET %s seen false", pamTemplate)
		}
		if len(conflicts) == 0 && len(enabled) > 0 {
			break
		}
		if len(enabled) == 0 {
			return Refuse("pam-auth-update", "no profile enabled: the program asks again, which needs an answer")
		}
	}
	if err := writeImageFile(c.FS, savedir+"/seen", joinLines(sorted), 0o644); err != nil {
		return err
	}
	if err := writePamProfiles(c, cmd, profiles, enabled, confdir, savedir, d, force); err != nil {
		return err
	}
	return db.save()
}

func writePamProfiles(c *Call, cmd func(string, ...any) (int, string), profiles map[string]*pamProfile, enabled []string, confdir, savedir string, d *pamDiff, force bool) error {
	if err := mkdirAllImage(c.FS, savedir, 0o755); err != nil {
		return err
	}
	for _, typ := range pamTypes {
		target := confdir + "/common-" + typ
		tmplPath := target
		cur, err := readImageFileOpt(c.FS, target)
		if err != nil {
			return err
		}
		sum := pamTemplateMD5Of(cur)
		for _, m := range pamTemplateMD5[typ] {
			if sum == m {
				tmplPath = "/usr/share/pam/common-" + typ
			}
		}
		tmpl, _ := readImageFileOpt(c.FS, tmplPath)
		out, ok := createFromTemplate(tmpl, profiles, enabled, d, typ)
		if !ok {
			if !force {
				return nil
			}
			tmpl, _ = readImageFileOpt(c.FS, "/usr/share/pam/common-"+typ)
			if out, ok = createFromTemplate(tmpl, profiles, enabled, d, typ); !ok {
				return nil
			}
		}
		uctype := strings.ToUpper(typ[:1]) + typ[1:]
		var saved strings.Builder
		for _, kind := range []string{"Primary", "Additional"} {
			i := 0
			for _, mod := range enabled {
				t, ok := profiles[mod].get(uctype + "-Type")
				if !ok || t == "" {
					continue
				}
				if kind == "Primary" && t == "Additional" || kind == "Additional" && t == "Primary" {
					continue
				}
				if o := pamLines(profiles[mod], uctype, i); o != "" {
					saved.WriteString("Module: " + mod + "\n" + o + "\n")
				}
				i++
			}
			if kind == "Primary" && i == 0 {
				saved.WriteString("Module: null\n[default=1]\t\t\tpam_permit.so\n")
			}
		}
		if cur != nil && force {
			if err := writeImageFile(c.FS, target+".pam-old", cur, 0o644); err != nil {
				return err
			}
		}
		if err := writeImageFile(c.FS, target, out, 0o644); err != nil {
			return err
		}
		if err := writeImageFile(c.FS, savedir+"/"+typ, []byte(saved.String()), 0o644); err != nil {
			return err
		}
		effect(c, "wrote %s", target)
	}
	cmd("FSET %s seen false", pamOverrideTemplate)
	cmd("SET %s false", pamOverrideTemplate)
	return nil
}
