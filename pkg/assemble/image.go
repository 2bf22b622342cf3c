package assemble

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

// Result is one built target: its index (not yet published) and a report.
type Result struct {
	Plan   *TargetPlan
	Index  v1.ImageIndex
	Tags   []string          // bare tags, e.g. "17-minimal-trixie"
	Labels map[string]string // config labels = manifest and index annotations
	Report TargetReport
}

// TargetReport is the machine-readable account of a build (--json).
type TargetReport struct {
	Target    string           `json:"target"`
	Version   string           `json:"version"`
	BaseImage string           `json:"baseImage"`
	Index     string           `json:"index,omitempty"`
	Refs      []string         `json:"refs,omitempty"`
	Tags      []string         `json:"tags"`
	Platforms []PlatformReport `json:"platforms"`
	Uploaded  int              `json:"blobsUploaded"`
	Skipped   int              `json:"blobsSkipped"`
	Seconds   float64          `json:"seconds"`
	// Unchanged: nothing was built, the published index is what a build
	// would make (see Builder.Unchanged).
	Unchanged bool `json:"unchanged,omitempty"`
}

// PlatformReport describes one platform's image.
type PlatformReport struct {
	Platform   string          `json:"platform"`
	Manifest   string          `json:"manifest"`
	BaseDigest string          `json:"baseDigest"`
	Layers     []LayerReport   `json:"layers"`
	Packages   []PackageReport `json:"packages"`
}

// LayerReport is one layer pgassemble added.
type LayerReport struct {
	Stage     string `json:"stage"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	MediaType string `json:"mediaType"`
}

// PackageReport is one package added.
type PackageReport struct {
	Stage   string `json:"stage"`
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch"`
	Reason  string `json:"reason"`
	Upgrade string `json:"upgradeFrom,omitempty"`
}

// Build resolves, fetches and assembles t into a multi-platform index.
// Platforms are built concurrently.
func (b *Builder) Build(ctx context.Context, t variants.Target) (*Result, error) {
	start := time.Now()
	tp, err := b.PlanBuild(ctx, t)
	if err != nil {
		return nil, err
	}
	res, err := b.BuildPlan(ctx, tp)
	if err != nil {
		return nil, err
	}
	res.Report.Seconds = time.Since(start).Seconds()
	return res, nil
}

// PlanBuild plans t for a build: Plan, then Options.Pin. A caller building
// several targets plans them all, calls ReleaseIndexes and then BuildPlan
// for each, so that no parsed index is held while layers are converted
// (what bake does).
func (b *Builder) PlanBuild(ctx context.Context, t variants.Target) (*TargetPlan, error) {
	tp, err := b.Plan(ctx, t)
	if err != nil {
		return nil, err
	}
	if b.opts.Pin != nil {
		if err := b.opts.Pin(ctx, tp); err != nil {
			return nil, err
		}
	}
	return tp, nil
}

// ReleaseIndexes drops the parsed indexes this Builder holds (for every
// architecture and set of repositories: the largest part of its memory,
// about 80 MB for trixie main and one architecture) once every plan that
// needs them is made. Plans keep what they resolved. A later plan reads
// the indexes again (from the cache directory when unchanged).
func (b *Builder) ReleaseIndexes() {
	b.universes.forget()
	b.client.ForgetIndexes()
}

// BuildPlan builds the images of a plan made by PlanBuild.
func (b *Builder) BuildPlan(ctx context.Context, tp *TargetPlan) (*Result, error) {
	start := time.Now()
	t := tp.Target
	dt, err := b.dateTarget(ctx, tp)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name, err)
	}
	labels := t.Labels(variants.Facts{Created: dt.created, Version: tp.Version, Revision: b.opts.Revision, BaseDigest: tp.Platforms[0].Base.Digest.String()})
	if b.opts.BaseImage != "" {
		// base.name and base.digest must describe the same image: the one used.
		labels["org.opencontainers.image.base.name"] = baseName(b.opts.BaseImage)
	}
	images := make([]v1.Image, len(tp.Platforms))
	reports := make([]PlatformReport, len(tp.Platforms))
	g, gctx := errgroup.WithContext(ctx)
	for i, pp := range tp.Platforms {
		g.Go(func() error {
			img, rep, err := b.buildPlatform(gctx, t, pp, labels, dt.stages[i], dt.created)
			if err != nil {
				return fmt.Errorf("%s %s: %w", t.Name, pp.Platform.String(), err)
			}
			images[i], reports[i] = img, rep
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for i, img := range images {
		p := tp.Platforms[i].Platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{MediaType: types.OCIManifestSchema1, Platform: &p}})
	}
	idx = mutate.Annotations(idx, labels).(v1.ImageIndex)
	d, err := idx.Digest()
	if err != nil {
		return nil, fmt.Errorf("%s: index: %w", t.Name, err)
	}
	res := &Result{Plan: tp, Index: idx, Tags: t.Tags(tp.Version, b.opts.Built), Labels: labels}
	res.Report = TargetReport{Target: t.Name, Version: tp.Version, BaseImage: tp.BaseRef, Index: d.String(), Tags: res.Tags, Platforms: reports, Seconds: time.Since(start).Seconds()}
	return res, nil
}

