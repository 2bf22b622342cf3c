//go:build e2e

package e2e

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

//go:embed testdata/pg-session.sh
var pgSession string

// ociKeys are the org.opencontainers.image.* labels CloudNativePG's images carry, which
// pgassemble sets as config labels, and as annotations on every manifest and on the index.
var ociKeys = []string{
	"created", "url", "source", "documentation", "version", "revision", "vendor",
	"authors", "title", "description", "licenses", "base.name", "base.digest",
}

// checkIndex: an OCI index with exactly linux/amd64 and linux/arm64, each an OCI image
// whose config names the same platform; with annotations, those on the index and manifests.
// A base image may also carry attestation manifests (unknown/unknown) as Docker Hub's do;
// pgassemble's images carry nothing else.
func checkIndex(c *checkT, img imageRef, wantAnnotations, allowAttestations bool) {
	idx, raw := fetchIndex(c, img)
	ctx := ctxFor(c.T, 2*time.Minute)
	if d, err := run(ctx, "crane", "digest", img.Ref); err != nil {
		c.Errorf("crane digest: %v", err)
	} else if got, want := strings.TrimSpace(d), digestOf(raw); got != want {
		c.Errorf("crane digest %s = %s, skopeo's bytes hash to %s", img.Ref, got, want)
	}
	if idx.MediaType != ocispec.MediaTypeImageIndex || idx.SchemaVersion != 2 {
		c.Errorf("index media type %q schema %d, want %q schema 2", idx.MediaType, idx.SchemaVersion, ocispec.MediaTypeImageIndex)
	}
	var plats []string
	for _, m := range idx.Manifests {
		if allowAttestations && m.Platform != nil && m.Platform.OS == "unknown" &&
			m.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
			continue
		}
		p := "unknown"
		if m.Platform != nil {
			p = m.Platform.OS + "/" + m.Platform.Architecture
			if m.Platform.Variant != "" && !(m.Platform.Architecture == "arm64" && m.Platform.Variant == "v8") {
				c.Errorf("manifest %s: unexpected variant %q", p, m.Platform.Variant)
			}
		}
		plats = append(plats, p)
		if m.MediaType != ocispec.MediaTypeImageManifest {
			c.Errorf("manifest %s: media type %q, want %q", p, m.MediaType, ocispec.MediaTypeImageManifest)
			continue
		}
		ref := img.Repo + "@" + m.Digest.String()
		out, err := run(ctx, "crane", "manifest", ref)
		if err != nil {
			c.Errorf("crane manifest %s: %v", ref, err)
			continue
		}
		var man ocispec.Manifest
		if err := json.Unmarshal([]byte(out), &man); err != nil {
			c.Errorf("manifest %s: %v", ref, err)
			continue
		}
		if man.Config.MediaType != ocispec.MediaTypeImageConfig {
			c.Errorf("manifest %s: config media type %q", p, man.Config.MediaType)
		}
		if len(man.Layers) == 0 {
			c.Errorf("manifest %s: no layers", p)
		}
		for _, l := range man.Layers {
			switch l.MediaType {
			case ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd, ocispec.MediaTypeImageLayer:
			default:
				c.Errorf("manifest %s: layer %s has media type %q", p, l.Digest, l.MediaType)
			}
		}
		if wantAnnotations {
			missingKeys(c, "annotations of the "+p+" manifest", man.Annotations)
		}
		cfg := fetchConfig(c, img, m.Digest.String())
		if m.Platform != nil && (cfg.OS != m.Platform.OS || cfg.Architecture != m.Platform.Architecture) {
			c.Errorf("manifest %s: config says %s/%s", p, cfg.OS, cfg.Architecture)
		}
	}
	sort.Strings(plats)
	if !slices.Equal(plats, []string{"linux/amd64", "linux/arm64"}) {
		c.Errorf("index platforms %v, want exactly [linux/amd64 linux/arm64]", plats)
	}
	if wantAnnotations {
		missingKeys(c, "annotations of the index", idx.Annotations)
	}
}

