package attest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"

	"github.com/pgassemble/pgassemble/pkg/provenance"
	"github.com/pgassemble/pgassemble/pkg/sbom"
	"github.com/pgassemble/pgassemble/pkg/sign"
)

const status = "Package: libpq5\nStatus: install ok installed\nArchitecture: %s\nVersion: 17.5-1\nSource: postgresql-17\n\nPackage: base-files\nStatus: install ok installed\nArchitecture: %s\nVersion: 13.8\n"

func image(t *testing.T, arch string) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range [][2]string{
		{"var/lib/dpkg/status", strings.ReplaceAll(status, "%s", arch)},
		{"etc/os-release", "ID=debian\nVERSION_ID=13\n"},
	} {
		name, data := f[0], f[1]
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write([]byte(data))
	}
	tw.Close()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), l)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func index(t *testing.T) v1.ImageIndex {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range []string{"amd64", "arm64"} {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: image(t, arch), Descriptor: v1.Descriptor{MediaType: types.OCIManifestSchema1, Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	return idx
}

func input(t *testing.T, signer *sign.Signer) Input {
	repo, _ := name.NewRepository("127.0.0.1:5030/postgresql")
	in := Input{Repo: repo, Index: index(t), Tool: sbom.Tool{Name: "pgassemble", Version: "test"}, Created: time.Unix(1700000000, 0), Signer: signer, SBOM: true, Provenance: true}
	for _, arch := range []string{"amd64", "arm64"} {
		in.Platforms = append(in.Platforms, Platform{
			Platform: "linux/" + arch, Target: "17-minimal-trixie",
			Origins: map[sbom.Key]sbom.OriginOf{{Name: "libpq5", Arch: arch}: {Version: "17.5-1", Origin: sbom.Origin{URL: "http://m.invalid/libpq5.deb", SHA256: strings.Repeat("1", 64)}}},
			Provenance: provenance.Build{
				External: map[string]any{"target": "17-minimal-trixie"},
				Base:     provenance.Dependency{Name: "base", URI: "oci://x", SHA256: strings.Repeat("b", 64)},
				Started:  time.Unix(1, 0), Finished: time.Unix(2, 0),
			},
		})
	}
	return in
}

func manifestOf(t *testing.T, img v1.Image) v1.Manifest {
	t.Helper()
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestReferrers(t *testing.T) {
	in := input(t, nil)
	atts, err := Build(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(atts) != 4 {
		t.Fatalf("%d attachments, want 4 (SBOM and provenance per platform)", len(atts))
	}
	im, _ := in.Index.IndexManifest()
	for i, a := range atts {
		m := manifestOf(t, a.Image)
		if a.Tag != "" || m.Subject == nil || m.Subject.Digest != im.Manifests[i/2].Digest {
			t.Errorf("%s: tag %q subject %+v", a.What, a.Tag, m.Subject)
		}
		if m.Config.MediaType != EmptyConfigMediaType || m.Config.Size != 2 {
			t.Errorf("%s: config %+v", a.What, m.Config)
		}
		want := []string{sbom.MediaTypeSPDX, provenance.MediaType}[i%2]
		if m.ArtifactType != want || m.Layers[0].MediaType != types.MediaType(want) {
			t.Errorf("%s: artifactType %q layer %s, want %s", a.What, m.ArtifactType, m.Layers[0].MediaType, want)
		}
		// The config blob is the empty JSON object.
		cfg, _ := a.Image.RawConfigFile()
		if d, _ := a.Image.ConfigName(); string(cfg) != "{}" || d != m.Config.Digest {
			t.Errorf("%s: config %q %s", a.What, cfg, d)
		}
	}
	// The SBOM names this platform's packages, with the origin's checksum.
	l, _ := atts[2].Image.Layers()
	rc, _ := l[0].Compressed()
	doc, _ := io.ReadAll(rc)
	if !bytes.Contains(doc, []byte("pkg:deb/debian/libpq5@17.5-1?arch=arm64&distro=debian-13")) || !bytes.Contains(doc, []byte(strings.Repeat("1", 64))) {
		t.Errorf("arm64 SBOM lacks libpq5's purl or checksum:\n%s", doc)
	}
	// Reproducible: the same input gives the same SBOM referrer.
	again, _ := Build(context.Background(), input(t, nil))
	d1, _ := atts[0].Image.Digest()
	d2, _ := again[0].Image.Digest()
	if d1 != d2 {
		t.Error("SBOM referrer differs between two identical builds")
	}
}

func TestSigned(t *testing.T) {
	privPEM, pubPEM, _ := cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), cryptoutils.StaticPasswordFunc([]byte("pw")))
	s, err := sign.LoadKey(privPEM, []byte("pw"), true)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := cryptoutils.UnmarshalPEMToPublicKey(pubPEM)
	v, _ := signature.LoadVerifier(pub, 0x5)
	in := input(t, s)
	atts, err := Build(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	idxDigest, _ := in.Index.Digest()
	im, _ := in.Index.IndexManifest()
	tags := map[string]Attachment{}
	for _, a := range atts {
		if a.Tag != "" {
			tags[a.Tag] = a
		}
	}
	for _, d := range []v1.Hash{idxDigest, im.Manifests[0].Digest, im.Manifests[1].Digest} {
		sig, ok := tags[sign.SignatureTag(d)]
		if !ok {
			t.Fatalf("no signature for %s", d)
		}
		m := manifestOf(t, sig.Image)
		ls, _ := sig.Image.Layers()
		rc, _ := ls[0].Compressed()
		body, _ := io.ReadAll(rc)
		raw, _ := base64.StdEncoding.DecodeString(m.Layers[0].Annotations[sign.SignatureAnnotation])
		if err := v.VerifySignature(bytes.NewReader(raw), bytes.NewReader(body)); err != nil {
			t.Errorf("signature of %s: %v", d, err)
		}
		if !bytes.Contains(body, []byte(d.String())) {
			t.Errorf("payload of %s names another digest: %s", d, body)
		}
		att, ok := tags[sign.AttestationTag(d)]
		if !ok {
			t.Fatalf("no attestations for %s", d)
		}
		am := manifestOf(t, att.Image)
		want := 2
		if d == idxDigest {
			want = 4
		}
		if len(am.Layers) != want {
			t.Errorf("%s: %d attestation layers, want %d", d, len(am.Layers), want)
		}
		als, _ := att.Image.Layers()
		for i, l := range als {
			rc, _ := l.Compressed()
			env, _ := io.ReadAll(rc)
			if err := sigdsse.WrapVerifier(v).VerifySignature(bytes.NewReader(env), nil); err != nil {
				t.Errorf("%s layer %d: %v", d, i, err)
			}
			var e struct{ Payload string }
			json.Unmarshal(env, &e)
			stmt, _ := base64.StdEncoding.DecodeString(e.Payload)
			if !bytes.Contains(stmt, []byte(d.Hex)) {
				t.Errorf("%s layer %d: statement does not name the digest cosign checks", d, i)
			}
			if p := am.Layers[i].Annotations[sign.PredicateAnnotation]; p != PredicateSPDX && p != provenance.PredicateType {
				t.Errorf("predicate annotation %q", p)
			}
		}
	}
}

// TestAttestSubsets: a signer with no statements asked for makes the .sig
// tags only, nothing attestation-shaped; with one kind asked for, the
// referrers and the .att layers are of that kind only.
func TestAttestSubsets(t *testing.T) {
	privPEM, _, _ := cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), cryptoutils.StaticPasswordFunc([]byte("pw")))
	s, err := sign.LoadKey(privPEM, []byte("pw"), true)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name             string
		sbom, prov       bool
		referrers        []string // artifact types, in order
		attPerPlatform   int
		attLayersOfIndex int
	}{
		{"none", false, false, nil, 0, 0},
		{"sbom", true, false, []string{sbom.MediaTypeSPDX, sbom.MediaTypeSPDX}, 1, 2},
		{"provenance", false, true, []string{provenance.MediaType, provenance.MediaType}, 1, 2},
		{"both", true, true, []string{sbom.MediaTypeSPDX, provenance.MediaType, sbom.MediaTypeSPDX, provenance.MediaType}, 2, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := input(t, s)
			in.SBOM, in.Provenance = tc.sbom, tc.prov
			atts, err := Build(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			idx, _ := in.Index.Digest()
			var refs []string
			sigs := 0
			for _, a := range atts {
				m := manifestOf(t, a.Image)
				switch {
				case a.Tag == "":
					refs = append(refs, m.ArtifactType)
				case strings.HasSuffix(a.Tag, ".sig"):
					sigs++
				case strings.HasSuffix(a.Tag, ".att"):
					want := tc.attPerPlatform
					if a.Tag == sign.AttestationTag(idx) {
						want = tc.attLayersOfIndex
					}
					if want == 0 || len(m.Layers) != want {
						t.Errorf("%s: %d layers, want %d", a.Tag, len(m.Layers), want)
					}
					for _, l := range m.Layers {
						p := l.Annotations[sign.PredicateAnnotation]
						if p == PredicateSPDX && !tc.sbom || p == provenance.PredicateType && !tc.prov {
							t.Errorf("%s carries a %s statement that was not asked for", a.Tag, p)
						}
					}
				default:
					t.Errorf("unexpected tag %s", a.Tag)
				}
			}
			if strings.Join(refs, " ") != strings.Join(tc.referrers, " ") {
				t.Errorf("referrers %v, want %v", refs, tc.referrers)
			}
			if sigs != 3 {
				t.Errorf("%d .sig tags, want 3 (the index and both platforms)", sigs)
			}
		})
	}
}
