package assemble

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

// Errors of Outdated.
var (
	// ErrImageNotFound: nothing is published under the reference.
	ErrImageNotFound = errors.New("image not published")
	// ErrNoStatus: no layer of the image carries var/lib/dpkg/status.
	ErrNoStatus = errors.New("no dpkg status in the image")
)

const statusPath = "var/lib/dpkg/status"

// OutdatedReport says whether a published image is older than what a
// rebuild of its target would give today.
type OutdatedReport struct {
	Image  string `json:"image"`  // the reference read
	Target string `json:"target"` // the target it was compared with
	// Packages a rebuild would bring in newer, per platform.
	Packages []OutdatedPackage `json:"packages"`
	// BaseChanged: the base image the target names now resolves to another
	// digest than the one the image was built on (its base.digest label).
	BaseChanged bool `json:"baseChanged"`
	// MissingPlatforms are the target's platforms the image lacks.
	MissingPlatforms []string `json:"missingPlatforms,omitempty"`
	// NotPublished: nothing is published under Image (set by callers that
	// treat ErrImageNotFound as due).
	NotPublished bool   `json:"notPublished,omitempty"`
	BaseDigest   string `json:"baseDigest,omitempty"` // the base's digest now
	// LayersRead counts the image layers fetched to find the dpkg status
	// (over all platforms): the state layer alone when it is on top.
	LayersRead int `json:"layersRead"`
}

// Due reports whether a rebuild would change the image.
func (r *OutdatedReport) Due() bool {
	return len(r.Packages) > 0 || r.BaseChanged || r.NotPublished || len(r.MissingPlatforms) > 0
}

// OutdatedPackage is one installed package of a published image that a
// rebuild would replace with a newer version.
type OutdatedPackage struct {
	Platform  string `json:"platform"`
	Name      string `json:"name"`
	Installed string `json:"installed"`
	Available string `json:"available"`
	Suite     string `json:"suite,omitempty"`  // where the newer version comes from
	Security  bool   `json:"security"`         // from a -security suite
	Reason    string `json:"reason,omitempty"` // e.g. "upgrade", or the stage's reason
}