func digestOf(b []byte) string {
	return fmt.Sprintf("sha256:%x", sha256Sum(b))
}

func missingKeys(c *checkT, where string, m map[string]string) {
	c.Helper()
	var missing []string
	for _, k := range ociKeys {
		if strings.TrimSpace(m["org.opencontainers.image."+k]) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		c.Errorf("%s lack org.opencontainers.image.{%s}", where, strings.Join(missing, ","))
	}
}

func fetchConfig(c *checkT, img imageRef, digest string) ocispec.Image {
	c.Helper()
	ctx := ctxFor(c.T, time.Minute)
	out, err := run(ctx, "crane", "config", img.Repo+"@"+digest)
	if err != nil {
		c.Fatalf("crane config: %v", err)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		c.Fatalf("config of %s@%s: %v", img.Repo, digest, err)
	}
	return cfg
}

// checkConfig: User 26, PostgreSQL's bin directory on PATH, the OCI labels, per platform.
func checkConfig(c *checkT, img imageRef) {
	idx, _ := fetchIndex(c, img)
	for _, m := range idx.Manifests {
		p := m.Platform.OS + "/" + m.Platform.Architecture
		cfg := fetchConfig(c, img, m.Digest.String())
		if cfg.Config.User != "26" {
			c.Errorf("%s: User %q, want \"26\"", p, cfg.Config.User)
		}
		path := ""
		for _, e := range cfg.Config.Env {
			if v, ok := strings.CutPrefix(e, "PATH="); ok {
				path = v
			}
		}
		if bin := "/usr/lib/postgresql/" + img.Major + "/bin"; !slices.Contains(strings.Split(path, ":"), bin) {
			c.Errorf("%s: PATH %q lacks %s", p, path, bin)
		}
		missingKeys(c, p+" config labels", cfg.Config.Labels)
		if v := cfg.Config.Labels["org.opencontainers.image.version"]; v != "" && !strings.HasPrefix(v, img.Major) {
			c.Errorf("%s: label version %q is not PostgreSQL %s", p, v, img.Major)
		}
		if d := cfg.Config.Labels["org.opencontainers.image.base.digest"]; d != "" && !strings.HasPrefix(d, "sha256:") {
			c.Errorf("%s: label base.digest %q is not a digest", p, d)
		}
	}
}

// checkBase: each platform image is built on the base it names: the base.name label points
// at the base image, base.digest is its digest (the index's or the platform manifest's), and
// the base's layers are the first layers of the image, byte for byte.
func checkBase(c *checkT, img imageRef) {
	idx, _ := fetchIndex(c, img)
	ctx := ctxFor(c.T, 2*time.Minute)
	for _, m := range idx.Manifests {
		p := m.Platform.OS + "/" + m.Platform.Architecture
		cfg := fetchConfig(c, img, m.Digest.String())
		label := cfg.Config.Labels["org.opencontainers.image.base.name"]
		// The suite names the base it passed with --base-image; upstream's label is the base
		// the build used, so with an override it must be the override.
		baseName := os.Getenv("E2E_IMAGE_BASE_" + strings.ToUpper(img.Suite))
		switch {
		case baseName == "" && label == "":
			c.Errorf("%s: no base.name label", p)
			continue
		case baseName == "":
			baseName = label
		case label != baseName:
			c.Errorf("%s: base.name label %q, but the image was built on %s", p, label, baseName)
		}
		baseIdx, err := run(ctx, "crane", "digest", baseName)
		if err != nil {
			c.Errorf("%s: base.name %s: %v", p, baseName, err)
			continue
		}
		baseIdx = strings.TrimSpace(baseIdx)
		baseRepo := baseName[:strings.LastIndex(baseName, ":")]
		if at := strings.Index(baseName, "@"); at >= 0 {
			baseRepo = baseName[:at]
		}
		basePlat, err := run(ctx, "crane", "digest", "--platform", p, baseName)
		if err != nil {
			c.Errorf("%s: base %s has no %s image: %v", p, baseName, p, err)
			continue
		}
		basePlat = strings.TrimSpace(basePlat)
		if d := cfg.Config.Labels["org.opencontainers.image.base.digest"]; d != baseIdx && d != basePlat {
			c.Errorf("%s: base.digest %s is neither %s's index %s nor its %s image %s", p, d, baseName, baseIdx, p, basePlat)
		}
		var base, mine ocispec.Manifest
		for ref, dst := range map[string]*ocispec.Manifest{baseRepo + "@" + basePlat: &base, img.Repo + "@" + m.Digest.String(): &mine} {
			out, err := run(ctx, "crane", "manifest", ref)
			if err == nil {
				err = json.Unmarshal([]byte(out), dst)
			}
			if err != nil {
				c.Fatalf("manifest %s: %v", ref, err)
			}
		}
		if len(mine.Layers) <= len(base.Layers) {
			c.Errorf("%s: %d layers, the base alone has %d", p, len(mine.Layers), len(base.Layers))
			continue
		}
		for i, l := range base.Layers {
			if mine.Layers[i].Digest != l.Digest {
				c.Errorf("%s: layer %d is %s, the base's is %s: the base layers were not reused as they are", p, i, mine.Layers[i].Digest, l.Digest)
			}
		}
	}
}

