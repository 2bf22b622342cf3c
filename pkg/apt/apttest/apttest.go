package apttest

import (
	"bytes"
	"compress/gzip"
	"crypto"
	_ "crypto/sha1" // old archives' signatures, which the verifier must refuse
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ulikunitz/xz"

	"github.com/pgassemble/pgassemble/internal/debtest"
	"github.com/pgassemble/pgassemble/pkg/apt"
)

// Config describes one suite of a repository.
type Config struct {
	Suite    string // default "stable"
	Codename string // default Suite
	Origin   string // default "apttest"
	Label    string // default Origin
	// Components default to the keys of Packages, or ["main"].
	Components []string
	// Arches listed in the Release and indexed; default ["amd64"].
	// Packages of Architecture "all" appear in every binary-ARCH index.
	Arches []string
	// Packages maps a component to its packages.
	Packages map[string][]debtest.Deb
	// Date defaults to the time of publishing; ValidUntil is omitted when zero.
	Date, ValidUntil time.Time
	// NoByHash leaves out Acquire-By-Hash and by-hash/ copies.
	NoByHash bool
	// NoInRelease publishes only Release + Release.gpg.
	NoInRelease bool
	// Compressions of the Packages files published, among "xz", "gz" and
	// "" (plain); default all three.
	Compressions []string
	// AllIndex says where Architecture "all" packages are listed: "" (in
	// every binary-ARCH index, no binary-all), "separate" (only in
	// binary-all, "all" in Architectures, as some third-party archives do)
	// or "both" (binary-all and every binary-ARCH, with
	// No-Support-for-Architecture-all: Packages, as Debian does).
	AllIndex string
	// EditStanza, when set, changes each package's index stanza after
	// Filename, Size and SHA256 are filled in: a signed index with
	// hostile or broken fields.
	EditStanza func(*apt.Paragraph)
}

func (c *Config) defaults() {
	if c.Suite == "" {
		c.Suite = "stable"
	}
	if c.Codename == "" {
		c.Codename = c.Suite
	}
	if c.Origin == "" {
		c.Origin = "apttest"
	}
	if c.Label == "" {
		c.Label = c.Origin
	}
	if len(c.Components) == 0 {
		for comp := range c.Packages {
			c.Components = append(c.Components, comp)
		}
		sort.Strings(c.Components)
		if len(c.Components) == 0 {
			c.Components = []string{"main"}
		}
	}
	if len(c.Arches) == 0 {
		c.Arches = []string{"amd64"}
	}
	if c.Compressions == nil {
		c.Compressions = []string{"xz", "gz", ""}
	}
}

// indexArches are the binary-ARCH directories published.
func (c *Config) indexArches() []string {
	if c.AllIndex == "" {
		return c.Arches
	}
	return append([]string{"all"}, c.Arches...)
}

// Fault is injected into answers for one URL path: the faults of a mirror
// or a proxy in front of it.
type Fault struct {
	// Status, when non-zero, is answered instead of the file.
	Status int
	// RetryAfter, with Status (429 or 503), is sent as Retry-After.
	RetryAfter string
	// TruncateAt, when > 0, sends the full Content-Length but only this
	// many bytes, then drops the connection.
	TruncateAt int64
	// Stall sends the headers and StallAfter bytes of the body, then
	// nothing until the client gives up (a mirror that hangs).
	Stall      bool
	StallAfter int64
	// Reset drops the connection before answering (a connection reset).
	Reset bool
	// Corrupt serves the file with its last byte flipped.
	Corrupt bool
	// Redirect answers 302 with this Location.
	Redirect string
	// Times limits how many requests the fault applies to; 0 = all.
	Times int
}

// Repo is a repository on disk served over HTTP on 127.0.0.1.
type Repo struct {
	// URL is the repository base URI, without trailing slash.
	URL string
	// Dir is the repository root on disk.
	Dir string
	// Key signs the Release files; KeyringFile (binary) and
	// ArmoredKeyringFile (.asc) hold its public key.
	Key                             *openpgp.Entity
	KeyringFile, ArmoredKeyringFile string

	t          testing.TB
	signConfig *packet.Config
	mu         sync.Mutex
	suites     []Config
	faults     map[string]*Fault
	hits       map[string]int
	statuses   map[string][]int
	log        []string
	debs       map[string]PoolFile // "name_version_arch" -> file
	// dated is the Date each suite was last published with: a republish
	// without an explicit Date is dated at least a second later, as a real
	// archive's Date moves, so a conditional GET (If-Modified-Since has
	// one-second granularity) always sees it.
	dated map[string]time.Time
}

