package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/pgassemble/pgassemble/pkg/assemble"
	"github.com/pgassemble/pgassemble/pkg/attest"
	"github.com/pgassemble/pgassemble/pkg/provenance"
	"github.com/pgassemble/pgassemble/pkg/publish"
	"github.com/pgassemble/pgassemble/pkg/sbom"
	"github.com/pgassemble/pgassemble/pkg/sign"
)

// supply is what a build publishes next to each index: referrers and
// signatures (pkg/attest), decided once per command.
type supply struct {
	sbomOn, provenanceOn bool
	format               sbom.Format
	openSigner           func(context.Context) (*sign.Signer, error) // nil: unsigned
	signer               *sign.Signer                                // once ready
	repo                 name.Repository                             // names the image in signatures and statements
	builderID            string
	external             map[string]any // the command line's parameters
	configDigest         string
}

func newSupply(cmd *cobra.Command, f *buildFlags, dest publish.Destination) (*supply, error) {
	sbomOn, provOn, err := f.supply.Attestations()
	if err != nil {
		return nil, err
	}
	format, err := f.supply.Format()
	if err != nil {
		return nil, err
	}
	open, err := f.supply.OpenSigner()
	if err != nil {
		return nil, err
	}
	// A layout is signed for the repository --registry/--environment name:
	// where `skopeo copy` would put it, digests unchanged.
	repoName := dest.Repository
	if repoName == "" {
		if repoName, err = f.publish.RegistryRepository(); err != nil {
			return nil, err
		}
	}
	repo, err := name.NewRepository(repoName)
	if err != nil {
		return nil, fmt.Errorf("repository %q: %w", repoName, err)
	}
	s := &supply{sbomOn: sbomOn, provenanceOn: provOn, format: format, openSigner: open, repo: repo, builderID: f.supply.BuilderID}
	// External parameters: every flag the user set, by name. None is a
	// secret (the key's password comes from the environment, never a flag).
	flags := map[string]any{}
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		if localFlags[fl.Name] {
			return
		}
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			vals := make([]any, 0, len(sv.GetSlice()))
			for _, v := range sv.GetSlice() {
				vals = append(vals, v)
			}
			flags[fl.Name] = vals
			return
		}
		flags[fl.Name] = fl.Value.String()
	})
	s.external = map[string]any{"command": cmd.CommandPath(), "flags": flags}
	if f.target.Config != "" {
		data, err := os.ReadFile(f.target.Config)
		if err != nil {
			return nil, fmt.Errorf("--config: %w", err)
		}
		sum := sha256.Sum256(data)
		s.configDigest = "sha256:" + hex.EncodeToString(sum[:])
		s.external["configDigest"] = s.configDigest
	}
	if f.lock.Locked {
		// A lock file that cannot be read is reported by --locked itself.
		if data, err := os.ReadFile(f.lock.File); err == nil {
			sum := sha256.Sum256(data)
			s.external["lockDigest"] = "sha256:" + hex.EncodeToString(sum[:])
		}
	}
	return s, nil
}

// localFlags are the flags that say where this machine keeps things or how
// it reports, not what is built: they stay out of the provenance's external
// parameters, so that the same build elsewhere gives the same ones. The
// lock file and the config file are recorded by digest instead of path.
var localFlags = map[string]bool{
	"cache-dir": true, "json": true, "quiet": true, "verbose": true, "http-retries": true,
	"xz": true, "sign-key": true, "oidc-token": true, "lock-file": true, "config": true,
}

func (s *supply) enabled() bool { return s.sbomOn || s.provenanceOn || s.openSigner != nil }

// errSignerNotReady: a target reached signing before the signer was made
// (a bug: every path that builds calls ready first).
var errSignerNotReady = errors.New("signing asked but the signer was not made before the build")

// ready makes the signer, once, when the first target is to be built:
// for keyless signing the first certificate, so that a bad token or an
// unreachable Fulcio or Rekor fails before anything is built, and a run
// with nothing to build never asks.
func (s *supply) ready(ctx context.Context) error {
	if s.openSigner == nil || s.signer != nil {
		return nil
	}
	sg, err := s.openSigner(ctx)
	if err != nil {
		return err
	}
	s.signer = sg
	return nil
}

// builderVersion is the module version pgassemble was built as, with the
// VCS revision when the build recorded one.
func builderVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, st := range bi.Settings {
		if st.Key == "vcs.revision" {
			v += "+" + st.Value
		}
	}
	return v
}

// extras builds what res is published with. started is when the target's
// build began; the provenance ends now.
func (s *supply) extras(ctx context.Context, res *assemble.Result, started time.Time) ([]publish.Extra, error) {
	if !s.enabled() {
		return nil, nil
	}
	if s.openSigner != nil && s.signer == nil {
		// Signing was asked but ready was not called: never publish
		// unsigned images silently.
		return nil, errSignerNotReady // the caller names the target
	}
	in := attest.Input{
		Repo: s.repo, Index: res.Index, SBOMFormat: s.format, Signer: s.signer,
		Tool:    sbom.Tool{Name: "pgassemble", Version: builderVersion()},
		Created: createdOf(res), SBOM: s.sbomOn, Provenance: s.provenanceOn,
	}
	in.Platforms = attest.PlatformsOf(res.Plan, provenance.Params{
		External: s.external, BuilderID: s.builderID, BuilderVersion: builderVersion(),
		Started: started, Finished: time.Now().UTC(),
	})
	atts, err := attest.Build(ctx, in)
	if err != nil {
		return nil, err
	}
	var out []publish.Extra
	for _, a := range atts {
		e := publish.Extra{Image: a.Image, Tag: a.Tag, What: a.What}
		if a.Merge {
			layers := a.Layers
			e.Merge = func(existing v1.Image) (v1.Image, error) { return sign.Image(existing, layers...) }
		}
		out = append(out, e)
	}
	return out, nil
}

// createdOf is the image's creation time, as its config says (the build's
// SOURCE_DATE_EPOCH time or the one derived from its inputs).
func createdOf(res *assemble.Result) time.Time {
	if c, ok := res.Labels["org.opencontainers.image.created"]; ok {
		if t, err := time.Parse(time.RFC3339, c); err == nil {
			return t
		}
	}
	return time.Unix(0, 0).UTC()
}

// summary names what is attached, for the terminal.
func (s *supply) summary() string {
	var what []string
	if s.sbomOn {
		what = append(what, string(s.format)+" SBOM")
	}
	if s.provenanceOn {
		what = append(what, "SLSA provenance")
	}
	if s.signer != nil {
		kind := "cosign signatures"
		if s.sbomOn || s.provenanceOn {
			kind += " and attestations"
		}
		if sub, iss := s.signer.Identity(); sub != "" {
			kind = "keyless " + kind + " as " + sub + " (" + iss + ")"
		}
		what = append(what, kind)
	}
	return strings.Join(what, ", ")
}
