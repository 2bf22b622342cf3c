package main

import (
	"context"
	"io"
	"log/slog"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/pgassemble/pgassemble/cmd/pgassemble/options"
	"github.com/pgassemble/pgassemble/pkg/assemble"
	"github.com/pgassemble/pgassemble/pkg/publish"
)

// buildFlags are the option structs of the commands that build or resolve
// a target (the root command, build, bake, plan, explain).
type buildFlags struct {
	target  options.TargetOptions
	build   options.BuildOptions
	archive options.ArchiveOptions
	cache   options.CacheOptions
	publish options.PublishOptions
	report  options.ReportOptions
	supply  options.SupplyOptions
	lock    options.LockOptions
}

// register adds every flag; matrix makes --pg, --type and --base filters.
func (f *buildFlags) register(c *cobra.Command, matrix bool) {
	fl := c.Flags()
	f.target.AddFlags(fl, matrix)
	f.build.AddFlags(fl)
	f.archive.AddFlags(fl)
	f.cache.AddFlags(fl)
	f.publish.AddFlags(fl)
	f.report.AddFlags(fl)
}

// registerPublishing adds the flags of the commands that build and publish
// (build, bake): what is attached and signed, and the lock.
func (f *buildFlags) registerPublishing(c *cobra.Command) {
	f.supply.AddFlags(c.Flags())
	f.lock.AddFlags(c.Flags())
}

// session is the expensive part of a command: the archive client and the
// pipeline's Builder. Only commands that resolve or build create one.
type session struct {
	ui      *ui
	out     io.Writer
	report  options.ReportOptions
	log     *slog.Logger // through the ui: records stay visible above the bars
	builder *assemble.Builder
}

func newSession(cmd *cobra.Command, f *buildFlags) (*session, error) {
	src, err := f.build.Source()
	if err != nil {
		return nil, err
	}
	comp, err := f.build.LayerCompression()
	if err != nil {
		return nil, err
	}
	xz, err := f.build.XZCommand()
	if err != nil {
		return nil, err
	}
	epoch, err := options.SourceDateEpoch()
	if err != nil {
		return nil, err
	}
	remote, err := f.cache.Remote(f.publish.Insecure)
	if err != nil {
		return nil, err
	}
	s := &session{out: cmd.OutOrStdout(), ui: newUI(cmd.ErrOrStderr(), f.report.Quiet), report: f.report}
	s.log = f.report.Logger(s.ui)
	// The lock's snapshot check fetches with the Builder's archive client,
	// made below; the hook runs only once a build has begun.
	pin, err := f.lock.Pin(builderFetcher{s}, func(line string) { s.ui.Printf("%s\n", line) })
	if err != nil {
		return nil, err
	}
	s.builder, err = assemble.New(assemble.Options{
		ArchiveCacheDir: f.cache.Dir, ClientOptions: f.archive.ClientOptions(),
		BaseImage:    f.build.BaseImage,
		DebianMirror: f.archive.DebianMirror, DebianSecurityMirror: f.archive.SecurityMirror,
		PGSource: src, PGDGMirror: f.archive.PGDGMirror, PGDGMirrorInImage: f.archive.PGDGMirrorInImage,
		PGDGKeyInImage: f.archive.PGDGKeyInImage, Keyrings: f.archive.Keyrings,
		CacheDir: f.cache.Layers(), LayerRemote: remote, Compression: comp,
		Epoch: epoch, AllowUnhandled: f.build.AllowUnhandled, XZCommand: xz,
		Upgrade:  f.build.Upgrade,
		Revision: f.build.Revision, Progress: stepProgress{s.ui}, Pin: pin,
		Logger: s.log,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// builderFetcher fetches through the session's Builder (lock.Fetcher).
type builderFetcher struct{ s *session }

func (f builderFetcher) SHA256(ctx context.Context, url string) (string, error) {
	return f.s.builder.SHA256(ctx, url)
}

// printJSON writes v on stdout (--json).
func (s *session) printJSON(v any) error { return options.PrintJSON(s.out, v) }

// blobProgress adapts the UI to publish.Progress.
type blobProgress struct{ u *ui }

var _ publish.Progress = blobProgress{}

func (b blobProgress) BlobStart(d v1.Hash, size int64)    { b.u.blob(d.String(), size) }
func (b blobProgress) BlobBytes(d v1.Hash, written int64) { b.u.blobBytes(d.String(), written) }
func (b blobProgress) BlobDone(d v1.Hash, err error)      { b.u.blobDone(d.String(), err) }
func (b blobProgress) BlobSkipped(v1.Hash, int64)         {}

// stepProgress adapts the UI to assemble.Progress.
type stepProgress struct{ u *ui }

func (p stepProgress) Task(kind, name string, total int64) assemble.Task {
	return p.u.Task(kind, name, total)
}
