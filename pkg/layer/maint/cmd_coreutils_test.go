package maint

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
)

// Oracle cases: the forms the census found in Debian's maintainer scripts,
// and their error paths, compared with the host's GNU coreutils.

func TestCoreutilsFilesOracle(t *testing.T) {
	base := []treeEntry{tDir("d"), tFile("d/f", "hello\n"), tDir("d/sub"), tFile("d/sub/g", "g\n"),
		tDir("empty"), tFile("f", "x\n"), tLink("l", "d"), tLink("dangling", "nowhere"), tFile("other", "o\n")}
	runOracle(t, []oracleCase{
		// rm
		{name: "rm -f file", tree: base, argv: []string{"rm", "-f", "f"}},
		{name: "rm -f missing", tree: base, argv: []string{"rm", "-f", "missing"}},
		{name: "rm missing", tree: base, argv: []string{"rm", "missing"}},
		{name: "rm dir", tree: base, argv: []string{"rm", "d"}},
		{name: "rm -rf dir", tree: base, argv: []string{"rm", "-rf", "d"}},
		{name: "rm -rf symlink to dir", tree: base, argv: []string{"rm", "-rf", "l"}},
		{name: "rm -fv", tree: base, argv: []string{"rm", "-fv", "f", "dangling", "missing"}},
		{name: "rm -r -v", tree: base, argv: []string{"rm", "-r", "-v", "d"}},
		{name: "rm -d empty", tree: base, argv: []string{"rm", "-d", "empty"}},
		{name: "rm no operand", tree: base, argv: []string{"rm"}},
		{name: "rm -f no operand", tree: base, argv: []string{"rm", "-f"}},
		{name: "rm dot", tree: base, argv: []string{"rm", "-rf", "d/."}},
		{name: "rm options after operands", tree: base, argv: []string{"rm", "f", "-f", "missing"}},
		// rmdir
		{name: "rmdir empty", tree: base, argv: []string{"rmdir", "empty"}},
		{name: "rmdir nonempty", tree: base, argv: []string{"rmdir", "d"}},
		{name: "rmdir ignore nonempty", tree: base, argv: []string{"rmdir", "--ignore-fail-on-non-empty", "d", "empty"}},
		{name: "rmdir missing", tree: base, argv: []string{"rmdir", "missing"}},
		{name: "rmdir file", tree: base, argv: []string{"rmdir", "f"}},
		{name: "rmdir symlink", tree: base, argv: []string{"rmdir", "l"}},
		{name: "rmdir -p", tree: []treeEntry{tDir("a/b/c")}, argv: []string{"rmdir", "-p", "a/b/c"}},
		{name: "rmdir -p stops", tree: []treeEntry{tDir("a/b/c"), tFile("a/x", "")}, argv: []string{"rmdir", "-p", "a/b/c"}},
		{name: "rmdir -p ignore", tree: []treeEntry{tDir("a/b/c"), tFile("a/x", "")},
			argv: []string{"rmdir", "--ignore-fail-on-non-empty", "-p", "a/b/c"}},
		{name: "rmdir --parents -v", tree: []treeEntry{tDir("a/b")}, argv: []string{"rmdir", "--parents", "-v", "a/b"}},
		{name: "rmdir several", tree: []treeEntry{tDir("x/a"), tDir("x/b"), tDir("x/c")}, argv: []string{"rmdir", "x/a", "x/b", "x/c", "x"}},
		// mkdir
		{name: "mkdir", tree: base, argv: []string{"mkdir", "new"}},
		{name: "mkdir exists", tree: base, argv: []string{"mkdir", "d"}},
		{name: "mkdir no parent", tree: base, argv: []string{"mkdir", "x/y"}},
		{name: "mkdir -p", tree: base, argv: []string{"mkdir", "-p", "x/y/z", "d/sub", "l/new"}},
		{name: "mkdir -p over file", tree: base, argv: []string{"mkdir", "-p", "f"}},
		{name: "mkdir -p through file", tree: base, argv: []string{"mkdir", "-p", "f/x"}},
		{name: "mkdir -m", tree: base, argv: []string{"mkdir", "-m", "2775", "g"}},
		{name: "mkdir -m symbolic", tree: base, argv: []string{"mkdir", "-m", "u=rwx,go=rx,g+s", "g"}},
		{name: "mkdir -p -m", tree: base, argv: []string{"mkdir", "-p", "-m", "0700", "p/q"}},
		{name: "mkdir -pv", tree: base, argv: []string{"mkdir", "-pv", "p/q/r"}},
		{name: "mkdir trailing slash", tree: base, argv: []string{"mkdir", "-p", "t/"}},
		{name: "mkdir several", tree: base, argv: []string{"mkdir", "-p", "man/man1", "man/man3", "man/man7"}},
		// chmod
		{name: "chmod octal", tree: base, argv: []string{"chmod", "0600", "f"}},
		{name: "chmod +x", tree: base, argv: []string{"chmod", "+x", "f"}},
		{name: "chmod -x", tree: []treeEntry{tFileMode("s", "#!/bin/sh\n", 0o755)}, argv: []string{"chmod", "-x", "s"}},
		{name: "chmod 2775 dir", tree: base, argv: []string{"chmod", "2775", "d"}},
		{name: "chmod 1730", tree: base, argv: []string{"chmod", "1730", "d"}},
		{name: "chmod 755 keeps setgid dir", tree: []treeEntry{tDirMode("g", 0o2775)}, argv: []string{"chmod", "755", "g"}},
		{name: "chmod 00755 clears setgid dir", tree: []treeEntry{tDirMode("g", 0o2775)}, argv: []string{"chmod", "00755", "g"}},
		{name: "chmod symbolic", tree: base, argv: []string{"chmod", "u+rwx,g-r,o=", "f"}},
		{name: "chmod a=rX -R", tree: base, argv: []string{"chmod", "-R", "a=rX", "d"}},
		{name: "chmod g=u", tree: base, argv: []string{"chmod", "g=u", "f"}},
		{name: "chmod +t", tree: base, argv: []string{"chmod", "+t", "d"}},
		{name: "chmod symlink follows", tree: base, argv: []string{"chmod", "700", "l"}},
		{name: "chmod missing", tree: base, argv: []string{"chmod", "644", "missing", "f"}},
		{name: "chmod invalid", tree: base, argv: []string{"chmod", "99", "f"}},
		// --reference (debianutils' update-shells)
		{name: "chmod --reference", tree: []treeEntry{tFileMode("r", "", 0o2751), tFile("f", "")},
			argv: []string{"chmod", "--reference=r", "f"}},
		{name: "chmod --reference missing", tree: base, argv: []string{"chmod", "--reference=missing", "f"}},
		{name: "chown --reference", tree: []treeEntry{{path: "r", mode: 0o640, uid: 1, gid: 4}, tFile("f", "")},
			argv: []string{"chown", "--reference=r", "f"}},
		{name: "chgrp --reference", tree: []treeEntry{{path: "r", mode: 0o640, uid: 1, gid: 4}, tFile("f", "")},
			argv: []string{"chgrp", "--reference=r", "f"}},
		{name: "mv -Z", tree: base, argv: []string{"mv", "-Z", "f", "moved"}},
		// chown / chgrp
		{name: "chown numeric", tree: base, argv: []string{"chown", "1234:5678", "f"}},
		{name: "chown names", tree: base, argv: []string{"chown", "daemon:bin", "f"}},
		{name: "chown user colon", tree: base, argv: []string{"chown", "bin:", "f"}},
		{name: "chown :group", tree: base, argv: []string{"chown", ":adm", "f"}},
		{name: "chown -R", tree: base, argv: []string{"chown", "-R", "daemon:daemon", "d"}},
		{name: "chown -R symlink inside", tree: []treeEntry{tDir("d"), tLink("d/l", "../f"), tFile("f", "")},
			argv: []string{"chown", "-R", "1:1", "d"}},
		{name: "chown -h", tree: base, argv: []string{"chown", "-h", "2:2", "l"}},
		{name: "chown follows", tree: base, argv: []string{"chown", "2:2", "l"}},
		{name: "chown bad user", tree: base, argv: []string{"chown", "nosuchuser:root", "f"}},
		{name: "chown bad group", tree: base, argv: []string{"chown", "root:nosuchgroup", "f"}},
		{name: "chown missing", tree: base, argv: []string{"chown", "root:root", "missing"}},
		{name: "chown clears setuid", tree: []treeEntry{tFileMode("s", "", 0o4755), tFileMode("g", "", 0o2755), tFileMode("h", "", 0o2745)},
			argv: []string{"chown", "1:1", "s", "g", "h"}},
		{name: "chgrp", tree: base, argv: []string{"chgrp", "adm", "f", "d"}},
		{name: "chgrp bad", tree: base, argv: []string{"chgrp", "nosuch", "f"}},
		// ln
		{name: "ln -s", tree: base, argv: []string{"ln", "-s", "target", "link"}},
		{name: "ln -s exists", tree: base, argv: []string{"ln", "-s", "target", "f"}},
		{name: "ln -sf", tree: base, argv: []string{"ln", "-sf", "target", "f"}},
		{name: "ln -sf into dir symlink", tree: base, argv: []string{"ln", "-sf", "target", "l"}},
		{name: "ln -nsf replaces dir symlink", tree: base, argv: []string{"ln", "-nsf", "target", "l"}},
		{name: "ln -s into dir", tree: base, argv: []string{"ln", "-s", "/etc/a", "/etc/b", "d"}},
		{name: "ln -sv", tree: base, argv: []string{"ln", "-sv", "x", "y"}},
		{name: "ln -s one operand", tree: base, argv: []string{"ln", "-s", "d/f"}},
		{name: "ln hard", tree: base, argv: []string{"ln", "f", "hard"}},
		{name: "ln hard dir", tree: base, argv: []string{"ln", "d", "hard"}},
		{name: "ln -sf over dir", tree: base, argv: []string{"ln", "-sfn", "x", "empty"}},
		{name: "ln no parent", tree: base, argv: []string{"ln", "-s", "x", "nodir/y"}},
		// mv
		{name: "mv rename", tree: base, argv: []string{"mv", "f", "g"}},
		{name: "mv over file", tree: base, argv: []string{"mv", "f", "other"}},
		{name: "mv into dir", tree: base, argv: []string{"mv", "f", "other", "d"}},
		{name: "mv into dir/.", tree: base, argv: []string{"mv", "f", "d/."}},
		{name: "mv dir", tree: base, argv: []string{"mv", "d", "e"}},
		{name: "mv dir into empty dir", tree: base, argv: []string{"mv", "d", "empty"}},
		{name: "mv missing", tree: base, argv: []string{"mv", "missing", "g"}},
		{name: "mv -f", tree: base, argv: []string{"mv", "-f", "f", "other"}},
		{name: "mv -v", tree: base, argv: []string{"mv", "-v", "f", "g"}},
		{name: "mv same", tree: base, argv: []string{"mv", "f", "f"}},
		{name: "mv into itself", tree: base, argv: []string{"mv", "d", "d/sub"}},
		{name: "mv file over dir", tree: base, argv: []string{"mv", "-T", "f", "empty"}},
		{name: "mv symlink", tree: base, argv: []string{"mv", "dangling", "moved"}},
		{name: "mv one operand", tree: base, argv: []string{"mv", "f"}},
		// cp
		{name: "cp file", tree: base, argv: []string{"cp", "f", "g"}},
		{name: "cp over", tree: base, argv: []string{"cp", "f", "other"}},
		{name: "cp into dir", tree: base, argv: []string{"cp", "f", "other", "empty"}},
		{name: "cp mode", tree: []treeEntry{tFileMode("x", "#!\n", 0o755), tFileMode("y", "", 0o600)}, argv: []string{"cp", "x", "z"}},
		{name: "cp keeps dest mode", tree: []treeEntry{tFileMode("x", "#!\n", 0o755), tFileMode("y", "", 0o600)}, argv: []string{"cp", "x", "y"}},
		{name: "cp -p", tree: []treeEntry{tFileMode("x", "#!\n", 0o750), tFileMode("y", "", 0o600)}, argv: []string{"cp", "-p", "x", "y"}},
		{name: "cp -f", tree: base, argv: []string{"cp", "-f", "f", "other"}},
		{name: "cp dir no -r", tree: base, argv: []string{"cp", "d", "e"}},
		{name: "cp -a dir", tree: base, argv: []string{"cp", "-a", "d", "e"}},
		{name: "cp -a dir into", tree: base, argv: []string{"cp", "-a", "d", "empty/"}},
		{name: "cp -a symlink", tree: base, argv: []string{"cp", "-a", "l", "dangling", "empty"}},
		{name: "cp follows symlink", tree: base, argv: []string{"cp", "l/f", "copy"}},
		{name: "cp -r", tree: base, argv: []string{"cp", "-r", "d", "e"}},
		{name: "cp missing", tree: base, argv: []string{"cp", "missing", "g"}},
		{name: "cp same", tree: base, argv: []string{"cp", "f", "f"}},
		{name: "cp -pZ", tree: base, argv: []string{"cp", "-p", "f", "zz"}},
		{name: "cp -v", tree: base, argv: []string{"cp", "-v", "f", "g"}},
		// touch
		{name: "touch new", tree: base, argv: []string{"touch", "new", "f"}},
		{name: "touch no dir", tree: base, argv: []string{"touch", "nodir/x"}},
		{name: "touch -c", tree: base, argv: []string{"touch", "-c", "new"}},
		{name: "touch through symlink", tree: base, argv: []string{"touch", "dangling"}},
		// install
		{name: "install -d", tree: base, argv: []string{"install", "-d", "a/b/c"}},
		{name: "install -d -m -o -g", tree: base, argv: []string{"install", "-d", "-m", "2775", "-o", "daemon", "-g", "bin", "run/pg"}},
		{name: "install -d existing", tree: base, argv: []string{"install", "-d", "-m", "0700", "d"}},
		{name: "install file", tree: base, argv: []string{"install", "f", "d/inst"}},
		{name: "install -m file", tree: base, argv: []string{"install", "-m", "644", "f", "other"}},
		{name: "install into dir", tree: base, argv: []string{"install", "-m", "0640", "f", "other", "empty"}},
		{name: "install -D", tree: base, argv: []string{"install", "-D", "-m", "600", "f", "x/y/z"}},
	})
}