// checkTags: the three tags upstream publishes, all on the same index. Returns the minor.
func checkTags(c *checkT, img imageRef) string {
	ctx := ctxFor(c.T, 2*time.Minute)
	out, err := run(ctx, "crane", "ls", img.Repo)
	if err != nil {
		c.Fatalf("crane ls %s: %v", img.Repo, err)
	}
	tags := strings.Fields(out)
	suffix := "-" + img.Type + "-" + img.Suite
	minorRe := regexp.MustCompile(`^` + img.Major + `\.(\d+)` + regexp.QuoteMeta(suffix) + `$`)
	stampRe := regexp.MustCompile(`^` + img.Major + `\.(\d+)-(\d{12})` + regexp.QuoteMeta(suffix) + `$`)
	var minorTags, stampTags []string
	minor := ""
	for _, tag := range tags {
		if m := minorRe.FindStringSubmatch(tag); m != nil {
			minorTags = append(minorTags, tag)
			minor = m[1]
		}
		if m := stampRe.FindStringSubmatch(tag); m != nil {
			if _, err := time.Parse("200601021504", m[2]); err != nil {
				c.Errorf("tag %s: %s is not a YYYYMMDDhhmm time", tag, m[2])
			}
			stampTags = append(stampTags, tag)
		}
	}
	if !slices.Contains(tags, img.Tag) {
		c.Errorf("tag %s missing from %s (tags: %v)", img.Tag, img.Repo, tags)
	}
	if len(minorTags) != 1 {
		c.Errorf("want one %s.N%s tag, have %v", img.Major, suffix, minorTags)
	}
	if len(stampTags) == 0 {
		c.Errorf("no %s.N-YYYYMMDDhhmm%s tag (tags: %v)", img.Major, suffix, tags)
	}
	var stampOfMinor []string
	for _, tag := range stampTags {
		if strings.HasPrefix(tag, img.Major+"."+minor+"-") {
			stampOfMinor = append(stampOfMinor, tag)
		}
	}
	if len(stampTags) > 0 && len(stampOfMinor) == 0 {
		c.Errorf("timestamped tags %v are not of the minor in %v", stampTags, minorTags)
	}
	want, err := run(ctx, "crane", "digest", img.Ref)
	if err != nil {
		c.Fatalf("crane digest %s: %v", img.Ref, err)
	}
	sort.Strings(stampOfMinor)
	for _, tag := range append(minorTags, last(stampOfMinor)...) {
		got, err := run(ctx, "crane", "digest", img.Repo+":"+tag)
		if err != nil {
			c.Errorf("crane digest %s: %v", tag, err)
		} else if got != want {
			c.Errorf("tag %s is %s, %s is %s", tag, strings.TrimSpace(got), img.Tag, strings.TrimSpace(want))
		}
	}
	return minor
}

func last(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s[len(s)-1:]
}

