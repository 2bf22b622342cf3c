//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Result is one line of the E2E_RESULTS file: the outcome of one check on one image.
type Result struct {
	Image   string  `json:"image"`
	Check   string  `json:"check"`
	Status  string  `json:"status"` // PASS, FAIL or NOT CHECKED
	Detail  string  `json:"detail,omitempty"`
	Seconds float64 `json:"seconds"`
}

// checkT records why a check failed, so the summary can say it in one line.
type checkT struct {
	*testing.T
	image, check string
	start        time.Time
	mu           sync.Mutex
	msgs         []string
	notChecked   string
}

// begin starts a check; its result is written when the subtest ends, whatever way it ends.
func begin(t *testing.T, image, check string) *checkT {
	c := &checkT{T: t, image: image, check: check, start: time.Now()}
	t.Cleanup(c.record)
	return c
}

func (c *checkT) note(msg string) {
	c.mu.Lock()
	c.msgs = append(c.msgs, msg)
	c.mu.Unlock()
}

func (c *checkT) Errorf(format string, args ...any) {
	c.Helper()
	msg := fmt.Sprintf(format, args...)
	c.note(msg)
	c.T.Error(msg)
}

func (c *checkT) Fatalf(format string, args ...any) {
	c.Helper()
	msg := fmt.Sprintf(format, args...)
	c.note(msg)
	c.T.Fatal(msg)
}

// NotChecked ends the check as a failure that says what could not be checked and why.
func (c *checkT) NotChecked(what, reason string) {
	c.Helper()
	c.notChecked = what + " not checked: " + reason
	c.T.Fatal(c.notChecked)
}

func (c *checkT) record() {
	r := Result{Image: c.image, Check: c.check, Status: "PASS", Seconds: time.Since(c.start).Seconds()}
	switch {
	case c.notChecked != "":
		r.Status, r.Detail = "NOT CHECKED", c.notChecked
	case c.Failed():
		r.Status = "FAIL"
		c.mu.Lock()
		r.Detail = strings.Join(c.msgs, "; ")
		c.mu.Unlock()
		if r.Detail == "" {
			r.Detail = "see the test log"
		}
	}
	path := os.Getenv("E2E_RESULTS")
	if path == "" {
		return
	}
	line, err := json.Marshal(r)
	if err != nil {
		c.Logf("encode result: %v", err)
		return
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.Logf("write result to %s: %v", path, err)
		return
	}
	defer f.Close()
	if _, err := f.Write(append(line, '\n')); err != nil {
		c.Logf("write result to %s: %v", path, err)
	}
}

// imageRef is an image under test, named by tag: <repo>:<major>-<type>-<suite> for
// pgassemble's images, <repo>:<suite>-slim for the base images.
type imageRef struct {
	Ref, Repo, Tag string
	Major, Type    string // empty for base images
	Suite          string
}

var pgTag = regexp.MustCompile(`^(\d+)-([a-z]+)-([a-z]+)$`)

// imageFromEnv reads the reference of the image under test from env, failing the check with
// a clear message when it is not set.
func imageFromEnv(t *testing.T, env string) imageRef {
	t.Helper()
	ref := os.Getenv(env)
	if ref == "" {
		c := begin(t, env, "image reference")
		c.NotChecked("every check of this image", env+" is not set (run through test/e2e/run.sh, or set it to a registry reference)")
	}
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		t.Fatalf("%s=%s: want REPOSITORY:TAG", env, ref)
	}
	img := imageRef{Ref: ref, Repo: ref[:i], Tag: ref[i+1:]}
	if m := pgTag.FindStringSubmatch(img.Tag); m != nil {
		img.Major, img.Type, img.Suite = m[1], m[2], m[3]
	} else {
		img.Suite = strings.TrimSuffix(img.Tag, "-slim")
	}
	return img
}

// run executes a tool we did not write and returns its standard output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, tail(stderr.String(), 1500))
	}
	return stdout.String(), nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// fetchIndex reads the image's index with skopeo, and checks crane agrees on its digest.