func TestCoreutilsTextOracle(t *testing.T) {
	data := "b 2\na 10\nc 1\na 10\n\nlast"
	tree := []treeEntry{tFile("data", data), tFile("lines", "one\ntwo\nthree\nfour\n"), tDir("dir"),
		tFile("same", "b 2\na 10\nc 1\na 10\n\nlast"), tFile("short", "b 2\n")}
	runOracle(t, []oracleCase{
		{name: "cat", tree: tree, argv: []string{"cat", "data", "lines"}, skipTree: true},
		{name: "cat stdin", tree: tree, argv: []string{"cat"}, stdin: "in\n", skipTree: true},
		{name: "cat - file", tree: tree, argv: []string{"cat", "-", "lines"}, stdin: "in\n", skipTree: true},
		{name: "cat missing", tree: tree, argv: []string{"cat", "missing", "lines"}, skipTree: true},
		{name: "cat dir", tree: tree, argv: []string{"cat", "dir"}, skipTree: true},
		{name: "head -1", tree: tree, argv: []string{"head", "-1", "lines"}, skipTree: true},
		{name: "head -n 1", tree: tree, argv: []string{"head", "-n", "1", "lines"}, skipTree: true},
		{name: "head default", tree: tree, argv: []string{"head", "data"}, skipTree: true},
		{name: "head -n -2", tree: tree, argv: []string{"head", "-n", "-2", "lines"}, skipTree: true},
		{name: "head -c", tree: tree, argv: []string{"head", "-c", "5", "lines"}, skipTree: true},
		{name: "head two files", tree: tree, argv: []string{"head", "-n1", "lines", "data"}, skipTree: true},
		{name: "tail -1", tree: tree, argv: []string{"tail", "-1"}, stdin: "a\nb\nc\n", skipTree: true},
		{name: "tail -n1", tree: tree, argv: []string{"tail", "-n1", "data"}, skipTree: true},
		{name: "tail -n +2", tree: tree, argv: []string{"tail", "-n", "+2", "lines"}, skipTree: true},
		{name: "cut -d space -f 1", tree: tree, argv: []string{"cut", "-d", " ", "-f", "1", "data"}, skipTree: true},
		{name: "cut -f1 -d", tree: tree, argv: []string{"cut", "-f1", "-d ", "data"}, skipTree: true},
		{name: "cut -f 2", tree: tree, argv: []string{"cut", "-d", " ", "-f", "2"}, stdin: "x y z\nnodelim\n", skipTree: true},
		{name: "cut -d / -f 1", tree: tree, argv: []string{"cut", "-d", "/", "-f", "1"}, stdin: "2.36/x\n", skipTree: true},
		{name: "cut -s -f 2-", tree: tree, argv: []string{"cut", "-s", "-d:", "-f", "2-"}, stdin: "a:b:c\nno\n", skipTree: true},
		{name: "cut -c", tree: tree, argv: []string{"cut", "-c", "1-3,5"}, stdin: "abcdefg\n", skipTree: true},
		{name: "tr , newline", tree: tree, argv: []string{"tr", ",", "\\n"}, stdin: "a,b,c", skipTree: true},
		{name: "tr -cd 0-9", tree: tree, argv: []string{"tr", "-cd", "0-9"}, stdin: "v1.2-3x\n", skipTree: true},
		{name: "tr -d ,", tree: tree, argv: []string{"tr", "-d", ","}, stdin: "a,b,c\n", skipTree: true},
		{name: "tr A-Z a-z", tree: tree, argv: []string{"tr", "A-Z", "a-z"}, stdin: "Hello World\n", skipTree: true},
		{name: "tr classes", tree: tree, argv: []string{"tr", "[:upper:]", "[:lower:]"}, stdin: "Hello World\n", skipTree: true},
		{name: "tr -s", tree: tree, argv: []string{"tr", "-s", " "}, stdin: "a   b  c\n", skipTree: true},
		{name: "tr short set2", tree: tree, argv: []string{"tr", "abc", "x"}, stdin: "aabbcc\n", skipTree: true},
		{name: "sort", tree: tree, argv: []string{"sort", "data"}, skipTree: true},
		{name: "sort -u", tree: tree, argv: []string{"sort", "-u", "data"}, skipTree: true},
		{name: "sort -g", tree: tree, argv: []string{"sort", "-g"}, stdin: "10\n9.5\n-1\nx\n100\n", skipTree: true},
		{name: "sort -n", tree: tree, argv: []string{"sort", "-n"}, stdin: "10\n9\n-1\n100\n", skipTree: true},
		{name: "sort -r", tree: tree, argv: []string{"sort", "-r", "lines"}, skipTree: true},
		{name: "uniq", tree: tree, argv: []string{"uniq"}, stdin: "a\na\nb\na\n", skipTree: true},
		{name: "uniq -c", tree: tree, argv: []string{"uniq", "-c"}, stdin: "a\na\nb\na\n", skipTree: true},
		{name: "uniq -d", tree: tree, argv: []string{"uniq", "-d"}, stdin: "a\na\nb\na\n", skipTree: true},
		{name: "wc -l", tree: tree, argv: []string{"wc", "-l"}, stdin: "a\nb\n", skipTree: true},
		{name: "wc -c", tree: tree, argv: []string{"wc", "-c"}, stdin: "abc", skipTree: true},
		{name: "wc", tree: tree, argv: []string{"wc"}, stdin: "a b\nc\n", skipTree: true},
		{name: "wc -l file", tree: tree, argv: []string{"wc", "-l", "lines"}, skipTree: true},
		{name: "wc files", tree: tree, argv: []string{"wc", "lines", "data"}, skipTree: true},
		{name: "md5sum", tree: tree, argv: []string{"md5sum", "data", "lines"}, skipTree: true},
		{name: "md5sum stdin", tree: tree, argv: []string{"md5sum"}, stdin: "abc", skipTree: true},
		{name: "md5sum missing", tree: tree, argv: []string{"md5sum", "missing"}, skipTree: true},
		{name: "sha512sum -", tree: tree, argv: []string{"sha512sum", "-"}, stdin: "abc", skipTree: true},
		{name: "sha256sum", tree: tree, argv: []string{"sha256sum", "lines"}, skipTree: true},
		{name: "cmp same", tree: tree, argv: []string{"cmp", "-s", "data", "same"}, skipTree: true},
		{name: "cmp differ -s", tree: tree, argv: []string{"cmp", "-s", "data", "lines"}, skipTree: true},
		{name: "cmp differ", tree: tree, argv: []string{"cmp", "data", "lines"}, skipTree: true},
		{name: "cmp --silent missing", tree: tree, argv: []string{"cmp", "--silent", "data", "missing"}, skipTree: true},
		{name: "cmp eof", tree: tree, argv: []string{"cmp", "data", "short"}, skipTree: true},
		{name: "seq 6 -1 0", tree: tree, argv: []string{"seq", "6", "-1", "0"}, skipTree: true},
		{name: "seq 3", tree: tree, argv: []string{"seq", "3"}, skipTree: true},
		{name: "seq -s -w", tree: tree, argv: []string{"seq", "-s", ",", "-w", "8", "10"}, skipTree: true},
		{name: "tee", tree: tree, argv: []string{"tee", "out1", "out2"}, stdin: "t\n"},
		{name: "tee -a", tree: tree, argv: []string{"tee", "-a", "lines"}, stdin: "five\n"},
	})
}

