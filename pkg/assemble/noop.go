package assemble

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pgassemble/pgassemble/internal/atomicfile"
	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/apt/archive"
)

// The no-op fast path. A build is a function of its inputs: pgassemble's
// own code and options, the target, the base image's digest and the
// repositories' InRelease files (which pin every index, and so every
// .deb, by SHA256). When none of these changed since a build was
// published and the published tags still point at its index, building
// again would publish the same index: Unchanged proves it with a HEAD of
// the base, a GET of each InRelease (tens of kB)
// and a HEAD of each published tag, and the caller skips the build.

// ReleaseRef is one repository's InRelease as a build read it.
type ReleaseRef struct {
	URL        string    `json:"url"`
	SHA256     string    `json:"sha256"`
	ValidUntil time.Time `json:"validUntil,omitzero"`
}

// Published is what a build published, with the inputs that decided it.
type Published struct {
	Version    int          `json:"version"`
	Key        string       `json:"key"` // the caller's hash of code, options and target
	BaseRef    string       `json:"baseRef"`
	BaseDigest string       `json:"baseDigest"`
	Releases   []ReleaseRef `json:"releases"`
	// Refs are the published references that a later run checks (HEAD)
	// and the index they point at.
	Refs  []string `json:"refs"`
	Index string   `json:"index"`
	// Manifest is the index manifest as published, so that new tags (the
	// timestamped one) can point at it without building.
	Manifest  []byte       `json:"manifest"`
	MediaType string       `json:"mediaType"`
	Report    TargetReport `json:"report"`
}

const publishedVersion = 1

// ErrChanged is wrapped by Unchanged's reason when an input moved.
var ErrChanged = errors.New("inputs changed")

// Record describes res, published at refs, for a later Unchanged. It
// returns nil when the build cannot be proven the same later (no base
// image, platforms on different bases or on different InRelease files of
// one repository).
func Record(key string, res *Result, refs []string) (*Published, error) {
	tp := res.Plan
	if tp == nil || len(tp.Platforms) == 0 || tp.Platforms[0].Base == nil {
		return nil, nil
	}
	raw, err := res.Index.RawManifest()
	if err != nil {
		return nil, err
	}
	mt, err := res.Index.MediaType()
	if err != nil {
		return nil, err
	}
	d, err := res.Index.Digest()
	if err != nil {
		return nil, err
	}
	p := &Published{Version: publishedVersion, Key: key, BaseRef: tp.BaseRef, BaseDigest: tp.Platforms[0].Base.Digest.String(),
		Refs: refs, Index: d.String(), Manifest: raw, MediaType: string(mt), Report: res.Report}
	seen := map[string]string{}
	for _, pp := range tp.Platforms {
		if pp.Base == nil || pp.Base.Digest.String() != p.BaseDigest {
			return nil, nil
		}
		for _, r := range pp.Releases {
			switch sum, ok := seen[r.URL]; {
			case !ok:
				seen[r.URL] = r.SHA256
				p.Releases = append(p.Releases, r)
			case sum != r.SHA256:
				// The platforms were resolved through different
				// InRelease files (the mirror moved between them):
				// neither proves the other unchanged.
				return nil, nil
			}
		}
	}
	return p, nil
}

// RecordPath is where the record of key is kept under dir.
func RecordPath(dir, key string) string { return filepath.Join(dir, "published", key+".json") }

// SaveRecord writes p under dir.
func SaveRecord(dir string, p *Published) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(RecordPath(dir, p.Key), data)
}

// LoadRecord reads the record of key under dir; nil when there is none
// (or it is unreadable: the build then simply runs).
func LoadRecord(dir, key string) *Published {
	data, err := os.ReadFile(RecordPath(dir, key))
	if err != nil {
		return nil
	}
	var p Published
	if json.Unmarshal(data, &p) != nil || p.Version != publishedVersion || p.Key != key || !p.consistent() {
		return nil
	}
	return &p
}

// consistent reports whether the record can stand for a publication: its
// manifest is the index it names (the no-op path tags those bytes), an
// index, and there are published refs whose HEADs prove it is still there.
func (p *Published) consistent() bool {
	sum := sha256.Sum256(p.Manifest)
	return len(p.Refs) > 0 && p.Index == "sha256:"+hex.EncodeToString(sum[:]) && types.MediaType(p.MediaType).IsIndex()
}