type sessionWant struct {
	extensions bool   // pgvector, pgaudit, pg_failover_slots
	allLocales bool   // locales-all
	minor      string // expected minor from the tags, if known
	postgis    bool   // CREATE EXTENSION postgis and a geometry query
	partman    bool   // pg_partman creates a partitioned parent
	barman     bool   // barman-cloud-backup --version runs
}

// checkSession runs initdb, the server and psql in a container of the platform's image, as the
// image's own user, and asserts on what PostgreSQL answers.
func checkSession(c *checkT, img imageRef, arch string, want sessionWant) {
	if arch == "arm64" {
		requireArm64(c)
	}
	digest := platformDigest(c, img, arch)
	env := []string{}
	if want.extensions {
		env = append(env, "E2E_EXTENSIONS=1", "E2E_PRELOAD=pgaudit,pg_failover_slots")
	}
	if want.postgis {
		env = append(env, "E2E_POSTGIS=1")
	}
	if want.partman {
		env = append(env, "E2E_PARTMAN=1")
	}
	if want.barman {
		env = append(env, "E2E_BARMAN=1")
	}
	out := podmanRun{
		Image: img.Repo + "@" + digest, Arch: arch, Network: "none", Env: env,
		Script: pgSession, Timeout: 20 * time.Minute,
	}.run(c)
	f := facts(out)
	c.Logf("session facts on %s: %v", arch, f)
	if f["uid"] != "26" {
		c.Errorf("runs as uid %q, want 26 (the image's User)", f["uid"])
	}
	// The image's own account database, not one the runtime made up.
	if pw := strings.Split(f["postgres_passwd"], ":"); len(pw) < 7 || pw[2] != "26" || pw[5] != "/var/lib/postgresql" {
		c.Errorf("getent passwd postgres = %q, want uid 26 and home /var/lib/postgresql", f["postgres_passwd"])
	}
	if f["user"] != "postgres" {
		c.Errorf("uid 26 is %q in the image, want postgres", f["user"])
	}
	if wantArch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[arch]; f["arch"] != wantArch {
		c.Errorf("uname -m %q, want %q", f["arch"], wantArch)
	}
	if bin := "/usr/lib/postgresql/" + img.Major + "/bin"; !slices.Contains(strings.Split(f["path"], ":"), bin) {
		c.Errorf("PATH %q in the container lacks %s", f["path"], bin)
	}
	for _, step := range []string{"initdb", "start"} {
		if f[step] != "ok" {
			c.Fatalf("%s: %s\noutput:\n%s", step, orMissing(f[step]), tail(out, 3000))
		}
	}
	versionRe := regexp.MustCompile(`^PostgreSQL ` + img.Major + `\.(\d+)\b`)
	if m := versionRe.FindStringSubmatch(f["version"]); m == nil {
		c.Errorf("select version() = %q, want PostgreSQL %s.x", f["version"], img.Major)
	} else if want.minor != "" && m[1] != want.minor {
		c.Errorf("select version() = %q, but the tags say %s.%s", f["version"], img.Major, want.minor)
	}
	if f["query"] != "500500" {
		c.Errorf("sum(1..1000) = %q, want 500500", f["query"])
	}
	if want.postgis {
		// postgis.control is an alternative postgis-3-scripts' postinst makes:
		// without the scripts executed, CREATE EXTENSION fails.
		if f["postgis_create"] != "CREATE EXTENSION" {
			c.Errorf("create extension postgis: %s", orMissing(f["postgis_create"]))
		}
		if f["postgis_query"] != "5" {
			c.Errorf("ST_Distance(POINT(0 0), POINT(3 4)) = %q, want 5", f["postgis_query"])
		}
	}
	if want.partman {
		if f["partman_create"] != "CREATE EXTENSION" {
			c.Errorf("create extension pg_partman: %s", orMissing(f["partman_create"]))
		}
		if f["partman_parent"] != "t" || f["partman_children"] != "t" {
			c.Errorf("partman.create_parent = %q, child partitions: %q; want t, t", f["partman_parent"], f["partman_children"])
		}
	}
	if want.barman && !strings.HasPrefix(f["barman"], "barman-cloud-backup ") {
		c.Errorf("barman-cloud-backup --version: %s", orMissing(f["barman"]))
	}
	if want.extensions {
		for _, lib := range []string{"pgaudit", "pg_failover_slots"} {
			if !slices.Contains(strings.Split(f["preload"], ","), lib) {
				c.Errorf("shared_preload_libraries = %q lacks %s", f["preload"], lib)
			}
		}
		if f["vector_create"] != "CREATE EXTENSION" {
			c.Errorf("create extension vector: %s", orMissing(f["vector_create"]))
		}
		if d, err := strconv.ParseFloat(f["vector_query"], 64); err != nil || math.Abs(d-math.Sqrt(27)) > 1e-9 {
			c.Errorf("'[1,2,3]'::vector <-> '[4,5,6]' = %q, want %v", f["vector_query"], math.Sqrt(27))
		}
		if f["pgaudit_create"] != "CREATE EXTENSION" {
			c.Errorf("create extension pgaudit: %s", orMissing(f["pgaudit_create"]))
		}
		if f["pgaudit_setting"] == "" || strings.Contains(f["pgaudit_setting"], "ERROR") {
			c.Errorf("pgaudit.log not in pg_settings: %s", orMissing(f["pgaudit_setting"]))
		}
		if n, err := strconv.Atoi(f["failover_settings"]); err != nil || n == 0 {
			c.Errorf("no pg_failover_slots.* settings in pg_settings: %s", orMissing(f["failover_settings"]))
		}
		for _, ext := range []string{"pgaudit", "vector"} {
			if !slices.Contains(strings.Split(f["extensions"], ","), ext) {
				c.Errorf("pg_extension = %q lacks %s", f["extensions"], ext)
			}
		}
	}
	if want.allLocales {
		if n, err := strconv.Atoi(f["locale_count"]); err != nil || n <= 300 {
			c.Errorf("locale -a lists %s locales, want more than 300 (locales-all)", orMissing(f["locale_count"]))
		}
		if f["locale_de"] != "1" {
			c.Errorf("locale -a lacks de_DE.utf8")
		}
	}
	if f["stop"] != "ok" {
		c.Errorf("pg_ctl stop: %s", orMissing(f["stop"]))
	}
	if f["done"] != "1" {
		c.Errorf("the session did not run to its end:\n%s", tail(out, 3000))
	}
}