func TestCoreutilsInfoOracle(t *testing.T) {
	tree := []treeEntry{tDir("usr/share/zoneinfo/Europe"), tFile("usr/share/zoneinfo/Europe/Paris", "TZif"),
		tLink("etc/localtime", "../usr/share/zoneinfo/Europe/Paris"), tLink("rel", "usr/share/zoneinfo"),
		tLink("loop1", "loop2"), tLink("loop2", "loop1"), tFile("f", "x"), tDir("d/e"),
		tFileMode("m", "", 0o2751), tDir("v/9.10"), tDir("v/9.9"), tDir("v/10.0"), tFile("v/9.9/x", "")}
	runOracle(t, []oracleCase{
		{name: "basename", argv: []string{"basename", "/usr/lib/python3/x.rtupdate", ".rtupdate"}, skipTree: true},
		{name: "basename trailing slash", argv: []string{"basename", "/a/b/"}, skipTree: true},
		{name: "basename -a", argv: []string{"basename", "-a", "/a/b", "c/d"}, skipTree: true},
		{name: "basename -s", argv: []string{"basename", "-s", ".py", "a/b.py", "c.py"}, skipTree: true},
		{name: "basename suffix is name", argv: []string{"basename", ".py", ".py"}, skipTree: true},
		{name: "dirname", argv: []string{"dirname", "/usr/lib/x", "x", "/x", "a/b/", "/", "//a//b//"}, skipTree: true},
		{name: "readlink", tree: tree, argv: []string{"readlink", "etc/localtime"}, skipTree: true},
		{name: "readlink not link", tree: tree, argv: []string{"readlink", "f"}, skipTree: true},
		{name: "readlink -f", tree: tree, argv: []string{"readlink", "-f", "etc/localtime"}, skipTree: true},
		{name: "readlink -f missing last", tree: tree, argv: []string{"readlink", "-f", "rel/missing"}, skipTree: true},
		{name: "readlink -f missing middle", tree: tree, argv: []string{"readlink", "-f", "nope/missing"}, skipTree: true},
		{name: "readlink -e missing", tree: tree, argv: []string{"readlink", "-e", "rel/missing"}, skipTree: true},
		{name: "readlink -e", tree: tree, argv: []string{"readlink", "-e", "rel/Europe/Paris"}, skipTree: true},
		{name: "readlink -f loop", tree: tree, argv: []string{"readlink", "-f", "loop1"}, skipTree: true},
		{name: "realpath -m -s", tree: tree, argv: []string{"realpath", "-m", "-s", "etc/../rel/x/../y"}, skipTree: true},
		{name: "realpath", tree: tree, argv: []string{"realpath", "rel/Europe"}, skipTree: true},
		{name: "realpath missing", tree: tree, argv: []string{"realpath", "nope/x"}, skipTree: true},
		{name: "stat -c", tree: tree, argv: []string{"stat", "-c", "%a %A %u %g %U %G %s %F %n", "m", "f"}, skipTree: true},
		{name: "stat -L -c", tree: tree, argv: []string{"stat", "-L", "-c", "%a", "rel"}, skipTree: true},
		{name: "stat -c dir", tree: tree, argv: []string{"stat", "-c", "%a %A %F %n", "d"}, skipTree: true},
		{name: "stat -c link", tree: tree, argv: []string{"stat", "-c", "%F %N", "rel"}, skipTree: true},
		{name: "stat -c %h", tree: tree, argv: []string{"stat", "-c", "%h", "d", "f", "v"}, skipTree: true},
		{name: "stat missing", tree: tree, argv: []string{"stat", "-c", "%a", "missing"}, skipTree: true},
		{name: "ls dir", tree: tree, argv: []string{"ls", "d"}, skipTree: true},
		{name: "ls -v", tree: tree, argv: []string{"ls", "-v", "v"}, skipTree: true},
		{name: "ls files", tree: tree, argv: []string{"ls", "v/9.9/x", "f"}, skipTree: true},
		{name: "ls -L", tree: tree, argv: []string{"ls", "-L", "etc/localtime"}, skipTree: true},
		{name: "ls missing", tree: tree, argv: []string{"ls", "missing", "f"}, skipTree: true},
		{name: "ls two dirs", tree: tree, argv: []string{"ls", "v", "d"}, skipTree: true},
		{name: "ls symlink to dir", tree: tree, argv: []string{"ls", "rel"}, skipTree: true},
		{name: "id -u root", tree: tree, argv: []string{"id", "-u", "root"}, skipTree: true},
		{name: "id -Gn", tree: tree, argv: []string{"id", "-Gn", "daemon"}, skipTree: true},
		{name: "id missing", tree: tree, argv: []string{"id", "-u", "nosuchuser"}, skipTree: true},
		{name: "date -d @", argv: []string{"date", "-u", "-d", "@0", "+%Y-%m-%d %H:%M:%S %s %j %a %b"}, skipTree: true},
		{name: "date default", argv: []string{"date", "-d", "@946684800"}, skipTree: true},
		{name: "date -R", argv: []string{"date", "-R", "-d", "@1700000000"}, skipTree: true},
		{name: "uname -s", argv: []string{"uname", "-s"}, skipTree: true},
		{name: "getopt long", argv: []string{"getopt", "-o", "", "--long", "help,bug-ref:,dry-run,force,verbose", "-n", "clean-up", "--",
			"--bug-ref=984884", "--verbose", "x86_64-linux-gnu", "libgcrypt.so.20"}, skipTree: true},
		{name: "getopt separate arg and abbreviation", argv: []string{"getopt", "-o", "vf:", "--long", "bug-ref:,dry-run", "-n", "me", "--",
			"a b", "--bug", "1", "-vfx", "--dry", "it's"}, skipTree: true},
		{name: "getopt unknown", argv: []string{"getopt", "-o", "v", "-l", "verbose", "-n", "me", "--", "--nope", "-x", "a"}, skipTree: true},
		{name: "getopt optional", argv: []string{"getopt", "-o", "a::", "-l", "opt::", "--", "-a", "-ab", "--opt", "--opt=z"}, skipTree: true},
		{name: "locale width height", argv: []string{"locale", "width", "height"}, skipTree: true},
		{name: "true", argv: []string{"true"}, skipTree: true},
		{name: "false", argv: []string{"false"}, skipTree: true},
		{name: "env true", argv: []string{"env", "true"}, skipTree: true},
		{name: "nice false", argv: []string{"nice", "false"}, skipTree: true},
	})
}

