package maint

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
)

// debconf, answered as its noninteractive frontend does. The real
// /usr/share/debconf/confmodule re-executes the script under a perl
// frontend that talks the confmodule protocol on file descriptors; here the
// sourced confmodule is replaced by pgassemble's own shell text (a Shim)
// whose db_* functions call the Go command pgassemble-debconf, which keeps
// debconf's database in the image's own files (/var/cache/debconf/
// config.dat, passwords.dat, templates.dat, written in debconf's 822 format
// with the -old backups), loads the package's templates and runs its config
// script first, as the frontend does. Policy.Debconf answers questions as a
// preseed would: the value, marked seen, when the question is created.
//
// debconf marks the questions a GO showed as seen when the frontend exits;
// the shim does it at db_stop and from an EXIT trap (and, should a script
// replace that trap without calling db_stop, when the next script starts
// the frontend).

const debconfCmd = "pgassemble-debconf"

func debconfCommands() []Spec {
	return []Spec{
		{Name: debconfCmd, Run: runDebconfProtocol, Kind: Exact},
		{Name: "debconf-set-selections", Run: runDebconfSetSelections, Kind: Exact, Paths: []string{"/usr/bin/debconf-set-selections"}},
		{Name: "debconf-communicate", Run: runDebconfCommunicate, Kind: Exact, Paths: []string{"/usr/bin/debconf-communicate"}},
		{Name: "debconf-escape", Run: runDebconfEscape, Kind: Exact, Paths: []string{"/usr/bin/debconf-escape"}},
	}
}

func debconfShims() []Shim {
	return []Shim{{Path: "/usr/share/debconf/confmodule", Text: confmoduleShim,
		Reason: "debconf's confmodule re-executes the script under its perl frontend; the shim answers the same protocol from Go as the noninteractive frontend"}}
}

// confmoduleShim is the shell side of the protocol: one function per
// command, the reply "CODE TEXT" split into RET and the return status.
const confmoduleShim = `# pgassemble: debconf confmodule (noninteractive frontend, answered in Go)
if [ -z "${DEBIAN_HAS_FRONTEND:-}" ]; then
	DEBIAN_HAS_FRONTEND=1
	export DEBIAN_HAS_FRONTEND
	` + debconfCmd + ` --start "$@" || exit $?
	trap '` + debconfCmd + ` --finish' EXIT
fi
_db_cmd () {
	_pga_reply=$(` + debconfCmd + ` "$@")
	RET=${_pga_reply#[0-9] }
	return "${_pga_reply%% *}"
}
db_capb () { _db_cmd CAPB "$@"; }
db_set () { _db_cmd SET "$@"; }
db_reset () { _db_cmd RESET "$@"; }
db_title () { _db_cmd TITLE "$@"; }
db_input () { _db_cmd INPUT "$@"; }
db_beginblock () { _db_cmd BEGINBLOCK "$@"; }
db_endblock () { _db_cmd ENDBLOCK "$@"; }
db_go () { _db_cmd GO "$@"; }
db_get () { _db_cmd GET "$@"; }
db_register () { _db_cmd REGISTER "$@"; }
db_unregister () { _db_cmd UNREGISTER "$@"; }
db_subst () { _db_cmd SUBST "$@"; }
db_clear () { _db_cmd CLEAR "$@"; }
db_settitle () { _db_cmd SETTITLE "$@"; }
db_previous_module () { _db_cmd PREVIOUS_MODULE "$@"; }
db_fset () { _db_cmd FSET "$@"; }
db_fget () { _db_cmd FGET "$@"; }
db_purge () { _db_cmd PURGE "$@"; }
db_metaget () { _db_cmd METAGET "$@"; }
db_version () { _db_cmd VERSION "$@"; }
db_x_loadtemplatefile () { _db_cmd X_LOADTEMPLATEFILE "$@"; }
db_info () { _db_cmd INFO "$@"; }
db_progress () { _db_cmd PROGRESS "$@"; }
db_data () { _db_cmd DATA "$@"; }
db_visible () { _db_cmd VISIBLE "$@"; }
db_exist () { _db_cmd EXIST "$@"; }
db_stop () { ` + debconfCmd + ` STOP; }
`

// debconf's reply codes.
const (
	dcSuccess   = 0
	dcEscaped   = 1
	dcBadParams = 10
	dcSyntax    = 20
	dcInvisible = 30
	dcInternal  = 100
)

// dcItem is one record of a debconf database file.
type dcItem struct {
	owners map[string]bool
	fields map[string]string
	vars   map[string]string
	flags  map[string]string
}

func newDcItem() *dcItem {
	return &dcItem{owners: map[string]bool{}, fields: map[string]string{}, vars: map[string]string{}, flags: map[string]string{}}
}

// dcFile is one of debconf's File databases.
type dcFile struct {
	path   string
	mode   fs.FileMode
	backup bool
	items  map[string]*dcItem
	dirty  bool
}

func (f *dcFile) get(name string) *dcItem {
	if it, ok := f.items[name]; ok && it != nil {
		return it
	}
	return nil
}

