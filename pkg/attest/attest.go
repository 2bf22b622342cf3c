// Package attest makes what is published next to an image index: per
// platform manifest an SBOM and a SLSA provenance statement as OCI 1.1
// referrers (subject = the platform manifest, artifactType set), and, when
// a signer is given, cosign's signatures of the index and of every platform
// manifest (".sig") and the DSSE-signed SBOM and provenance statements
// (".att").
//
// It builds the manifests only; writing them, after the index and before
// its tags, is the publisher's job (pkg/publish). Everything but the
// provenance's start and end times and the signatures (ECDSA signatures are
// randomized) is a function of the image, so the SBOM referrers of two
// builds of the same inputs are byte-identical.
package attest

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pgassemble/pgassemble/pkg/provenance"
	"github.com/pgassemble/pgassemble/pkg/sbom"
	"github.com/pgassemble/pgassemble/pkg/sign"
)

// Predicate types cosign's --type names map to.
const (
	PredicateSPDX      = "https://spdx.dev/Document"
	PredicateCycloneDX = "https://cyclonedx.org/bom"
	// PredicateAnnotation is the referrer manifest annotation naming an
	// in-toto statement's predicate type.
	PredicateAnnotation = "in-toto.io/predicate-type"
)

// Input is one built index and what is known about its platforms.
type Input struct {
	// Repo is the repository the index is published to; cosign's payload
	// names it ("docker-reference").
	Repo name.Repository
	// Index is the image index; Digest its digest.
	Index     v1.ImageIndex
	Platforms []Platform
	// SBOMFormat: sbom.SPDX (default) or sbom.CycloneDX.
	SBOMFormat sbom.Format
	Tool       sbom.Tool
	// Created is the build's creation time (SOURCE_DATE_EPOCH), written in
	// the SBOM and the referrer annotations.
	Created time.Time
	// Signer signs; nil publishes unsigned referrers only.
	Signer *sign.Signer
	// SBOM and Provenance say which statements are made, as referrers and,
	// with a Signer, as the signed attestations of the ".att" tags. With
	// neither, nothing attestation-shaped is made: a Signer signs the
	// manifests only (".sig").
	SBOM, Provenance bool
}

// Platform is one platform manifest of the index.
type Platform struct {
	Platform string // "linux/amd64"
	Target   string // "17-standard-trixie"
	// Origins say which .deb each added package came from.
	Origins    map[sbom.Key]sbom.OriginOf
	Provenance provenance.Build
}

// Attachment is one manifest to write next to the index.
type Attachment struct {
	Image v1.Image
	// Tag is "" for a referrer (written by digest); otherwise the cosign
	// tag ("sha256-<hex>.sig" or ".att"), and Merge says the image must be
	// merged with the one already there (sign.Image) to keep other
	// signatures.
	Tag   string
	Merge bool
	// Layers are the new layers of a .sig/.att image, for Merge.
	Layers []sign.Layer
	// What describes it for messages: "SBOM of linux/amd64".
	What string
}