// Commands whose answer comes from the image or the build, not the host.
func TestCoreutilsImage(t *testing.T) {
	passwd := "root:x:0:0:root:/root:/bin/bash\npostgres:x:26:26:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n"
	group := "root:x:0:\nssl-cert:x:101:postgres\npostgres:x:26:\n"
	fsys := NewMemFS(MemFile("/etc/passwd", passwd), MemFile("/etc/group", group), MemDir("/tmp"))
	arm := newKitHost()
	arm.arch = "arm64"
	tests := []struct {
		host Host
		argv []string
		want string
		st   int
	}{
		{newKitHost(), []string{"uname", "-m"}, "x86_64\n", 0},
		{arm, []string{"uname", "-m"}, "aarch64\n", 0},
		{arm, []string{"uname", "-s", "-r", "-m"}, "Linux " + unameRelease + " aarch64\n", 0},
		{newKitHost(), []string{"id", "-u", "postgres"}, "26\n", 0},
		{newKitHost(), []string{"id", "-g", "postgres"}, "26\n", 0},
		{newKitHost(), []string{"id", "-Gn", "postgres"}, "postgres ssl-cert\n", 0},
		{newKitHost(), []string{"id", "postgres"}, "uid=26(postgres) gid=26(postgres) groups=26(postgres),101(ssl-cert)\n", 0},
		{newKitHost(), []string{"id", "-u"}, "0\n", 0},
		{newKitHost(), []string{"whoami"}, "root\n", 0},
		{newKitHost(), []string{"getent", "passwd", "postgres"}, "postgres:x:26:26:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n", 0},
		{newKitHost(), []string{"getent", "passwd", "26"}, "postgres:x:26:26:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n", 0},
		{newKitHost(), []string{"getent", "group", "ssl-cert"}, "ssl-cert:x:101:postgres\n", 0},
		{newKitHost(), []string{"getent", "group", "nosuch"}, "", 2},
		{newKitHost(), []string{"getent", "group", "root", "nosuch", "postgres"}, "root:x:0:\npostgres:x:26:\n", 2},
		{newKitHost(), []string{"getent", "frobs", "x"}, "", 1},
		{newKitHost(), []string{"date"}, "Sat Jan  1 00:00:00 UTC 2000\n", 0},
		{newKitHost(), []string{"date", "+%s"}, "946684800\n", 0},
		{newKitHost(), []string{"date", "-d", "2024-02-29", "+%F %T"}, "2024-02-29 00:00:00\n", 0},
		{newKitHost(), []string{"date", "-d", "Sat Jan  1 00:00:00 UTC 2000"}, "Sat Jan  1 00:00:00 UTC 2000\n", 0},
		{newKitHost(), []string{"who"}, "", 0},
		{newKitHost(), []string{"locale", "width"}, "210\n", 0},
		{newKitHost(), []string{"locale", "height"}, "297\n", 0},
		{newKitHost(), []string{"sleep", "1"}, "", 0},
	}
	for _, tc := range tests {
		out, _, st, err := oracleRunGo(t, fsys, tc.host, tc.argv, "")
		if err != nil {
			t.Errorf("%v: %v", tc.argv, err)
			continue
		}
		if out != tc.want || st != tc.st {
			t.Errorf("%v = %q (status %d), want %q (status %d)", tc.argv, out, st, tc.want, tc.st)
		}
	}
}