// buildPlatform builds one platform's image; epochs are the mtime clamps of
// pp's stages (see dateTarget), created the image's creation time.
func (b *Builder) buildPlatform(ctx context.Context, t variants.Target, pp *PlatformPlan, labels map[string]string, epochs []time.Time, created time.Time) (v1.Image, PlatformReport, error) {
	rep := PlatformReport{Platform: pp.Platform.String(), BaseDigest: pp.Base.Digest.String()}
	for _, s := range pp.Stages {
		for _, p := range s.Packages {
			r := PackageReport{Stage: s.Name, Name: p.Name, Version: p.Version, Arch: p.Architecture, Reason: p.Reason}
			if p.Upgrade != nil {
				r.Upgrade = p.Upgrade.Version
			}
			rep.Packages = append(rep.Packages, r)
		}
	}
	rb, err := b.buildRoot(ctx, t, pp, epochs)
	if err != nil {
		return nil, rep, err
	}
	layers := rb.Layers

	img, err := b.baseAsOCI(pp.Base)
	if err != nil {
		return nil, rep, err
	}
	var history []v1.History
	for _, a := range layers {
		history = append(history, v1.History{Created: v1.Time{Time: created}, CreatedBy: "pgassemble: " + a.Stage, Comment: t.Name})
		ls, err := layerReport(a.Layer, a.Stage)
		if err != nil {
			return nil, rep, err
		}
		rep.Layers = append(rep.Layers, ls)
		img, err = mutate.Append(img, mutate.Addendum{Layer: a.Layer})
		if err != nil {
			return nil, rep, err
		}
	}
	baseCfg, err := pp.Base.Image.ConfigFile()
	if err != nil {
		return nil, rep, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, rep, err
	}
	cf = cf.DeepCopy()
	cf.History = append(append([]v1.History(nil), baseCfg.History...), history...)
	cf.Created = v1.Time{Time: created}
	cf.Config.User = t.User
	cf.Config.Env = t.EnvFrom(baseCfg.Config.Env)
	cf.Config.Labels = mergeLabels(baseCfg.Config.Labels, labels)
	cf.Architecture, cf.OS, cf.Variant = pp.Platform.Architecture, pp.Platform.OS, pp.Platform.Variant
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, rep, err
	}
	img = mutate.Annotations(img, labels).(v1.Image)
	d, err := img.Digest()
	if err != nil {
		return nil, rep, err
	}
	rep.Manifest = d.String()
	return img, rep, nil
}

// baseName is the fully qualified name of a base reference, without its
// digest, as the base.name label carries it.
func baseName(ref string) string {
	r, err := name.ParseReference(ref)
	if err != nil {
		return ref
	}
	if tag, ok := r.(name.Tag); ok {
		return tag.Name()
	}
	return r.Context().Name()
}

func layerReport(l v1.Layer, stage string) (LayerReport, error) {
	d, err := l.Digest()
	if err != nil {
		return LayerReport{}, err
	}
	sz, err := l.Size()
	if err != nil {
		return LayerReport{}, err
	}
	mt, err := l.MediaType()
	if err != nil {
		return LayerReport{}, err
	}
	return LayerReport{Stage: stage, Digest: d.String(), Size: sz, MediaType: string(mt)}, nil
}

// baseAsOCI re-expresses the base image with OCI media types (annotations
// need an OCI manifest); layer bytes, and so digests, are unchanged.
func (b *Builder) baseAsOCI(base *Base) (v1.Image, error) {
	cf, err := base.Image.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("base config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.RootFS.DiffIDs = nil
	cf.History = nil
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	ls, err := base.Image.Layers()
	if err != nil {
		return nil, err
	}
	for _, l := range ls {
		mt, err := l.MediaType()
		if err != nil {
			return nil, err
		}
		var oci types.MediaType
		switch mt {
		case types.DockerLayer, types.OCILayer:
			oci = types.OCILayer
		case types.OCILayerZStd:
			oci = types.OCILayerZStd
		case types.DockerUncompressedLayer, types.OCIUncompressedLayer:
			oci = types.OCIUncompressedLayer
		default:
			return nil, fmt.Errorf("base %s: layer media type %s is not supported", base.Ref, mt)
		}
		if img, err = mutate.Append(img, mutate.Addendum{Layer: l, MediaType: oci}); err != nil {
			return nil, err
		}
	}
	return img, nil
}

func mergeLabels(base, ours map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range ours {
		out[k] = v
	}
	return out
}

// PackageLines renders a plan for `pgassemble plan`.
func (tp *TargetPlan) PackageLines() []string {
	var out []string
	for _, pp := range tp.Platforms {
		out = append(out, fmt.Sprintf("%s  base %s", pp.Platform.String(), pp.Base.Digest))
		for _, s := range pp.Stages {
			names := make([]string, 0, len(s.Packages))
			for _, p := range s.Packages {
				line := fmt.Sprintf("    %s %s %s", p.Name, p.Version, p.Architecture)
				if p.Upgrade != nil {
					line += " (upgrade from " + p.Upgrade.Version + ")"
				}
				names = append(names, line)
			}
			out = append(out, fmt.Sprintf("  stage %s: %d packages", s.Name, len(s.Packages)))
			out = append(out, names...)
		}
		if u := pp.Upgrade; u != nil {
			if n := len(u.Set.Packages); n > 0 && (len(pp.Stages) == 0 || pp.Stages[0].Name != UpgradeStage) {
				out = append(out, fmt.Sprintf("  not upgraded (--upgrade off): %d base packages have newer versions", n))
				for _, p := range u.Set.Packages {
					out = append(out, fmt.Sprintf("    %s %s -> %s%s", p.Name, p.Upgrade.Version, p.Version, securityMark(p.Package)))
				}
			}
			for _, k := range u.Kept {
				out = append(out, fmt.Sprintf("  kept back: %s %s (%s available): %s", k.Installed.Name, k.Installed.Version, k.Candidate.Version, k.Reason))
			}
		}
	}
	return out
}

// securityMark is " [security]" for a package from a -security suite.
func securityMark(p *apt.Package) string {
	if p.Repository != nil && strings.HasSuffix(p.Repository.Suite, "-security") {
		return " [security]"
	}
	return ""
}
