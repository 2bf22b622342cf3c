package variants

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ErrBadShard is wrapped by errors about a shard specification.
var ErrBadShard = errors.New("bad shard")

// Shard is one part of a matrix split across machines: Index of Count,
// both from 1 ("2/4").
type Shard struct{ Index, Count int }

// ParseShard reads "I/N" (1 <= I <= N).
func ParseShard(s string) (Shard, error) {
	i, n, ok := strings.Cut(s, "/")
	a, err1 := strconv.Atoi(i)
	b, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil || b < 1 || a < 1 || a > b {
		return Shard{}, fmt.Errorf("%q: want I/N with 1 <= I <= N (e.g. 2/4): %w", s, ErrBadShard)
	}
	return Shard{a, b}, nil
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// ShardGroup names the targets that share layers and so belong on one
// machine: the same base image and PostgreSQL major (minimal's stages are
// standard's first stages, standard's are system's; the upgrade stage is
// the base's).
func ShardGroup(t Target) string {
	return t.Base.Reference() + " " + t.Version.MajorString()
}

// Assign splits targets into count shards deterministically: whole
// groups (ShardGroup), the heaviest first (targets x platforms), each to
// the least loaded shard (the lowest on a tie). The same matrix gives the
// same split on every machine. It returns each target's shard (from 1),
// in the order of targets.
func Assign(targets []Target, count int) []int {
	type group struct {
		key    string
		weight int
		shard  int
	}
	byKey := map[string]*group{}
	var groups []*group
	for _, t := range targets {
		k := ShardGroup(t)
		g := byKey[k]
		if g == nil {
			g = &group{key: k}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.weight += len(t.Platforms)
	}
	sort.Slice(groups, func(i, j int) bool {
		if groups[i].weight != groups[j].weight {
			return groups[i].weight > groups[j].weight
		}
		return groups[i].key < groups[j].key
	})
	load := make([]int, count)
	for _, g := range groups {
		best := 0
		for s := 1; s < count; s++ {
			if load[s] < load[best] {
				best = s
			}
		}
		load[best] += g.weight
		g.shard = best + 1
	}
	out := make([]int, len(targets))
	for i, t := range targets {
		out[i] = byKey[ShardGroup(t)].shard
	}
	return out
}

// Targets returns the targets of shard s, in their order.
func (s Shard) Targets(targets []Target) []Target {
	var out []Target
	for i, n := range Assign(targets, s.Count) {
		if n == s.Index {
			out = append(out, targets[i])
		}
	}
	return out
}