func TestMktempReproducible(t *testing.T) {
	run := func() (string, *VFS) {
		fsys := NewMemFS(MemDir("/tmp"))
		out, _, st, err := oracleRunGo(t, fsys, newKitHost(), []string{"mktemp", "--tmpdir", "pg_updateaptconfig.XXXXXX"}, "")
		if err != nil || st != 0 {
			t.Fatalf("mktemp: %v %d", err, st)
		}
		return strings.TrimSpace(out), fsys
	}
	a, fsys := run()
	b, _ := run()
	if a != b || !strings.HasPrefix(a, "/tmp/pg_updateaptconfig.") || len(a) != len("/tmp/pg_updateaptconfig.XXXXXX") {
		t.Fatalf("mktemp names %q, %q: want the same /tmp/pg_updateaptconfig.?????? twice", a, b)
	}
	i, err := fsys.Lstat(a)
	if err != nil || i.Mode != 0o600 {
		t.Fatalf("created %s: %v mode %v, want 0600 file", a, err, i.Mode)
	}
	// A second call in the same image gets another name.
	out, _, _, _ := oracleRunGo(t, fsys, newKitHost(), []string{"mktemp", "--tmpdir", "pg_updateaptconfig.XXXXXX"}, "")
	if strings.TrimSpace(out) == a {
		t.Fatalf("second mktemp reused %s", a)
	}
	out, _, _, _ = oracleRunGo(t, fsys, newKitHost(), []string{"mktemp", "-d"}, "")
	if i, err := fsys.Lstat(strings.TrimSpace(out)); err != nil || !i.IsDir() || i.Mode.Perm() != 0o700 {
		t.Fatalf("mktemp -d made %q: %v %v", out, i, err)
	}
}

