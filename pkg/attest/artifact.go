package attest

import (
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// EmptyConfigMediaType is the OCI 1.1 empty descriptor's media type; its
// content is the two bytes "{}".
const EmptyConfigMediaType = "application/vnd.oci.empty.v1+json"

var emptyConfig = []byte("{}")

// Artifact is an OCI 1.1 artifact manifest: an image manifest with
// artifactType, the empty config, one layer (the document) and a subject.
// It implements v1.Image, so go-containerregistry writes it like any image
// (and, to a registry without the referrers API, maintains the referrers
// tag-schema fallback index for its subject).
func Artifact(subject v1.Descriptor, artifactType string, body []byte, bodyMediaType string, annotations map[string]string) (v1.Image, error) {
	layer := static.NewLayer(body, types.MediaType(bodyMediaType))
	ld, err := layer.Digest()
	if err != nil {
		return nil, err
	}
	cd, _, err := v1.SHA256(bytesReader(emptyConfig))
	if err != nil {
		return nil, err
	}
	sub := v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  artifactType,
		Config:        v1.Descriptor{MediaType: EmptyConfigMediaType, Digest: cd, Size: int64(len(emptyConfig)), Data: emptyConfig},
		Layers:        []v1.Descriptor{{MediaType: types.MediaType(bodyMediaType), Digest: ld, Size: int64(len(body))}},
		Subject:       &sub,
		Annotations:   annotations,
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("artifact manifest: %w", err)
	}
	return partial.CompressedToImage(&artifact{raw: raw, layer: layer, layerDigest: ld})
}

type artifact struct {
	raw         []byte
	layer       v1.Layer
	layerDigest v1.Hash
}

func (a *artifact) RawManifest() ([]byte, error)        { return a.raw, nil }
func (a *artifact) RawConfigFile() ([]byte, error)      { return emptyConfig, nil }
func (a *artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func (a *artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == a.layerDigest {
		return a.layer, nil
	}
	cd, _, _ := v1.SHA256(bytesReader(emptyConfig))
	if h == cd {
		return static.NewLayer(emptyConfig, EmptyConfigMediaType), nil
	}
	return nil, fmt.Errorf("artifact has no blob %s", h)
}
