package replay

// This file is the replay table: what the maintainer scripts of the packages
// that go into CloudNativePG's images (Debian bookworm and trixie) do that
// matters in an image, written as data. It was made by reading every
// preinst, postinst and triggers file of those packages and comparing with a
// real `apt-get install` in a chroot (the fidelity suite, test/fidelity).
//
// Each command of every script is classified in this order:
//  1. a function defined in the same script: no-op (its body's commands are
//     classified one by one);
//  2. the package's own rules (Effects.Rules), first match wins;
//  3. the generic rules below (genericRules), first match wins;
//  4. anything else is Unhandled.

// Effects is what one package's maintainer scripts do, as data.
type Effects struct {
	// Package is a package name, or a path.Match pattern such as
	// "postgresql-[0-9]*" for the packages of every major version.
	Package string
	// Not is a pattern excluded from Package ("postgresql-[0-9]*-*").
	Not string

	Groups  []Group  // addgroup --system
	Users   []User   // adduser --system
	Members []Member // adduser USER GROUP
	Dirs    []Dir    // mkdir/install -d/chown/chmod of directories
	// Alternatives are update-alternatives --install calls.
	Alternatives []Alternative
	Ucf          []UcfFile
	// Heredocs are files the script writes from a here-document
	// ("cat > /etc/hosts <<EOF"). The body is read from the package's own
	// script at build time, so the table holds no copy of it.
	Heredocs []HeredocFile
	Copies   []CopyFile // cp -p /usr/share/x /etc/x when missing
	Symlinks []Symlink
	// Diversions are dpkg-divert --add calls (recorded in
	// var/lib/dpkg/diversions; the renaming never applies on a fresh
	// install because the diverted file is not there yet).
	Diversions    []Diversion
	StatOverrides []StatOverride // dpkg-statoverride --add
	// Generators name effects computed by code, see generators.go.
	Generators []string

	// Rules classify this package's script commands.
	Rules []Rule
}

// Group is a system group created by addgroup --system.
type Group struct{ Name string }

// User is a system user created by adduser --system. With OwnGroup, a group
// of the same name is created first (--group).
type User struct {
	Name, Home, Shell, Gecos string
	OwnGroup                 bool
}

// Member adds User to the supplementary Group.
type Member struct{ User, Group string }

// Dir is a directory the scripts create or change. Owner and Group are
// names, resolved after accounts are allocated.
type Dir struct {
	Path         string // absolute, as the script writes it
	Mode         int64
	Owner, Group string
}

// Alternative is one update-alternatives --install call.
type Alternative struct {
	Link, Name, Path string
	Priority         int
	Slaves           []Slave
}

// Slave is one --slave link of an alternative.
type Slave struct{ Link, Name, Path string }

// UcfFile is a configuration file installed with ucf from a template the
// package ships. Sed lists the script's own sed substitutions on the
// template with their debconf default already applied (Pattern -> Replace,
// Go regexp per line).
type UcfFile struct {
	Source, Dest string
	Sed          []Edit
}

// HeredocFile: the script writes Path from the here-document of the
// command whose "> target" is Target (as written in the script).
type HeredocFile struct {
	Script, Target, Path string
	Mode                 int64
}

// CopyFile: cp -p Source Dest (done only when Dest is missing).
type CopyFile struct{ Source, Dest string }

// Symlink is a link the script makes.
type Symlink struct{ Path, Target string }

// Diversion is one dpkg-divert --add.
type Diversion struct{ From, To, Package string }

// StatOverride is one dpkg-statoverride --add.
type StatOverride struct {
	Owner, Group string
	Mode         int64
	Path         string
}

// Rule classifies commands named Cmd (the base name, "*" for any) whose
// joined arguments match Args (a Go regexp; "" matches anything).
type Rule struct {
	Cmd     string
	Args    string
	Verdict Verdict
	Reason  string
	// Writes, when set, limits the rule to commands whose output is
	// redirected to a file matching this regexp.
	Writes string
}

func handled(cmd, args, reason string) Rule {
	return Rule{Cmd: cmd, Args: args, Verdict: Handled, Reason: reason}
}
func noop(cmd, args, reason string) Rule {
	return Rule{Cmd: cmd, Args: args, Verdict: NoOp, Reason: reason}
}
func unhandled(cmd, args, reason string) Rule {
	return Rule{Cmd: cmd, Args: args, Verdict: Unhandled, Reason: reason}
}

