package options

import (
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/pgassemble/pgassemble/pkg/variants"
)

// BakeOptions are the habits of `docker buildx bake` that bake keeps, so a
// CI job that ran `docker buildx bake --push` runs `pgassemble bake --push`
// with nothing else changed: --push, --print and --set.
type BakeOptions struct {
	Push       bool
	Print      bool
	Set        []string
	IfOutdated bool
	Shard      string
}

// AddFlags registers the bake flags.
func (o *BakeOptions) AddFlags(fl *pflag.FlagSet) {
	fl.BoolVar(&o.Push, "push", false, "accepted as docker buildx bake's --push: publishing to the registry is the default")
	fl.BoolVar(&o.IfOutdated, "if-outdated", false, "build only the targets whose published image is older than a rebuild would make it (see pgassemble outdated)")
	fl.BoolVar(&o.Print, "print", false, "print the resolved targets as docker buildx bake --print's JSON, build nothing")
	fl.StringVar(&o.Shard, "shard", "", "build only shard `I/N` of the matrix: targets sharing layers (same base and PostgreSQL major) stay together; "+
		"the split is the same on every machine (see targets --json --shards N)")
	fl.StringArrayVar(&o.Set, "set", nil, "override a target value, as bake's --set `TARGET.KEY=VALUE`: TARGET a name or pattern (*), "+
		"KEY platform, tags, args.BASE, labels.NAME, push, output (type=registry), or the ignored cache-from, cache-to, no-cache, pull (repeatable)")
}

// Validate checks --push against --output.
func (o *BakeOptions) Validate(p *PublishOptions) error {
	if o.Push && p.Output != "" && p.Output != "registry" {
		return Usagef("--push publishes to the registry, --output %s writes elsewhere: give one of them", p.Output)
	}
	if o.IfOutdated && p.Output != "" && p.Output != "registry" {
		return Usagef("--if-outdated compares with the images in the registry, not with --output %s", p.Output)
	}
	return nil
}

// ApplyShard keeps the targets of --shard (all without it).
func (o *BakeOptions) ApplyShard(targets []variants.Target) ([]variants.Target, error) {
	if o.Shard == "" {
		return targets, nil
	}
	sh, err := variants.ParseShard(o.Shard)
	if err != nil {
		return nil, Usagef("--shard %w", err)
	}
	return sh.Targets(targets), nil
}

// tagRE is the OCI distribution specification's tag grammar.
var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

// setKeysIgnored are bake keys about BuildKit's cache, which pgassemble
// does not have: its layer and package caches are keyed by their inputs.
var setKeysIgnored = []string{"cache-from", "cache-to", "no-cache", "pull"}

// ApplySet applies the --set overrides to targets, in order, as bake does:
// TARGET is a target name or a pattern ("*", "postgresql-17-*"), and must
// match at least one target. Keys that only concern BuildKit's cache are
// ignored, reported through warn; any other key is a usage error.
//
// repo is the repository images are published to ("" for an OCI layout):
// tags given as full references must name it.
func (o *BakeOptions) ApplySet(targets []variants.Target, repo string, warn func(string)) ([]variants.Target, error) {
	out := slices.Clone(targets)
	for _, s := range o.Set {
		lhs, value, ok := strings.Cut(s, "=")
		pattern, key, ok2 := strings.Cut(lhs, ".")
		if !ok || !ok2 || pattern == "" || key == "" {
			return nil, Usagef("--set %q: want TARGET.KEY=VALUE (e.g. '*.platform=linux/amd64')", s)
		}
		if _, err := path.Match(pattern, ""); err != nil {
			return nil, Usagef("--set %q: bad target pattern: %v", s, err)
		}
		matched := 0
		for i := range out {
			if ok, _ := path.Match(pattern, out[i].Name); !ok {
				continue
			}
			matched++
			t, err := setKey(out[i], key, value, repo)
			if err != nil {
				return nil, Usagef("--set %q: %w", s, err)
			}
			out[i] = t
		}
		if slices.Contains(setKeysIgnored, key) {
			warn(fmt.Sprintf("--set %s: ignored (pgassemble's caches are keyed by their inputs)", s))
		}
		if matched == 0 {
			return nil, Usagef("--set %q: no target matches %q", s, pattern)
		}
	}
	return out, nil
}

func setKey(t variants.Target, key, value, repo string) (variants.Target, error) {
	switch {
	case key == "tags":
		var tags []string
		for _, ref := range splitList(value) {
			// REPOSITORY:TAG as bake takes it, or a bare TAG.
			r, tag := "", ref
			if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
				r, tag = ref[:i], ref[i+1:]
			} else if strings.Contains(ref, "/") {
				return t, fmt.Errorf("%q names no tag", ref)
			}
			if r != "" && repo != "" && r != repo {
				return t, fmt.Errorf("tag %q: images go to %s (--registry, --environment)", ref, repo)
			}
			if !tagRE.MatchString(tag) {
				return t, fmt.Errorf("tag %q is not a valid tag", tag)
			}
			tags = append(tags, tag)
		}
		if len(tags) == 0 {
			return t, fmt.Errorf("no tags")
		}
		t.FixedTags = tags
		return t, nil
	case key == "platform" || key == "platforms":
		return t.WithPlatforms(splitList(value))
	case key == "args.BASE":
		image, digest, _ := strings.Cut(value, "@")
		if image == "" {
			return t, fmt.Errorf("empty base image")
		}
		t.Base.Image, t.Base.Digest = image, digest
		return t, nil
	case strings.HasPrefix(key, "args."):
		return t, fmt.Errorf("unknown build argument %s (pgassemble reads BASE; versions are chosen with --pg)", strings.TrimPrefix(key, "args."))
	case strings.HasPrefix(key, "labels."):
		name := strings.TrimPrefix(key, "labels.")
		if name == "" {
			return t, fmt.Errorf("empty label name")
		}
		labels := maps.Clone(t.Meta.Labels)
		if labels == nil {
			labels = map[string]string{}
		}
		labels[name] = value
		t.Meta.Labels = labels
		return t, nil
	case key == "push":
		if value != "true" {
			return t, fmt.Errorf("push=%s: pgassemble bake always publishes", value)
		}
		return t, nil
	case key == "output":
		if value != "type=registry" && value != "type=image,push=true" {
			return t, fmt.Errorf("output %s: only the registry (type=registry) is set per target; use --output oci:DIR for a layout", value)
		}
		return t, nil
	case slices.Contains(setKeysIgnored, key):
		return t, nil
	}
	return t, fmt.Errorf("unknown key %q (pgassemble takes platform, tags, args.BASE, labels.NAME, push, output)", key)
}
