package attest

import (
	"github.com/pgassemble/pgassemble/pkg/assemble"
	"github.com/pgassemble/pgassemble/pkg/provenance"
	"github.com/pgassemble/pgassemble/pkg/sbom"
)

// PlatformsOf describes every platform of tp, in the plan's (and so the
// index's) order, for Build: the .deb each added package came from (for
// the SBOM) and the provenance (provenance.FromPlan with p).
func PlatformsOf(tp *assemble.TargetPlan, p provenance.Params) []Platform {
	out := make([]Platform, 0, len(tp.Platforms))
	for _, pp := range tp.Platforms {
		pl := Platform{Platform: pp.Platform.String(), Target: tp.Target.Name, Origins: map[sbom.Key]sbom.OriginOf{},
			Provenance: provenance.FromPlan(tp, pp, p)}
		for _, pk := range pp.Planned() {
			if pk.Repository == nil {
				continue
			}
			pl.Origins[sbom.Key{Name: pk.Name, Arch: pk.Architecture}] = sbom.OriginOf{Version: pk.Version,
				Origin: sbom.Origin{URL: provenance.DebURL(pk.Package), SHA256: pk.SHA256, Size: pk.Size}}
		}
		out = append(out, pl)
	}
	return out
}
