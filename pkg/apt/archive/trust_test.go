package archive_test

// Attacks on the chain of trust and faults of a mirror, each through the
// public interface (Client.Indexes, Release, Download) against a signed
// fixture repository served on loopback.

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/klauspost/compress/zstd"

	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/apt/apttest"
	"github.com/pgassemble/pgassemble/pkg/apt/archive"
)

func trixie(extra ...func(*apttest.Config)) apttest.Config {
	c := apttest.Config{Suite: "trixie", Components: []string{"main"}, Packages: testPackages(),
		Date: time.Now().Add(-time.Hour)}
	for _, f := range extra {
		f(&c)
	}
	return c
}

func find(t *testing.T, pkgs []*apt.Package, name string) *apt.Package {
	t.Helper()
	for _, p := range pkgs {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no package %s in %s", name, names(pkgs))
	return nil
}

func fileSHA256(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// A .deb planted in the cache under a verified package's hash (another
// valid .deb, or the right one with a flipped byte) is never used: the
// next Download hashes it, removes it and fetches the signed one.
func TestPlantedDebIsRefetched(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, r *apttest.Repo, dst string)
	}{
		{"another valid deb", func(t *testing.T, r *apttest.Repo, dst string) {
			b, err := os.ReadFile(filepath.Join(r.Dir, r.Deb("bar", "2:2.0-1", "amd64").Path))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(dst, b, 0o644)
		}},
		{"flipped byte", func(t *testing.T, r *apttest.Repo, dst string) {
			b, _ := os.ReadFile(dst)
			b[len(b)/2] ^= 1
			os.WriteFile(dst, b, 0o644)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := apttest.NewRepo(t, trixie())
			ctx := context.Background()
			cache := t.TempDir()
			pkgs, err := newClient(cache).Indexes(ctx, repos(t, r, r.KeyringFile), "amd64")
			if err != nil {
				t.Fatal(err)
			}
			foo := find(t, pkgs, "foo")
			if _, err := newClient(cache).Download(ctx, []*apt.Package{foo}); err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(cache, "debs", "sha256", foo.SHA256+".deb")
			tc.plant(t, r, dst)
			r.ResetCounts()
			paths, err := newClient(cache).Download(ctx, []*apt.Package{foo})
			if err != nil {
				t.Fatal(err)
			}
			if got := fileSHA256(t, paths[0]); got != foo.SHA256 {
				t.Fatalf("Download returned a file with SHA256 %s, the index says %s", got, foo.SHA256)
			}
			if n := r.Hits("/" + foo.Filename); n != 1 {
				t.Errorf("%d downloads of foo after the plant, want 1", n)
			}
		})
	}
}

// Cached indexes (the verified blob and the derived decompressed copy)
// are checked against the signed hashes on every read: a planted index
// adding a package is not believed.
func TestPlantedIndexIsRefetched(t *testing.T) {
	for _, target := range []string{"plain", "blob"} {
		t.Run(target, func(t *testing.T) {
			r := apttest.NewRepo(t, trixie())
			ctx := context.Background()
			cache := t.TempDir()
			want, err := newClient(cache).Indexes(ctx, repos(t, r, r.KeyringFile), "amd64")
			if err != nil {
				t.Fatal(err)
			}
			evil := "Package: evil\nVersion: 1\nArchitecture: amd64\nFilename: pool/evil.deb\nSize: 1\nSHA256: " +
				strings.Repeat("0", 64) + "\n"
			var planted []string
			switch target {
			case "plain":
				planted, _ = filepath.Glob(filepath.Join(cache, "plain", "*.zst"))
				for _, p := range planted {
					var b bytes.Buffer
					zw, _ := zstd.NewWriter(&b)
					zw.Write([]byte(evil))
					zw.Close()
					os.WriteFile(p, b.Bytes(), 0o644)
				}
			case "blob":
				os.RemoveAll(filepath.Join(cache, "plain"))
				for _, f := range cacheFiles(t, filepath.Join(cache, "blobs")) {
					p := filepath.Join(cache, "blobs", f)
					b, _ := os.ReadFile(p)
					if bytes.HasPrefix(b, []byte("\xfd7zXZ")) { // the xz index
						var gz bytes.Buffer
						zw := gzip.NewWriter(&gz)
						zw.Write([]byte(evil))
						zw.Close()
						os.WriteFile(p, gz.Bytes(), 0o644)
						planted = append(planted, p)
					}
				}
			}
			if len(planted) == 0 {
				t.Fatalf("nothing to plant in the %s cache: %v", target, cacheFiles(t, cache))
			}
			got, err := newClient(cache).Indexes(ctx, repos(t, r, r.KeyringFile), "amd64")
			if err != nil {
				t.Fatal(err)
			}
			if names(got) != names(want) {
				t.Fatalf("after planting: %s, want %s", names(got), names(want))
			}
			for _, p := range planted {
				if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("evil")) {
					t.Errorf("planted %s still in the cache", p)
				}
			}
		})
	}
}

