package replay

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"pault.ag/go/debian/version"

	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/apt/archive"
)

// The packages of CloudNativePG's minimal and standard sets that have
// install-time scripts or file-trigger interests (the others only activate
// ldconfig), per suite.
var liveScriptPackages = map[string][]string{
	"trixie": {"adduser", "ca-certificates", "dirmngr", "gpg", "gpg-agent", "libgcrypt20", "libgssapi-krb5-2",
		"libreadline8t64", "libsasl2-modules", "locales", "locales-all", "netbase", "openssl", "perl",
		"pinentry-curses", "postgresql-17", "postgresql-client-17", "postgresql-client-common",
		"postgresql-common", "procps", "readline-common", "ssl-cert", "ucf"},
	"bookworm": {"ca-certificates", "dirmngr", "gpg-agent", "libgssapi-krb5-2", "libsasl2-modules", "locales",
		"locales-all", "netbase", "openssl", "perl", "pinentry-curses", "postgresql-15", "postgresql-client-15",
		"postgresql-client-common", "postgresql-common", "procps", "readline-common", "ssl-cert", "ucf"},
}

// liveRepos returns the host's Debian mirrors (from its apt sources) as
// repositories of suite, or skips when they cannot be reached.
func liveRepos(t *testing.T, suite string) []archive.Repo {
	t.Helper()
	const keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
	if _, err := os.Stat(keyring); err != nil {
		t.Skipf("%s is absent (package debian-archive-keyring)", keyring)
	}
	kr, err := archive.LoadKeyrings(os.DirFS("/"), keyring)
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := archive.ReadSources(os.DirFS("/"))
	if err != nil {
		t.Skipf("cannot read the host's apt sources: %v", err)
	}
	var main, security string
	for _, s := range srcs {
		if !s.Enabled || !slices.Contains(s.Types, "deb") || len(s.URIs) == 0 {
			continue
		}
		u := strings.TrimRight(s.URIs[0], "/")
		if strings.Contains(u, "security") {
			security = u
		} else if main == "" {
			main = u
		}
	}
	if main == "" {
		t.Skip("the host's apt sources name no Debian mirror")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodHead, main+"/dists/"+suite+"/InRelease", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Skipf("the host's Debian mirror is unreachable: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Skipf("the host's Debian mirror has no %s: %s", suite, resp.Status)
	}
	repos := []archive.Repo{
		{URI: main, Suite: suite, Components: []string{"main"}, Keyring: kr},
		{URI: main, Suite: suite + "-updates", Components: []string{"main"}, Keyring: kr},
	}
	if security != "" {
		repos = append(repos, archive.Repo{URI: security, Suite: suite + "-security", Components: []string{"main"}, Keyring: kr})
	}
	return repos
}

// TestLiveArchiveNoUnhandled downloads the current packages with scripts
// of CloudNativePG's sets from the Debian archive (cached between runs)
// and checks that every command of their scripts is classified: a point
// release that changes a script shows up here first.
func TestLiveArchiveNoUnhandled(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: downloads about 50 MB on the first run")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	client := archive.New(archive.WithCacheDir(filepath.Join(cache, "pgassemble-test")))
	for _, suite := range []string{"trixie", "bookworm"} {
		t.Run(suite, func(t *testing.T) {
			repos := liveRepos(t, suite)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			all, err := client.Indexes(ctx, repos, "amd64")
			if isNetErr(err) {
				t.Skipf("the Debian archive is unreachable: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			latest := map[string]*apt.Package{}
			for _, p := range all {
				if !slices.Contains(liveScriptPackages[suite], p.Name) {
					continue
				}
				if cur, ok := latest[p.Name]; !ok || newer(p.Version, cur.Version) {
					latest[p.Name] = p
				}
			}
			var pkgs []*apt.Package
			for _, n := range liveScriptPackages[suite] {
				p, ok := latest[n]
				if !ok {
					t.Fatalf("%s: no %s in the archive", suite, n)
				}
				pkgs = append(pkgs, p)
			}
			paths, err := client.Download(ctx, pkgs)
			if isNetErr(err) {
				t.Skipf("the Debian archive is unreachable: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			var debs []*debFile
			for _, path := range paths {
				d, err := readDebControl(path)
				if err != nil {
					t.Fatal(err)
				}
				debs = append(debs, d)
			}
			p, err := New(debianBase(), Options{Arch: "amd64", Edits: []Edit{cnpgCreateClusterEdit}})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.AddPackages(toPackages(debs)); err != nil {
				t.Fatalf("%s: %v", suite, err)
			}
		})
	}
}

func newer(a, b string) bool {
	va, err1 := version.Parse(a)
	vb, err2 := version.Parse(b)
	if err1 != nil || err2 != nil {
		return a > b
	}
	return version.Compare(va, vb) > 0
}

func isNetErr(err error) bool {
	var ne net.Error
	var he *archive.HTTPError
	return err != nil && (errors.As(err, &ne) || errors.As(err, &he) && he.StatusCode >= 500)
}
