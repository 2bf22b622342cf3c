package maint

import "testing"

// TestErrexitCompound: set -e as sh, bash and dash apply it to compound
// commands (checked with dash and bash).
func TestErrexitCompound(t *testing.T) {
	cases := []struct{ script, out string }{
		{"set -e\nif true; then false && true; fi\necho survived\n", "survived\n"},
		{"set -e\n{ false && true; }\necho survived\n", "survived\n"},
		{"set -e\nfor x in a; do false && true; done\necho survived\n", "survived\n"},
		{"set -e\ncase x in x) false || false && true ;; esac\necho survived\n", "survived\n"},
		{"set -e\nif true; then false; fi\necho no\n", ""},
		{"set -e\n{ false; }\necho no\n", ""},
		{"set -e\nif { false && true; }; then echo yes; else echo \"no $?\"; fi\n", "no 1\n"},
		{"set -e\n{ false && true; } > /tmp/x; echo \"st $?\"\n", "st 1\n"},
		{"set -e\nf() { false && true; }\nf\necho no\n", ""},
		{"set -e\nf() { if true; then false && true; fi; echo inner; }\nf || echo caller\necho end\n", "inner\nend\n"},
		{"set -e\nwhile true; do false && true; break; done\necho survived\n", "survived\n"},
		{"set -e\nx=0\nwhile [ $x -lt 2 ]; do x=$((x+1)); done\necho \"x=$x $?\"\n", "x=2 0\n"},
		{"set -e\n{ echo a; false; echo b; }\necho no\n", "a\n"},
		// return/exit inside keep their status (dash's postinst: claim_binsh).
		{"set -e\nf() { if [ -z \"\" ]; then return; fi; echo after; }\nf\necho end\n", "end\n"},
		{"set -e\nif true; then true && exit 0; fi\necho no\n", ""},
		{"set -e\ng() { exit 0; }\nif true; then true && g; fi\necho no\n", ""},
		// tzdata's postinst: a function in a command substitution does not count.
		{"set -e\ng() { echo x; }\nif test \"$(g)\" != y; then false && true; fi\necho survived\n", "survived\n"},
	}
	for _, tc := range cases {
		sh := kitShell(t, NewMemFS(MemDir("/usr/bin"), MemDir("/tmp")))
		out, _ := kitRun(t, sh, "postinst", tc.script)
		if out != tc.out {
			t.Errorf("%q: %q, want %q", tc.script, out, tc.out)
		}
	}
}