func orMissing(s string) string {
	if s == "" {
		return "(no output)"
	}
	return s
}

// The scripts run in containers end with "true": a failing step is reported through the
// facts it prints, and a non-zero exit of podman then means the container did not run.
const dpkgScript = `
echo @@audit-begin; dpkg --audit 2>&1; echo "@@audit-rc=$?"
echo @@verify-begin; dpkg --verify 2>&1; echo "@@verify-rc=$?"
echo @@filters-begin; cat /etc/dpkg/dpkg.cfg.d/* 2>/dev/null; echo @@end
true
`

// checkDpkg: dpkg --audit is empty and dpkg --verify reports nothing but the files the
// image's own dpkg path-excludes kept out (which dpkg --verify lists as missing).
func checkDpkg(c *checkT, img imageRef, arch string) {
	if arch == "arm64" {
		requireArm64(c)
	}
	digest := platformDigest(c, img, arch)
	out := podmanRun{Image: img.Repo + "@" + digest, Arch: arch, User: "0", Network: "none", Script: dpkgScript}.run(c)
	audit := section(out, "@@audit-begin", "@@audit-rc=")
	if strings.TrimSpace(audit) != "" {
		c.Errorf("dpkg --audit reports:\n%s", tail(audit, 2000))
	}
	filters := parseDpkgFilters(section(out, "@@filters-begin", "@@end"))
	var changed []string
	for _, line := range strings.Split(section(out, "@@verify-begin", "@@verify-rc="), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if p, ok := strings.CutPrefix(line, "missing"); ok && filters.excluded(strings.TrimSpace(p)) {
			continue
		}
		changed = append(changed, line)
	}
	if len(changed) > 0 {
		c.Errorf("dpkg --verify finds %d changed or missing files: %s", len(changed), strings.Join(first(changed, 15), " | "))
	}
	if f := facts(out); f["audit-rc"] != "0" && strings.TrimSpace(audit) == "" {
		c.Errorf("dpkg --audit exit status %s", orMissing(f["audit-rc"]))
	}
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("... %d more", len(s)-n))
	}
	return s
}

