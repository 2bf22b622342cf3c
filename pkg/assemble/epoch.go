package assemble

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/pgassemble/pgassemble/pkg/apt"
	"github.com/pgassemble/pgassemble/pkg/layer"
)

// dates are the times of one target's build: the mtime clamp of each stage
// on each platform, and the image's creation time.
type dates struct {
	stages  [][]time.Time // [platform][stage]
	created time.Time
}

// dateTarget fixes the clamps and the creation time of tp. With
// SOURCE_DATE_EPOCH (Options.Epoch) every clamp is that time. Without it
// they are derived from the inputs, so that the same inputs give the same
// digest and the date says how fresh the content is: a stage's clamp is the
// newest of the base image's creation time and the build times of the
// packages of that stage and the stages before it (from the .debs' ar
// headers, see layer.DebTime); the image is created at the newest clamp of
// all its platforms. Clamps only grow along the stages, so a stage's layer
// depends on that stage and those before it: minimal's layers stay a prefix
// of standard's. The floor is layer.DefaultEpochUnix.
func (b *Builder) dateTarget(ctx context.Context, tp *TargetPlan) (*dates, error) {
	d := &dates{stages: make([][]time.Time, len(tp.Platforms))}
	if !b.opts.Epoch.IsZero() {
		for i, pp := range tp.Platforms {
			for range pp.Stages {
				d.stages[i] = append(d.stages[i], b.opts.Epoch)
			}
		}
		d.created = b.opts.Created
		return d, nil
	}
	// One download of everything (in parallel; the build reuses the files).
	var all []*apt.Package
	for _, pp := range tp.Platforms {
		for _, s := range pp.Stages {
			for _, p := range s.Packages {
				all = append(all, p.Package)
			}
		}
	}
	paths, err := b.download(ctx, all)
	if err != nil {
		return nil, err
	}
	floor := time.Unix(layer.DefaultEpochUnix, 0).UTC()
	d.created = floor
	k := 0
	for i, pp := range tp.Platforms {
		e := floor
		if pp.Base != nil { // a root that is not a pulled image has no creation time
			cf, err := pp.Base.Image.ConfigFile()
			if err != nil {
				return nil, fmt.Errorf("base %s config: %w", pp.Base.Ref, err)
			}
			if c := cf.Created.Time.UTC().Truncate(time.Second); c.After(e) {
				e = c
			}
		}
		for _, s := range pp.Stages {
			for _, p := range s.Packages {
				t, err := debTime(paths[k])
				if err != nil {
					return nil, fmt.Errorf("%s %s: %w", p.Name, p.Version, err)
				}
				k++
				if t.After(e) {
					e = t
				}
			}
			d.stages[i] = append(d.stages[i], e)
		}
		if e.After(d.created) {
			d.created = e
		}
	}
	if !b.opts.Created.IsZero() {
		d.created = b.opts.Created
	}
	return d, nil
}

func debTime(path string) (time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, err
	}
	defer f.Close()
	return layer.DebTime(f, path)
}
