package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/pgassemble/pgassemble/cmd/pgassemble/options"
	"github.com/pgassemble/pgassemble/internal/atomicfile"
	"github.com/pgassemble/pgassemble/internal/digest"
	"github.com/pgassemble/pgassemble/internal/loopback"
	"github.com/pgassemble/pgassemble/pkg/assemble"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

// noop is the no-op fast path of build and bake: a target whose inputs
// (see assemble.Unchanged) and published tags are as this cache recorded
// them is not built again; its new timestamped tag is pointed at the
// recorded index. An OCI layout output and a failed check turn it off (the
// target is built); --rebuild builds every target but still records it, so
// the next run without --rebuild is a no-op again.
type noop struct {
	flags   string // hash of the command's flags and pgassemble's binary
	dir     string
	off     bool // neither skip nor record
	rebuild bool // record, never skip
	f       *buildFlags
}

// flagsNotInputs change what is printed or which targets run, not what a
// target's image is. --oidc-token is a credential, new for every CI run, as
// is the token in $SIGSTORE_ID_TOKEN (which is not hashed either).
var flagsNotInputs = []string{"json", "quiet", "shard", "rebuild", "if-outdated", "print", "cache-dir", "cache-repo", "help", "set", "pg", "type", "base", "oidc-token"}

func newNoop(cmd *cobra.Command, f *buildFlags, layout bool) (*noop, error) {
	n := &noop{dir: f.cache.Dir, f: f, off: layout, rebuild: f.build.Rebuild}
	if n.off {
		return n, nil
	}
	exe, err := os.Executable()
	if err == nil {
		exe, err = binarySHA256(n.dir, exe)
	}
	if err != nil {
		// Without the binary's hash, two versions of pgassemble would
		// share records: no fast path.
		n.off = true
		return n, nil
	}
	h := sha256.New()
	fmt.Fprintf(h, "pgassemble no-op v1\nbinary %s\n", exe)
	for _, env := range []string{"SOURCE_DATE_EPOCH"} {
		fmt.Fprintf(h, "env %s=%s\n", env, os.Getenv(env))
	}
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		if slices.Contains(flagsNotInputs, fl.Name) || err != nil {
			return
		}
		fmt.Fprintf(h, "flag %s=%s\n", fl.Name, fl.Value.String())
		// A flag naming a file (--config, --keyring, --lock, a signing
		// key) counts by the file's content.
		for _, v := range flagValues(fl) {
			if fi, serr := os.Stat(v); serr == nil && fi.Mode().IsRegular() {
				var sum string
				if sum, err = digest.FileSHA256(v); err == nil {
					fmt.Fprintf(h, "file %s %s\n", v, sum)
				}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	n.flags = hex.EncodeToString(h.Sum(nil))
	return n, nil
}

func flagValues(fl *pflag.Flag) []string {
	if sv, ok := fl.Value.(pflag.SliceValue); ok {
		return sv.GetSlice()
	}
	return []string{fl.Value.String()}
}

// key names the record of target t (after --set) under these flags.
func (n *noop) key(t variants.Target) (string, error) {
	tj, err := json.Marshal(t)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(append([]byte(n.flags+"\n"), tj...))
	return hex.EncodeToString(h[:]), nil
}

// skip reports whether t is unchanged since its recorded publication;
// then it tags the recorded index with t's tags of now and returns the
// report. A check that cannot be made is logged and the target built.
func (n *noop) skip(ctx context.Context, s *session, t variants.Target) (*assemble.TargetReport, error) {
	if n.off || n.rebuild {
		return nil, nil
	}
	key, err := n.key(t)
	if err != nil {
		return nil, err
	}
	rec := assemble.LoadRecord(n.dir, key)
	if rec == nil {
		return nil, nil
	}
	if err := s.builder.Unchanged(ctx, rec, assemble.UnchangedOptions{Insecure: n.f.publish.Insecure, IgnoreValidUntil: n.f.archive.IgnoreValidUntil}); err != nil {
		if errors.Is(err, assemble.ErrChanged) {
			s.log.Debug("inputs changed, building", "target", t.Name, "reason", err)
		} else {
			s.log.Warn("no-op check failed, building", "target", t.Name, "err", err)
		}
		return nil, nil
	}
	env, err := variants.ParseEnvironment(n.f.publish.Environment)
	if err != nil {
		return nil, options.Usagef("--environment: %w", err)
	}
	refs := t.References(n.f.publish.Registry, env, rec.Report.Version, time.Now().UTC())
	rep := rec.Report
	rep.Refs, rep.Uploaded, rep.Skipped, rep.Unchanged = nil, 0, 0, true
	for _, r := range refs {
		if !slices.Contains(rec.Refs, r) {
			if err := n.tag(ctx, r, rec); err != nil {
				return nil, fmt.Errorf("%s: tag %s: %w", t.Name, r, err)
			}
		}
		rep.Refs = append(rep.Refs, r)
	}
	return &rep, nil
}

// tag points ref at the recorded index (its blobs and manifests are in
// the repository: the HEADs of Unchanged saw the index there).
func (n *noop) tag(ctx context.Context, ref string, rec *assemble.Published) error {
	var nopts []name.Option
	if n.f.publish.Insecure || loopback.Registry(ref) {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return err
	}
	return remote.Put(r, rawManifest{rec.Manifest, types.MediaType(rec.MediaType)},
		remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain), remote.WithUserAgent("pgassemble"))
}

// record keeps what res published for the next run.
func (n *noop) record(t variants.Target, res *assemble.Result, refs []string) error {
	if n.off {
		return nil
	}
	key, err := n.key(t)
	if err != nil {
		return err
	}
	sorted := slices.Clone(refs)
	sort.Strings(sorted)
	rec, err := assemble.Record(key, res, sorted)
	if err != nil || rec == nil {
		return err
	}
	return assemble.SaveRecord(n.dir, rec)
}

type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

// binarySHA256 is the SHA256 of the executable p, which stands for
// pgassemble's code: another build of it may make other bytes from the
// same inputs. Hashing a 30 MB binary is most of a no-op run, so the sum
// is remembered under dir for the same file (path, size, mtime, inode):
// measured, BenchmarkNoopRebuild.
func binarySHA256(dir, p string) (string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	type memo struct {
		Path  string
		Size  int64
		MTime time.Time
		Ino   uint64
		Sum   string
	}
	cur := memo{Path: p, Size: fi.Size(), MTime: fi.ModTime(), Ino: inode(fi)}
	mp := filepath.Join(dir, "published", "executable.json")
	if data, err := os.ReadFile(mp); err == nil {
		var m memo
		if json.Unmarshal(data, &m) == nil && m.Sum != "" && m.Path == cur.Path && m.Size == cur.Size && m.MTime.Equal(cur.MTime) && m.Ino == cur.Ino {
			return m.Sum, nil
		}
	}
	if cur.Sum, err = digest.FileSHA256(p); err != nil {
		return "", err
	}
	if data, err := json.Marshal(cur); err == nil {
		_ = atomicfile.WriteFile(mp, data) // a memo: without it the next run hashes again
	}
	return cur.Sum, nil
}