// Without XDG_CACHE_HOME and HOME the cache is a per-user directory,
// created 0700; one that another user could have prepared is refused.
func TestCacheDirWithoutHome(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", "relative/cache") // ignored, as the XDG specification says
	t.Setenv("HOME", "")
	t.Setenv("TMPDIR", tmp)
	dir := archive.DefaultCacheDir()
	if want := filepath.Join(tmp, fmt.Sprintf("pgassemble-cache-%d", os.Getuid())); dir != want {
		t.Fatalf("DefaultCacheDir() = %s, want %s", dir, want)
	}
	r := apttest.NewRepo(t, trixie())
	rs := repos(t, r, r.KeyringFile)
	if _, err := archive.New().Indexes(context.Background(), rs, "amd64"); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(dir); err != nil || st.Mode().Perm() != 0o700 || !st.IsDir() {
		t.Fatalf("cache directory %s: %v, %v", dir, st.Mode(), err)
	}
	for _, tc := range []struct {
		name    string
		prepare func()
	}{
		{"open to others", func() { os.Chmod(dir, 0o755) }},
		{"a symbolic link", func() { os.RemoveAll(dir); os.Symlink(t.TempDir(), dir) }},
		{"a file", func() { os.RemoveAll(dir); os.WriteFile(dir, nil, 0o600) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.prepare()
			_, err := archive.New().Indexes(context.Background(), rs, "amd64")
			if !errors.Is(err, archive.ErrCacheDir) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("err = %v, want ErrCacheDir naming %s", err, dir)
			}
		})
	}
}

// Signatures Debian's verifier refuses are refused, in both the
// clearsigned and the detached form, with an error naming key and reason.
func TestWeakSignaturesRefused(t *testing.T) {
	rsa := func(bits int) *packet.Config {
		return &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: bits}
	}
	for _, tc := range []struct {
		name    string
		key     *packet.Config // nil: the repository's Ed25519 key
		hash    crypto.Hash
		wantErr string // "" = accepted
	}{
		{"SHA-1 digest", nil, crypto.SHA1, "SHA1"},
		{"RSA 1024", rsa(1024), crypto.SHA256, "RSA with 1024 bits"},
		{"RSA 2048", rsa(2048), crypto.SHA256, ""},
		{"RSA 2048 SHA-512", rsa(2048), crypto.SHA512, ""},
		{"ECDSA P-256", &packet.Config{Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveNistP256}, crypto.SHA256, ""},
		{"Ed25519 SHA-256", nil, crypto.SHA256, ""},
	} {
		for _, detached := range []bool{false, true} {
			name := tc.name + "/InRelease"
			if detached {
				name = tc.name + "/Release.gpg"
			}
			t.Run(name, func(t *testing.T) {
				r := apttest.NewRepo(t, trixie(func(c *apttest.Config) { c.NoInRelease = detached }))
				key, keyring := r.Key, r.KeyringFile
				if tc.key != nil {
					key = apttest.NewKeyWith(t, "weak", tc.key)
					keyring = filepath.Join(t.TempDir(), "weak.gpg")
					if err := apttest.WriteKeyring(keyring, key, false); err != nil {
						t.Fatal(err)
					}
				}
				r.SignWithConfig(key, &packet.Config{DefaultHash: tc.hash})
				_, err := newClient(t.TempDir()).Release(context.Background(), repos(t, r, keyring)[0])
				if tc.wantErr == "" {
					if err != nil {
						t.Fatal(err)
					}
					return
				}
				fp := fmt.Sprintf("%X", key.PrimaryKey.Fingerprint)
				if !errors.Is(err, archive.ErrWeakSignature) || !errors.Is(err, archive.ErrSignature) ||
					!strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), fp) {
					t.Fatalf("err = %v, want ErrWeakSignature naming %s and %q", err, fp, tc.wantErr)
				}
			})
		}
	}
}

