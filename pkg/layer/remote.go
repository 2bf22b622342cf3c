package layer

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
)

// RemoteCache shares the layer cache's entries between machines (CI
// runners, a Kubernetes Job array), as BuildKit's registry cache shares
// its layers. An entry is every file of the local cache named after a
// stage key ("KEY.json", "KEY.gz", "KEY.<replay>.observe", ...): the layer
// and the sidecars a hit needs. Implementations verify what they fetch
// (by digest) and write files atomically; pkg/regcache keeps entries in
// an OCI registry.
type RemoteCache interface {
	// Fetch writes the files of the entry key into dir, under their
	// names, and reports whether the remote had the entry. Files being
	// downloaded live in tmpDir (on dir's file system) until all are
	// verified: the builder passes its run directory, which a later run
	// sweeps if this process dies mid-download.
	Fetch(ctx context.Context, key, dir, tmpDir string) (bool, error)
	// Store uploads the files (paths in the local cache) of the entry key.
	Store(ctx context.Context, key string, files []string) error
}

// Stats counts what the builders sharing it did with their stages. Safe
// for concurrent use; the zero value is ready.
type Stats struct {
	converted, localHits, remoteHits, stored atomic.Int64
}

// StatsSnapshot is a copy of Stats' counters.
type StatsSnapshot struct {
	// Converted stages: .debs decoded and a layer written.
	Converted int64 `json:"converted"`
	// LocalHits: stages served by the local layer cache.
	LocalHits int64 `json:"localHits"`
	// RemoteHits: stages fetched from the remote cache (then served
	// locally).
	RemoteHits int64 `json:"remoteHits"`
	// Stored: converted stages uploaded to the remote cache.
	Stored int64 `json:"stored"`
}

// Snapshot returns the counters.
func (s *Stats) Snapshot() StatsSnapshot {
	if s == nil {
		return StatsSnapshot{}
	}
	return StatsSnapshot{Converted: s.converted.Load(), LocalHits: s.localHits.Load(),
		RemoteHits: s.remoteHits.Load(), Stored: s.stored.Load()}
}

func (b *Builder) count(c func(*Stats) *atomic.Int64) {
	if b.opts.Stats != nil {
		c(b.opts.Stats).Add(1)
	}
}

// cachedOrRemote is loadCached, then, on a miss, the remote cache's entry
// fetched into the local cache and loaded (and so verified) as a local
// one. A remote that fails is reported and the stage converted here.
func (b *Builder) cachedOrRemote(ctx context.Context, key string) (*fileLayer, *stageMeta, bool) {
	if l, m, ok := b.loadCached(key); ok {
		b.count(func(s *Stats) *atomic.Int64 { return &s.localHits })
		return l, m, true
	}
	if b.opts.Remote == nil || b.tmpCache {
		return nil, nil, false
	}
	found, err := b.opts.Remote.Fetch(ctx, key, filepath.Join(b.cacheDir, "layers"), b.tmpDir)
	if err != nil {
		b.log.Warn("layer cache repository: fetch failed, converting here", "key", key[:12], "err", err)
		return nil, nil, false
	}
	if !found {
		return nil, nil, false
	}
	l, m, ok := b.loadCached(key)
	if ok {
		b.count(func(s *Stats) *atomic.Int64 { return &s.remoteHits })
		b.log.Debug("layer cache repository hit", "key", key[:12])
	}
	return l, m, ok
}

// converted counts a conversion and uploads the new entry to the remote
// cache. A failed upload is reported, not fatal: the build is correct
// without it.
func (b *Builder) converted(ctx context.Context, key string) {
	b.count(func(s *Stats) *atomic.Int64 { return &s.converted })
	if b.opts.Remote == nil || b.tmpCache {
		return
	}
	files, err := b.entryFiles(key)
	if err == nil {
		err = b.opts.Remote.Store(ctx, key, files)
	}
	if err != nil {
		b.log.Warn("layer cache repository: store failed", "key", key[:12], "err", err)
		return
	}
	b.count(func(s *Stats) *atomic.Int64 { return &s.stored })
}

// entryFiles lists the local files of the entry key, sorted.
func (b *Builder) entryFiles(key string) ([]string, error) {
	dir := filepath.Join(b.cacheDir, "layers")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), key+".") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}