// Options outside the implemented forms are refused, never guessed.
func TestCoreutilsRefusals(t *testing.T) {
	fsys := NewMemFS(MemFile("/f", "x"))
	for _, argv := range [][]string{
		{"rm", "-i", "/f"}, {"cp", "--reflink", "/f", "/g"}, {"stat", "/f"}, {"stat", "-c", "%Y", "/f"},
		{"stat", "--file-system", "--format=%T", "/"}, {"date", "-d", "next tuesday"}, {"uname", "-n"},
		{"env", "A=b", "true"}, {"sort", "-k", "2", "/f"}, {"md5sum", "-c", "/f"}, {"seq", "0.5", "2"},
		{"tr", "[a*3]", "x"},
	} {
		_, _, _, err := oracleRunGo(t, fsys, newKitHost(), argv, "")
		if !errors.Is(err, ErrRefused) {
			t.Errorf("%v: %v, want a refusal", argv, err)
		}
	}
}

// Local time in a zone other than UTC is refused (no zoneinfo reader);
// -u and UTC images answer.
func TestDateTimezone(t *testing.T) {
	paris := NewMemFS(MemSymlink("/etc/localtime", "/usr/share/zoneinfo/Europe/Paris"))
	var out strings.Builder
	c := &Call{Name: "date", FS: paris, Host: newKitHost(), Stdout: &out, Stderr: &out, Dir: "/",
		Env: func(n string) string { return map[string]string{"SOURCE_DATE_EPOCH": "0"}[n] }}
	if err := runDate(c); !errors.Is(err, ErrRefused) {
		t.Errorf("date in Europe/Paris without TZ: %v, want a refusal", err)
	}
	if out, _, _, err := oracleRunGo(t, paris, newKitHost(), []string{"date", "-u", "+%H"}, ""); err != nil || out != "00\n" {
		t.Errorf("date -u: %q %v", out, err)
	}
	utc := NewMemFS(MemSymlink("/etc/localtime", "/usr/share/zoneinfo/Etc/UTC"))
	if out, _, _, err := oracleRunGo(t, utc, newKitHost(), []string{"date", "+%Z"}, ""); err != nil || out != "UTC\n" {
		t.Errorf("date in Etc/UTC: %q %v", out, err)
	}
}

