package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"

	"github.com/pgassemble/pgassemble/cmd/pgassemble/options"
	"github.com/pgassemble/pgassemble/internal/atomicfile"
	"github.com/pgassemble/pgassemble/internal/loopback"
	"github.com/pgassemble/pgassemble/pkg/assemble"
	"github.com/pgassemble/pgassemble/pkg/catalog"
	"github.com/pgassemble/pgassemble/pkg/sign"
)

func newCatalogCmd() *cobra.Command {
	var (
		pub                options.PublishOptions
		fromReport, outDir string
		family, publisher  string
		signKey            string
		types, bases       []string
	)
	c := &cobra.Command{
		Use:   "catalog",
		Short: "Write CloudNativePG ClusterImageCatalogs of the published images",
		Long: `Write one ClusterImageCatalog per image type and Debian base, as the upstream image
project publishes them (catalog-<type>-<base>.yaml, the images.cnpg.io labels), listing
per PostgreSQL major (13 and later) the newest image, pinned by digest, and a
kustomization.yaml naming them. The images are the registry's timestamped tags
(MAJOR.MINOR-YYYYMMDDhhmm-TYPE-BASE: newest minor, then newest timestamp) or, with
--from-report, the images a bake --json report says were just published. Each catalog
is checked against the rules of CloudNativePG's ClusterImageCatalog CRD.`,
		Example: `  pgassemble catalog --registry 127.0.0.1:5000 --output-dir catalogs
  pgassemble bake --json > report.json && pgassemble catalog --from-report report.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var cands []catalog.Candidate
			var err error
			if fromReport != "" {
				cands, err = reportCandidates(fromReport)
			} else {
				cands, err = registryCandidates(cmd, &pub, types, bases)
			}
			if err != nil {
				return err
			}
			date := time.Now().UTC()
			if epoch, err := options.SourceDateEpoch(); err != nil {
				return err
			} else if !epoch.IsZero() {
				date = epoch
			}
			files, err := catalog.Build(cands, catalog.Options{Family: family, Types: types, Bases: bases, Date: date, Publisher: publisher})
			if err != nil {
				return err
			}
			var signer *sign.Signer
			if signKey != "" {
				pw, ok := sign.PasswordFromEnv()
				if signer, err = sign.LoadKeyFile(signKey, pw, ok); err != nil {
					return err
				}
			}
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				return err
			}
			for _, f := range files {
				p := filepath.Join(outDir, f.Name)
				if err := atomicfile.WriteFile(p, f.Data); err != nil {
					return err
				}
				n := ""
				if f.Doc != nil {
					n = fmt.Sprintf(" (%d majors)", len(f.Doc.Spec.Images))
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s%s\n", p, n)
				if signer != nil && f.Doc != nil {
					sig, err := signer.Blob(f.Data)
					if err != nil {
						return err
					}
					if err := atomicfile.WriteFile(p+".sig", sig); err != nil {
						return err
					}
				}
			}
			return nil
		},
	}
	fl := c.Flags()
	pub.AddFlags(fl)
	fl.StringVar(&fromReport, "from-report", "", "read the published images from a bake/build --json report `FILE` instead of the registry's tags")
	fl.StringVar(&outDir, "output-dir", ".", "`DIR` to write the catalogs and kustomization.yaml into")
	fl.StringVar(&family, "family", catalog.DefaultFamily, "catalog family: names the catalogs <family>-<type>-<base> (and the files, when not postgresql)")
	fl.StringVar(&publisher, "publisher", "", "images.cnpg.io/publisher label (none by default)")
	fl.StringVar(&signKey, "sign-key", "", "also sign each catalog as cosign sign-blob does, writing <file>.sig (base64), with this private key `FILE` ($COSIGN_PASSWORD for cosign's encrypted format)")
	fl.StringSliceVar(&types, "type", []string{"minimal", "standard", "system"}, "image types, one catalog each")
	fl.StringSliceVar(&bases, "base", []string{"bookworm", "trixie"}, "Debian bases, one catalog each")
	return c
}

// reportCandidates reads a --json report: every timestamped ref of every
// target, at the target's index digest.
func reportCandidates(path string) ([]catalog.Candidate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--from-report: %w", err)
	}
	var reps []assemble.TargetReport
	if err := json.Unmarshal(data, &reps); err != nil {
		return nil, fmt.Errorf("--from-report %s: not a bake --json report: %w", path, err)
	}
	var out []catalog.Candidate
	for _, r := range reps {
		for _, ref := range r.Refs {
			i := strings.LastIndex(ref, ":")
			if i < 0 || strings.Contains(ref[i:], "/") || r.Index == "" {
				continue
			}
			out = append(out, catalog.Candidate{Repo: ref[:i], Tag: ref[i+1:], Digest: r.Index})
		}
	}
	return out, nil
}

// registryCandidates lists the repository's tags and resolves the digest of
// the newest timestamped tag per type, base and major only.
func registryCandidates(cmd *cobra.Command, pub *options.PublishOptions, types, bases []string) ([]catalog.Candidate, error) {
	repoName, err := pub.RegistryRepository()
	if err != nil {
		return nil, err
	}
	var nameOpts []name.Option
	if pub.Insecure || loopback.Registry(repoName) {
		nameOpts = append(nameOpts, name.Insecure)
	}
	repo, err := name.NewRepository(repoName, nameOpts...)
	if err != nil {
		return nil, fmt.Errorf("repository %q: %w", repoName, err)
	}
	ropts := []remote.Option{remote.WithContext(cmd.Context()), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	tags, err := remote.List(repo, ropts...)
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", repo, err)
	}
	want := func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	}
	type key struct {
		typ, base string
		major     int
	}
	type best struct {
		minor int
		stamp string
		tag   string
	}
	newest := map[key]best{}
	for _, tag := range tags {
		major, minor, stamp, typ, base, ok := catalog.ParseTag(tag)
		if !ok || !want(types, typ) || !want(bases, base) {
			continue
		}
		k := key{typ, base, major}
		if b, ok := newest[k]; !ok || minor > b.minor || minor == b.minor && stamp > b.stamp {
			newest[k] = best{minor, stamp, tag}
		}
	}
	var out []catalog.Candidate
	for _, b := range newest {
		desc, err := remote.Head(repo.Tag(b.tag), ropts...)
		if err != nil {
			return nil, fmt.Errorf("digest of %s:%s: %w", repo, b.tag, err)
		}
		out = append(out, catalog.Candidate{Repo: repo.Name(), Tag: b.tag, Digest: desc.Digest.String()})
	}
	return out, nil
}