// Outdated compares the image published at ref with a fresh plan of t: it
// resolves t as a build would (the same repositories, indexes only) and
// reads the image's dpkg status, fetching only the layers it needs (the
// state layer, pgassemble's last, carries var/lib/dpkg/status; for another
// image the layers are read from the top down until one has it). A package
// is outdated when the plan would install a newer version of it than the
// image has; the base counts as changed when its reference now resolves to
// another digest than the image's base.digest label.
//
// The image is read with the credentials of the Docker configuration
// (credential helpers included), as publishing writes it; loopback
// registries, and any with OutdatedInsecure(true), over plain HTTP.
func (b *Builder) Outdated(ctx context.Context, t variants.Target, ref string, opts ...OutdatedOption) (*OutdatedReport, error) {
	var o outdatedOptions
	for _, f := range opts {
		f(&o)
	}
	src := b.opts.Bases
	src.Options = append([]remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}, src.Options...)
	if o.insecure {
		src.NameOptions = append(slices.Clone(src.NameOptions), name.Insecure)
	}
	rep := &OutdatedReport{Image: ref, Target: t.Name, Packages: []OutdatedPackage{}}
	// One platform at a time: a platform the image lacks is one a rebuild
	// would add.
	var imgs []*Base
	var present []string
	for _, ps := range t.Platforms {
		p, err := ParsePlatform(ps)
		if err != nil {
			return nil, err
		}
		got, err := src.Pull(ctx, ref, []v1.Platform{p})
		var te *transport.Error
		switch {
		case errors.As(err, &te) && te.StatusCode == http.StatusNotFound:
			return nil, fmt.Errorf("%s: %w", ref, ErrImageNotFound)
		case errors.Is(err, ErrPlatformMissing):
			rep.MissingPlatforms = append(rep.MissingPlatforms, ps)
			continue
		case err != nil:
			return nil, err
		}
		imgs = append(imgs, got...)
		present = append(present, ps)
	}
	if len(present) == 0 {
		return rep, nil
	}
	t, err := t.WithPlatforms(present)
	if err != nil {
		return nil, err
	}
	tp, err := b.Plan(ctx, t)
	if err != nil {
		return nil, err
	}
	for i, pp := range tp.Platforms {
		status, n, err := imageStatus(ctx, imgs[i].Image)
		rep.LayersRead += n
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", ref, pp.Platform.String(), err)
		}
		if i == 0 {
			cf, err := imgs[i].Image.ConfigFile()
			if err != nil {
				return nil, fmt.Errorf("%s: config: %w", ref, err)
			}
			built := cf.Config.Labels["org.opencontainers.image.base.digest"]
			rep.BaseDigest = pp.Base.Digest.String()
			rep.BaseChanged = built != "" && built != rep.BaseDigest
		}
		// What a rebuild would leave: the base's packages, then the plan's.
		fresh := map[string]apt.Planned{}
		base, err := readStatus(pp.Root.FS)
		if err != nil {
			return nil, err
		}
		for _, p := range base {
			fresh[p.Name] = apt.Planned{Package: p, Reason: "base image"}
		}
		for _, p := range pp.Planned() {
			fresh[p.Name] = p
		}
		for _, p := range status {
			if p.StatusWord() != "installed" {
				continue
			}
			f, ok := fresh[p.Name]
			if !ok || apt.CompareVersions(f.Version, p.Version) <= 0 {
				continue
			}
			op := OutdatedPackage{Platform: pp.Platform.String(), Name: p.Name, Installed: p.Version, Available: f.Version, Reason: f.Reason}
			if f.Repository != nil {
				op.Suite = f.Repository.Suite
				op.Security = strings.HasSuffix(f.Repository.Suite, "-security")
			}
			rep.Packages = append(rep.Packages, op)
		}
	}
	return rep, nil
}

// OutdatedOption tunes Outdated.
type OutdatedOption func(*outdatedOptions)

type outdatedOptions struct{ insecure bool }

// OutdatedInsecure reads the image over plain HTTP (--insecure).
func OutdatedInsecure(insecure bool) OutdatedOption {
	return func(o *outdatedOptions) { o.insecure = insecure }
}

// imageStatus reads var/lib/dpkg/status from the topmost layer of img that
// has it, fetching layers from the top down; n is how many it fetched. A
// whiteout of the file, or of a directory above it, on the way down means
// the image has none.
func imageStatus(ctx context.Context, img v1.Image) (pkgs []*apt.Package, n int, err error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, 0, err
	}
	for i := len(layers) - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return nil, n, err
		}
		n++
		pkgs, found, err := statusInLayer(layers[i])
		if err != nil {
			return nil, n, fmt.Errorf("layer %d: %w", i, err)
		}
		if found {
			return pkgs, n, nil
		}
	}
	return nil, n, ErrNoStatus
}

// statusInLayer parses the dpkg status in l, if l has it; a whiteout that
// hides it in lower layers (and l does not have it) is ErrNoStatus.
func statusInLayer(l v1.Layer) ([]*apt.Package, bool, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, false, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var whited error
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, false, whited
		}
		if err != nil {
			return nil, false, err
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		dir, base := path.Split(name)
		if hidden, ok := strings.CutPrefix(base, ".wh."); ok {
			target := dir + hidden
			if hidden == ".wh..opq" {
				target = strings.TrimSuffix(dir, "/")
			}
			if target == statusPath || strings.HasPrefix(statusPath, target+"/") {
				// Hides the lower layers' copy; this layer may still have one.
				whited = fmt.Errorf("%s is whited out: %w", statusPath, ErrNoStatus)
			}
			continue
		}
		if name != statusPath || h.Typeflag != tar.TypeReg {
			continue
		}
		pkgs, err := apt.ParseStatus(tr)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", statusPath, err)
		}
		return pkgs, true, nil
	}
}
