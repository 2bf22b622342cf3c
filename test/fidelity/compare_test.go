package fidelity

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseAllowList(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
		want    int
	}{
		{"comments and blanks", "# x\n\n  # y\n", "", 0},
		{"one entry", "/etc/passwd- * backup of adduser\n", "", 1},
		{"kinds list", "/etc/x missing,owner why not\n", "", 1},
		{"no reason", "/etc/x missing\n", "want GLOB KINDS REASON", 0},
		{"relative glob", "etc/x * reason\n", "must be absolute", 0},
		{"unknown kind", "/etc/x mtime reason\n", `unknown kind "mtime"`, 0},
		{"bad bracket", "/etc/[x * reason\n", "unterminated", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAllowList(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Fatalf("got %d entries, want %d", len(got), tc.want)
			}
		})
	}
}

func TestAllowMatches(t *testing.T) {
	list, err := ParseAllowList(strings.NewReader(`
/etc/systemd/system/*.wants/*   missing  no init
/var/lib/ucf/hashfile.[0-9]     missing  ucf backups
/etc/passwd?                    *        backups
/etc/rc[0-6S].d/[SK][0-9][0-9]* missing  sysv links
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		d    Diff
		line int // 0: unexplained
	}{
		{Diff{Path: "/etc/systemd/system/multi-user.target.wants/postgresql.service", Kind: KindMissing}, 2},
		{Diff{Path: "/etc/systemd/system/multi-user.target.wants/postgresql.service", Kind: KindExtra}, 0},
		{Diff{Path: "/etc/systemd/system/x.service", Kind: KindMissing}, 0},
		{Diff{Path: "/var/lib/ucf/hashfile.0", Kind: KindMissing}, 3},
		{Diff{Path: "/var/lib/ucf/hashfile", Kind: KindMissing}, 0},
		{Diff{Path: "/var/lib/ucf/hashfile.10", Kind: KindMissing}, 0},
		{Diff{Path: "/etc/passwd-", Kind: KindOwner}, 4},
		{Diff{Path: "/etc/passwd", Kind: KindContent}, 0},
		{Diff{Path: "/etc/passwd/x", Kind: KindContent}, 0}, // ? does not cross /
		{Diff{Path: "/etc/rc2.d/S01postgresql", Kind: KindMissing}, 5},
		{Diff{Path: "/etc/rc2.d/README", Kind: KindMissing}, 0},
	}
	for _, tc := range tests {
		c := Classify([]Diff{tc.d}, list)
		got := 0
		for a, ds := range c.Allowed {
			if len(ds) > 0 {
				got = a.Line
			}
		}
		if got != tc.line {
			t.Errorf("%s %s: matched line %d, want %d", tc.d.Kind, tc.d.Path, got, tc.line)
		}
		if (got == 0) != (len(c.Unexplained) == 1) {
			t.Errorf("%s %s: unexplained %v", tc.d.Kind, tc.d.Path, c.Unexplained)
		}
	}
}

// TestRepositoryAllowList keeps allowlist.txt parseable and every entry
// explained.
func TestRepositoryAllowList(t *testing.T) {
	f, err := os.Open("allowlist.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	list, err := ParseAllowList(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if len(strings.Fields(a.Reason)) < 3 {
			t.Errorf("line %d: reason %q says too little", a.Line, a.Reason)
		}
	}
}

func TestCompareTrees(t *testing.T) {
	mk := func(root string, files map[string]string, links map[string]string) {
		for p, c := range files {
			full := filepath.Join(root, p)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for p, target := range links {
			full := filepath.Join(root, p)
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
		}
	}
	ours, apt := t.TempDir(), t.TempDir()
	mk(ours, map[string]string{"etc/same": "x", "etc/changed": "ours", "etc/extra": "e", "var/cache/a": "1", "etc/typed": "f"},
		map[string]string{"etc/alt": "/usr/bin/a"})
	mk(apt, map[string]string{"etc/same": "x", "etc/changed": "apt-get", "etc/missing": "m", "var/cache/b": "2", "etc/hard": "h"},
		map[string]string{"etc/alt": "/usr/bin/b", "etc/typed": "elsewhere"})
	if err := os.Chmod(filepath.Join(apt, "etc/same"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(apt, "etc/hard"), filepath.Join(apt, "etc/hard2")); err != nil {
		t.Fatal(err)
	}
	mk(ours, map[string]string{"etc/hard": "h", "etc/hard2": "h",
		"var/lib/dpkg/diversions":     "/a\n/a.x\np\n/b\n/b.x\nq\n",
		"etc/shadow":                  "root:*:10957:0:99999:7:::\npostgres:!:10957::::::\n",
		"etc/gshadow":                 "x\n",
		"var/lib/apt/extended_states": "Package: a\nAuto-Installed: 1\n\nPackage: b\nAuto-Installed: 1\n\n"}, nil)
	mk(apt, map[string]string{
		"var/lib/dpkg/diversions":     "/b\n/b.x\nq\n/a\n/a.x\np\n",
		"etc/shadow":                  "root:*:20780:0:99999:7:::\npostgres:!:20781::::::\n",
		"etc/gshadow":                 "y\n",
		"var/lib/apt/extended_states": "Package: b\nAuto-Installed: 1\n\nPackage: a\nAuto-Installed: 1\n\n"}, nil)
	skip := func(p string) bool { return p == "/var/cache" }
	a, err := Walk(ours, skip)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Walk(apt, skip)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range Compare(a, b, Names{}, Names{}) {
		got = append(got, d.Kind+" "+d.Path)
	}
	want := []string{
		"link /etc/alt",
		"content /etc/changed",
		"extra /etc/extra",
		"content /etc/gshadow",
		"nlink /etc/hard",
		"nlink /etc/hard2",
		"missing /etc/missing",
		"mode /etc/same",
		"date /etc/shadow",
		"type /etc/typed",
		"order /var/lib/apt/extended_states",
		"order /var/lib/dpkg/diversions",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("diffs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