// PoolFile is one published .deb.
type PoolFile struct {
	Path   string // relative to URL, e.g. "pool/main/f/foo/foo_1.0_amd64.deb"
	SHA256 string
	Size   int64
}

// NewKey generates an OpenPGP signing key (Ed25519, fast) for tests.
func NewKey(t testing.TB, name string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "apttest", name+"@example.invalid", &packet.Config{
		Algorithm: packet.PubKeyAlgoEdDSA,
		Time:      func() time.Time { return time.Now().Add(-time.Hour) },
	})
	if err != nil {
		t.Fatalf("apttest: generate key: %v", err)
	}
	return e
}

// NewRepo writes the suites to a temporary directory, signs them with a
// fresh key and serves them until the test ends.
func NewRepo(t testing.TB, suites ...Config) *Repo {
	t.Helper()
	if len(suites) == 0 {
		suites = []Config{{}}
	}
	r := &Repo{
		Dir:      t.TempDir(),
		Key:      NewKey(t, "apttest-archive"),
		t:        t,
		faults:   map[string]*Fault{},
		hits:     map[string]int{},
		statuses: map[string][]int{},
	}
	keyDir := t.TempDir()
	r.KeyringFile = filepath.Join(keyDir, "apttest-archive.gpg")
	r.ArmoredKeyringFile = filepath.Join(keyDir, "apttest-archive.asc")
	if err := WriteKeyring(r.KeyringFile, r.Key, false); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyring(r.ArmoredKeyringFile, r.Key, true); err != nil {
		t.Fatal(err)
	}
	for _, s := range suites {
		s.defaults()
		r.suites = append(r.suites, s)
	}
	if err := r.publish(r.Key); err != nil {
		t.Fatalf("apttest: publish: %v", err)
	}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// WriteKeyring writes e's public key to path, armored or binary.
func WriteKeyring(path string, e *openpgp.Entity, armored bool) error {
	var b bytes.Buffer
	if armored {
		w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
		if err != nil {
			return err
		}
		if err := e.Serialize(w); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		b.WriteByte('\n')
	} else if err := e.Serialize(&b); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// SourceLine returns "URL SUITE COMPONENT..." for the first suite (or the
// named one), the form of `pgassemble resolve --source`.
func (r *Repo) SourceLine(suite ...string) string {
	s := r.suites[0]
	if len(suite) > 0 {
		s = r.suite(suite[0])
	}
	return r.URL + " " + s.Suite + " " + strings.Join(s.Components, " ")
}

func (r *Repo) suite(name string) Config {
	for _, s := range r.suites {
		if s.Suite == name {
			return s
		}
	}
	r.t.Fatalf("apttest: no suite %q", name)
	return Config{}
}

// Update changes a suite's configuration and republishes everything,
// signed with the repository key. Use it to add packages, expire the
// Release (ValidUntil in the past), and so on.
func (r *Repo) Update(suite string, fn func(*Config)) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.suites {
		if r.suites[i].Suite == suite {
			fn(&r.suites[i])
			r.suites[i].defaults()
			if err := r.publish(r.Key); err != nil {
				r.t.Fatalf("apttest: publish: %v", err)
			}
			return
		}
	}
	r.t.Fatalf("apttest: no suite %q", suite)
}

// SignWith re-signs every Release with another key (one the client does
// not trust, typically NewKey(t, "other")).
func (r *Repo) SignWith(e *openpgp.Entity) { r.SignWithConfig(e, nil) }

// SignWithConfig re-signs every Release with e and the signing options of
// cfg (cfg.DefaultHash picks the digest, e.g. crypto.SHA1 for a weak
// signature). It also becomes the configuration of later publishes.
func (r *Repo) SignWithConfig(e *openpgp.Entity, cfg *packet.Config) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.signConfig = cfg
	for _, s := range r.suites {
		if err := r.sign(s, e); err != nil {
			r.t.Fatal(err)
		}
	}
}

