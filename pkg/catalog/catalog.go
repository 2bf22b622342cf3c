// Package catalog writes CloudNativePG ClusterImageCatalogs the way the
// upstream image project publishes them: one catalog per image type and
// Debian base ("catalog-<type>-<base>.yaml", named "<family>-<type>-<base>",
// with the images.cnpg.io/{family,type,os,date,publisher} labels) listing,
// per PostgreSQL major, the newest image pinned by digest
// ("REPO:MAJOR.MINOR-YYYYMMDDhhmm-TYPE-BASE@sha256:…"), plus a
// kustomization.yaml naming them all.
//
// Images come either from a registry's tags (the timestamped tags the
// build writes, newest version then newest timestamp per major) or from a
// `bake --json` report of what was just published. Validate checks a
// catalog against the facts of CloudNativePG's ClusterImageCatalog CRD.
package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v2"
)

// DefaultFamily is upstream's family name.
const DefaultFamily = "postgresql"

// MinMajor is the oldest major upstream catalogs list.
const MinMajor = 13

// ErrInvalid: a catalog breaks the CRD's rules.
var ErrInvalid = errors.New("invalid ClusterImageCatalog")

// ErrEmpty: no image matched a catalog's type and base.
var ErrEmpty = errors.New("no image for the catalog")

// Candidate is one published image: a timestamped tag and its digest.
type Candidate struct {
	Repo   string // "REGISTRY/REPO"
	Tag    string // "17.6-202611281853-standard-trixie"
	Digest string // "sha256:…"
}

// tagRe matches the timestamped tag: MAJOR.MINOR-YYYYMMDDhhmm-TYPE-BASE.
var tagRe = regexp.MustCompile(`^(\d+)\.(\d+)-(\d{12})-([a-z]+)-([a-z]+)$`)

type parsed struct {
	Candidate
	major, minor int
	stamp        string
	typ, base    string
}

// ParseTag reads a timestamped tag; ok is false for other tags (the rolling
// "17-standard-trixie" ones, previews, signatures, referrer fallbacks).
func ParseTag(tag string) (major, minor int, stamp, typ, base string, ok bool) {
	m := tagRe.FindStringSubmatch(tag)
	if m == nil {
		return 0, 0, "", "", "", false
	}
	major, _ = strconv.Atoi(m[1])
	minor, _ = strconv.Atoi(m[2])
	return major, minor, m[3], m[4], m[5], true
}

// Doc is a ClusterImageCatalog, field order as upstream writes it.
type Doc struct {
	APIVersion string   `yaml:"apiVersion" json:"apiVersion"`
	Kind       string   `yaml:"kind" json:"kind"`
	Metadata   Metadata `yaml:"metadata" json:"metadata"`
	Spec       Spec     `yaml:"spec" json:"spec"`
}

// Metadata of a catalog.
type Metadata struct {
	Name   string            `yaml:"name" json:"name"`
	Labels map[string]string `yaml:"labels" json:"labels"`
}

// Spec of a catalog.
type Spec struct {
	Images []Image `yaml:"images" json:"images"`
}

// Image is one entry.
type Image struct {
	Major int    `yaml:"major" json:"major"`
	Image string `yaml:"image" json:"image"`
}

// File is one file to write.
type File struct {
	Name string
	Data []byte
	Doc  *Doc // nil for the kustomization
}

// Options say which catalogs to make.
type Options struct {
	Family string    // default DefaultFamily
	Types  []string  // e.g. minimal, standard, system
	Bases  []string  // e.g. bookworm, trixie
	Date   time.Time // the images.cnpg.io/date label (UTC day)
	// Publisher is the images.cnpg.io/publisher label.
	Publisher string
}

