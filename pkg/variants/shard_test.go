package variants

import (
	"errors"
	"slices"
	"testing"
)

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Shard
		err  bool
	}{
		{"1/1", Shard{1, 1}, false},
		{"2/4", Shard{2, 4}, false},
		{"0/4", Shard{}, true},
		{"5/4", Shard{}, true},
		{"1/0", Shard{}, true},
		{"2", Shard{}, true},
		{"a/b", Shard{}, true},
	} {
		got, err := ParseShard(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseShard(%q) = %v, %v", tc.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrBadShard) {
			t.Errorf("ParseShard(%q): %v does not wrap ErrBadShard", tc.in, err)
		}
	}
}

// TestShardsKeepGroups: every target lands on exactly one shard, the
// targets of one base and major together, the split is the same every
// time, and no shard is idle while another has two groups it could share.
func TestShardsKeepGroups(t *testing.T) {
	all, err := Default().Targets(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string]bool{}
	for _, tg := range all {
		groups[ShardGroup(tg)] = true
	}
	for _, n := range []int{1, 2, 3, len(groups), len(groups) + 2} {
		first := Assign(all, n)
		if !slices.Equal(first, Assign(all, n)) {
			t.Fatalf("%d shards: the split changed between two calls", n)
		}
		seen := 0
		shardOf := map[string]int{}
		used := map[int]bool{}
		for i := 1; i <= n; i++ {
			for _, tg := range (Shard{i, n}).Targets(all) {
				seen++
				used[i] = true
				g := ShardGroup(tg)
				if s, ok := shardOf[g]; ok && s != i {
					t.Errorf("%d shards: group %s on shards %d and %d", n, g, s, i)
				}
				shardOf[g] = i
			}
		}
		if seen != len(all) {
			t.Errorf("%d shards: %d targets built, want %d", n, seen, len(all))
		}
		if want := min(n, len(groups)); len(used) != want {
			t.Errorf("%d shards: %d shards have work, want %d", n, len(used), want)
		}
	}
}
