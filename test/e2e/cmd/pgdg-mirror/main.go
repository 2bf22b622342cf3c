// Command pgdg-mirror serves, on a loopback address, an apt repository shaped
// like PGDG's (dists/<codename>-pgdg with components "main" and the major, an
// InRelease signed by a key made at start and thrown away at exit) holding
// real Debian packages: every binary of the source packages of the named
// packages, at the versions apt would pick in the host's Debian mirror (read
// from the host's apt sources, with the host's codename replaced by
// -codename), downloaded and verified by pgassemble's own archive client.
//
// It is what an air-gapped PGDG mirror (one that re-signs what it copies) is
// to pgassemble: the end-to-end suite builds an image with --pg-source pgdg
// --pgdg-mirror URL --keyring KEY on it, then runs apt-get update && apt-get
// install of an extension from it in a derived container.
//
//	pgdg-mirror -dir DIR -listen 127.0.0.1:PORT -packages postgresql-17,postgresql-common,EXT -key-out KEY.asc
//
// It prints the repository URL once it serves, logs every request to
// -access-log, and stops on SIGTERM/SIGINT or after -ttl.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/apt/apttest"
	"github.com/pgassemble/pgassemble/pkg/apt/archive"
	"github.com/pgassemble/pgassemble/pkg/layer"
)

// urlPath is where the repository is served, PGDG's path.
const urlPath = "/pub/repos/apt"

type config struct {
	dir, listen, cache, keyOut, accessLog string
	codename, major, suffix               string
	arches, packages                      []string
	ttl                                   time.Duration
}

func main() {
	var c config
	var arches, packages string
	flag.StringVar(&c.dir, "dir", "", "directory the repository is written to (required)")
	flag.StringVar(&c.listen, "listen", "127.0.0.1:5150", "loopback address to serve on")
	flag.StringVar(&c.cache, "cache", "", "pgassemble archive cache for the downloaded .debs (default: DIR/cache)")
	flag.StringVar(&c.keyOut, "key-out", "", "write the signing key's public part (armored) here (required)")
	flag.StringVar(&c.accessLog, "access-log", "", "append one line per request here")
	flag.StringVar(&c.codename, "codename", "trixie", "Debian codename the repository is for")
	flag.StringVar(&c.major, "major", "17", "PostgreSQL major: the repository's second component")
	flag.StringVar(&c.suffix, "version-suffix", "", "append this to every version, as PGDG's builds do (e.g. .pgdg13+1); empty: Debian's .debs unchanged")
	flag.StringVar(&arches, "arches", "amd64,arm64", "architectures, comma-separated")
	flag.StringVar(&packages, "packages", "", "packages whose source packages' binaries are published, comma-separated (required)")
	flag.DurationVar(&c.ttl, "ttl", time.Hour, "stop after this long")
	flag.Parse()
	c.arches = strings.Split(arches, ",")
	c.packages = strings.Split(packages, ",")
	if c.dir == "" || c.keyOut == "" || packages == "" {
		flag.Usage()
		os.Exit(2)
	}
	if c.cache == "" {
		c.cache = filepath.Join(c.dir, "cache")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, c); err != nil {
		log.Fatalf("pgdg-mirror: %v", err)
	}
}

func run(ctx context.Context, c config) error {
	host, err := hostRepos(c.codename)
	if err != nil {
		return err
	}
	client := archive.New(archive.WithCacheDir(c.cache))
	repoDir := filepath.Join(c.dir, "repo")
	if err := os.RemoveAll(repoDir); err != nil {
		return err
	}
	// One index per component and architecture; the pool is shared.
	index := map[string]*bytes.Buffer{}
	for _, arch := range c.arches {
		pkgs, err := client.Indexes(ctx, host, arch)
		if err != nil {
			return fmt.Errorf("%s indexes of the host's mirror: %w", arch, err)
		}
		pick, err := selectPackages(apt.NewUniverse(arch, pkgs), pkgs, c.packages, arch)
		if err != nil {
			return err
		}
		paths, err := client.Download(ctx, pick)
		if err != nil {
			return err
		}
		renamed := map[string]string{}
		for _, p := range pick {
			renamed[p.Name] = p.Version
		}
		for i, p := range pick {
			stanza, err := publish(repoDir, paths[i], p, c.suffix, renamed)
			if err != nil {
				return err
			}
			comps := []string{"main"}
			// PGDG's per-major component carries that major's client
			// libraries (libpq5 and friends), for pinning them.
			if src, _ := source(p); src == "postgresql-"+c.major && strings.HasPrefix(p.Name, "lib") {
				comps = append(comps, c.major)
			}
			for _, comp := range comps {
				k := comp + "/binary-" + arch
				if index[k] == nil {
					index[k] = &bytes.Buffer{}
				}
				index[k].Write(stanza)
			}
			log.Printf("%s %s %s%s", arch, p.Name, p.Version, c.suffix)
		}
	}
	for _, arch := range c.arches {
		for _, comp := range []string{"main", c.major} {
			if index[comp+"/binary-"+arch] == nil {
				index[comp+"/binary-"+arch] = &bytes.Buffer{}
			}
		}
	}
	key, err := openpgp.NewEntity("pgassemble e2e PGDG-shaped mirror", "throw-away", "pgdg-mirror@e2e.invalid",
		&packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		return fmt.Errorf("generate the signing key: %w", err)
	}
	suite := c.codename + "-pgdg"
	if err := writeSuite(filepath.Join(repoDir, "dists", suite), suite, []string{"main", c.major}, c.arches, index, key); err != nil {
		return err
	}
	if err := apttest.WriteKeyring(c.keyOut, key, true); err != nil {
		return err
	}
	return serve(ctx, c, repoDir)
}

