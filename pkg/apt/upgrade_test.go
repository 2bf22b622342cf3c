package apt

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func renderUpgrade(res *UpgradeResult) (up, kept []string) {
	for _, p := range res.Set.Packages {
		up = append(up, p.Name+" "+p.Version)
	}
	for _, k := range res.Kept {
		kept = append(kept, k.Installed.Name)
	}
	slices.Sort(up)
	return up, kept
}

func TestUpgrade(t *testing.T) {
	tests := []struct {
		name, available, installed string
		up, kept                   []string
		reason                     string // in the first kept package's reason
	}{
		{
			name:      "newer candidates upgraded, older and equal left",
			available: "Package: a\nVersion: 2\n\nPackage: b\nVersion: 1\n\nPackage: c\nVersion: 0.9\n",
			installed: "Package: a\nVersion: 1\n\nPackage: b\nVersion: 1\n\nPackage: c\nVersion: 1\n",
			up:        []string{"a 2"},
		},
		{
			name:      "a new dependency keeps it back",
			available: "Package: a\nVersion: 2\nDepends: n\n\nPackage: n\nVersion: 1\n",
			installed: "Package: a\nVersion: 1\n",
			kept:      []string{"a"},
			reason:    "n is not installed",
		},
		{
			name:      "held",
			available: "Package: a\nVersion: 2\n",
			installed: "Package: a\nVersion: 1\nStatus: hold ok installed\n",
			kept:      []string{"a"},
			reason:    "held",
		},
		{
			name:      "an installed package's exact dependency keeps the upgrade back",
			available: "Package: lib\nVersion: 2\n\nPackage: app\nVersion: 1\nDepends: lib (= 1)\n",
			installed: "Package: lib\nVersion: 1\n\nPackage: app\nVersion: 1\nDepends: lib (= 1)\n",
			kept:      []string{"lib"},
			reason:    "app 1 (installed, not upgraded) Depends: lib (= 1)",
		},
		{
			name:      "both sides upgraded together",
			available: "Package: lib\nVersion: 2\n\nPackage: app\nVersion: 2\nDepends: lib (= 2)\n",
			installed: "Package: lib\nVersion: 1\n\nPackage: app\nVersion: 1\nDepends: lib (= 1)\n",
			up:        []string{"app 2", "lib 2"},
		},
		{
			name:      "keeping one back cascades",
			available: "Package: lib\nVersion: 2\nDepends: new\n\nPackage: app\nVersion: 2\nDepends: lib (>= 2)\n\nPackage: new\nVersion: 1\n",
			installed: "Package: lib\nVersion: 1\n\nPackage: app\nVersion: 1\nDepends: lib\n",
			kept:      []string{"app", "lib"},
			reason:    "lib stays at 1",
		},
		{
			name:      "Breaks against an installed package",
			available: "Package: a\nVersion: 2\nBreaks: b (<< 2)\n\nPackage: b\nVersion: 1\n",
			installed: "Package: a\nVersion: 1\n\nPackage: b\nVersion: 1\n",
			kept:      []string{"a"},
			reason:    "Breaks: b (<< 2) and b 1 is installed",
		},
		{
			name:      "an installed package's Conflicts keep the upgrade back",
			available: "Package: a\nVersion: 2\n\nPackage: b\nVersion: 1\nConflicts: a (>= 2)\n",
			installed: "Package: a\nVersion: 1\n\nPackage: b\nVersion: 1\nConflicts: a (>= 2)\n",
			kept:      []string{"a"},
			reason:    "b 1 (installed, not upgraded) Conflicts: a (>= 2)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := Upgrade(NewUniverse("amd64", mkPackages(t, tc.available)), mkInstalled(t, tc.installed), ResolveOptions{})
			up, kept := renderUpgrade(res)
			if !slices.Equal(up, tc.up) || !slices.Equal(kept, tc.kept) {
				t.Fatalf("upgrades %v kept %v; want %v kept %v", up, kept, tc.up, tc.kept)
			}
			if tc.reason != "" && !strings.Contains(res.Kept[0].Reason, tc.reason) {
				t.Errorf("reason %q lacks %q", res.Kept[0].Reason, tc.reason)
			}
			for _, p := range res.Set.Packages {
				if p.Upgrade == nil || p.Reason != "upgrade" {
					t.Errorf("%s: Upgrade %v reason %q", p.Name, p.Upgrade, p.Reason)
				}
			}
		})
	}
}