// A Signed-By fingerprint ending in "!" accepts signatures by exactly that
// key: a primary key pinned so does not accept its signing subkey.
func TestSubkeyPin(t *testing.T) {
	r := apttest.NewRepo(t, trixie())
	e := r.Key
	if err := e.AddSigningSubkey(&packet.Config{Algorithm: packet.PubKeyAlgoEdDSA,
		Time: func() time.Time { return time.Now().Add(-30 * time.Minute) }}); err != nil {
		t.Fatal(err)
	}
	keyring := filepath.Join(t.TempDir(), "k.gpg")
	if err := apttest.WriteKeyring(keyring, e, false); err != nil {
		t.Fatal(err)
	}
	r.SignWith(e) // signed by the newest signing subkey
	primary := fmt.Sprintf("%X", e.PrimaryKey.Fingerprint)
	sub := fmt.Sprintf("%X", e.Subkeys[len(e.Subkeys)-1].PublicKey.Fingerprint)
	for _, tc := range []struct {
		pin  string
		want error
	}{
		{primary, nil},
		{sub, nil},
		{sub + "!", nil},
		{primary + "!", archive.ErrUnknownKey},
	} {
		t.Run(tc.pin, func(t *testing.T) {
			src, err := archive.ParseSourceLine(r.SourceLine())
			if err != nil {
				t.Fatal(err)
			}
			src.SignedBy = []string{keyring, tc.pin}
			rs, err := archive.Repos(os.DirFS("/"), []archive.Source{src})
			if err != nil {
				t.Fatal(err)
			}
			_, err = newClient(t.TempDir()).Release(context.Background(), rs[0])
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// An older validly signed Release than the newest one seen for the
// repository is refused (rollback, freeze), and so is one dated in the
// future; WithCheckDate(false) turns both checks off.
func TestReleaseDateChecks(t *testing.T) {
	for _, detached := range []bool{false, true} {
		t.Run(fmt.Sprintf("detached=%v", detached), func(t *testing.T) {
			r := apttest.NewRepo(t, trixie(func(c *apttest.Config) { c.NoInRelease = detached }))
			ctx := context.Background()
			cache := t.TempDir()
			rs := repos(t, r, r.KeyringFile)
			if _, err := newClient(cache).Indexes(ctx, rs, "amd64"); err != nil {
				t.Fatal(err)
			}
			// The mirror replays an older, validly signed Release (served
			// as new: no 304 from the conditional GET).
			r.Update("trixie", func(c *apttest.Config) { c.Date = time.Now().Add(-48 * time.Hour) })
			for _, n := range []string{"InRelease", "Release", "Release.gpg"} {
				os.Chtimes(filepath.Join(r.Dir, "dists", "trixie", n), time.Now(), time.Now())
			}
			_, err := newClient(cache).Indexes(ctx, rs, "amd64")
			if !errors.Is(err, archive.ErrRollback) || !strings.Contains(err.Error(), r.URL+"/dists/trixie/") {
				t.Fatalf("older Release: err = %v, want ErrRollback naming the URL", err)
			}
			if _, err := newClient(cache, archive.WithCheckDate(false)).Indexes(ctx, rs, "amd64"); err != nil {
				t.Fatalf("older Release with date checks off: %v", err)
			}
			// Ten years ahead: not valid yet.
			r.Update("trixie", func(c *apttest.Config) { c.Date = time.Now().AddDate(10, 0, 0) })
			_, err = newClient(t.TempDir()).Indexes(ctx, rs, "amd64")
			if !errors.Is(err, archive.ErrNotValidYet) {
				t.Fatalf("future Release: err = %v, want ErrNotValidYet", err)
			}
			if _, err := newClient(t.TempDir(), archive.WithCheckDate(false)).Indexes(ctx, rs, "amd64"); err != nil {
				t.Fatalf("future Release with date checks off: %v", err)
			}
		})
	}
}

// Entries of a signed index that would escape the cache or disable the
// download bound are refused, naming the package and the field.
func TestInvalidIndexFields(t *testing.T) {
	for _, tc := range []struct {
		field, value string
	}{
		{"SHA256", "../../../../../../../../../../../../../../../../../../tmp/x.deb"},
		{"SHA256", strings.Repeat("g", 64)},
		{"Size", "-1"},
		{"Filename", "../../../etc/passwd"},
		{"Filename", "/etc/passwd"},
	} {
		t.Run(tc.field+"="+tc.value, func(t *testing.T) {
			r := apttest.NewRepo(t, trixie(func(c *apttest.Config) {
				c.EditStanza = func(p *apt.Paragraph) {
					if p.Get("Package") == "foo" {
						p.Set(tc.field, tc.value)
					}
				}
			}))
			cache := t.TempDir()
			_, err := newClient(cache).Indexes(context.Background(), repos(t, r, r.KeyringFile), "amd64")
			if !errors.Is(err, archive.ErrBadIndex) || !strings.Contains(err.Error(), "foo") || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("err = %v, want ErrBadIndex naming foo and %s", err, tc.field)
			}
			assertNoTemp(t, cache)
		})
	}
}

// A Release that gives no SHA256 for an index the source asks for is an
// error, not a repository silently left out.
func TestReleaseWithoutSHA256(t *testing.T) {
	r := apttest.NewRepo(t, trixie())
	r.EditRelease("trixie", func(s string) string { return strings.Replace(s, "SHA256:", "MD5Sum:", 1) })
	_, err := newClient(t.TempDir()).Indexes(context.Background(), repos(t, r, r.KeyringFile), "amd64")
	if !errors.Is(err, archive.ErrNoIndex) || !strings.Contains(err.Error(), "main/binary-amd64/Packages") {
		t.Fatalf("err = %v, want ErrNoIndex naming the index", err)
	}
}

// bombReader yields a Packages stanza whose Description is one line of n
// bytes, without holding it in memory.
type bombReader struct {
	head []byte
	n    int
}

func (b *bombReader) Read(p []byte) (int, error) {
	if len(b.head) > 0 {
		k := copy(p, b.head)
		b.head = b.head[k:]
		return k, nil
	}
	if b.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), b.n)
	for i := range p[:k] {
		p[i] = 'a'
	}
	b.n -= k
	return k, nil
}

// A signed Packages.gz of a few hundred KB that expands to a single
// 256 MiB line fails at once, with little memory and a short error.
func TestDecompressionBomb(t *testing.T) {
	if testing.Short() {
		t.Skip("compresses 256 MiB")
	}
	r := apttest.NewRepo(t, trixie(func(c *apttest.Config) { c.Compressions = []string{"gz"} }))
	pr, pw := io.Pipe()
	go func() {
		zw, _ := gzip.NewWriterLevel(pw, gzip.BestSpeed)
		_, err := io.Copy(zw, &bombReader{head: []byte("Package: bomb\nVersion: 1\nArchitecture: amd64\nDescription: "), n: 256 << 20})
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
	}()
	r.ReplaceFile("trixie", "main/binary-amd64/Packages.gz", pr)
	cache := t.TempDir()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := newClient(cache).Indexes(context.Background(), repos(t, r, r.KeyringFile), "amd64")
	runtime.ReadMemStats(&after)
	if !errors.Is(err, apt.ErrTooLarge) {
		t.Fatalf("err = %v, want apt.ErrTooLarge", err)
	}
	if len(err.Error()) > 400 {
		t.Errorf("error of %d bytes: %.400s...", len(err.Error()), err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("parsing the bomb allocated %d MiB", alloc>>20)
	}
	assertNoTemp(t, cache)
}

// Temporary files a killed run left in the cache are removed by the next
// run once they are old; fresh ones (a concurrent run's) are kept.
func TestStaleTempFilesSwept(t *testing.T) {
	r := apttest.NewRepo(t, trixie())
	cache := t.TempDir()
	dir := filepath.Join(cache, "debs", "sha256")
	os.MkdirAll(dir, 0o755)
	old, fresh := filepath.Join(dir, ".tmp-123"), filepath.Join(dir, ".tmp-456")
	os.WriteFile(old, []byte("partial"), 0o600)
	os.WriteFile(fresh, []byte("partial"), 0o600)
	os.Chtimes(old, time.Now().Add(-2*time.Hour), time.Now().Add(-2*time.Hour))
	if _, err := newClient(cache).Indexes(context.Background(), repos(t, r, r.KeyringFile), "amd64"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file kept: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temporary file removed: %v", err)
	}
}