// NewKeyWith generates a signing key with the algorithm and size of cfg
// (e.g. RSA of 1024 bits), for tests of the verifier's key policy.
func NewKeyWith(t testing.TB, name string, cfg *packet.Config) *openpgp.Entity {
	t.Helper()
	c := *cfg
	if c.Time == nil {
		c.Time = func() time.Time { return time.Now().Add(-time.Hour) }
	}
	e, err := openpgp.NewEntity(name, "apttest", name+"@example.invalid", &c)
	if err != nil {
		t.Fatalf("apttest: generate key: %v", err)
	}
	return e
}

// TamperRelease changes the signed text of the suite's InRelease and
// Release after signing (the Label line), so their signatures are bad.
func (r *Repo) TamperRelease(suite string) {
	r.t.Helper()
	for _, name := range []string{"InRelease", "Release"} {
		p := filepath.Join(r.Dir, "dists", suite, name)
		b, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			r.t.Fatal(err)
		}
		b2 := bytes.Replace(b, []byte("\nLabel: "), []byte("\nLabel: tampered "), 1)
		if bytes.Equal(b, b2) {
			r.t.Fatalf("apttest: %s has no Label line to tamper with", p)
		}
		if err := os.WriteFile(p, b2, 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
}

// Corrupt flips the last byte of a published file in place (path relative
// to the repository root), after signing. by-hash copies are hard links,
// so they are corrupted too.
func (r *Repo) Corrupt(rel string) {
	r.t.Helper()
	p := filepath.Join(r.Dir, filepath.FromSlash(rel))
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		r.t.Fatalf("apttest: corrupt %s: empty or unreadable", rel)
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, st.Size()-1); err != nil {
		r.t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, st.Size()-1); err != nil {
		r.t.Fatal(err)
	}
}

// EditRelease rewrites the suite's Release text with fn and signs it
// again (InRelease and Release.gpg) with the repository key: a validly
// signed Release with whatever content a test needs.
func (r *Repo) EditRelease(suite string, fn func(string) string) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.suite(suite)
	p := filepath.Join(r.Dir, "dists", suite, "Release")
	b, err := os.ReadFile(p)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := writeFile(p, []byte(fn(string(b)))); err != nil {
		r.t.Fatal(err)
	}
	if err := r.sign(s, r.Key); err != nil {
		r.t.Fatal(err)
	}
}

// ReplaceFile publishes content as the file name of the suite (relative
// to dists/SUITE, e.g. "main/binary-amd64/Packages.gz", with its by-hash
// copy), lists its SHA256 and size in the Release and signs it again: a
// signed but hostile index. The content is streamed from content, so it
// may be huge.
func (r *Repo) ReplaceFile(suite, name string, content io.Reader) {
	r.t.Helper()
	p := filepath.Join(r.Dir, "dists", suite, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		r.t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.t.Fatal(err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if !r.suite(suite).NoByHash {
		bh := filepath.Join(filepath.Dir(p), "by-hash", "SHA256", sum)
		os.MkdirAll(filepath.Dir(bh), 0o755)
		os.Remove(bh)
		if err := os.Link(p, bh); err != nil {
			r.t.Fatal(err)
		}
	}
	r.EditRelease(suite, func(rel string) string {
		var out []string
		for _, l := range strings.Split(rel, "\n") {
			if f := strings.Fields(l); len(f) == 3 && f[2] == name && strings.HasPrefix(l, " ") {
				continue
			}
			out = append(out, l)
			if l == "SHA256:" {
				out = append(out, fmt.Sprintf(" %s %16d %s", sum, n, name))
			}
		}
		return strings.Join(out, "\n")
	})
}

// SetFault injects f for requests of the URL path p ("/dists/stable/InRelease").
func (r *Repo) SetFault(p string, f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults[p] = &f
}

// ClearFaults removes every injected fault.
func (r *Repo) ClearFaults() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = map[string]*Fault{}
}

// Hits counts requests whose URL path starts with prefix ("/" for all).
func (r *Repo) Hits(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for p, c := range r.hits {
		if strings.HasPrefix(p, prefix) {
			n += c
		}
	}
	return n
}

// HitsMatching counts requests whose URL path contains sub.
func (r *Repo) HitsMatching(sub string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for p, c := range r.hits {
		if strings.Contains(p, sub) {
			n += c
		}
	}
	return n
}

// Requests returns the URL paths requested so far, in order.
func (r *Repo) Requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

// ResetCounts forgets the requests counted so far.
func (r *Repo) ResetCounts() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hits = map[string]int{}
	r.statuses = map[string][]int{}
	r.log = nil
}