// writes is a handled rule for a command writing to a file.
func writes(cmd, target, reason string) Rule {
	return Rule{Cmd: cmd, Verdict: Handled, Reason: reason, Writes: target}
}

const (
	whyUpgrade   = "acts only on upgrades or reinstalls; a fresh install has nothing to migrate"
	whyDebconf   = "debconf is non-interactive in an image; the defaults it would answer are what the table replays"
	whySystemd   = "no init system runs in a container image; units are neither enabled nor started"
	whyShell     = "shell control flow or a command that changes no file"
	whyFilter    = "reads or filters text; writes nothing but its output"
	whySnakeoil  = "deliberately not replayed: a snakeoil private key in an image would be shared by every container"
	whyLdconfig  = "ld.so.cache is regenerated by code for the image's architecture"
	whyFunction  = "shell function defined in this script; its body's commands are classified one by one"
	whyManRemove = "removes an alternative or link group that a fresh install does not have"
)

// Table is the replay table. Entries are matched by exact name first, then
// by pattern in order.
var Table = []Effects{
	{
		Package: "postgresql-common",
		Users: []User{{Name: "postgres", Home: "/var/lib/postgresql", Shell: "/bin/bash",
			Gecos: "PostgreSQL administrator", OwnGroup: true}},
		Members: []Member{{"postgres", "ssl-cert"}}, // only if ssl-cert exists (fresh install)
		Dirs: []Dir{
			{"/var/lib/postgresql", 0o755, "postgres", "postgres"},
			{"/etc/postgresql", 0o755, "postgres", "postgres"},
			{"/var/log/postgresql", 0o1775, "root", "postgres"},
			{"/var/run/postgresql", 0o2775, "postgres", "postgres"},
			{"/var/cache/postgresql", 0o755, "root", "root"},       // pg_updatedicts
			{"/var/cache/postgresql/dicts", 0o755, "root", "root"}, // pg_updatedicts
		},
		Ucf: []UcfFile{{
			Source: "/usr/share/postgresql-common/createcluster.conf",
			Dest:   "/etc/postgresql-common/createcluster.conf",
			// postgresql-common/ssl defaults to true
			Sed: []Edit{{Pattern: `^ssl =.*`, Replace: "ssl = on"}},
		}},
		Heredocs:   []HeredocFile{{Script: "postinst", Target: "$SSL_ROOT", Path: "/etc/postgresql-common/root.crt", Mode: 0o644}},
		Diversions: []Diversion{{"/usr/bin/pg_config", "/usr/bin/pg_config.libpq-dev", "postgresql-common"}},
		Generators: []string{genPgAptConfig},
		Rules: []Rule{
			handled("adduser", `--system`, "system user postgres (home /var/lib/postgresql, shell /bin/bash) and its group"),
			handled("addgroup", `--system .*postgres`, "group postgres, created with the user"),
			handled("adduser", `postgres postgres$`, "postgres is in its own group already"),
			handled("adduser", `postgres ssl-cert$`, "postgres added to group ssl-cert"),
			handled("mkdir", `^-p /var/(lib|log)/postgresql$`, "directory in the table"),
			handled("chown", `/(var/lib|etc|var/log)/postgresql$`, "owner in the table"),
			handled("chmod", `^1775 /var/log/postgresql$`, "mode in the table"),
			handled("install", `/var/run/postgresql$`, "/var/run/postgresql 2775 postgres:postgres"),
			handled("cat", ``, "writes /etc/postgresql-common/root.crt from the script's here-document"),
			noop("su", `test -O /var/lib/postgresql`, "checks the owner of the home directory, which the table sets"),
			handled("ucf", `--debconf-ok`, "createcluster.conf from the template, ssl = on (debconf default), recorded in ucf's hashfile/registry/cache"),
			handled("ucfr", `^postgresql-common`, "ucf registry entry for createcluster.conf"),
			noop("ucf", `--purge`, whyUpgrade),
			noop("ucfr", `--purge`, whyUpgrade),
			handled("sed", `ssl =`, "part of the createcluster.conf generation"),
			noop("chmod", `\$CCTMP`, "temporary file"),
			noop("mktemp", ``, "temporary file, removed by the script"),
			noop("pg_checksystem", ``, "checks kernel settings and prints warnings; changes nothing"),
			handled("pg_updatedicts", ``, "creates /var/cache/postgresql/dicts; no hunspell/myspell dictionary is installed, so no link"),
			handled("pg_updateaptconfig", ``, "writes /etc/apt/apt.conf.d/02autoremove-postgresql (no cluster: empty list)"),
			handled("dpkg-divert", `--add /usr/bin/pg_config$`, "diversion recorded in var/lib/dpkg/diversions; libpq-dev's pg_config is not installed, nothing to rename"),
			noop("relink_postmaster_manpages", ``, "only when a postmaster.1.gz alternative exists (PostgreSQL <= 15 installed before)"),
			noop("chmod", `^\+x /etc/init.d/postgresql$`, whyUpgrade),
			noop(".", `maintscripts-functions$`, "loads helper functions for relink_postmaster_manpages, which acts only when a postmaster.1.gz alternative exists"),
			noop("systemd-tmpfiles", ``, "runs only when systemd-tmpfiles is installed, which the images do not have; /run/postgresql is created by the table anyway"),
			noop("rm", `01autoremove-postgresql`, "removes files of versions older than 229"),
			noop("supported-versions", ``, "prints the supported PostgreSQL versions (debconf config)"),
			noop("sh", `supported-versions$`, "prints the supported PostgreSQL versions (debconf config)"),
			noop("run-upgrade-scripts", ``, whyUpgrade),
			noop("ln", `\$pgdg_key \$trusted_key$`, "only for an old-style pgdg.list without signed-by in the base"),
		},
	},
	{
		// Server packages of every major version.
		Package: "postgresql-[0-9]*", Not: "postgresql-[0-9]*-*",
		Generators: []string{genPgManAlternatives},
		Rules: []Rule{
			handled("configure_version", ``, "psql.1.gz man-page alternatives of this major version; the main cluster is not created (create_main_cluster = false)"),
			noop("preinst_check_catversion", ``, whyUpgrade),
			noop(".", `maintscripts-functions$`, "loads postgresql-common's helper functions"),
		},
	},
	{
		Package:    "postgresql-client-[0-9]*",
		Generators: []string{genPgManAlternatives},
		Rules: []Rule{
			handled("configure_client_version", ``, "psql.1.gz man-page alternatives of this major version"),
			noop(".", `maintscripts-functions$`, "loads postgresql-common's helper functions"),
		},
	},
	{
		Package: "ssl-cert",
		Groups:  []Group{{"ssl-cert"}},
		// dpkg-statoverride --update applies the override at once.
		Dirs:          []Dir{{"/etc/ssl/private", 0o710, "root", "ssl-cert"}},
		StatOverrides: []StatOverride{{"root", "ssl-cert", 0o710, "/etc/ssl/private"}},
		Rules: []Rule{
			handled("addgroup", `--system .*ssl-cert$`, "system group ssl-cert"),
			handled("systemd-sysusers", `ssl-cert\.conf$`, "system group ssl-cert, allocated like systemd-sysusers: the highest free gid of the system range"),
			noop("make-ssl-cert", `generate-default-snakeoil`, whySnakeoil),
			handled("dpkg-statoverride", `--add root ssl-cert 710 /etc/ssl/private$`, "var/lib/dpkg/statoverride and /etc/ssl/private 0710 root:ssl-cert"),
		},
	},
	{
		Package:    "ca-certificates",
		Dirs:       []Dir{{"/usr/local/share/ca-certificates", -1, "", ""}}, // mode and owner of /usr/local
		Heredocs:   []HeredocFile{{Script: "postinst", Target: "/etc/ca-certificates.conf", Path: "/etc/ca-certificates.conf", Mode: 0o644}},
		Generators: []string{genCACertificates},
		Rules: []Rule{
			handled("mkdir", `/usr/local/share/ca-certificates$`, "directory with the mode and group of /usr/local"),
			handled("chgrp", `/usr/local/share/ca-certificates$`, "directory with the mode and group of /usr/local"),
			handled("chmod", `/usr/local/share/ca-certificates$`, "directory with the mode and group of /usr/local"),
			handled("chown", `/usr/local/share/ca-certificates$`, "directory with the mode and group of /usr/local"),
			handled("cat", ``, "/etc/ca-certificates.conf: header from the script, then every certificate enabled (debconf default: all), sorted"),
			handled("update-ca-certificates", ``, "etc/ssl/certs: one link per certificate, OpenSSL subject-hash links, ca-certificates.crt"),
			handled("dpkg-trigger", `update-ca-certificates$`, "the triggered run rebuilds the same files; no hook is installed in etc/ca-certificates/update.d"),
			noop("mv", `ca-certificates.conf`, "only when /etc/ca-certificates.conf existed before"),
			noop("rm", `ca-certificates.conf.dpkg-new`, "only when /etc/ca-certificates.conf existed before"),
			noop("dpkg-statoverride", `--list`, whyFilter),
			writes("echo", `ca-certificates\.conf`, "part of the /etc/ca-certificates.conf generation"),
			// dh_usrlocal (newer versions): the same directory, 0755 root:root
			handled("mkdir", `^\$dir$`, "dh_usrlocal: /usr/local/share/ca-certificates, 0755 root:root"),
			handled("chown", `^\$user:\$group \$dir$`, "dh_usrlocal: /usr/local/share/ca-certificates, 0755 root:root"),
			handled("chmod", `^\$mode \$dir$`, "dh_usrlocal: /usr/local/share/ca-certificates, 0755 root:root"),
			writes("sed", `ca-certificates\.conf`, "part of the /etc/ca-certificates.conf generation"),
		},
	},
	{
		Package: "ucf",
		Rules: []Rule{
			handled("touch", `/var/lib/ucf/(hashfile|registry)$`, "ucf's state files are written with the ucf-managed files"),
			noop("cp", `hashfile`, "rotates an existing hashfile; a fresh install has none"),
			noop("seq", ``, whyFilter),
			noop("print", ``, "error message in an unreachable branch (unknown maintainer-script argument)"),
		},
	},
	{
		Package: "pinentry-curses",
		Alternatives: []Alternative{{Link: "/usr/bin/pinentry", Name: "pinentry", Path: "/usr/bin/pinentry-curses", Priority: 50,
			Slaves: []Slave{{"/usr/share/man/man1/pinentry.1.gz", "pinentry.1.gz", "/usr/share/man/man1/pinentry-curses.1.gz"}}}},
		Rules: []Rule{handled("update-alternatives", `--install /usr/bin/pinentry pinentry /usr/bin/pinentry-curses 50`, "alternative pinentry")},
	},
	{
		Package: "readline-common",
		Copies:  []CopyFile{{"/usr/share/readline/inputrc", "/etc/inputrc"}},
		Rules:   []Rule{handled("cp", `^-p \$1 \$2$`, "/etc/inputrc copied from /usr/share/readline/inputrc")},
	},
	{
		Package: "netbase",
		Heredocs: []HeredocFile{
			{Script: "postinst", Target: "/etc/hosts", Path: "/etc/hosts", Mode: 0o644},
			{Script: "postinst", Target: "/etc/networks", Path: "/etc/networks", Mode: 0o644},
		},
		Rules: []Rule{handled("cat", ``, "/etc/hosts and /etc/networks from the script's here-documents (when absent from the base)")},
	},
	{
		Package:    "locales",
		Heredocs:   []HeredocFile{{Script: "postinst", Target: "$LG", Path: "/etc/locale.gen", Mode: 0o644}},
		Symlinks:   []Symlink{{"/etc/default/locale", "../locale.conf"}},
		Generators: []string{genLocales},
		Rules: []Rule{
			handled("ln", `^-sfr \$EE \$LEGACY_EE$`, "/etc/default/locale -> ../locale.conf"),
			noop("mv", `\$LEGACY_EE \$EE`, "only when a legacy /etc/default/locale file exists"),
			noop("ln", `SUPPORTED \$LG$`, "only when debconf selects \"All locales\"; the default selects none"),
			noop("rm", `\$LG`, "only when debconf selects \"All locales\"; the default selects none"),
			handled("cat", ``, "/etc/locale.gen header from the script's here-document"),
			handled("sed", `-i`, "/etc/locale.gen lists every supported locale, commented out (none selected by default)"),
			writes("echo", `^\$LG$`, "/etc/locale.gen lists every supported locale, commented out"),
			noop("locale-gen", ``, "debconf selects no locale by default, so nothing is generated (and locales-all makes it skip)"),
			handled("update-locale", `--no-checks LANG$`, "/etc/locale.conf with only the header update-locale writes"),
			noop("update-locale", `LANG=`, "only when debconf sets a default locale; the default is None"),
		},
	},
	{
		Package: "locales-all",
		Rules:   []Rule{noop("rm", `/usr/lib/locale/locale-archive`, "removes a locale archive that the base does not have")},
	},
	{
		Package: "libc-bin",
		Rules:   []Rule{handled("ldconfig", ``, whyLdconfig)},
	},
	{
		Package:    "libreadline8t64",
		Generators: []string{genLoopDiversions},
		Rules: []Rule{handled("dpkg-divert", `--no-rename .*usr-is-merged`,
			"protective diversions of the /usr-merge transition (DEP17), recorded in var/lib/dpkg/diversions for the image's multiarch triplet")},
	},
	{
		Package: "openssl",
		Rules:   []Rule{noop("ln", `/etc/ssl /usr/lib/ssl$`, "the package ships /usr/lib/ssl already")},
	},
	{
		Package: "perl",
		Rules: []Rule{
			noop("update-alternatives", `--remove rename`, whyManRemove),
			noop("dpkg-trigger", `perl-major-upgrade`, whyUpgrade),
		},
	},
	{
		Package: "libgcrypt20",
		Rules:   []Rule{noop("clean-up-unmanaged-libraries", ``, whyUpgrade)},
	},
	{
		Package: "libgssapi-krb5-2",
		Rules:   []Rule{noop("cp", `/usr/etc/gss/mech`, whyUpgrade)},
	},
	{
		Package: "adduser",
		Rules: []Rule{
			noop("mv", `adduser.conf`, whyUpgrade),
			noop("sha512sum", ``, whyUpgrade),
		},
	},
	{
		Package: "procps",
		Rules: []Rule{
			noop("chmod", `^\+x /etc/init.d/procps$`, whyUpgrade),
			noop("sysctl", ``, "never in a chroot or container build"),
			// bookworm
			noop("mv", `CONFFILE`, "moves conffiles of versions before 1:3.2.7-3 (upgrade only)"),
			noop("update-alternatives", `^--install \$BINPATH/\$BINNAME `, "only for a <name>.procps binary, which the package does not ship"),
		},
	},
	{
		// Not in CloudNativePG's sets today; here because a server build
		// may pull it in. Debconf's default with no /etc/localtime: Etc/UTC.
		Package:    "tzdata",
		Generators: []string{genTzdata},
		Rules: []Rule{
			handled("ln", `localtime\.dpkg-new$`, "/etc/localtime -> /usr/share/zoneinfo/Etc/UTC unless the base has a /etc/localtime link"),
			handled("mv", `localtime\.dpkg-new`, "part of the /etc/localtime link"),
			writes("echo", `/etc/timezone$`, "rewrites an existing /etc/timezone with the same zone"),
			noop("restorecon", ``, "SELinux relabelling; images carry no SELinux labels"),
			noop("date", ``, whyFilter),
			noop("realpath", ``, whyFilter),
		},
	},
	{
		// Only ever an upgrade of the base's package.
		Package: "libpam0g",
		Rules: []Rule{
			noop("$idl", ``, "restarts services after a PAM upgrade; nothing runs in an image build"),
			noop("who", ``, whyFilter), noop("runlevel", ``, whyFilter),
		},
	},
	{
		Package: "passwd",
		Rules:   []Rule{noop("shadowconfig", `^on$`, "shadow passwords are on in every Debian base")},
	},
	{
		Package: "libpam-runtime",
		Rules:   []Rule{noop("pam-auth-update", ``, "part of the base image; only re-run on upgrade of the base")},
	},
}