// Build makes one catalog per type × base from the candidates, and the
// kustomization. A type × base without any image is skipped; none at all
// is ErrEmpty.
func Build(cands []Candidate, o Options) ([]File, error) {
	if o.Family == "" {
		o.Family = DefaultFamily
	}
	var ps []parsed
	for _, c := range cands {
		major, minor, stamp, typ, base, ok := ParseTag(c.Tag)
		if !ok || major < MinMajor {
			continue
		}
		ps = append(ps, parsed{Candidate: c, major: major, minor: minor, stamp: stamp, typ: typ, base: base})
	}
	var files []File
	var names []string
	for _, typ := range o.Types {
		for _, base := range o.Bases {
			newest := map[int]parsed{}
			for _, p := range ps {
				if p.typ != typ || p.base != base {
					continue
				}
				cur, ok := newest[p.major]
				if !ok || p.minor > cur.minor || p.minor == cur.minor && p.stamp > cur.stamp {
					newest[p.major] = p
				}
			}
			if len(newest) == 0 {
				continue
			}
			doc := &Doc{
				APIVersion: "postgresql.cnpg.io/v1", Kind: "ClusterImageCatalog",
				Metadata: Metadata{Name: o.Family + "-" + typ + "-" + base, Labels: map[string]string{
					"images.cnpg.io/family": o.Family, "images.cnpg.io/type": typ, "images.cnpg.io/os": base,
					"images.cnpg.io/date": o.Date.UTC().Format("20060102"),
				}},
			}
			if o.Publisher != "" {
				doc.Metadata.Labels["images.cnpg.io/publisher"] = o.Publisher
			}
			majors := make([]int, 0, len(newest))
			for m := range newest {
				majors = append(majors, m)
			}
			sort.Ints(majors)
			for _, m := range majors {
				p := newest[m]
				doc.Spec.Images = append(doc.Spec.Images, Image{Major: m, Image: p.Repo + ":" + p.Tag + "@" + p.Digest})
			}
			if err := Validate(doc); err != nil {
				return nil, err
			}
			data, err := yaml.Marshal(doc)
			if err != nil {
				return nil, fmt.Errorf("catalog %s: %w", doc.Metadata.Name, err)
			}
			name := fileName(o.Family, typ, base)
			files = append(files, File{Name: name, Data: data, Doc: doc})
			names = append(names, name)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: no timestamped tag MAJOR.MINOR-YYYYMMDDhhmm-TYPE-BASE for types %v and bases %v", ErrEmpty, o.Types, o.Bases)
	}
	sort.Strings(names)
	k := struct {
		APIVersion string   `yaml:"apiVersion"`
		Kind       string   `yaml:"kind"`
		Resources  []string `yaml:"resources"`
	}{"kustomize.config.k8s.io/v1beta1", "Kustomization", names}
	data, err := yaml.Marshal(k)
	if err != nil {
		return nil, err
	}
	files = append(files, File{Name: "kustomization.yaml", Data: data})
	return files, nil
}

func fileName(family, typ, base string) string {
	prefix := "catalog"
	if family != DefaultFamily {
		prefix = family
	}
	return prefix + "-" + typ + "-" + base + ".yaml"
}

// digestRe is an image reference pinned by a sha256 digest.
var digestRe = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)

// Validate checks the rules of CloudNativePG's ClusterImageCatalog CRD
// (postgresql.cnpg.io/v1): metadata and spec.images required, 1 to 8
// images, each with an image string and an integer major of at least 10,
// majors unique; and pgassemble's own: every image pinned by digest.
func Validate(d *Doc) error {
	var errs []string
	if d.APIVersion != "postgresql.cnpg.io/v1" || d.Kind != "ClusterImageCatalog" {
		errs = append(errs, fmt.Sprintf("apiVersion/kind %s/%s", d.APIVersion, d.Kind))
	}
	if d.Metadata.Name == "" {
		errs = append(errs, "metadata.name is empty")
	}
	if n := len(d.Spec.Images); n < 1 || n > 8 {
		errs = append(errs, fmt.Sprintf("spec.images has %d entries, the CRD allows 1 to 8", n))
	}
	seen := map[int]bool{}
	for i, im := range d.Spec.Images {
		if im.Major < 10 {
			errs = append(errs, fmt.Sprintf("spec.images[%d].major %d is below the CRD's minimum 10", i, im.Major))
		}
		if seen[im.Major] {
			errs = append(errs, fmt.Sprintf("spec.images[%d].major %d repeats (majors must be unique)", i, im.Major))
		}
		seen[im.Major] = true
		if im.Image == "" || !digestRe.MatchString(im.Image) {
			errs = append(errs, fmt.Sprintf("spec.images[%d].image %q is not pinned by digest", i, im.Image))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w %s: %s", ErrInvalid, d.Metadata.Name, strings.Join(errs, "; "))
	}
	return nil
}

// Parse reads a catalog YAML back (for checks and tests).
func Parse(data []byte) (*Doc, error) {
	var d Doc
	if err := yaml.UnmarshalStrict(bytes.TrimSpace(data), &d); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return &d, nil
}