// umask: mkdir, touch and cp honour the script's umask.
func TestCoreutilsUmask(t *testing.T) {
	fsys := NewMemFS(MemDir("/etc/security"))
	sh := kitShell(t, fsys)
	if out, err := kitRun(t, sh, "postinst", "set -e\numask 066\ntouch /etc/security/opasswd\numask 022\nmkdir /d\numask 077\n: > /r\numask\n"); err != nil {
		t.Fatalf("script: %v\n%s", err, out)
	} else if out != "0077\n" {
		t.Errorf("umask printed %q", out)
	}
	for p, want := range map[string]fs.FileMode{"/etc/security/opasswd": 0o600, "/d": fs.ModeDir | 0o755, "/r": 0o600} {
		i, err := fsys.Lstat(p)
		if err != nil || i.Mode != want {
			t.Errorf("%s: mode %v (%v), want %v", p, i.Mode, err, want)
		}
	}
}

var _ = os.O_RDONLY

// A trap on signal numbers (postgresql-common: trap "rm -f $tmp" 0 2 3 15)
// runs its EXIT part; the interruption signals are never delivered.
func TestTrapSignalNumbers(t *testing.T) {
	fsys := NewMemFS(MemDir("/tmp"), MemFile("/tmp/x", "x"))
	sh := kitShell(t, fsys)
	if out, err := kitRun(t, sh, "postinst", "set -e\ntrap \"rm -f /tmp/x\" 0 2 3 15\ntrap 'echo int' INT\necho done\n"); err != nil || out != "done\n" {
		t.Fatalf("script: %v %q", err, out)
	}
	if fsys.Exists("/tmp/x") {
		t.Fatal("the EXIT trap did not run")
	}
}

