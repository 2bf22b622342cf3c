package apt

import "testing"

func TestInstallSetAfter(t *testing.T) {
	old := &Package{Name: "libc6", Version: "2.36-9", Status: "install ok installed"}
	base := &Package{Name: "base-files", Version: "13", Status: "install ok installed"}
	installed := []*Package{base, old}
	set := &InstallSet{Packages: []Planned{
		{Package: &Package{Name: "libc6", Version: "2.41-12"}, Upgrade: old},
		{Package: &Package{Name: "postgresql-17", Version: "17.12-1"}},
	}}
	got := set.After(installed)
	if len(got) != 3 || got[0] != base || got[1].Name != "libc6" || got[1].Version != "2.41-12" || got[2].Name != "postgresql-17" {
		t.Fatalf("After = %v", got)
	}
	for _, p := range got[1:] {
		if p.Status != "install ok installed" {
			t.Errorf("%s: status %q", p.Name, p.Status)
		}
	}
	if installed[1] != old || old.Version != "2.36-9" {
		t.Error("After modified the installed set it was given")
	}
	if set.Packages[1].Status != "" {
		t.Error("After modified the install set's packages")
	}
}