// section returns the lines of out between the line begin and the line starting with end.
func section(out, begin, end string) string {
	i := strings.Index(out, begin+"\n")
	if i < 0 {
		return ""
	}
	rest := out[i+len(begin)+1:]
	if j := strings.Index(rest, end); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

type dpkgFilter struct {
	include bool
	glob    *regexp.Regexp
}

type dpkgFilters []dpkgFilter

// parseDpkgFilters reads path-exclude and path-include lines; dpkg matches them with fnmatch
// without FNM_PATHNAME, so "*" crosses "/".
func parseDpkgFilters(cfg string) dpkgFilters {
	var fs dpkgFilters
	for _, line := range strings.Split(cfg, "\n") {
		// "option value" and "option=value" are both dpkg.cfg syntax.
		fields := strings.Fields(strings.Replace(strings.TrimSpace(line), "=", " ", 1))
		if len(fields) != 2 {
			continue
		}
		var inc bool
		switch strings.TrimPrefix(fields[0], "--") {
		case "path-exclude":
		case "path-include":
			inc = true
		default:
			continue
		}
		fs = append(fs, dpkgFilter{include: inc, glob: globRegexp(fields[1])})
	}
	return fs
}

func globRegexp(glob string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, r := range glob {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// excluded tells whether dpkg would have left path out: the last matching filter decides. A
// directory is kept when an include filter may match something below it.
func (fs dpkgFilters) excluded(path string) bool {
	ex := false
	for _, f := range fs {
		if f.glob.MatchString(path) {
			ex = !f.include
		}
	}
	return ex
}

// aptScript installs packages into a container of the image the way a derived image's
// Dockerfile would, and reports what apt planned, so a dpkg database that does not match the
// files (apt wanting to reinstall or remove what the image has) shows.
const aptScript = `
export DEBIAN_FRONTEND=noninteractive
dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' 2>/tmp/query.log | awk '$1 == "ii" { print $2 }' >/tmp/installed
[ -s /tmp/query.log ] && echo "@@query=$(head -n 3 /tmp/query.log | tr '\n' ' ')"
apt-get update -q >/tmp/update.log 2>&1 || { echo "@@update=failed: $(tail -n 5 /tmp/update.log | tr '\n' ' ')"; exit 0; }
echo @@update=ok
echo "@@upgradable=$(apt-get -s upgrade 2>&1 | sed -n 's/^\([0-9]*\) upgraded,.*/\1/p')"
echo @@plan-begin; apt-get install -s -y --no-install-recommends $E2E_PACKAGES 2>&1; echo "@@plan-rc=$?"
echo @@install-begin; apt-get install -q -y --no-install-recommends $E2E_PACKAGES >/tmp/install.log 2>&1; rc=$?; tail -n 15 /tmp/install.log; echo "@@install-rc=$rc"
echo "@@audit=$(dpkg --audit 2>&1 | tr '\n' ' ')"
echo "@@installed-begin"; cat /tmp/installed; echo "@@end"
for p in $E2E_PACKAGES; do echo "@@status-$p=$(dpkg-query -W -f '${db:Status-Abbrev}' $p 2>&1 | tr '\n' ' ')"; done
command -v jq >/dev/null && echo "@@jq=$(echo '{"a":[1,2]}' | jq -c .a)"
true
`

// checkAptInstall: apt-get install of jq (and, for PostgreSQL images, one more extension of
// the same major from the archive) as root in a container of the published image.
func checkAptInstall(c *checkT, img imageRef) {
	requireArchive(c, img.Suite)
	digest := platformDigest(c, img, "amd64")
	pkgs := []string{"jq"}
	if img.Major != "" {
		pkgs = append(pkgs, "postgresql-"+img.Major+"-hypopg")
	}
	out := podmanRun{
		Image: img.Repo + "@" + digest, Arch: "amd64", User: "0",
		Env: []string{"E2E_PACKAGES=" + strings.Join(pkgs, " ")}, Script: aptScript, Timeout: 15 * time.Minute,
	}.run(c)
	f := facts(out)
	if f["query"] != "" {
		c.Errorf("dpkg-query cannot read the image's dpkg database: %s", f["query"])
	}
	if f["update"] != "ok" {
		c.Fatalf("apt-get update in the container: %s", orMissing(f["update"]))
	}
	// pgassemble upgrades the base by default (apt-get upgrade, as upstream's Dockerfile does
	// in each stage): nothing is left for apt to upgrade from the archive it was built from.
	// The debootstrapped bases themselves are not upgraded, so only PostgreSQL images.
	if img.Major != "" && f["upgradable"] != "0" {
		c.Errorf("apt-get -s upgrade in the image: %q packages upgradable, want 0", orMissing(f["upgradable"]))
	}
	installed := map[string]bool{}
	for _, p := range strings.Fields(section(out, "@@installed-begin", "@@end")) {
		installed[strings.SplitN(p, ":", 2)[0]] = true
	}
	for _, line := range strings.Split(section(out, "@@plan-begin", "@@plan-rc="), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		name := strings.SplitN(fields[1], ":", 2)[0]
		switch fields[0] {
		case "Remv":
			c.Errorf("apt wants to remove %s: %s", name, line)
		case "Inst":
			// "Inst pkg [old] (new ...)" is an upgrade; without [old] apt thinks it is absent.
			if installed[name] && !(len(fields) > 2 && strings.HasPrefix(fields[2], "[")) {
				c.Errorf("apt wants to install %s, which the image's dpkg database says is installed: %s", name, line)
			}
		}
	}
	if f["plan-rc"] != "0" || f["install-rc"] != "0" {
		c.Errorf("apt-get install %s: exit %s/%s: %s", strings.Join(pkgs, " "), f["plan-rc"], f["install-rc"],
			strings.Join(strings.Fields(tail(section(out, "@@install-begin", "@@install-rc="), 600)), " "))
	}
	for _, p := range pkgs {
		if f["status-"+p] != "ii " {
			c.Errorf("after apt-get install, %s has dpkg status %q, want \"ii \"", p, f["status-"+p])
		}
	}
	if strings.TrimSpace(f["audit"]) != "" {
		c.Errorf("dpkg --audit after the install: %s", f["audit"])
	}
	if f["jq"] != "[1,2]" {
		c.Errorf("jq after install printed %q", f["jq"])
	}
}

// checkRun: a container of the platform's image starts and runs dpkg (for base images).
func checkRun(c *checkT, img imageRef, arch string) {
	if arch == "arm64" {
		requireArm64(c)
	}
	digest := platformDigest(c, img, arch)
	out := podmanRun{
		Image: img.Repo + "@" + digest, Arch: arch, Network: "none",
		Script: `echo "@@arch=$(uname -m)"; echo "@@dpkg=$(dpkg --print-architecture)"; echo "@@audit=$(dpkg --audit | wc -l)"`,
	}.run(c)
	f := facts(out)
	wantUname := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[arch]
	if f["arch"] != wantUname || f["dpkg"] != arch {
		c.Errorf("uname -m %q, dpkg --print-architecture %q; want %s, %s", f["arch"], f["dpkg"], wantUname, arch)
	}
	if f["audit"] != "0" {
		c.Errorf("dpkg --audit printed %s lines", orMissing(f["audit"]))
	}
}

// TestBase runs the generic checks against the base images the suite publishes: they prove
// the harness (skopeo, crane, podman, qemu, apt inside containers) before pgassemble is used.
func TestBase(t *testing.T) {
	for _, env := range []string{"E2E_IMAGE_BASE_TRIXIE", "E2E_IMAGE_BASE_BOOKWORM"} {
		t.Run(strings.ToLower(strings.TrimPrefix(env, "E2E_IMAGE_")), func(t *testing.T) {
			img := imageFromEnv(t, env)
			t.Run("index", func(t *testing.T) { checkIndex(begin(t, img.Ref, "index"), img, false, true) })
			t.Run("amd64-run", func(t *testing.T) { checkRun(begin(t, img.Ref, "amd64 run"), img, "amd64") })
			t.Run("arm64-run", func(t *testing.T) { checkRun(begin(t, img.Ref, "arm64 run (qemu)"), img, "arm64") })
			t.Run("amd64-dpkg", func(t *testing.T) { checkDpkg(begin(t, img.Ref, "dpkg audit+verify"), img, "amd64") })
			t.Run("apt-install", func(t *testing.T) { checkAptInstall(begin(t, img.Ref, "apt-get install"), img) })
		})
	}
}

// pgChecks are the checks of one pgassemble image, each a subtest that can run alone.
func pgChecks(t *testing.T, env string, want sessionWant) {
	img := imageFromEnv(t, env)
	if img.Major == "" {
		t.Fatalf("%s=%s: tag is not MAJOR-TYPE-SUITE", env, img.Ref)
	}
	t.Run("index", func(t *testing.T) { checkIndex(begin(t, img.Ref, "index"), img, true, false) })
	t.Run("config", func(t *testing.T) { checkConfig(begin(t, img.Ref, "config"), img) })
	t.Run("tags", func(t *testing.T) { want.minor = checkTags(begin(t, img.Ref, "tags"), img) })
	t.Run("base", func(t *testing.T) { checkBase(begin(t, img.Ref, "built on the base"), img) })
	t.Run("amd64-session", func(t *testing.T) {
		checkSession(begin(t, img.Ref, "amd64 PostgreSQL session"), img, "amd64", want)
	})
	t.Run("arm64-session", func(t *testing.T) {
		checkSession(begin(t, img.Ref, "arm64 PostgreSQL session (qemu)"), img, "arm64", want)
	})
	t.Run("amd64-dpkg", func(t *testing.T) { checkDpkg(begin(t, img.Ref, "dpkg audit+verify"), img, "amd64") })
	t.Run("apt-install", func(t *testing.T) { checkAptInstall(begin(t, img.Ref, "apt-get install"), img) })
}

// TestStandard checks E2E_IMAGE_STANDARD, e.g. REGISTRY/postgresql-testing:17-standard-trixie.
func TestStandard(t *testing.T) {
	pgChecks(t, "E2E_IMAGE_STANDARD", sessionWant{extensions: true, allLocales: true})
}

// TestPostGIS checks E2E_IMAGE_POSTGIS, a custom type over standard with
// postgresql-MM-postgis-3 (the README's --config example), on both
// architectures: CREATE EXTENSION postgis and a geometry query.
func TestPostGIS(t *testing.T) {
	pgChecks(t, "E2E_IMAGE_POSTGIS", sessionWant{extensions: true, allLocales: true, postgis: true})
}

// TestPartman checks E2E_IMAGE_PARTMAN (standard + postgresql-MM-partman):
// pg_partman creates a partitioned parent with its child partitions.
func TestPartman(t *testing.T) {
	pgChecks(t, "E2E_IMAGE_PARTMAN", sessionWant{extensions: true, allLocales: true, partman: true})
}

// TestSystem checks E2E_IMAGE_SYSTEM, built without --allow-unhandled-scripts:
// barman-cloud-backup runs.
func TestSystem(t *testing.T) {
	pgChecks(t, "E2E_IMAGE_SYSTEM", sessionWant{extensions: true, allLocales: true, barman: true})
}

// TestMinimalBookworm checks E2E_IMAGE_MINIMAL_BOOKWORM, e.g. ...:15-minimal-bookworm.
func TestMinimalBookworm(t *testing.T) {
	pgChecks(t, "E2E_IMAGE_MINIMAL_BOOKWORM", sessionWant{})
}