func TestExprSuAwkSub(t *testing.T) {
	fsys := NewMemFS(MemFile("/etc/passwd", "root:x:0:0::/root:/bin/sh\npostgres:x:26:26::/var/lib/postgresql:/bin/bash\n"), MemDir("/var/lib/postgresql"), MemFile("/usr/bin/su", "ELF"))
	sh := kitShell(t, fsys)
	body := `set -e
expr ', ,' : '.*, None,.*' || echo "no match $?"
expr 3 + 4 \* 2
expr abc : 'a\(.\)'
expr length hello
v=$(printf 'LANG="C.UTF-8"\n' | awk '/^LANG=/ {gsub("\"", ""); sub("LANG=", ""); lang=$0;} END {print lang}')
echo "lang=$v"
su -s /bin/sh postgres -c "test -d /var/lib/postgresql" && echo su-ok
su -s /bin/sh postgres -c "test -O /var/lib/postgresql &&
      test -G /var/lib/postgresql" || echo not-owner
chown 26:26 /var/lib/postgresql
su -s /bin/sh postgres -c "test -O /var/lib/postgresql && test -G /var/lib/postgresql" && echo owner
`
	out, err := kitRun(t, sh, "postinst", body)
	want := "0\nno match 1\n11\nb\n5\nlang=C.UTF-8\nsu-ok\nnot-owner\nowner\n"
	if err != nil || out != want {
		t.Fatalf("got %q (%v), want %q", out, err, want)
	}
}
