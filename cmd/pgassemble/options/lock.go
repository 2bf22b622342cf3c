package options

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/pgassemble/pgassemble/pkg/assemble"
	"github.com/pgassemble/pgassemble/pkg/lock"
)

// LockOptions tie a build to pgassemble.lock.
type LockOptions struct {
	File     string
	Locked   bool
	Snapshot string
}

// AddFlags registers the lock flags of build and bake.
func (o *LockOptions) AddFlags(fl *pflag.FlagSet) {
	o.AddFileFlag(fl)
	fl.BoolVar(&o.Locked, "locked", false, "build exactly the packages and base digest of the lock file; fail naming every package that moved or vanished")
	fl.StringVar(&o.Snapshot, "snapshot", "", "with --locked, fetch locked packages the archive no longer serves from this snapshot-style mirror `URL-TEMPLATE` ending in {path} (the pool path; {suite} is the suite); it must serve the InRelease, as locked, of each repository it serves packages of")
}

// AddFileFlag registers --lock-file alone (the lock command).
func (o *LockOptions) AddFileFlag(fl *pflag.FlagSet) {
	fl.StringVar(&o.File, "lock-file", lock.FileName, "lock `FILE` that pgassemble lock writes and --locked reads")
}

// Pin is the plan hook --locked installs (nil without --locked). With
// --snapshot, every locked repository's release file must be served by the
// snapshot exactly as locked (fetched through fetch); the live archive's
// release files moving since the lock is reported, one line per repository
// through report, and is no error: packages stay held to the lock by
// version and SHA256 (see pkg/lock).
func (o *LockOptions) Pin(fetch lock.Fetcher, report func(line string)) (func(ctx context.Context, tp *assemble.TargetPlan) error, error) {
	if !o.Locked {
		if o.Snapshot != "" {
			return nil, Usagef("--snapshot needs --locked")
		}
		return nil, nil
	}
	var snap *lock.Snapshot
	if o.Snapshot != "" {
		s, err := lock.ParseSnapshot(o.Snapshot)
		if err != nil {
			return nil, UsageError{err}
		}
		snap = s
	}
	f, err := lock.Read(o.File, false)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tp *assemble.TargetPlan) error {
		t, err := f.Target(tp.Target.Name)
		if err != nil {
			return err
		}
		for _, d := range t.ReleaseDrift(tp) {
			report(fmt.Sprintf("note: %s: release file moved since the lock: %s; packages are held to the lock by version and SHA256", tp.Target.Name, d))
		}
		if snap != nil {
			checked, err := snap.CheckReleases(ctx, t, t.SnapshotRepositories(tp), fetch)
			if err != nil {
				return err
			}
			// The snapshot's release files vouch for the packages taken
			// from it: the provenance names them beside the live ones.
			for _, pp := range tp.Platforms {
				pp.Releases = append(pp.Releases, checked...)
			}
		}
		return t.Apply(tp, snap)
	}, nil
}
