package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pgassemble/pgassemble/internal/fixture"
	"github.com/pgassemble/pgassemble/pkg/assemble"
)

var statsLine = regexp.MustCompile(`layers: (\d+) converted, (\d+) from the local cache, (\d+) from the cache repository, (\d+) stored there`)

type bakeRun struct {
	converted, local, remote, stored int
	index                            map[string]string // target -> index digest
}

// bakeJSON runs bake with --json and reads its reports and layer counts.
func bakeJSON(t *testing.T, args ...string) bakeRun {
	t.Helper()
	out, stderr, code := cli(t, append([]string{"bake", "--json", "--allow-unhandled-scripts"}, args...)...)
	if code != 0 {
		t.Fatalf("bake %v: exit %d\n%s", args, code, stderr)
	}
	m := statsLine.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("bake %v: no layer counts on stderr:\n%s", args, stderr)
	}
	var r bakeRun
	for i, p := range []*int{&r.converted, &r.local, &r.remote, &r.stored} {
		*p, _ = strconv.Atoi(m[i+1])
	}
	var reports []assemble.TargetReport
	if err := json.Unmarshal([]byte(out), &reports); err != nil {
		t.Fatalf("bake --json: %v\n%s", err, out)
	}
	r.index = map[string]string{}
	for _, rep := range reports {
		r.index[rep.Target] = rep.Index
	}
	return r
}

// TestBakeShardsShareCacheRepo: two shards with their own local caches
// and one cache repository convert every distinct layer once in total,
// and publish the images a single-process bake publishes. The two targets
// are on two references of one base image (so in two shard groups) and
// share their first stage's layer, which the second shard takes from the
// cache repository.
func TestBakeShardsShareCacheRepo(t *testing.T) {
	w := fixture.New(t)
	// A second name for the same base: another group, the same layers.
	src, err := name.ParseReference(w.BaseRef, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(src)
	if err != nil {
		t.Fatal(err)
	}
	other := w.RegHost + "/mirror/debian:trixie-slim"
	dst, _ := name.ParseReference(other, name.Insecure)
	if err := remote.WriteIndex(dst, idx); err != nil {
		t.Fatal(err)
	}
	targets := []string{"postgresql-17-minimal-trixie", "postgresql-17-standard-trixie"}
	common := func(cache, registry string, extra ...string) []string {
		a := []string{"--cache-dir", cache, "--registry", w.RegHost + "/" + registry,
			"--set", "postgresql-17-minimal-trixie.args.BASE=" + w.BaseRef,
			"--set", "postgresql-17-standard-trixie.args.BASE=" + other}
		return append(append(a, extra...), targets...)
	}

	single := bakeJSON(t, common(t.TempDir(), "single")...)
	if single.converted == 0 || len(single.index) != 2 {
		t.Fatalf("single bake: %d conversions, %d images", single.converted, len(single.index))
	}

	cacheRepo := "--cache-repo=" + w.RegHost + "/cache/pgassemble"
	s1 := bakeJSON(t, common(t.TempDir(), "sharded", cacheRepo, "--shard", "1/2")...)
	s2 := bakeJSON(t, common(t.TempDir(), "sharded", cacheRepo, "--shard", "2/2")...)
	if len(s1.index) != 1 || len(s2.index) != 1 {
		t.Fatalf("shards built %v and %v: want one target each", s1.index, s2.index)
	}
	if got := s1.converted + s2.converted; got != single.converted {
		t.Errorf("shards converted %d + %d layers, a single bake %d: a layer was converted twice or skipped", s1.converted, s2.converted, single.converted)
	}
	if s2.remote == 0 {
		t.Errorf("shard 2 took nothing from the cache repository (%+v)", s2)
	}
	if s1.stored != s1.converted || s2.stored != s2.converted {
		t.Errorf("not every conversion was stored: shard 1 %+v, shard 2 %+v", s1, s2)
	}
	for tg, want := range single.index {
		got := s1.index[tg]
		if got == "" {
			got = s2.index[tg]
		}
		if got != want {
			t.Errorf("%s: shards published %s, a single bake %s", tg, got, want)
		}
	}

	// A new runner with an empty local cache converts nothing.
	again := bakeJSON(t, common(t.TempDir(), "again", cacheRepo, "--shard", "2/2")...)
	if again.converted != 0 || again.remote == 0 {
		t.Errorf("shard 2 on a fresh runner: %+v, want 0 conversions and layers from the cache repository", again)
	}
	for tg, d := range again.index {
		if d != s2.index[tg] {
			t.Errorf("%s: %s from the cache repository, %s converted", tg, d, s2.index[tg])
		}
	}
	fmt.Fprintf(testWriter{t}, "single %+v\nshard1 %+v\nshard2 %+v\nagain %+v\n", single, s1, s2, again)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// TestShardFlags: a bad --shard is a usage error; targets --json --shards
// gives every target the shard bake --shard builds it in, one shard per
// group of a base and major.
func TestShardFlags(t *testing.T) {
	for _, bad := range []string{"3/2", "0/2", "x"} {
		_, stderr, code := cli(t, "bake", "--shard", bad, "--print")
		if code != 2 || !strings.Contains(stderr, "--shard") {
			t.Errorf("--shard %s: exit %d, want 2 and a message naming --shard:\n%s", bad, code, stderr)
		}
	}
	out, stderr, code := cli(t, "targets", "--json", "--shards", "3", "--pg", "17")
	if code != 0 {
		t.Fatalf("targets --json --shards: exit %d\n%s", code, stderr)
	}
	var rows []struct{ Name, Group, Shard string }
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) == 0 {
		t.Fatalf("targets --json: %v\n%s", err, out)
	}
	shardOf := map[string]string{}
	for _, r := range rows {
		if r.Shard == "" || r.Group == "" {
			t.Fatalf("%s: no shard or group: %+v", r.Name, r)
		}
		if s, ok := shardOf[r.Group]; ok && s != r.Shard {
			t.Errorf("group %s split over shards %s and %s", r.Group, s, r.Shard)
		}
		shardOf[r.Group] = r.Shard
	}
}