// Build makes every attachment of in.Index, in a stable order: per
// platform the SBOM and provenance referrers (those in.SBOM and
// in.Provenance ask for); then, when signing, the .att (when there is a
// statement to sign) and .sig of each platform, and last those of the
// index.
func Build(ctx context.Context, in Input) ([]Attachment, error) {
	if in.SBOMFormat == "" {
		in.SBOMFormat = sbom.SPDX
	}
	im, err := in.Index.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("attest: index: %w", err)
	}
	idxDigest, err := in.Index.Digest()
	if err != nil {
		return nil, fmt.Errorf("attest: index: %w", err)
	}
	if len(im.Manifests) != len(in.Platforms) {
		return nil, fmt.Errorf("attest: index has %d manifests, %d platforms described", len(im.Manifests), len(in.Platforms))
	}
	created := in.Created.UTC().Format(time.RFC3339)
	predSBOM := PredicateSPDX
	if in.SBOMFormat == sbom.CycloneDX {
		predSBOM = PredicateCycloneDX
	}
	repoName := in.Repo.Name()
	var out, signed []Attachment
	var indexAtts []sign.Layer
	for i, desc := range im.Manifests {
		p := in.Platforms[i]
		img, err := in.Index.Image(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("attest: %s: %w", p.Platform, err)
		}
		subjects := []provenance.Subject{{Name: repoName, Digest: desc.Digest.String()}, {Name: repoName, Digest: idxDigest.String()}}
		subject := v1.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
		// The statements to sign: the SBOM's wrapped in an in-toto
		// statement, the provenance as it is.
		var stmts []signable
		if in.SBOM {
			inv, err := sbom.ReadImage(ctx, img)
			if err != nil {
				return nil, fmt.Errorf("attest: SBOM of %s: %w", p.Platform, err)
			}
			inv.SetOrigins(p.Origins)
			doc, err := sbom.Write(in.SBOMFormat, inv, sbom.Subject{Name: repoShort(in.Repo), Digest: desc.Digest.String(), Platform: p.Platform, Target: p.Target}, in.Tool, in.Created)
			if err != nil {
				return nil, fmt.Errorf("attest: SBOM of %s: %w", p.Platform, err)
			}
			sbomArt, err := Artifact(subject, in.SBOMFormat.MediaType(), doc, in.SBOMFormat.MediaType(), map[string]string{
				"org.opencontainers.image.created": created, PredicateAnnotation: predSBOM,
			})
			if err != nil {
				return nil, err
			}
			out = append(out, Attachment{Image: sbomArt, What: "SBOM of " + p.Platform})
			if in.Signer != nil {
				st, err := provenance.Wrap(subjects, predSBOM, doc)
				if err != nil {
					return nil, fmt.Errorf("attest: SBOM statement of %s: %w", p.Platform, err)
				}
				stmts = append(stmts, signable{st, predSBOM})
			}
		}
		if in.Provenance {
			prov, err := provenance.Statement(subjects, p.Provenance)
			if err != nil {
				return nil, fmt.Errorf("attest: provenance of %s: %w", p.Platform, err)
			}
			provArt, err := Artifact(subject, provenance.MediaType, prov, provenance.MediaType, map[string]string{
				"org.opencontainers.image.created": created, PredicateAnnotation: provenance.PredicateType,
			})
			if err != nil {
				return nil, err
			}
			out = append(out, Attachment{Image: provArt, What: "provenance of " + p.Platform})
			stmts = append(stmts, signable{prov, provenance.PredicateType})
		}
		if in.Signer == nil {
			continue
		}
		var atts []sign.Layer
		for _, st := range stmts {
			l, err := in.Signer.Attestation(ctx, st.body, st.pred)
			if err != nil {
				return nil, fmt.Errorf("attest: %s: %w", p.Platform, err)
			}
			atts = append(atts, l)
		}
		if len(atts) > 0 {
			indexAtts = append(indexAtts, atts...)
			att, err := cosignImage(atts, desc.Digest, true, "attestations of "+p.Platform)
			if err != nil {
				return nil, err
			}
			signed = append(signed, att)
		}
		sig, err := signatureOf(ctx, in, desc.Digest, "signature of "+p.Platform)
		if err != nil {
			return nil, err
		}
		signed = append(signed, sig)
	}
	if in.Signer != nil {
		if len(indexAtts) > 0 {
			att, err := cosignImage(indexAtts, idxDigest, true, "attestations of the index")
			if err != nil {
				return nil, err
			}
			signed = append(signed, att)
		}
		sig, err := signatureOf(ctx, in, idxDigest, "signature of the index")
		if err != nil {
			return nil, err
		}
		signed = append(signed, sig)
	}
	return append(out, signed...), nil
}

// signable is an in-toto statement to sign into a DSSE envelope.
type signable struct {
	body []byte
	pred string
}

func signatureOf(ctx context.Context, in Input, d v1.Hash, what string) (Attachment, error) {
	l, err := in.Signer.Signature(ctx, in.Repo, d)
	if err != nil {
		return Attachment{}, fmt.Errorf("attest: %w", err)
	}
	return cosignImage([]sign.Layer{l}, d, false, what)
}

func cosignImage(layers []sign.Layer, d v1.Hash, att bool, what string) (Attachment, error) {
	img, err := sign.Image(nil, layers...)
	if err != nil {
		return Attachment{}, fmt.Errorf("attest: %s: %w", what, err)
	}
	tag := sign.SignatureTag(d)
	if att {
		tag = sign.AttestationTag(d)
	}
	return Attachment{Image: img, Tag: tag, Merge: true, Layers: layers, What: what}, nil
}

// repoShort is the repository path without the registry ("postgresql").
func repoShort(r name.Repository) string {
	if s := r.RepositoryStr(); s != "" {
		return s
	}
	return r.Name()
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
