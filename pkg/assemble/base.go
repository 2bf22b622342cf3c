package assemble

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pgassemble/pgassemble/internal/layerio"
	"github.com/pgassemble/pgassemble/internal/loopback"
	"github.com/pgassemble/pgassemble/pkg/layer/maint"
	"github.com/pgassemble/pgassemble/pkg/rootfs"
)

// ErrPlatformMissing is returned when a base image lacks a requested platform.
var ErrPlatformMissing = errors.New("platform not in base image")

// Base is one platform of a pulled base image and the filesystem it holds.
type Base struct {
	Ref      string  // as given, e.g. "debian:trixie-slim"
	Digest   v1.Hash // digest of what Ref resolved to (index or image)
	Platform v1.Platform
	Image    v1.Image
	Tree     *rootfs.Tree
}

// BaseSource pulls base images. Its zero value reads from remote registries
// with the options given.
type BaseSource struct {
	Options []remote.Option
	// NameOptions are used to parse references (e.g. name.Insecure).
	NameOptions []name.Option
}

// Pull resolves ref and returns one Base per requested platform, in the order
// asked. A single-platform image is accepted when it matches the platform
// asked for; attestation manifests (unknown/unknown) of an index are skipped.
func (s BaseSource) Pull(ctx context.Context, ref string, platforms []v1.Platform) ([]*Base, error) {
	r, err := name.ParseReference(ref, s.nameOptions(ref)...)
	if err != nil {
		return nil, fmt.Errorf("base image %q: %w", ref, err)
	}
	opts := append([]remote.Option{remote.WithContext(ctx)}, s.Options...)
	desc, err := remote.Get(r, opts...)
	if err != nil {
		return nil, fmt.Errorf("pull base image %s: %w", ref, err)
	}
	images := map[string]v1.Image{}
	var available []string
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, fmt.Errorf("base image %s: %w", ref, err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("base image %s: %w", ref, err)
		}
		for _, m := range im.Manifests {
			if m.Platform == nil || m.Platform.OS == "unknown" || !m.MediaType.IsImage() {
				continue // attestations and nested indexes
			}
			key := m.Platform.String()
			if _, dup := images[key]; dup {
				continue
			}
			img, err := idx.Image(m.Digest)
			if err != nil {
				return nil, fmt.Errorf("base image %s (%s): %w", ref, key, err)
			}
			images[key] = img
			available = append(available, key)
		}
	} else {
		img, err := desc.Image()
		if err != nil {
			return nil, fmt.Errorf("base image %s: %w", ref, err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("base image %s: config: %w", ref, err)
		}
		p := cf.Platform()
		if p == nil {
			p = &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
		}
		if p.OS == "" || p.Architecture == "" {
			return nil, fmt.Errorf("base image %s is a single image whose config names no platform (os %q, architecture %q): %w", ref, p.OS, p.Architecture, ErrPlatformMissing)
		}
		images[p.String()] = img
		available = append(available, p.String())
	}
	var out []*Base
	for _, want := range platforms {
		img, ok := images[want.String()]
		if !ok && want.Architecture == "arm64" && want.Variant == "" {
			img, ok = images[v1.Platform{OS: want.OS, Architecture: "arm64", Variant: "v8"}.String()]
		}
		if !ok {
			return nil, fmt.Errorf("base image %s has no %s (it has %s): %w", ref, want.String(), strings.Join(available, ", "), ErrPlatformMissing)
		}
		out = append(out, &Base{Ref: ref, Digest: desc.Digest, Platform: want, Image: img})
	}
	return out, nil
}

func (s BaseSource) nameOptions(ref string) []name.Option {
	opts := append([]name.Option(nil), s.NameOptions...)
	if loopback.Registry(ref) { // plain HTTP, as for pushing
		opts = append(opts, name.Insecure)
	}
	return opts
}

// LoadTree reads the base image's filesystem (layers applied in order).
func (b *Base) LoadTree(ctx context.Context) error {
	layers, err := b.Image.Layers()
	if err != nil {
		return fmt.Errorf("base %s (%s): layers: %w", b.Ref, b.Platform.String(), err)
	}
	// The base's files pgassemble reads, and those the maintainer scripts
	// may read or run (an upgrade's prerm runs dpkg-maintscript-helper).
	t := rootfs.NewFiltered(func(name string, size int64) bool {
		return rootfs.DefaultKeep(name, size) || maint.RetainBaseFile(name, size)
	}, func(name string, data []byte) bool {
		return !rootfs.DefaultKeep(name, int64(len(data))) && maint.DropBaseBody(name, data)
	})
	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		rc, err := layerio.Uncompressed(l)
		if err != nil {
			return fmt.Errorf("base %s (%s): layer %d: %w", b.Ref, b.Platform.String(), i, err)
		}
		err = t.Apply(rc)
		_, _ = io.Copy(io.Discard, rc) // drain so the digest is verified
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			d, _ := l.Digest()
			return fmt.Errorf("base %s (%s): layer %s: %w", b.Ref, b.Platform.String(), d, err)
		}
	}
	b.Tree = t
	return nil
}

// ParsePlatform parses "linux/arm64[/v8]" (go-containerregistry's
// syntax), requiring an OS and an architecture.
func ParsePlatform(s string) (v1.Platform, error) {
	p, err := v1.ParsePlatform(s)
	if err != nil || p.OS == "" || p.Architecture == "" || strings.Count(s, "/") > 2 {
		return v1.Platform{}, fmt.Errorf("platform %q: want OS/ARCH[/VARIANT], e.g. linux/amd64", s)
	}
	return *p, nil
}

// archs is the one mapping between dpkg architectures and OCI platforms
// (Debian's ports that publish container images).
var archs = []struct {
	dpkg     string
	platform v1.Platform
}{
	{"amd64", v1.Platform{OS: "linux", Architecture: "amd64"}},
	{"arm64", v1.Platform{OS: "linux", Architecture: "arm64"}},
	{"armhf", v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
	{"armel", v1.Platform{OS: "linux", Architecture: "arm", Variant: "v5"}},
	{"i386", v1.Platform{OS: "linux", Architecture: "386"}},
	{"ppc64el", v1.Platform{OS: "linux", Architecture: "ppc64le"}},
	{"riscv64", v1.Platform{OS: "linux", Architecture: "riscv64"}},
	{"s390x", v1.Platform{OS: "linux", Architecture: "s390x"}},
}

// DebianArch maps an OCI platform to dpkg's name for its architecture.
// arm64's optional variant v8 is the same architecture; any arm variant
// but v7 (armhf) is armel.
func DebianArch(p v1.Platform) (string, error) {
	for _, a := range archs {
		if a.platform.Architecture != p.Architecture {
			continue
		}
		if p.Architecture == "arm" && (p.Variant == "v7") != (a.dpkg == "armhf") {
			continue
		}
		return a.dpkg, nil
	}
	return "", fmt.Errorf("platform %s: no Debian architecture for it", p.String())
}

// PlatformOf maps a dpkg architecture to the OCI platform of its images.
func PlatformOf(arch string) (v1.Platform, error) {
	for _, a := range archs {
		if a.dpkg == arch {
			return a.platform, nil
		}
	}
	return v1.Platform{}, fmt.Errorf("dpkg architecture %q: no OCI platform for it", arch)
}
