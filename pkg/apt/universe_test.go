package apt

import (
	"reflect"
	"testing"
)

func TestNewUniverse(t *testing.T) {
	pkgs := mkPackages(t, `Package: a
Version: 1.0
Provides: v

Package: a
Version: 2.0
Provides: v (= 2)

Package: b
Version: 1
Architecture: arm64
Provides: v

Package: c
Version: 1
Architecture: all
Provides: v, w:amd64

Package: a
Version: 2.0
Provides: v (= 2)

Package: a
Version: 3.0
X-Priority: 100`)
	for _, p := range pkgs {
		if p.Paragraph.Has("X-Priority") {
			p.Repository = &Repository{Priority: 100}
		}
	}
	u := NewUniverse("amd64", pkgs)
	var versions []string
	for _, p := range u.Versions("a") {
		versions = append(versions, p.Version)
	}
	if want := []string{"2.0", "1.0", "3.0"}; !reflect.DeepEqual(versions, want) {
		t.Errorf("versions of a = %v, want %v (priority first, duplicates dropped)", versions, want)
	}
	if c := u.Candidate("a"); c == nil || c.Version != "2.0" || c != pkgs[1] {
		t.Errorf("candidate of a = %v, want the first 2.0", c)
	}
	if u.Candidate("b") != nil {
		t.Error("foreign-architecture b is in the universe")
	}
	var provs []string
	for _, p := range u.Providers("v") {
		provs = append(provs, p.Name+"="+p.Version)
	}
	if want := []string{"a=1.0", "a=2.0", "c=1"}; !reflect.DeepEqual(provs, want) {
		t.Errorf("providers of v = %v, want %v", provs, want)
	}
	if len(u.Providers("w")) != 1 || u.Len() != 2 || u.Arch() != "amd64" {
		t.Errorf("w providers %v, len %d", u.Providers("w"), u.Len())
	}
}
