package options

import (
	"errors"
	"strings"

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
	BuilderID  string
}

// AddFlags registers the supply-chain flags.
func (o *SupplyOptions) AddFlags(fl *pflag.FlagSet) {
	fl.StringVar(&o.Attest, "attest", "sbom,provenance", "attach per platform manifest, as OCI referrers: sbom, provenance, both (comma-separated) or none")
	fl.StringVar(&o.SBOMFormat, "sbom-format", "spdx", "SBOM format: spdx (SPDX 2.3 JSON) or cyclonedx (CycloneDX 1.6 JSON)")
	fl.StringVar(&o.SignKey, "sign-key", "", "sign the index, every platform manifest and the attestations as cosign does, with this private key `FILE` (cosign's encrypted format with $COSIGN_PASSWORD, or plain PEM)")
	fl.StringVar(&o.Sign, "sign", "", "keyless: sign with an OIDC identity through Fulcio and Rekor (not implemented)")
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

// ErrKeylessUnsupported: --sign keyless is accepted as a name only.
var ErrKeylessUnsupported = errors.New("--sign keyless is not implemented: it needs an OIDC token, Fulcio and Rekor; use --sign-key")

// Signer loads --sign-key (nil without it). The password is
// $COSIGN_PASSWORD, as cosign reads it.
func (o *SupplyOptions) Signer() (*sign.Signer, error) {
	switch o.Sign {
	case "":
	case "keyless":
		return nil, UsageError{ErrKeylessUnsupported}
	default:
		return nil, Usagef("--sign %q: the only value is keyless", o.Sign)
	}
	if o.SignKey == "" {
		return nil, nil
	}
	pw, ok := sign.PasswordFromEnv()
	return sign.LoadKeyFile(o.SignKey, pw, ok)
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