// Deb returns the published file of a package ("name_version_arch" with
// the version as written, epoch included).
func (r *Repo) Deb(name, version, arch string) PoolFile {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.debs[name+"_"+version+"_"+arch]
	if !ok {
		r.t.Fatalf("apttest: no package %s_%s_%s", name, version, arch)
	}
	return f
}

func (r *Repo) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	p := req.URL.Path
	r.hits[p]++
	r.log = append(r.log, p)
	var fault Fault
	if f := r.faults[p]; f != nil {
		fault = *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				delete(r.faults, p)
			}
		}
	}
	r.mu.Unlock()
	switch {
	case fault.Status != 0:
		if fault.RetryAfter != "" {
			w.Header().Set("Retry-After", fault.RetryAfter)
		}
		http.Error(w, http.StatusText(fault.Status), fault.Status)
		return
	case fault.Redirect != "":
		http.Redirect(w, req, fault.Redirect, http.StatusFound)
		return
	case fault.Reset:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if tc, ok := conn.(interface{ SetLinger(int) error }); ok {
					tc.SetLinger(0) // RST, not FIN
				}
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case fault.TruncateAt > 0 || fault.Stall || fault.Corrupt:
		b, err := os.ReadFile(filepath.Join(r.Dir, filepath.FromSlash(path.Clean(p))))
		if err != nil {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(http.StatusOK)
		if fault.Corrupt {
			b = append([]byte(nil), b...)
			b[len(b)-1] ^= 0xff
			w.Write(b)
			return
		}
		cut := fault.TruncateAt
		if fault.Stall {
			cut = fault.StallAfter
		}
		if cut < int64(len(b)) {
			b = b[:cut]
		}
		w.Write(b)
		if f, ok := w.(http.Flusher); ok {
			f.Flush() // the partial body must reach the client before the drop
		}
		if fault.Stall {
			<-req.Context().Done() // until the client gives up
		}
		panic(http.ErrAbortHandler) // drop the connection mid-body
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	http.FileServer(http.Dir(r.Dir)).ServeHTTP(sw, req)
	r.mu.Lock()
	r.statuses[p] = append(r.statuses[p], sw.status)
	r.mu.Unlock()
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Statuses returns the HTTP status codes answered for the URL path p, in
// order (injected faults excluded), e.g. to see a 304 Not Modified.
func (r *Repo) Statuses(p string) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.statuses[p]...)
}

// publish writes pool/, dists/ and signatures for every suite.
func (r *Repo) publish(key *openpgp.Entity) error {
	if err := os.RemoveAll(filepath.Join(r.Dir, "dists")); err != nil {
		return err
	}
	r.debs = map[string]PoolFile{}
	if r.dated == nil {
		r.dated = map[string]time.Time{}
	}
	for _, s := range r.suites {
		if s.Date.IsZero() {
			s.Date = time.Now().UTC().Truncate(time.Second)
			if last, ok := r.dated[s.Suite]; ok && !s.Date.After(last) {
				s.Date = last.Add(time.Second)
			}
		}
		r.dated[s.Suite] = s.Date
		if err := r.publishSuite(s); err != nil {
			return err
		}
		if err := r.sign(s, key); err != nil {
			return err
		}
	}
	return nil
}

