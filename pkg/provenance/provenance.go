// Package provenance writes SLSA v1 build provenance for a platform image as
// an in-toto Statement (https://in-toto.io/Statement/v1), with the in-toto
// attestation library's own types: the build type, the external parameters
// (target, flags, config file digest), every resolved dependency (the base
// image, each .deb with its SHA256 and repository, the release file each
// repository's indexes were verified through), the builder's version and
// the start and end times. FromPlan describes a platform of a resolved
// target that way.
//
// Everything but the two times is a function of the build's inputs, so two
// builds of the same lock give statements that differ only in those times.
package provenance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	attv1 "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The in-toto types and media type of a provenance statement.
const (
	PredicateType = "https://slsa.dev/provenance/v1"
	// MediaType is the media type of an in-toto statement (the layer or
	// blob holding it); DSSE envelopes use their own.
	MediaType = "application/vnd.in-toto+json"
	// BuildType names pgassemble's build: its external parameters are the
	// ones Build.External describes.
	BuildType = "https://github.com/pgassemble/pgassemble/blob/main/DESIGN.md#provenance-v1"
	// DefaultBuilderID names the builder when the caller gives none.
	DefaultBuilderID = "https://github.com/pgassemble/pgassemble"
)

// ErrInvalid is returned for a Build missing what a statement needs.
var ErrInvalid = errors.New("provenance: invalid build description")

// Subject is the platform manifest the statement is about.
type Subject struct {
	Name   string // "REGISTRY/REPO" or the layout's name
	Digest string // "sha256:…"
}

// Build describes one platform image's build.
type Build struct {
	// External are the parameters the user chose: target, platform, flags,
	// the config file's digest. Values are strings or string lists.
	External map[string]any
	// Base is the base image by digest.
	Base Dependency
	// Debs are the packages pgassemble installed (not the base image's).
	Debs []Dependency
	// Releases are the release files the package indexes were verified
	// through: InRelease, or Release (its Release.gpg in the "signature"
	// annotation).
	Releases []Dependency
	// BuilderID and BuilderVersion identify pgassemble; Version is
	// recorded as builder.version["pgassemble"].
	BuilderID, BuilderVersion string
	// InvocationID identifies the run (may be empty).
	InvocationID      string
	Started, Finished time.Time
}

// Dependency is one resolved dependency.
type Dependency struct {
	Name   string // package name, "base", or the release's suite
	URI    string // where it was fetched: the .deb's URL, oci://…, the release file's URL
	SHA256 string // hex
	// Annotations such as version and architecture.
	Annotations map[string]string
}

// Statement renders the in-toto statement about subjects (the platform
// manifest, and the index that holds it) as JSON with a stable field order
// (maps sorted by key, dependencies by kind then URI).
func Statement(subjects []Subject, b Build) ([]byte, error) {
	if b.Base.SHA256 == "" {
		return nil, fmt.Errorf("%w: no base image digest", ErrInvalid)
	}
	ext, err := structpb.NewStruct(b.External)
	if err != nil {
		return nil, fmt.Errorf("%w: external parameters: %v", ErrInvalid, err)
	}
	deps := []*attv1.ResourceDescriptor{}
	add := func(kind string, list []Dependency) error {
		sorted := append([]Dependency(nil), list...)
		sort.SliceStable(sorted, func(i, j int) bool {
			if sorted[i].URI != sorted[j].URI {
				return sorted[i].URI < sorted[j].URI
			}
			return sorted[i].Name < sorted[j].Name
		})
		for _, d := range sorted {
			if d.SHA256 == "" {
				return fmt.Errorf("%w: %s %s %s has no SHA256", ErrInvalid, kind, d.Name, d.URI)
			}
			ann := map[string]any{"pgassemble.kind": kind}
			for k, v := range d.Annotations {
				ann[k] = v
			}
			st, err := structpb.NewStruct(ann)
			if err != nil {
				return err
			}
			deps = append(deps, &attv1.ResourceDescriptor{Name: d.Name, Uri: d.URI, Digest: map[string]string{"sha256": d.SHA256}, Annotations: st})
		}
		return nil
	}
	if err := add("base", []Dependency{b.Base}); err != nil {
		return nil, err
	}
	if err := add("release", b.Releases); err != nil {
		return nil, err
	}
	if err := add("deb", b.Debs); err != nil {
		return nil, err
	}
	id := b.BuilderID
	if id == "" {
		id = DefaultBuilderID
	}
	pred := &slsa.Provenance{
		BuildDefinition: &slsa.BuildDefinition{BuildType: BuildType, ExternalParameters: ext, ResolvedDependencies: deps},
		RunDetails: &slsa.RunDetails{
			Builder:  &slsa.Builder{Id: id, Version: map[string]string{"pgassemble": b.BuilderVersion}},
			Metadata: &slsa.BuildMetadata{InvocationId: b.InvocationID},
		},
	}
	if !b.Started.IsZero() {
		pred.RunDetails.Metadata.StartedOn = timestamppb.New(b.Started.UTC())
	}
	if !b.Finished.IsZero() {
		pred.RunDetails.Metadata.FinishedOn = timestamppb.New(b.Finished.UTC())
	}
	predStruct, err := toStruct(pred)
	if err != nil {
		return nil, err
	}
	return statement(subjects, PredicateType, predStruct)
}

// Wrap makes an in-toto statement of any JSON predicate (an SBOM document,
// for example) about subjects.
func Wrap(subjects []Subject, predicateType string, predicate []byte) ([]byte, error) {
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(predicate, s); err != nil {
		return nil, fmt.Errorf("%w: predicate %s is not a JSON object: %v", ErrInvalid, predicateType, err)
	}
	return statement(subjects, predicateType, s)
}

func statement(subjects []Subject, predicateType string, pred *structpb.Struct) ([]byte, error) {
	st := &attv1.Statement{Type: attv1.StatementTypeUri, PredicateType: predicateType, Predicate: pred}
	for _, subj := range subjects {
		alg, hexd, ok := strings.Cut(subj.Digest, ":")
		if !ok || subj.Name == "" {
			return nil, fmt.Errorf("%w: subject %q@%q", ErrInvalid, subj.Name, subj.Digest)
		}
		st.Subject = append(st.Subject, &attv1.ResourceDescriptor{Name: subj.Name, Digest: map[string]string{alg: hexd}})
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	raw, err := protojson.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	return canonical(raw)
}

func toStruct(m proto.Message) (*structpb.Struct, error) {
	raw, err := protojson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(raw, s); err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	return s, nil
}

// canonical re-encodes JSON with encoding/json: protojson's output is
// deliberately unstable in its whitespace, and a statement must be the same
// bytes for the same inputs.
func canonical(raw []byte) ([]byte, error) {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	return buf.Bytes(), nil
}