func fetchIndex(c *checkT, img imageRef) (ocispec.Index, []byte) {
	c.Helper()
	ctx := ctxFor(c.T, 2*time.Minute)
	raw, err := run(ctx, "skopeo", "inspect", "--raw", "--tls-verify=false", "docker://"+img.Ref)
	if err != nil {
		c.Fatalf("read index of %s: %v", img.Ref, err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal([]byte(raw), &idx); err != nil {
		c.Fatalf("skopeo inspect --raw %s: not JSON: %v", img.Ref, err)
	}
	return idx, []byte(raw)
}

// platformDigest returns the digest of the index's manifest for linux/ARCH.
func platformDigest(c *checkT, img imageRef, arch string) string {
	c.Helper()
	idx, _ := fetchIndex(c, img)
	for _, m := range idx.Manifests {
		if m.Platform != nil && m.Platform.OS == "linux" && m.Platform.Architecture == arch {
			return m.Digest.String()
		}
	}
	c.Fatalf("%s has no linux/%s manifest", img.Ref, arch)
	return ""
}

var podmanUlimits = []string{
	// runc on this kernel cannot raise these limits to podman's defaults, and crun fails here.
	"--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
}

type podmanRun struct {
	Image   string // repository@digest
	Arch    string
	User    string // empty: the image's configured user
	Network string // empty: podman's default network
	Env     []string
	Script  string
	Timeout time.Duration
}

// podman pulls the platform's manifest by digest and runs a shell script in it, removing the
// image again when the check ends.
func (p podmanRun) run(c *checkT) string {
	c.Helper()
	timeout := p.Timeout
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	ctx := ctxFor(c.T, timeout)
	if _, err := run(ctx, "podman", "pull", "--quiet", "--tls-verify=false", "--arch", p.Arch, p.Image); err != nil {
		c.Fatalf("podman pull %s: %v", p.Image, err)
	}
	c.Cleanup(func() {
		rctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = run(rctx, "podman", "rmi", "--force", p.Image)
	})
	// --passwd=false: podman would otherwise add an /etc/passwd entry for a
	// numeric --user the image lacks, hiding a missing or wrong account.
	args := append([]string{"run", "--rm", "--pull=never", "--passwd=false", "--arch", p.Arch}, podmanUlimits...)
	if p.User != "" {
		args = append(args, "--user", p.User)
	}
	if p.Network != "" {
		args = append(args, "--network", p.Network)
	}
	for _, e := range p.Env {
		args = append(args, "--env", e)
	}
	args = append(args, "--entrypoint", "/bin/sh", p.Image, "-c", p.Script)
	out, err := run(ctx, "podman", args...)
	if err != nil {
		c.Fatalf("podman run (%s): %v\nstdout:\n%s", p.Arch, err, tail(out, 3000))
	}
	return out
}

// facts parses the "@@key=value" lines the in-container scripts print.
func facts(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "@@"); ok {
			if k, v, ok := strings.Cut(rest, "="); ok {
				m[k] = v
			}
		}
	}
	return m
}

// requireArm64 fails the check as not checked when this machine cannot run arm64 binaries.
func requireArm64(c *checkT) {
	c.Helper()
	if reason := os.Getenv("E2E_NOT_CHECKED"); strings.HasPrefix(reason, "arm64 not checked: ") {
		c.NotChecked("arm64", strings.TrimPrefix(reason, "arm64 not checked: "))
	}
	const entry = "/proc/sys/fs/binfmt_misc/qemu-aarch64"
	b, err := os.ReadFile(entry)
	if err != nil {
		c.NotChecked("arm64", "no qemu-aarch64 entry in binfmt_misc ("+err.Error()+"); install qemu-user-static and binfmt-support, or run through test/e2e/run.sh")
	}
	if !strings.HasPrefix(string(b), "enabled") {
		c.NotChecked("arm64", entry+" is disabled")
	}
}

// requireArchive fails the check as not checked when the Debian archive cannot be reached.
func requireArchive(c *checkT, suite string) {
	c.Helper()
	mirror := os.Getenv("E2E_DEBIAN_MIRROR")
	if mirror == "" {
		return // the check itself will tell
	}
	url := strings.TrimSuffix(mirror, "/") + "/dists/" + suite + "/InRelease"
	ctx := ctxFor(c.T, 30*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		c.Fatalf("request %s: %v", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.NotChecked("apt-get install", "the Debian archive is unreachable: "+err.Error())
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.NotChecked("apt-get install", fmt.Sprintf("the Debian archive answered %s for %s", resp.Status, url))
	}
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