func (r *Repo) publishSuite(s Config) error {
	dists := filepath.Join(r.Dir, "dists", s.Suite)
	type entry struct {
		name string
		sum  string
		size int64
	}
	var files []entry
	for _, comp := range s.Components {
		arches := s.indexArches()
		indexes := map[string]*bytes.Buffer{}
		for _, arch := range arches {
			indexes[arch] = &bytes.Buffer{}
		}
		for _, d := range s.Packages[comp] {
			stanza, err := r.poolDeb(comp, d, s.EditStanza)
			if err != nil {
				return err
			}
			arch := d.Control.Get("Architecture")
			for _, a := range arches {
				inArch := arch == "all" && a != "all" && s.AllIndex != "separate"
				if arch == a || inArch {
					if indexes[a].Len() > 0 {
						indexes[a].WriteByte('\n')
					}
					stanza.WriteTo(indexes[a])
				}
			}
		}
		for _, arch := range arches {
			dir := comp + "/binary-" + arch
			plain := indexes[arch].Bytes()
			for _, c := range s.Compressions {
				b, ext, err := compressIndex(c, plain)
				if err != nil {
					return err
				}
				name := dir + "/Packages" + ext
				if err := writeFile(filepath.Join(dists, name), b); err != nil {
					return err
				}
				sum := sha256.Sum256(b)
				e := entry{name, hex.EncodeToString(sum[:]), int64(len(b))}
				files = append(files, e)
				if !s.NoByHash {
					bh := filepath.Join(dists, dir, "by-hash", "SHA256", e.sum)
					if err := os.MkdirAll(filepath.Dir(bh), 0o755); err != nil {
						return err
					}
					os.Remove(bh)
					if err := os.Link(filepath.Join(dists, name), bh); err != nil {
						return err
					}
				}
			}
			rel := fmt.Sprintf("Archive: %s\nOrigin: %s\nLabel: %s\nComponent: %s\nArchitecture: %s\n", s.Suite, s.Origin, s.Label, comp, arch)
			if err := writeFile(filepath.Join(dists, dir, "Release"), []byte(rel)); err != nil {
				return err
			}
			sum := sha256.Sum256([]byte(rel))
			files = append(files, entry{dir + "/Release", hex.EncodeToString(sum[:]), int64(len(rel))})
		}
	}
	date := s.Date
	if date.IsZero() {
		date = time.Now()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Origin: %s\nLabel: %s\nSuite: %s\nCodename: %s\n", s.Origin, s.Label, s.Suite, s.Codename)
	fmt.Fprintf(&b, "Date: %s\n", date.UTC().Format("Mon, 02 Jan 2006 15:04:05 UTC"))
	if !s.ValidUntil.IsZero() {
		fmt.Fprintf(&b, "Valid-Until: %s\n", s.ValidUntil.UTC().Format("Mon, 02 Jan 2006 15:04:05 UTC"))
	}
	if !s.NoByHash {
		b.WriteString("Acquire-By-Hash: yes\n")
	}
	if s.AllIndex == "both" {
		b.WriteString("No-Support-for-Architecture-all: Packages\n")
	}
	fmt.Fprintf(&b, "Architectures: %s\nComponents: %s\n", strings.Join(s.indexArches(), " "), strings.Join(s.Components, " "))
	b.WriteString("Description: apttest repository\nSHA256:\n")
	for _, f := range files {
		fmt.Fprintf(&b, " %s %16d %s\n", f.sum, f.size, f.name)
	}
	return writeFile(filepath.Join(dists, "Release"), []byte(b.String()))
}

// poolDeb writes a package to pool/ and returns its Packages stanza.
func (r *Repo) poolDeb(comp string, d debtest.Deb, edit func(*apt.Paragraph)) (apt.Paragraph, error) {
	name, version, arch := d.Control.Get("Package"), d.Control.Get("Version"), d.Control.Get("Architecture")
	if name == "" || version == "" || arch == "" {
		return nil, fmt.Errorf("apttest: package needs Package, Version and Architecture: %v", d.Control)
	}
	b, err := d.Bytes()
	if err != nil {
		return nil, fmt.Errorf("apttest: build %s: %w", name, err)
	}
	fileVersion := version
	if i := strings.IndexByte(fileVersion, ':'); i >= 0 {
		fileVersion = fileVersion[i+1:] // the epoch is not part of file names
	}
	src := d.Control.Get("Source")
	if src == "" {
		src = name
	}
	src = strings.Fields(src)[0]
	rel := path.Join("pool", comp, src[:1], src, name+"_"+fileVersion+"_"+arch+".deb")
	if err := writeFile(filepath.Join(r.Dir, filepath.FromSlash(rel)), b); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	pf := PoolFile{Path: rel, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(b))}
	r.debs[name+"_"+version+"_"+arch] = pf
	stanza := append(apt.Paragraph(nil), d.Control...)
	stanza.Set("Filename", rel)
	stanza.Set("Size", strconv.FormatInt(pf.Size, 10))
	stanza.Set("SHA256", pf.SHA256)
	if edit != nil {
		edit(&stanza)
	}
	return stanza, nil
}