// genericRules apply to every package after its own rules.
var genericRules = []Rule{
	// Shell.
	noop("set", ``, whyShell), noop("[", ``, whyShell), noop("test", ``, whyShell),
	noop("echo", ``, whyShell), noop("printf", ``, whyShell), noop("true", ``, whyShell),
	noop("false", ``, whyShell), noop(":", ``, whyShell), noop("exit", ``, whyShell),
	noop("return", ``, whyShell), noop("shift", ``, whyShell), noop("local", ``, whyShell),
	noop("export", ``, whyShell), noop("unset", ``, whyShell), noop("read", ``, whyShell),
	noop("trap", ``, whyShell), noop("command", ``, whyShell), noop("type", ``, whyShell),
	noop("which", ``, whyShell), noop("cd", ``, whyShell), noop("wait", ``, whyShell),
	noop("break", ``, whyShell), noop("continue", ``, whyShell), noop("sleep", ``, whyShell),
	noop("ischroot", ``, whyShell), noop("uname", ``, whyShell), noop("date", ``, whyShell),
	noop("umask", ``, whyShell), noop("pwd", ``, whyShell),
	// Text filters and queries.
	noop("grep", ``, whyFilter), noop("egrep", ``, whyFilter), noop("fgrep", ``, whyFilter),
	noop("tr", ``, whyFilter), noop("sort", ``, whyFilter), noop("uniq", ``, whyFilter),
	noop("cut", ``, whyFilter), noop("head", ``, whyFilter), noop("tail", ``, whyFilter),
	noop("cmp", ``, whyFilter), noop("diff", ``, whyFilter), noop("basename", ``, whyFilter),
	noop("dirname", ``, whyFilter), noop("readlink", ``, whyFilter), noop("stat", ``, whyFilter),
	noop("id", ``, whyFilter), noop("getent", ``, whyFilter), noop("ls", ``, whyFilter),
	noop("wc", ``, whyFilter), noop("md5sum", ``, whyFilter), noop("seq", ``, whyFilter),
	noop("pam_getenv", ``, whyFilter), noop("dpkg-query", ``, whyFilter),
	noop("dpkg-architecture", ``, whyFilter), noop("cat", ``, whyFilter),
	noop("expr", ``, whyFilter), noop("awk", ``, whyFilter), noop("mawk", ``, whyFilter),
	unhandled("find", `(-delete|-exec|-execdir|-ok|-fprint)`, "find that changes files"),
	noop("find", ``, whyFilter),
	Rule{Cmd: "sed", Args: `(^| )-i`, Verdict: Unhandled, Reason: "edits a file in place"},
	noop("sed", ``, whyFilter),
	noop("dpkg", `^--compare-versions `, "compares versions"),
	noop("dpkg", `^(--print-architecture|--assert-|-s |--status |-l |--list |-L |--listfiles |-S |--search )`, whyFilter),
	noop("mktemp", ``, "temporary file, removed by the script"),
	// Package-manager helpers that do nothing on a fresh install.
	noop("dpkg-maintscript-helper", `^(rm_conffile|mv_conffile|symlink_to_dir|dir_to_symlink|supports) `, "dpkg-maintscript-helper acts on upgrades from the versions it names; nothing to do on a fresh install"),
	noop("update-alternatives", `^(--quiet )?(--remove|--remove-all|--list|--query|--display) `, whyManRemove),
	noop("dpkg-divert", `(--list|--remove|--truename)`, whyUpgrade),
	noop("dpkg-statoverride", `--list`, whyFilter),
	noop("ucf", `--purge`, whyUpgrade), noop("ucfr", `--purge`, whyUpgrade),
	noop("rm", ``, "on a fresh install it removes only temporary files or leftovers of older versions"),
	noop("rmdir", ``, "removes empty directories left by older versions"),
	// Debconf.
	noop(".", `/usr/share/debconf/confmodule$`, whyDebconf),
	noop("db_version", ``, whyDebconf), noop("db_capb", ``, whyDebconf), noop("db_get", ``, whyDebconf),
	noop("db_set", ``, whyDebconf), noop("db_fget", ``, whyDebconf), noop("db_fset", ``, whyDebconf),
	noop("db_metaget", ``, whyDebconf), noop("db_input", ``, whyDebconf), noop("db_go", ``, whyDebconf),
	noop("db_stop", ``, whyDebconf), noop("db_subst", ``, whyDebconf), noop("db_title", ``, whyDebconf),
	noop("db_settitle", ``, whyDebconf), noop("db_purge", ``, whyDebconf), noop("db_unregister", ``, whyDebconf),
	noop("db_register", ``, whyDebconf), noop("db_reset", ``, whyDebconf), noop("db_clear", ``, whyDebconf),
	noop("db_beginblock", ``, whyDebconf), noop("db_endblock", ``, whyDebconf),
	// Init systems. The links update-rc.d and deb-systemd-helper enable
	// make are reproduced (inert in a container, but apt leaves them).
	handled("update-rc.d", ` defaults`, "SysV links S01/K01 in the init script's default runlevels (as update-rc.d without insserv); inert in a container"),
	handled("deb-systemd-helper", `(^| )enable `, "systemd [Install] links and deb-systemd-helper's state; inert in a container"),
	noop("systemctl", ``, whySystemd), noop("deb-systemd-helper", ``, whySystemd),
	noop("deb-systemd-invoke", ``, whySystemd), noop("invoke-rc.d", ``, whySystemd),
	noop("service", ``, whySystemd), noop("update-rc.d", ``, whySystemd),
	noop("start-stop-daemon", ``, whySystemd), noop("initctl", ``, whySystemd),
	// The dynamic linker cache is always regenerated.
	handled("ldconfig", ``, whyLdconfig),
	// man-db's trigger only rebuilds a cache under /var/cache/man.
	noop("mandb", ``, "man-db's index cache is not kept in images"),
}