// TestUpgradeMatchesAptGet compares Upgrade with `apt-get -s upgrade` run on
// the same random systems (a flat file: repository and a dpkg status in a
// private root). Skipped with a message where apt-get is not installed.
// UPGRADE_SEED=N runs one system. The systems have versioned, virtual and
// self relations, Essential packages and Priority fields, so the keep-back
// order (apt's scores) matters. Measured with apt 2.6.1: see README.
func TestUpgradeMatchesAptGet(t *testing.T) {
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("apt-get is not installed: the comparison with apt needs it")
	}
	seeds := 100
	if testing.Short() {
		seeds = 10
	}
	differ := 0
	for seed := uint64(0); seed < uint64(seeds); seed++ {
		if os.Getenv("UPGRADE_SEED") != "" && fmt.Sprint(seed) != os.Getenv("UPGRADE_SEED") {
			continue
		}
		rng := rand.New(rand.NewPCG(seed, 7))
		avail, installed := randomUpgradeWorld(rng)
		res := Upgrade(NewUniverse("amd64", mkPackages(t, avail)), mkInstalled(t, installed), ResolveOptions{})
		up, kept := renderUpgrade(res)
		aptUp, aptKept := aptGetUpgrade(t, avail, installed)
		if !slices.Equal(up, aptUp) || !slices.Equal(kept, aptKept) {
			differ++
			t.Errorf("seed %d: pgassemble upgrades %v keeps %v; apt-get upgrades %v keeps %v\navailable:\n%s\ninstalled:\n%s",
				seed, up, kept, aptUp, aptKept, avail, installed)
		}
	}
	t.Logf("%d of %d random systems differ from apt-get", differ, seeds)
}

// randomUpgradeWorld makes a consistent installed system (version 1 of some
// packages, whose stanzas are the repository's version 1) and newer
// versions with random relations.
func randomUpgradeWorld(rng *rand.Rand) (avail, installed string) {
	const n = 9
	name := func(i int) string { return fmt.Sprintf("p%d", i) }
	rel := func() string {
		s := name(rng.IntN(n))
		if rng.IntN(6) == 0 {
			s = fmt.Sprintf("v%d", rng.IntN(2)) // virtual
		}
		switch rng.IntN(4) {
		case 0:
			s += fmt.Sprintf(" (>= %d)", 1+rng.IntN(3))
		case 1:
			s += fmt.Sprintf(" (<< %d)", 1+rng.IntN(3))
		case 2:
			s += fmt.Sprintf(" (= %d)", 1+rng.IntN(2))
		}
		return s
	}
	var a, in strings.Builder
	for i := 0; i < n; i++ {
		v1 := fmt.Sprintf("Package: %s\nVersion: 1\nArchitecture: amd64\n", name(i))
		switch rng.IntN(6) {
		case 0:
			v1 += "Priority: required\n"
		case 1:
			v1 += "Priority: optional\n"
		case 2:
			v1 += "Priority: important\n"
		}
		if rng.IntN(10) == 0 {
			v1 += "Essential: yes\n"
		}
		a.WriteString(v1 + "\n")
		if rng.IntN(3) != 0 {
			status := "install ok installed"
			if rng.IntN(8) == 0 {
				status = "hold ok installed"
			}
			fmt.Fprintf(&in, "%sStatus: %s\n\n", v1, status)
		}
		for v := 2; v <= 3; v++ {
			if rng.IntN(2) == 0 {
				continue
			}
			fmt.Fprintf(&a, "Package: %s\nVersion: %d\nArchitecture: amd64\n", name(i), v)
			var deps []string
			for k := rng.IntN(3); k > 0; k-- {
				deps = append(deps, rel())
			}
			if len(deps) > 0 {
				fmt.Fprintf(&a, "Depends: %s\n", strings.Join(deps, ", "))
			}
			if rng.IntN(5) == 0 {
				fmt.Fprintf(&a, "Breaks: %s\n", rel())
			}
			if rng.IntN(5) == 0 {
				fmt.Fprintf(&a, "Provides: v%d\n", rng.IntN(2))
			}
			if rng.IntN(6) == 0 {
				fmt.Fprintf(&a, "Conflicts: %s\n", rel())
			}
			a.WriteString("\n")
		}
	}
	return a.String(), in.String()
}

