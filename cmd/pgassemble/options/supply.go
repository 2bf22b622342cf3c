package options

import (
	"context"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/pgassemble/pgassemble/pkg/sbom"
	"github.com/pgassemble/pgassemble/pkg/sign"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

// SupplyOptions say what is published next to each image: SBOM and
// provenance referrers, and cosign signatures.
type SupplyOptions struct {
	Attest     string // "sbom,provenance" (default), a subset, or "none"
	SBOMFormat string
	SignKey    string
	Sign       string // "" or "keyless"
	OIDCToken  string // file holding the identity token (keyless)
	FulcioURL  string
	RekorURL   string
	BuilderID  string
}

// AddFlags registers the supply-chain flags.
func (o *SupplyOptions) AddFlags(fl *pflag.FlagSet) {
	fl.StringVar(&o.Attest, "attest", "sbom,provenance", "attach per platform manifest, as OCI referrers: sbom, provenance, both (comma-separated) or none")
	fl.StringVar(&o.SBOMFormat, "sbom-format", "spdx", "SBOM format: spdx (SPDX 2.3 JSON) or cyclonedx (CycloneDX 1.6 JSON)")
	fl.StringVar(&o.SignKey, "sign-key", "", "sign the index, every platform manifest and the attestations as cosign does, with this private key `FILE` (cosign's encrypted format with $COSIGN_PASSWORD, or plain PEM)")
	fl.StringVar(&o.Sign, "sign", "", "`keyless`: sign as cosign's keyless mode, with an ephemeral key certified by Fulcio for the OIDC identity (--oidc-token, $SIGSTORE_ID_TOKEN or GitHub Actions' token) and every signature logged in Rekor")
	fl.StringVar(&o.OIDCToken, "oidc-token", "", "with --sign keyless: read the OIDC identity token from `FILE` (default: $SIGSTORE_ID_TOKEN, else GitHub Actions' token service with audience sigstore)")
	fl.StringVar(&o.FulcioURL, "fulcio-url", sign.DefaultFulcioURL, "with --sign keyless: the Fulcio certificate authority `URL`")
	fl.StringVar(&o.RekorURL, "rekor-url", sign.DefaultRekorURL, "with --sign keyless: the Rekor transparency log `URL`")
	fl.StringVar(&o.BuilderID, "builder-id", "", "builder.id `URI` of the SLSA provenance (default: pgassemble's repository URL)")
}

// Attestations is --attest parsed.
func (o *SupplyOptions) Attestations() (sbomOn, provenanceOn bool, err error) {
	for _, w := range strings.Split(o.Attest, ",") {
		switch strings.TrimSpace(w) {
		case "sbom":
			sbomOn = true
		case "provenance":
			provenanceOn = true
		case "none", "":
		default:
			return false, false, Usagef("--attest %q: want sbom, provenance or none", w)
		}
	}
	return sbomOn, provenanceOn, nil
}

// Format is --sbom-format.
func (o *SupplyOptions) Format() (sbom.Format, error) {
	f, err := sbom.ParseFormat(o.SBOMFormat)
	if err != nil {
		return "", Usagef("--sbom-format: %w", err)
	}
	return f, nil
}

// OpenSigner returns what makes the signer the flags ask for, or nil
// without --sign-key or --sign keyless. Everything that can be checked
// here is: the flags, the key and its password ($COSIGN_PASSWORD, as
// cosign reads it), the token source. With --sign keyless the identity
// token, the ephemeral key and its Fulcio certificate are got by the
// returned function, called once a target is to be built, so a run that
// finds everything unchanged never contacts Fulcio or Rekor.
func (o *SupplyOptions) OpenSigner() (func(context.Context) (*sign.Signer, error), error) {
	switch o.Sign {
	case "":
		if o.OIDCToken != "" {
			return nil, Usagef("--oidc-token needs --sign keyless")
		}
		if o.FulcioURL != sign.DefaultFulcioURL || o.RekorURL != sign.DefaultRekorURL {
			return nil, Usagef("--fulcio-url and --rekor-url need --sign keyless")
		}
	case "keyless":
		if o.SignKey != "" {
			return nil, Usagef("--sign keyless and --sign-key exclude each other")
		}
		// Bounded: a token service that never answers must not hang the build.
		src, err := sign.TokenFrom(o.OIDCToken, os.Getenv, &http.Client{Timeout: 30 * time.Second})
		if err != nil {
			return nil, UsageError{err}
		}
		ko := sign.KeylessOptions{FulcioURL: o.FulcioURL, RekorURL: o.RekorURL, Token: src}
		return func(ctx context.Context) (*sign.Signer, error) { return sign.NewKeyless(ctx, ko) }, nil
	default:
		return nil, Usagef("--sign %q: the only value is keyless", o.Sign)
	}
	if o.SignKey == "" {
		return nil, nil
	}
	pw, ok := sign.PasswordFromEnv()
	s, err := sign.LoadKeyFile(o.SignKey, pw, ok)
	if err != nil {
		return nil, err
	}
	return func(context.Context) (*sign.Signer, error) { return s, nil }, nil
}

// RegistryRepository is the repository --registry and --environment name,
// whatever --output says (a layout is signed for where it would be pushed).
func (o *PublishOptions) RegistryRepository() (string, error) {
	env, err := variants.ParseEnvironment(o.Environment)
	if err != nil {
		return "", Usagef("--environment: %w", err)
	}
	return strings.TrimRight(o.Registry, "/") + "/" + env.Repository(), nil
}
