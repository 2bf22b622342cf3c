package options

import (
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/pgassemble/pgassemble/pkg/apt/archive"
)

// CacheOptions say where verified indexes, .debs and layers are kept.
type CacheOptions struct {
	Dir string
}

// AddFlags registers --cache-dir.
func (o *CacheOptions) AddFlags(fl *pflag.FlagSet) {
	fl.StringVar(&o.Dir, "cache-dir", archive.DefaultCacheDir(), "cache of verified indexes, .debs and layers")
}

// Layers is the layer cache under the cache directory.
func (o *CacheOptions) Layers() string { return filepath.Join(o.Dir, "layers") }
