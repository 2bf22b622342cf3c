package options

import (
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/pgassemble/pgassemble/pkg/apt/archive"
	"github.com/pgassemble/pgassemble/pkg/layer"
	"github.com/pgassemble/pgassemble/pkg/regcache"
)

// CacheOptions say where verified indexes, .debs and layers are kept, and
// which registry repository shares converted layers between machines.
type CacheOptions struct {
	Dir  string
	Repo string
}

// AddFlags registers --cache-dir and --cache-repo.
func (o *CacheOptions) AddFlags(fl *pflag.FlagSet) {
	fl.StringVar(&o.Dir, "cache-dir", archive.DefaultCacheDir(), "cache of verified indexes, .debs and layers")
	fl.StringVar(&o.Repo, "cache-repo", "", "registry `REGISTRY/REPO` sharing converted layers between machines (CI shards): "+
		"fetched on a local miss, every conversion stored; keyed by the layer's inputs")
}

// Layers is the layer cache under the cache directory.
func (o *CacheOptions) Layers() string { return filepath.Join(o.Dir, "layers") }

// Remote is the --cache-repo cache, nil without the flag. insecure allows
// plain HTTP to a registry not on this machine (--insecure).
func (o *CacheOptions) Remote(insecure bool) (layer.RemoteCache, error) {
	if o.Repo == "" {
		return nil, nil
	}
	c, err := regcache.New(o.Repo, regcache.WithInsecure(insecure))
	if err != nil {
		return nil, Usagef("--cache-repo: %w", err)
	}
	return c, nil
}