// sign writes InRelease and Release.gpg for a suite with key e.
func (r *Repo) sign(s Config, e *openpgp.Entity) error {
	dists := filepath.Join(r.Dir, "dists", s.Suite)
	rel, err := os.ReadFile(filepath.Join(dists, "Release"))
	if err != nil {
		return err
	}
	// Sign with the key's signing key (its newest signing subkey, if any),
	// as gpg does.
	priv := e.PrivateKey
	if k, ok := e.SigningKey(time.Now()); ok {
		priv = k.PrivateKey
	}
	weak := r.signConfig != nil && r.signConfig.DefaultHash == crypto.SHA1
	// Release.gpg: armored detached signature, as Debian publishes it.
	var sig bytes.Buffer
	if weak {
		err = armoredSHA1Sig(&sig, priv, packet.SigTypeBinary, rel)
	} else {
		err = openpgp.ArmoredDetachSign(&sig, e, bytes.NewReader(rel), r.signConfig)
	}
	if err != nil {
		return fmt.Errorf("apttest: sign Release: %w", err)
	}
	if err := writeFile(filepath.Join(dists, "Release.gpg"), sig.Bytes()); err != nil {
		return err
	}
	inrel := filepath.Join(dists, "InRelease")
	if s.NoInRelease {
		os.Remove(inrel)
		return r.stamp(s, dists)
	}
	var cs bytes.Buffer
	if weak {
		// The signed text of a clearsigned message is its lines with CRLF
		// endings, without the line ending before the signature.
		cs.WriteString("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA1\n\n")
		cs.Write(rel)
		text := bytes.ReplaceAll(bytes.TrimSuffix(rel, []byte("\n")), []byte("\n"), []byte("\r\n"))
		if err := armoredSHA1Sig(&cs, priv, packet.SigTypeText, text); err != nil {
			return fmt.Errorf("apttest: clearsign: %w", err)
		}
	} else {
		w, err := clearsign.Encode(&cs, priv, r.signConfig)
		if err != nil {
			return fmt.Errorf("apttest: clearsign: %w", err)
		}
		if _, err := w.Write(rel); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
	}
	if err := writeFile(inrel, cs.Bytes()); err != nil {
		return err
	}
	return r.stamp(s, dists)
}

// armoredSHA1Sig writes an armored v4 signature of data with a SHA-1
// digest, which go-crypto no longer makes: what an old archive signs with
// and Debian's verifier refuses.
func armoredSHA1Sig(w io.Writer, priv *packet.PrivateKey, sigType packet.SignatureType, data []byte) error {
	sig := &packet.Signature{
		Version: 4, SigType: sigType, PubKeyAlgo: priv.PubKeyAlgo, Hash: crypto.SHA1,
		CreationTime: time.Now(), IssuerKeyId: &priv.KeyId, IssuerFingerprint: priv.Fingerprint,
	}
	no := false
	cfg := &packet.Config{NonDeterministicSignaturesViaNotation: &no} // no salt notation: it needs a modern hash
	h, err := sig.PrepareSign(cfg)
	if err != nil {
		return err
	}
	h.Write(data)
	if err := sig.Sign(h, priv, cfg); err != nil {
		return err
	}
	aw, err := armor.Encode(w, "PGP SIGNATURE", nil)
	if err != nil {
		return err
	}
	if err := sig.Serialize(aw); err != nil {
		return err
	}
	if err := aw.Close(); err != nil {
		return err
	}
	_, err = io.WriteString(w, "\n")
	return err
}

// stamp sets the Release files' mtimes to the Release Date, which the
// file server sends as Last-Modified: a republish with a later Date is
// then seen by a conditional GET even within the same second.
func (r *Repo) stamp(s Config, dists string) error {
	if s.Date.IsZero() {
		return nil
	}
	for _, n := range []string{"InRelease", "Release", "Release.gpg"} {
		p := filepath.Join(dists, n)
		if _, err := os.Stat(p); err == nil {
			if err := os.Chtimes(p, s.Date, s.Date); err != nil {
				return err
			}
		}
	}
	return nil
}

func compressIndex(kind string, b []byte) ([]byte, string, error) {
	var out bytes.Buffer
	switch kind {
	case "":
		return b, "", nil
	case "gz":
		w := gzip.NewWriter(&out)
		w.Write(b)
		if err := w.Close(); err != nil {
			return nil, "", err
		}
		return out.Bytes(), ".gz", nil
	case "xz":
		w, err := xz.NewWriter(&out)
		if err != nil {
			return nil, "", err
		}
		w.Write(b)
		if err := w.Close(); err != nil {
			return nil, "", err
		}
		return out.Bytes(), ".xz", nil
	}
	return nil, "", fmt.Errorf("apttest: unknown compression %q", kind)
}

func writeFile(p string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o644)
}