// UnchangedOptions adjust Unchanged's checks.
type UnchangedOptions struct {
	// Insecure allows plain HTTP to the refs' registry (loopback ones
	// always).
	Insecure bool
	// IgnoreValidUntil accepts an InRelease past its Valid-Until, as the
	// archive client does with archive.WithIgnoreValidUntil (snapshots).
	IgnoreValidUntil bool
	// Remote are more options for the registry requests.
	Remote []remote.Option
}

// Unchanged checks that every input of p is as it was and its refs still
// point at its index. A nil error means building again would publish the
// same index; an error wrapping ErrChanged says what moved; another error
// is a failed check (the caller builds).
func (b *Builder) Unchanged(ctx context.Context, p *Published, uo UnchangedOptions) error {
	if !p.consistent() {
		return fmt.Errorf("record of %s: manifest does not hash to %s, or no published refs: %w", p.BaseRef, p.Index, ErrChanged)
	}
	insecure, remoteOpts := uo.Insecure, uo.Remote
	// The Docker config's credentials, as publishing uses: the refs are
	// where this image was pushed.
	opts := append([]remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}, b.opts.Bases.Options...)
	opts = append(opts, remoteOpts...)
	head := func(ref string, nopts []name.Option) (string, error) {
		r, err := name.ParseReference(ref, nopts...)
		if err != nil {
			return "", err
		}
		d, err := remote.Head(r, opts...)
		if err != nil {
			return "", err
		}
		return d.Digest.String(), nil
	}
	got, err := head(p.BaseRef, b.opts.Bases.nameOptions(p.BaseRef))
	if err != nil {
		return fmt.Errorf("base %s: %w", p.BaseRef, err)
	}
	if got != p.BaseDigest {
		return fmt.Errorf("base %s is %s now, was %s: %w", p.BaseRef, got, p.BaseDigest, ErrChanged)
	}
	now := time.Now()
	for _, r := range p.Releases {
		if !uo.IgnoreValidUntil && !r.ValidUntil.IsZero() && now.After(r.ValidUntil) {
			return fmt.Errorf("%s expired %s: %w", r.URL, r.ValidUntil.Format(time.RFC3339), ErrChanged)
		}
		// The archive client's timeouts, retries and transports (file:
		// mirrors too), as the build's own fetch of it.
		sum, err := b.client.SHA256(ctx, r.URL)
		if err != nil {
			return err
		}
		if sum != r.SHA256 {
			return fmt.Errorf("%s changed: %w", r.URL, ErrChanged)
		}
	}
	for _, ref := range p.Refs {
		nopts := b.opts.Bases.nameOptions(ref)
		if insecure {
			nopts = append(nopts, name.Insecure)
		}
		got, err := head(ref, nopts)
		if err != nil {
			return fmt.Errorf("%s: %v: %w", ref, err, ErrChanged)
		}
		if got != p.Index {
			return fmt.Errorf("%s points at %s, not %s: %w", ref, got, p.Index, ErrChanged)
		}
	}
	return nil
}

// SHA256 GETs a small file (an InRelease) with the Builder's archive
// client (its timeouts, retries and transports) and returns the hex SHA256
// of its body. It verifies nothing: the caller compares the sum with one it
// trusts (lock.Snapshot.CheckReleases does).
func (b *Builder) SHA256(ctx context.Context, url string) (string, error) {
	return b.client.SHA256(ctx, url)
}

// releaseRefs are the InRelease files of repos as the build read them:
// the digest is the one u's indexes were verified through (a mirror that
// published another InRelease since must make the next run build), the
// URL and Valid-Until come from this Builder's client (cached: one
// conditional GET per repository and run).
func (b *Builder) releaseRefs(ctx context.Context, repos []archive.Repo, u *apt.Universe) ([]ReleaseRef, error) {
	used := map[string]string{}
	for _, r := range u.Repositories() {
		used[r.URI+" "+r.Suite] = r.ReleaseSHA256
	}
	var out []ReleaseRef
	for _, r := range repos {
		ref, err := b.releases.get(ctx, r.String(), func() (ReleaseRef, error) {
			rel, err := b.client.Release(ctx, r)
			if err != nil {
				return ReleaseRef{}, err
			}
			// The file read: InRelease, or Release where there is none.
			return ReleaseRef{URL: rel.URL, SHA256: rel.Digest, ValidUntil: rel.ValidUntil}, nil
		})
		if err != nil {
			return nil, err
		}
		if sum := used[r.URI+" "+r.Suite]; sum != "" {
			ref.SHA256 = sum
		}
		out = append(out, ref)
	}
	return out, nil
}