var (
	aptInstRE = regexp.MustCompile(`(?m)^Inst (\S+) \[[^\]]*\] \((\S+) `)
	aptKeptRE = regexp.MustCompile(`The following packages have been kept back:\n((?:  [^\n]*\n)+)`)
)

// aptGetUpgrade runs `apt-get -s upgrade` in a private root.
func aptGetUpgrade(t *testing.T, avail, installed string) (up, kept []string) {
	t.Helper()
	root := t.TempDir()
	repo := filepath.Join(root, "repo")
	for _, d := range []string{"repo", "etc/apt/apt.conf.d", "etc/apt/preferences.d", "etc/apt/sources.list.d", "etc/apt/trusted.gpg.d",
		"var/lib/dpkg", "var/lib/apt/lists/partial", "var/cache/apt/archives/partial", "var/log/apt"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var pk strings.Builder
	for _, st := range strings.Split(strings.TrimSpace(avail), "\n\n") {
		f := strings.Fields(st)
		fmt.Fprintf(&pk, "%s\nMaintainer: T <t@example.org>\nDescription: d\nFilename: ./%s_%s.deb\nSize: 1\nSHA256: %s\n\n", st, f[1], f[3], strings.Repeat("0", 64))
	}
	var status strings.Builder
	for _, st := range strings.Split(strings.TrimSpace(installed), "\n\n") {
		if st != "" {
			fmt.Fprintf(&status, "%s\nMaintainer: T <t@example.org>\nDescription: d\n\n", st)
		}
	}
	files := map[string]string{
		"repo/Packages":              pk.String(),
		"var/lib/dpkg/status":        status.String(),
		"etc/apt/sources.list":       "deb [trusted=yes] file:" + repo + " ./\n",
		"etc/apt/apt.conf.d/99local": "",
	}
	for p, body := range files {
		if err := os.WriteFile(filepath.Join(root, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	opts := []string{"-o", "Dir=" + root, "-o", "Dir::State::status=" + filepath.Join(root, "var/lib/dpkg/status"),
		"-o", "APT::Architecture=amd64", "-o", "APT::Architectures::=amd64", "-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root",
		"-o", "Acquire::AllowInsecureRepositories=1", "-o", "Dir::Etc::main=/dev/null", "-q"}
	if out, err := exec.Command("apt-get", append(opts, "update")...).CombinedOutput(); err != nil {
		t.Fatalf("apt-get update: %v\n%s", err, out)
	}
	out, err := exec.Command("apt-get", append(opts, "-s", "upgrade")...).CombinedOutput()
	if err != nil {
		t.Fatalf("apt-get -s upgrade: %v\n%s", err, out)
	}
	for _, m := range aptInstRE.FindAllStringSubmatch(string(out), -1) {
		up = append(up, m[1]+" "+m[2])
	}
	if m := aptKeptRE.FindStringSubmatch(string(out)); m != nil {
		kept = strings.Fields(m[1])
	}
	slices.Sort(up)
	slices.Sort(kept)
	return up, kept
}