// hostRepos are the host's Debian repositories (main component), with the
// host's codename replaced by codename in each suite.
func hostRepos(codename string) ([]archive.Repo, error) {
	root := os.DirFS("/")
	srcs, err := archive.ReadSources(root)
	if err != nil {
		return nil, fmt.Errorf("the host's apt sources: %w", err)
	}
	repos, err := archive.Repos(root, srcs)
	if err != nil {
		return nil, fmt.Errorf("the host's apt sources: %w", err)
	}
	hostCodename, err := osCodename()
	if err != nil {
		return nil, err
	}
	var out []archive.Repo
	for _, r := range repos {
		if !slices.Contains(r.Components, "main") {
			continue
		}
		suite, ok := strings.CutPrefix(r.Suite, hostCodename)
		if !ok {
			continue
		}
		r.Suite, r.Components = codename+suite, []string{"main"}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s suite with a main component in the host's apt sources", hostCodename)
	}
	return out, nil
}

func osCodename() (string, error) {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VERSION_CODENAME="); ok && v != "" {
			return strings.Trim(v, `"'`), nil
		}
	}
	return "", errors.New("no VERSION_CODENAME in /etc/os-release")
}

// source is a package's source name and version.
func source(p *apt.Package) (string, string) {
	name, version := p.Source, p.SourceVersion
	if name == "" {
		name = p.Name
	}
	if version == "" {
		version = p.Version
	}
	return name, version
}

