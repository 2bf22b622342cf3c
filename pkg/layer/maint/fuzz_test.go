package maint

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzShell runs arbitrary scripts over a small image with every command
// family: nothing may panic, and nothing may reach the host (no file
// appears in the host's temporary directory, where the interpreter would
// put process-substitution FIFOs, or in the working directory).
func FuzzShell(f *testing.F) {
	seeds := []string{
		"set -e\nmkdir -p /var/lib/x && echo hi > /var/lib/x/f && chmod 600 /var/lib/x/f\n",
		"for f in /etc/*; do [ -f \"$f\" ] && cat \"$f\" | head -n 1; done\n",
		"cat <(echo x)\n",
		"eval 'echo a &'\n",
		"command eval 'cat <(true)'\n",
		"trap 'cat <(true)' EXIT\n",
		"ln -s ../../../../../etc/passwd /tmp/l; cat /tmp/l; rm -rf /../../..\n",
		"x=$(getent passwd root | cut -d: -f6); echo \"$x\" > /root/home\n",
		"while read l; do echo \"$l\"; done < /etc/passwd | sed -e 's/root/x/' > /etc/out\n",
		". /usr/share/lib.sh; libfn a\n",
		"sh -c 'echo $0 $1' a b; bash -c 'exit 3' || echo $?\n",
		"update-alternatives --install /usr/bin/x x /usr/bin/true 10\n",
		"adduser --system --group --home /var/lib/pg pg\n",
		"dpkg-divert --package p --divert /usr/bin/a.real --rename /usr/bin/a\n",
		"cd /tmp; touch a b; mv a c; cp c d; ls -la; readlink -f ../tmp/d\n",
		"f() { f; }; f\n",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	hostTmp := os.TempDir()
	before, _ := filepath.Glob(filepath.Join(hostTmp, "sh-interp-*"))
	f.Fuzz(func(t *testing.T, body string) {
		if len(body) > 4096 {
			return
		}
		v := NewMemFS(MemDir("/tmp"), MemDir("/root"), MemDir("/usr/bin"), MemDir("/usr/sbin"), MemDir("/var/lib"),
			MemFile("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"), MemFile("/etc/group", "root:x:0:\n"),
			MemFile("/etc/shadow", "root:*:19000:0:99999:7:::\n"), MemFile("/etc/gshadow", "root:*::\n"),
			MemFile("/usr/share/lib.sh", "libfn() { echo \"lib $1\"; }\n"),
			MemEntry{Path: "/usr/bin/true", Mode: 0o755, Data: "\x7fELF"},
			MemEntry{Path: "/usr/bin/update-alternatives", Mode: 0o755, Data: "\x7fELF"},
			MemEntry{Path: "/usr/sbin/adduser", Mode: 0o755, Data: "#!/usr/bin/perl\n"},
			MemEntry{Path: "/usr/bin/dpkg-divert", Mode: 0o755, Data: "\x7fELF"},
		)
		sh := kitShell(t, v)
		sh.AllowRefused = true
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		err := sh.Run(ctx, Script{Package: "fuzz", Name: "postinst", Body: []byte(body), Args: []string{"configure", ""}})
		if errors.Is(err, ErrCommandPanic) || errors.Is(err, ErrScriptPanic) {
			t.Fatal(err) // recovered, so the build would stop cleanly, but a bug
		}
		for _, c := range v.Changes() {
			if !strings.HasPrefix(c.Path, "/") || cleanAbs(c.Path) != c.Path {
				t.Fatalf("change outside the model: %q", c.Path)
			}
		}
		after, _ := filepath.Glob(filepath.Join(hostTmp, "sh-interp-*"))
		if len(after) > len(before) {
			t.Fatalf("the script created host files: %v", after)
		}
	})
}