// parseDcFile reads debconf's 822 format (Debconf::Format::822).
func parseDcFile(b []byte) map[string]*dcItem {
	items := map[string]*dcItem{}
	var it *dcItem
	name := ""
	inVars := false
	flush := func() {
		if it != nil && name != "" {
			items[name] = it
		}
		it, name, inVars = nil, "", false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" {
			flush()
			continue
		}
		if it == nil {
			it = newDcItem()
		}
		if inVars {
			if line[0] == ' ' || line[0] == '\t' {
				v := strings.TrimLeft(line, " \t")
				k, val, _ := strings.Cut(v, "=")
				k = strings.TrimRight(k, " \t")
				val = strings.TrimPrefix(val, " ")
				it.vars[k] = strings.ReplaceAll(val, `\n`, "\n")
				continue
			}
			inVars = false
		}
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimPrefix(v, " ")
		switch k = strings.ToLower(k); k {
		case "owners":
			for _, o := range splitCommaSpace(v) {
				it.owners[o] = true
			}
		case "flags":
			for _, o := range splitCommaSpace(v) {
				it.flags[o] = "true"
			}
		case "variables":
			inVars = true
		case "name":
			name = v
		case "":
		default:
			it.fields[k] = strings.ReplaceAll(v, `\n`, "\n")
		}
	}
	flush()
	return items
}

var commaSpace = regexp.MustCompile(`,\s+`)

func splitCommaSpace(s string) []string {
	if s == "" {
		return nil
	}
	return commaSpace.Split(s, -1)
}