// selectPackages returns every binary package of arch (or all) built from
// the source packages (name and version) of the candidates of names, each
// at its candidate version, as PGDG publishes all the binaries of what it
// builds.
func selectPackages(u *apt.Universe, pkgs []*apt.Package, names []string, arch string) ([]*apt.Package, error) {
	want := map[[2]string]bool{}
	for _, n := range names {
		c := u.Candidate(n)
		if c == nil {
			return nil, fmt.Errorf("%s: no such package in the host's mirror for %s", n, arch)
		}
		s, v := source(c)
		want[[2]string{s, v}] = true
	}
	seen := map[string]bool{}
	var out []*apt.Package
	for _, p := range pkgs {
		s, v := source(p)
		if !want[[2]string{s, v}] || (p.Architecture != arch && p.Architecture != "all") || seen[p.Name] {
			continue
		}
		if c := u.Candidate(p.Name); c == nil || c.Version != p.Version {
			continue
		}
		seen[p.Name] = true
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// publish puts the verified .deb into the pool (pool/main/<prefix>/<source>/,
// Debian's layout), linked as is or, with a version suffix, repacked (see
// repack.go), and returns its Packages stanza, made from the .deb's own
// control file as dpkg-scanpackages does.
func publish(repoDir, debPath string, p *apt.Package, suffix string, renamed map[string]string) ([]byte, error) {
	src, _ := source(p)
	prefix := src[:1]
	if strings.HasPrefix(src, "lib") && len(src) > 3 {
		prefix = src[:4]
	}
	base := path.Base(p.Filename)
	if suffix != "" {
		_, upstream, _ := strings.Cut(p.Version, ":")
		if !strings.Contains(p.Version, ":") {
			upstream = p.Version
		}
		base = strings.Replace(base, "_"+upstream+"_", "_"+upstream+suffix+"_", 1)
	}
	rel := path.Join("pool/main", prefix, src, base)
	dst := filepath.Join(repoDir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return nil, err
	}
	var para apt.Paragraph
	if suffix != "" {
		var err error
		if para, err = repack(debPath, dst, suffix, renamed); err != nil {
			return nil, err
		}
	} else {
		if _, err := os.Stat(dst); errors.Is(err, os.ErrNotExist) {
			if err := os.Link(debPath, dst); err != nil {
				if err := copyFile(debPath, dst); err != nil {
					return nil, err
				}
			}
		}
	}
	f, err := os.Open(dst)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	d, err := layer.OpenDeb(io.TeeReader(f, h), dst)
	if err != nil {
		return nil, err
	}
	ci, err := d.Control()
	d.Close()
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if suffix == "" && sum != p.SHA256 {
		return nil, fmt.Errorf("%s: SHA256 %s, the signed index says %s", dst, sum, p.SHA256)
	}
	if para == nil {
		para = ci.Paragraph
	} else if ci.Paragraph.Get("Version") != para.Get("Version") {
		return nil, fmt.Errorf("%s: repacked control says version %s, want %s", dst, ci.Paragraph.Get("Version"), para.Get("Version"))
	}
	para = slices.Clone(para)
	para.Set("Filename", rel)
	para.Set("Size", fmt.Sprint(st.Size()))
	para.Set("SHA256", sum)
	var b bytes.Buffer
	if _, err := para.WriteTo(&b); err != nil {
		return nil, err
	}
	b.WriteString("\n")
	return b.Bytes(), nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// writeSuite writes the indexes (plain and gzip), Release, Release.gpg and
// InRelease of one suite.
func writeSuite(dists, suite string, comps, arches []string, index map[string]*bytes.Buffer, key *openpgp.Entity) error {
	type sum struct {
		name string
		size int
		hash string
	}
	var sums []sum
	keys := make([]string, 0, len(index))
	for k := range index {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		plain := index[k].Bytes()
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(plain)
		if err := zw.Close(); err != nil {
			return err
		}
		for name, data := range map[string][]byte{k + "/Packages": plain, k + "/Packages.gz": gz.Bytes()} {
			p := filepath.Join(dists, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				return err
			}
			h := sha256.Sum256(data)
			sums = append(sums, sum{name, len(data), hex.EncodeToString(h[:])})
		}
	}
	sort.Slice(sums, func(i, j int) bool { return sums[i].name < sums[j].name })
	var rel bytes.Buffer
	fmt.Fprintf(&rel, "Origin: pgassemble e2e PGDG-shaped mirror\nLabel: PGDG-shaped mirror\nSuite: %s\nCodename: %s\n", suite, suite)
	fmt.Fprintf(&rel, "Date: %s\nArchitectures: %s\nComponents: %s\n", time.Now().UTC().Format(time.RFC1123Z), strings.Join(arches, " "), strings.Join(comps, " "))
	rel.WriteString("Description: real Debian packages republished in PGDG's layout for pgassemble's end-to-end suite\nSHA256:\n")
	for _, s := range sums {
		fmt.Fprintf(&rel, " %s %d %s\n", s.hash, s.size, s.name)
	}
	if err := os.WriteFile(filepath.Join(dists, "Release"), rel.Bytes(), 0o644); err != nil {
		return err
	}
	var sig bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&sig, key, bytes.NewReader(rel.Bytes()), nil); err != nil {
		return fmt.Errorf("sign Release: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dists, "Release.gpg"), sig.Bytes(), 0o644); err != nil {
		return err
	}
	var cs bytes.Buffer
	w, err := clearsign.Encode(&cs, key.PrivateKey, nil)
	if err != nil {
		return fmt.Errorf("clearsign Release: %w", err)
	}
	if _, err := w.Write(rel.Bytes()); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dists, "InRelease"), cs.Bytes(), 0o644)
}

// serve serves repoDir under urlPath until ctx ends or the ttl passes.
func serve(ctx context.Context, c config, repoDir string) error {
	host, _, err := net.SplitHostPort(c.listen)
	if err != nil {
		return fmt.Errorf("-listen %s: %w", c.listen, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-listen %s: not a loopback address", c.listen)
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	var logMu sync.Mutex
	var access io.Writer = io.Discard
	if c.accessLog != "" {
		f, err := os.OpenFile(c.accessLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		access = f
	}
	files := http.StripPrefix(urlPath, http.FileServer(http.Dir(repoDir)))
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		files.ServeHTTP(sw, r)
		logMu.Lock()
		fmt.Fprintf(access, "%s %s %d %s\n", r.Method, r.URL.Path, sw.status, r.UserAgent())
		logMu.Unlock()
	})}
	fmt.Printf("serving http://%s%s (suite %s-pgdg, components main %s)\n", ln.Addr(), urlPath, c.codename, c.major)
	ctx, cancel := context.WithTimeout(ctx, c.ttl)
	defer cancel()
	go func() {
		<-ctx.Done()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}