func (f *dcFile) bytes() []byte {
	var b strings.Builder
	names := make([]string, 0, len(f.items))
	for n, it := range f.items {
		if it != nil {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	esc := func(s string) string { return strings.ReplaceAll(s, "\n", `\n`) }
	for _, n := range names {
		it := f.items[n]
		fmt.Fprintf(&b, "Name: %s\n", n)
		keys := make([]string, 0, len(it.fields))
		for k := range it.fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s: %s\n", strings.ToUpper(k[:1])+k[1:], esc(it.fields[k]))
		}
		if len(it.owners) > 0 {
			o := make([]string, 0, len(it.owners))
			for k := range it.owners {
				o = append(o, k)
			}
			sort.Strings(o)
			fmt.Fprintf(&b, "Owners: %s\n", strings.Join(o, ", "))
		}
		var fl []string
		for k, v := range it.flags {
			if v == "true" {
				fl = append(fl, k)
			}
		}
		if len(fl) > 0 {
			sort.Strings(fl)
			fmt.Fprintf(&b, "Flags: %s\n", strings.Join(fl, ", "))
		}
		if len(it.vars) > 0 {
			b.WriteString("Variables:\n")
			vk := make([]string, 0, len(it.vars))
			for k := range it.vars {
				vk = append(vk, k)
			}
			sort.Strings(vk)
			for _, k := range vk {
				fmt.Fprintf(&b, " %s = %s\n", k, esc(it.vars[k]))
			}
		}
		b.WriteString("\n")
	}
	return []byte(b.String())
}

// dcElement is a question INPUT since the last GO.
type dcElement struct {
	question string
	markseen bool
}

// debconfDB is one frontend run: the three databases and the protocol state.
type debconfDB struct {
	c                            *Call
	config, passwords, templates *dcFile
	owner                        string
	escape                       bool
	elements                     []dcElement
	seen                         []string // marked seen when the run finishes
}

// finish is the frontend's exit: the questions GO showed become seen.
func (db *debconfDB) finish() error {
	for _, q := range db.seen {
		if it, f := db.question(q); it != nil {
			it.flags["seen"] = "true"
			f.dirty = true
			db.mirror(q)
		}
	}
	db.seen = nil
	return db.save()
}

// openDebconf loads the databases from the image, creating missing files
// as debconf's File driver does (no backup on the run that creates them).
func openDebconf(c *Call) (*debconfDB, error) {
	db := &debconfDB{c: c,
		config:    &dcFile{path: "/var/cache/debconf/config.dat", mode: 0o644, backup: true},
		passwords: &dcFile{path: "/var/cache/debconf/passwords.dat", mode: 0o600},
		templates: &dcFile{path: "/var/cache/debconf/templates.dat", mode: 0o644, backup: true},
	}
	for _, f := range []*dcFile{db.config, db.passwords, db.templates} {
		b, err := readImageFileOpt(c.FS, f.path)
		if err != nil {
			return nil, err
		}
		if b == nil && !existsImage(c.FS, f.path) {
			f.backup = false
			if err := mkdirAllImage(c.FS, path.Dir(f.path), 0o755); err != nil {
				return nil, err
			}
			h, err := c.FS.OpenFile(f.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, f.mode)
			if err != nil {
				return nil, err
			}
			h.Close()
		}
		f.items = parseDcFile(b)
	}
	return db, nil
}

// save writes the databases that changed, the previous content as -old.
func (db *debconfDB) save() error {
	for _, f := range []*dcFile{db.config, db.passwords, db.templates} {
		if !f.dirty {
			continue
		}
		if f.backup {
			old, err := readImageFileOpt(db.c.FS, f.path)
			if err != nil {
				return err
			}
			if old != nil || existsImage(db.c.FS, f.path) {
				if err := writeImageFile(db.c.FS, f.path+"-old", old, f.mode); err != nil {
					return err
				}
			}
		}
		if err := writeImageFile(db.c.FS, f.path, f.bytes(), f.mode); err != nil {
			return err
		}
		f.dirty = false
	}
	return nil
}

// question finds a question (config stack: config, then passwords).
func (db *debconfDB) question(name string) (*dcItem, *dcFile) {
	if it := db.config.get(name); it != nil {
		return it, db.config
	}
	if it := db.passwords.get(name); it != nil {
		return it, db.passwords
	}
	return nil, nil
}

func (db *debconfDB) configFor(typ string) *dcFile {
	if typ == "password" {
		return db.passwords
	}
	return db.config
}

// addOwner is the database's addowner: the item is created when missing.
func addOwner(f *dcFile, item, owner string) *dcItem {
	it := f.get(item)
	if it == nil {
		it = newDcItem()
		f.items[item] = it
	}
	if !it.owners[owner] {
		it.owners[owner] = true
	}
	f.dirty = true
	return it
}

// removeOwner deletes the item when its last owner goes.
func removeOwner(f *dcFile, item, owner string) bool {
	it := f.get(item)
	if it == nil || !it.owners[owner] {
		return false
	}
	delete(it.owners, owner)
	if len(it.owners) == 0 {
		delete(f.items, item)
	}
	f.dirty = true
	return true
}

// newQuestion is Debconf::Question->new, with the build's preseed.
func (db *debconfDB) newQuestion(name, owner, typ string) *dcItem {
	f := db.configFor(typ)
	it := addOwner(f, name, owner)
	it.flags["seen"] = "false"
	if v, ok := db.c.Host.Policy().Debconf[name]; ok {
		it.fields["value"] = v
		it.flags["seen"] = "true"
	}
	return it
}

// setTemplate is Debconf::Question->template(t).
func (db *debconfDB) setTemplate(q string, it *dcItem, f *dcFile, tmpl string) {
	old, had := it.fields["template"]
	if had && old == tmpl {
		return
	}
	if had && old != "" {
		removeOwner(db.templates, old, q)
	}
	it.fields["template"] = tmpl
	f.dirty = true
	addOwner(db.templates, tmpl, q)
}

// removeQuestionOwner is Debconf::Question->removeowner.
func (db *debconfDB) removeQuestionOwner(q, owner string) {
	it, f := db.question(q)
	if it == nil {
		return
	}
	tmpl := it.fields["template"]
	if !removeOwner(f, q, owner) {
		return
	}
	if tmpl != "" && f.get(q) == nil {
		removeOwner(db.templates, tmpl, q)
	}
}

// templateField reads a template's field for a question (C locale: the
// untranslated field), with the question's own field first.
func (db *debconfDB) field(q, field string) (string, bool) {
	it, _ := db.question(q)
	if it == nil {
		return "", false
	}
	if v, ok := it.fields[field]; ok {
		return v, true
	}
	t := db.templates.get(it.fields["template"])
	if t == nil {
		return "", false
	}
	v, ok := t.fields[field]
	return v, ok
}

func (db *debconfDB) value(q string) (string, bool) {
	it, _ := db.question(q)
	if it == nil {
		return "", false
	}
	if v, ok := it.fields["value"]; ok {
		return v, true
	}
	t := db.templates.get(it.fields["template"])
	if t == nil {
		return "", false
	}
	v, ok := t.fields["default"]
	return v, ok
}

func (db *debconfDB) setValue(q, v string) {
	it, f := db.question(q)
	if it == nil {
		return
	}
	it.fields["value"] = v
	f.dirty = true
	db.mirror(q)
}

// expandVars substitutes ${var} with the question's variables (\${var}
// stays literal).
func (db *debconfDB) expandVars(q, text string) string {
	it, _ := db.question(q)
	re := regexp.MustCompile(`(\\)?\$\{([^{}]+)\}`)
	return re.ReplaceAllStringFunc(text, func(m string) string {
		sm := re.FindStringSubmatch(m)
		if sm[1] != "" {
			return "${" + sm[2] + "}"
		}
		if it != nil {
			return it.vars[sm[2]]
		}
		return ""
	})
}

// loadTemplates is Debconf::Template->load: stanzas, extended
// descriptions unwrapped as debconf does, a question per template.
func (db *debconfDB) loadTemplates(text []byte, owner string) error {
	chunks := regexp.MustCompile(`\n\n+`).Split(strings.Trim(string(text), "\n"), -1)
	fieldRe := regexp.MustCompile(`^([-_@.A-Za-z0-9]*):\s?(.*)$`)
	for n, chunk := range chunks {
		if strings.TrimSpace(chunk) == "" {
			continue
		}
		data := map[string]string{}
		field, value, ext := "", "", ""
		save := func() error {
			ext = strings.TrimRight(ext, "\n")
			if field == "" {
				return nil
			}
			if _, dup := data[field]; dup {
				return fmt.Errorf("template #%d has a duplicate field %q", n+1, field)
			}
			data[field] = value
			if ext != "" {
				data["extended_"+field] = ext
			}
			return nil
		}
		for _, line := range strings.Split(chunk, "\n") {
			switch m := fieldRe.FindStringSubmatch(line); {
			case m != nil:
				if err := save(); err != nil {
					return err
				}
				field, value, ext = strings.ToLower(m[1]), strings.TrimRight(m[2], " \t"), ""
			case line == " ." || line == "\t.":
				ext += "\n\n"
			case len(line) > 1 && (line[0] == ' ' || line[0] == '\t') && (line[1] == ' ' || line[1] == '\t'):
				bit := strings.TrimRight(line[1:], " \t")
				if ext != "" && !strings.HasSuffix(ext, "\n") && !strings.HasSuffix(ext, " ") {
					ext += "\n"
				}
				ext += bit + "\n"
			case len(line) > 0 && (line[0] == ' ' || line[0] == '\t'):
				bit := strings.TrimRight(line[1:], " \t")
				if ext != "" && !strings.HasSuffix(ext, "\n") && !strings.HasSuffix(ext, " ") {
					ext += " "
				}
				ext += bit
			default:
				return fmt.Errorf("template parse error near %q in stanza #%d", line, n+1)
			}
		}
		if err := save(); err != nil {
			return err
		}
		name := data["template"]
		if name == "" {
			return fmt.Errorf("template #%d does not contain a 'Template:' line", n+1)
		}
		typ := data["type"]
		db.newTemplate(name, owner, typ)
		t := db.templates.get(name)
		t.fields = map[string]string{}
		for k, v := range data {
			if k != "template" {
				t.fields[k] = v
			}
		}
		db.templates.dirty = true
		fields := map[string]string{}
		for k, v := range t.fields {
			fields[k] = v
		}
		db.mirror(name)
		db.c.Host.Debconf().Templates[name] = fields
	}
	return nil
}

// newTemplate is Debconf::Template->new.
func (db *debconfDB) newTemplate(name, owner, typ string) {
	if t := db.templates.get(name); t != nil && len(t.owners) > 0 {
		if it, _ := db.question(name); it != nil {
			addOwner(db.configFor(typ), name, owner)
		} else {
			q := db.newQuestion(name, owner, typ)
			db.setTemplate(name, q, db.configFor(typ), name)
		}
		return
	}
	if it, _ := db.question(name); it != nil {
		addOwner(db.configFor(typ), name, owner)
	} else {
		q := db.newQuestion(name, owner, typ)
		db.setTemplate(name, q, db.configFor(typ), name)
	}
	t := addOwner(db.templates, name, name)
	t.fields["type"] = typ
}

// mirror copies a question's state to the build's Debconf (for explain).
func (db *debconfDB) mirror(q string) {
	d := db.c.Host.Debconf()
	if d.Values == nil {
		d.Values = map[string]string{}
	}
	if d.Seen == nil {
		d.Seen = map[string]bool{}
	}
	if d.Owners == nil {
		d.Owners = map[string][]string{}
	}
	if d.Templates == nil {
		d.Templates = map[string]map[string]string{}
	}
	it, _ := db.question(q)
	if it == nil {
		delete(d.Values, q)
		delete(d.Seen, q)
		delete(d.Owners, q)
		return
	}
	if v, ok := db.value(q); ok {
		d.Values[q] = v
	}
	d.Seen[q] = it.flags["seen"] == "true"
	var o []string
	for k := range it.owners {
		o = append(o, k)
	}
	sort.Strings(o)
	d.Owners[q] = o
}

// debconfState is kept between the protocol commands of one build in the
// Host's Debconf (the frontend's process lifetime is the script's).
func debconfState(c *Call) (*debconfDB, error) {
	d := c.Host.Debconf()
	if d.run != nil && d.run.owner != "" {
		d.run.c = c
		return d.run, nil
	}
	db, err := openDebconf(c)
	if err != nil {
		return nil, err
	}
	db.owner = debconfOwner(c)
	d.run = db
	return db, nil
}

// debconfOwner is the package name the frontend derives: the info file
// stem (name:arch for Multi-Arch: same) for postinst/prerm/postrm, the
// bare name for preinst and config (from the control file).
func debconfOwner(c *Call) string {
	if p := c.Env("DEBCONF_PACKAGE"); p != "" {
		return p
	}
	name := c.Package
	switch c.Script {
	case "postinst", "prerm", "postrm":
		if p, ok := c.Host.Package(name); ok {
			return binaryPackage(p)
		}
	}
	return name
}

var dcPriorities = map[string]int{"low": 0, "medium": 1, "high": 2, "critical": 3}

func runDebconfProtocol(c *Call) error {
	if len(c.Args) > 0 && c.Args[0] == "--start" {
		return debconfStart(c)
	}
	if len(c.Args) > 0 && c.Args[0] == "--finish" {
		if d := c.Host.Debconf(); d.run != nil {
			d.run.c = c
			return d.run.finish()
		}
		return nil
	}
	db, err := debconfState(c)
	if err != nil {
		return err
	}
	line := strings.Join(c.Args, " ")
	code, text := db.command(line)
	if err := db.save(); err != nil {
		return err
	}
	if strings.EqualFold(strings.Fields(line + " x")[0], "STOP") {
		// STOP ends the conversation: nothing can change any more, so the
		// frontend's exit work (questions shown become seen) is done now,
		// also for scripts whose own EXIT trap replaces the shim's.
		return db.finish()
	}
	if code == dcEscaped {
		code, text = dcSuccess, debconfUnescape(text)
	} else {
		text, _, _ = strings.Cut(text, "\n") // the protocol is one line
	}
	fmt.Fprintf(c.Stdout, "%d %s", code, text)
	return nil
}

// debconfStart is the frontend's start: load the databases, the
// package's templates, and for postinst/preinst run its config script.
func debconfStart(c *Call) error {
	d := c.Host.Debconf()
	if d.run != nil && len(d.run.seen) > 0 {
		d.run.c = c
		if err := d.run.finish(); err != nil {
			return err
		}
	}
	db, err := openDebconf(c)
	if err != nil {
		return err
	}
	db.owner = debconfOwner(c)
	d.run = db
	info := "/var/lib/dpkg/info/" + db.owner
	if c.Script == "preinst" && existsImage(c.FS, "/var/lib/dpkg/tmp.ci") {
		info = "/var/lib/dpkg/tmp.ci/"
	} else {
		info += "."
	}
	switch c.Script {
	case "preinst", "postinst", "prerm", "postrm":
		if t, err := readImageFileOpt(c.FS, info+"templates"); err != nil {
			return err
		} else if t != nil {
			if err := db.loadTemplates(t, db.owner); err != nil {
				return fmt.Errorf("debconf: templates of %s: %w", db.owner, err)
			}
		}
	}
	if err := db.save(); err != nil {
		return err
	}
	if c.Script == "postinst" || c.Script == "preinst" {
		cfg := info + "config"
		if existsImage(c.FS, cfg) {
			version := ""
			if len(c.Args) > 2 {
				version = c.Args[2]
			}
			if c.Exec == nil {
				return Refuse("debconf config script", "the runner gave no way to run %s", cfg)
			}
			effect(c, "ran %s configure %s", cfg, version)
			if err := c.Exec([]string{cfg, "configure", version}, c.Stdin, c.Stderr, c.Stderr); err != nil {
				return err
			}
			d.run = db
			db.c = c
		}
	}
	return nil
}

// command runs one protocol line and returns debconf's reply.
func (db *debconfDB) command(line string) (int, string) {
	var words []string
	if db.escape {
		words = debconfUnescapeSplit(line)
	} else {
		words = strings.Fields(line)
	}
	if len(words) == 0 {
		return dcSyntax, "Empty command"
	}
	cmd, p := strings.ToLower(words[0]), words[1:]
	exists := func(q string) (*dcItem, *dcFile, bool) {
		it, f := db.question(q)
		return it, f, it != nil
	}
	switch cmd {
	case "version":
		if len(p) > 1 {
			return dcSyntax, "Incorrect number of arguments"
		}
		if len(p) == 1 {
			v := atoiOr(strings.SplitN(p[0], ".", 2)[0], 0)
			if v < 2 {
				return 30, "Version too low (" + p[0] + ")"
			}
			if v > 2 {
				return 30, "Version too high (" + p[0] + ")"
			}
		}
		return dcSuccess, "2.0"
	case "capb":
		db.escape = false
		for _, x := range p {
			if x == "escape" {
				db.escape = true
			}
		}
		return dcSuccess, "multiselect escape"
	case "title", "beginblock", "endblock", "info", "clear":
		if cmd == "clear" {
			db.elements = nil
		}
		return dcSuccess, ""
	case "settitle":
		if len(p) != 1 {
			return dcSyntax, "Incorrect number of arguments"
		}
		if _, _, ok := exists(p[0]); !ok {
			return dcBadParams, fmt.Sprintf("%q doesn't exist", p[0])
		}
		return dcSuccess, ""
	case "input":
		return db.input(p)
	case "go":
		if len(p) > 0 {
			return dcSyntax, "Incorrect number of arguments"
		}
		for _, e := range db.elements {
			db.showNoninteractive(e.question)
			if e.markseen {
				db.seen = append(db.seen, e.question)
			}
		}
		db.elements = nil
		return dcSuccess, "ok"
	case "get":
		if len(p) != 1 {
			return dcSyntax, "Incorrect number of arguments"
		}
		if _, _, ok := exists(p[0]); !ok {
			return dcBadParams, p[0] + " doesn't exist"
		}
		v, _ := db.value(p[0])
		if db.escape {
			return dcEscaped, debconfEscape(v)
		}
		return dcSuccess, v
	case "set":
		if len(p) < 1 {
			return dcSyntax, "Incorrect number of arguments"
		}
		if _, _, ok := exists(p[0]); !ok {
			return dcBadParams, p[0] + " doesn't exist"
		}
		db.setValue(p[0], strings.Join(p[1:], " "))
		effect(db.c, "debconf %s = %s", p[0], strings.Join(p[1:], " "))
		return dcSuccess, "value set"
	case "reset":
		if len(p) != 1 {
			return dcSyntax, "Incorrect number of arguments"
		}
		it, f, ok := exists(p[0])
		if !ok {
			return dcBadParams, p[0] + " doesn't exist"
		}
		def := ""
		if t := db.templates.get(it.fields["template"]); t != nil {
			def = t.fields["default"]
		}
		it.fields["value"] = def
		it.flags["seen"] = "false"
		f.dirty = true
		db.mirror(p[0])
		return dcSuccess, ""
	case "subst":
		if len(p) < 2 {
			return dcSyntax, "Incorrect number of arguments"
		}
		it, f, ok := exists(p[0])
		if !ok {
			return dcBadParams, p[0] + " doesn't exist"
		}
		it.vars[p[1]] = strings.Join(p[2:], " ")
		f.dirty = true
		return dcSuccess, ""
	case "register":
		if len(p) != 2 {
			return dcSyntax, "Incorrect number of arguments"
		}
		tq, _, ok := exists(p[0])
		if !ok {
			return dcBadParams, fmt.Sprintf("No such template, %q", p[0])
		}
		typ := ""
		if t := db.templates.get(tq.fields["template"]); t != nil {
			typ = t.fields["type"]
		}
		it, f := db.question(p[1])
		if it == nil {
			it = db.newQuestion(p[1], db.owner, typ)
			f = db.configFor(typ)
		} else {
			addOwner(f, p[1], db.owner)
		}
		db.setTemplate(p[1], it, f, p[0])
		db.mirror(p[1])
		return dcSuccess, ""
	case "unregister":
		if len(p) != 1 {
			return dcSyntax, "Incorrect number of arguments"
		}
		if _, _, ok := exists(p[0]); !ok {
			return dcBadParams, p[0] + " doesn't exist"
		}
		for _, e := range db.elements {
			if e.question == p[0] {
				return dcBadParams, p[0] + " is busy, cannot unregister right now"
			}
		}
		db.removeQuestionOwner(p[0], db.owner)
		db.mirror(p[0])
		return dcSuccess, ""
	case "purge":
		if len(p) > 0 {
			return dcSyntax, "Incorrect number of arguments"
		}
		var names []string
		for _, f := range []*dcFile{db.config, db.passwords} {
			for n := range f.items {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		for _, n := range names {
			db.removeQuestionOwner(n, db.owner)
			db.mirror(n)
		}
		return dcSuccess, ""
	case "metaget":
		if len(p) != 2 {
			return dcSyntax, "Incorrect number of arguments"
		}
		if _, _, ok := exists(p[0]); !ok {
			return dcBadParams, p[0] + " doesn't exist"
		}
		f := strings.ToLower(p[1])
		var v string
		var ok bool
		switch f {
		case "value":
			v, ok = db.value(p[0])
		case "owners":
			it, _ := db.question(p[0])
			var o []string
			for k := range it.owners {
				o = append(o, k)
			}
			sort.Strings(o)
			v, ok = strings.Join(o, ", "), true
		case "name":
			v, ok = p[0], true
		case "description", "extended_description", "choices":
			v, _ = db.field(p[0], f)
			v, ok = db.expandVars(p[0], v), true
		default:
			// debconf's field lookup: the question's own field, the
			// template's, then for "name-suffix" the plain field; an
			// unknown field of an existing template is empty, not an error.
			v, ok = db.field(p[0], f)
			if !ok && strings.Contains(f, "-") {
				v, ok = db.field(p[0], f[:strings.IndexByte(f, '-')])
			}
			if !ok {
				it, _ := db.question(p[0])
				ok = db.templates.get(it.fields["template"]) != nil
			}
			if ok && regexp.MustCompile(`^(description|extended_description|choices)-`).MatchString(f) {
				v = db.expandVars(p[0], v)
			}
		}
		if !ok {
			return dcBadParams, p[1] + " does not exist"
		}
		if db.escape {
			return dcEscaped, debconfEscape(v)
		}
		return dcSuccess, v
	case "fget":
		if len(p) != 2 {
			return dcSyntax, "Incorrect number of arguments"
		}
		it, _, ok := exists(p[0])
		if !ok {
			return dcBadParams, p[0] + " doesn't exist"
		}
		v := it.flags[p[1]]
		if v == "" {
			v = "false"
		}
		return dcSuccess, v
	case "fset":
		if len(p) < 3 {
			return dcSyntax, "Incorrect number of arguments"
		}
		it, f, ok := exists(p[0])
		if !ok {
			return dcBadParams, p[0] + " doesn't exist"
		}
		v := strings.Join(p[2:], " ")
		if p[1] == "seen" {
			kept := db.seen[:0]
			for _, q := range db.seen {
				if q != p[0] {
					kept = append(kept, q)
				}
			}
			db.seen = kept
		}
		it.flags[p[1]] = v
		f.dirty = true
		db.mirror(p[0])
		return dcSuccess, v
	case "visible":
		if len(p) != 2 {
			return dcSyntax, "Incorrect number of arguments"
		}
		if _, _, ok := exists(p[1]); !ok {
			return dcBadParams, p[1] + " doesn't exist"
		}
		return dcSuccess, "false"
	case "exist":
		if len(p) != 1 {
			return dcSyntax, "Incorrect number of arguments"
		}
		_, _, ok := exists(p[0])
		return dcSuccess, map[bool]string{true: "true", false: "false"}[ok]
	case "progress":
		if len(p) < 1 {
			return dcSyntax, "Incorrect number of arguments"
		}
		return dcSuccess, "OK"
	case "x_loadtemplatefile":
		if len(p) < 1 || len(p) > 2 {
			return dcSyntax, "Incorrect number of arguments"
		}
		b, err := readImageFile(db.c.FS, db.c.Abs(p[0]))
		if err != nil {
			return dcBadParams, fmt.Sprintf("failed to open %s: %v", p[0], err)
		}
		owner := db.owner
		if len(p) == 2 {
			owner = p[1]
		}
		if err := db.loadTemplates(b, owner); err != nil {
			return dcInternal, strings.ReplaceAll(err.Error(), "\n", `\n`)
		}
		return dcSuccess, ""
	case "data":
		if len(p) < 3 {
			return dcSyntax, "Incorrect number of arguments"
		}
		val := regexp.MustCompile(`\\([n"\\])`).ReplaceAllStringFunc(strings.Join(p[2:], " "), func(m string) string {
			if m == `\n` {
				return "\n"
			}
			return m[1:]
		})
		t := db.templates.get(p[0])
		if t == nil {
			if p[1] != "type" {
				return dcBadParams, fmt.Sprintf("Template data field '%s' received before type field", p[1])
			}
			db.newTemplate(p[0], db.owner, val)
			return dcSuccess, ""
		}
		if p[1] == "type" {
			return dcBadParams, "Template type already set"
		}
		t.fields[strings.ToLower(p[1])] = val
		db.templates.dirty = true
		return dcSuccess, ""
	case "stop":
		db.elements = nil
		return dcSuccess, ""
	case "previous_module", "x_save", "settitle_":
		return dcSuccess, ""
	}
	return dcSyntax, "Unsupported command \"" + cmd + "\" (full line was \"" + line + "\") received from confmodule."
}

// input is the noninteractive frontend's INPUT: nothing is ever shown;
// the question is remembered so that GO stores its value, and marked
// seen when DEBCONF_NONINTERACTIVE_SEEN is true.
func (db *debconfDB) input(p []string) (int, string) {
	if len(p) != 2 {
		return dcSyntax, "Incorrect number of arguments"
	}
	prio, q := p[0], p[1]
	it, _ := db.question(q)
	if it == nil {
		return dcBadParams, fmt.Sprintf("%q doesn't exist", q)
	}
	pv, ok := dcPriorities[prio]
	if !ok {
		return dcSyntax, fmt.Sprintf("%q is not a valid priority", prio)
	}
	typ, _ := db.field(q, "type")
	visible := true
	if typ != "error" {
		want := "high"
		if v := db.c.Env("DEBIAN_PRIORITY"); v != "" {
			if _, ok := dcPriorities[v]; ok {
				want = v
			}
		}
		if pv < dcPriorities[want] {
			visible = false
		}
		if it.flags["seen"] == "true" && db.c.Env("DEBCONF_RECONFIGURE") == "" {
			visible = false
		}
	}
	markseen := visible && db.c.Env("DEBCONF_NONINTERACTIVE_SEEN") == "true"
	switch typ {
	case "boolean", "error", "multiselect", "note", "password", "progress", "select", "string", "text":
	default:
		return dcInvisible, "question skipped"
	}
	for _, e := range db.elements {
		if e.question == q {
			return dcInvisible, "question skipped"
		}
	}
	db.elements = append(db.elements, dcElement{question: q, markseen: markseen})
	return dcInvisible, "question skipped"
}

// showNoninteractive is the value a noninteractive element gives its
// question at GO.
func (db *debconfDB) showNoninteractive(q string) {
	typ, _ := db.field(q, "type")
	v, _ := db.value(q)
	switch typ {
	case "error", "text":
		v = ""
	case "select":
		raw, ok := db.field(q, "choices-c") // the untranslated choices
		if !ok {
			raw, _ = db.field(q, "choices")
		}
		choices := splitChoices(db.expandVars(q, raw))
		in := false
		for _, c := range choices {
			in = in || c == v
		}
		if !in {
			v = ""
			if len(choices) > 0 {
				v = choices[0]
			}
		}
	case "progress":
		return
	}
	db.setValue(q, v)
}

// splitChoices is debconf's choices_split: ", " separates, "\, " escapes.
func splitChoices(s string) []string {
	var out []string
	item := ""
	re := regexp.MustCompile(`(\\[, ]|,\s+)`)
	last := 0
	for _, m := range re.FindAllStringIndex(s, -1) {
		item += s[last:m[0]]
		tok := s[m[0]:m[1]]
		if tok[0] == '\\' {
			item += tok[1:]
		} else {
			out = append(out, item)
			item = ""
		}
		last = m[1]
	}
	item += s[last:]
	if item != "" {
		out = append(out, item)
	}
	return out
}

func debconfEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "\n", `\n`)
}

func debconfUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			if s[i] == 'n' {
				b.WriteByte('\n')
			} else {
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// debconfUnescapeSplit splits a line sent with the escape capability.
func debconfUnescapeSplit(s string) []string {
	var out []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			if s[i] == 'n' {
				w.WriteByte('\n')
			} else {
				w.WriteByte(s[i])
			}
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				out = append(out, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		out = append(out, w.String())
	}
	return out
}

func runDebconfEscape(c *Call) error {
	in := bufio.NewReader(c.Stdin)
	b, err := readAllString(in)
	if err != nil {
		return err
	}
	if len(c.Args) > 0 && c.Args[0] == "-u" {
		fmt.Fprint(c.Stdout, debconfUnescape(b))
		return nil
	}
	fmt.Fprint(c.Stdout, debconfEscape(b))
	return nil
}

func readAllString(r *bufio.Reader) (string, error) {
	b, err := io.ReadAll(r)
	return string(b), err
}

// runDebconfSetSelections preseeds: "owner question type value" lines; the
// value is set and the question marked seen (unless --unseen), the
// question and its template created when missing, as the tool does.
func runDebconfSetSelections(c *Call) error {
	unseen := false
	var files []string
	for _, a := range c.Args {
		switch a {
		case "--unseen", "-u":
			unseen = true
		case "--verbose", "-v", "--checkonly", "-c":
			if a == "--checkonly" || a == "-c" {
				return nil
			}
		default:
			if strings.HasPrefix(a, "-") {
				return Refuse("debconf-set-selections "+a, "not a form maintainer scripts use")
			}
			files = append(files, a)
		}
	}
	text := ""
	if len(files) == 0 {
		s, err := readAllString(bufio.NewReader(c.Stdin))
		if err != nil {
			return err
		}
		text = s
	}
	for _, f := range files {
		b, err := readImageFile(c.FS, c.Abs(f))
		if err != nil {
			fmt.Fprintf(c.Stderr, "debconf-set-selections: %v\n", err)
			return ExitStatus(1)
		}
		text += string(b)
	}
	db, err := openDebconf(c)
	if err != nil {
		return err
	}
	re := regexp.MustCompile(`^\s*(\S+)\s+(\S+)\s+(\S+)(?:\s(.*))?$`)
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		m := re.FindStringSubmatch(line)
		if m == nil {
			fmt.Fprintf(c.Stderr, "warning: Unknown line: %s\n", line)
			continue
		}
		owner, q, typ, val := m[1], m[2], m[3], m[4]
		if typ == "seen" {
			if it, f := db.question(q); it != nil {
				it.flags["seen"] = val
				f.dirty = true
			}
			continue
		}
		if db.templates.get(q) == nil {
			t := addOwner(db.templates, q, q)
			t.fields["type"] = typ
		}
		it, f := db.question(q)
		if it == nil {
			it = db.newQuestion(q, owner, typ)
			f = db.configFor(typ)
			db.setTemplate(q, it, f, q)
		} else {
			addOwner(f, q, owner)
		}
		it.fields["value"] = val
		if !unseen {
			it.flags["seen"] = "true"
		}
		f.dirty = true
		db.mirror(q)
		effect(c, "debconf %s = %s", q, val)
	}
	return db.save()
}

// runDebconfCommunicate sends protocol commands from stdin, one reply
// line each, as owner (first argument, "unknown" by default).
func runDebconfCommunicate(c *Call) error {
	db, err := openDebconf(c)
	if err != nil {
		return err
	}
	db.owner = "unknown"
	for _, a := range c.Args {
		if !strings.HasPrefix(a, "-") {
			db.owner = a
		}
	}
	sc := bufio.NewScanner(c.Stdin)
	last := 0
	for sc.Scan() {
		code, text := db.command(sc.Text())
		if code != dcEscaped {
			text, _, _ = strings.Cut(text, "\n")
		}
		fmt.Fprintf(c.Stdout, "%d %s\n", code, text)
		last = code
	}
	if err := db.finish(); err != nil {
		return err
	}
	if last != 0 {
		return ExitStatus(uint8(last))
	}
	return nil
}
