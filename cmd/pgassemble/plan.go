package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pgassemble/pgassemble/pkg/assemble"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

// singleTarget is the start of plan and explain: the one target the flags
// name and a session to resolve it.
func singleTarget(cmd *cobra.Command, f *buildFlags) (*session, variants.Target, error) {
	cat, err := f.target.Catalog()
	if err != nil {
		return nil, variants.Target{}, err
	}
	t, err := f.target.Target(cat)
	if err != nil {
		return nil, t, err
	}
	s, err := newSession(cmd, f)
	return s, t, err
}

func newPlanCmd() *cobra.Command {
	f := &buildFlags{}
	c := &cobra.Command{
		Use:   "plan",
		Short: "Show, per platform, the base digest and the packages each stage adds",
		Long: `Resolve a target as build would, downloading package indexes only, and print per
platform the base image digest and each stage's packages with versions.`,
		Example: `  pgassemble plan --pg 17 --type standard --base trixie --pg-source debian`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, t, err := singleTarget(cmd, f)
			if err != nil {
				return err
			}
			tp, err := s.builder.Plan(cmd.Context(), t)
			s.ui.Wait()
			if err != nil {
				return err
			}
			if f.report.JSON {
				return s.printJSON(planJSON(tp))
			}
			fmt.Fprintf(s.out, "%s: postgresql-%s %s\n", t.Name, t.Version.MajorString(), tp.Version)
			for _, l := range tp.PackageLines() {
				fmt.Fprintln(s.out, l)
			}
			return nil
		},
	}
	f.register(c, false)
	return c
}

// planJSON is plan --json, in the lowerCamelCase of every --json output.
func planJSON(tp *assemble.TargetPlan) any {
	type pkg struct {
		Name        string `json:"name"`
		Version     string `json:"version"`
		Arch        string `json:"arch"`
		Reason      string `json:"reason"`
		UpgradeFrom string `json:"upgradeFrom,omitempty"`
	}
	type stage struct {
		Name     string `json:"name"`
		Packages []pkg  `json:"packages"`
	}
	type kept struct {
		Name      string `json:"name"`
		Installed string `json:"installed"`
		Candidate string `json:"candidate"`
		Reason    string `json:"reason"`
	}
	type plat struct {
		Platform   string  `json:"platform"`
		BaseDigest string  `json:"baseDigest"`
		Stages     []stage `json:"stages"`
		// NotUpgraded: base packages with newer versions, left as they are
		// (--upgrade off); KeptBack: those apt-get upgrade keeps back.
		NotUpgraded []pkg  `json:"notUpgraded,omitempty"`
		KeptBack    []kept `json:"keptBack,omitempty"`
	}
	out := struct {
		Target    string `json:"target"`
		Version   string `json:"version"`
		Platforms []plat `json:"platforms"`
	}{Target: tp.Target.Name, Version: tp.Version}
	for _, pp := range tp.Platforms {
		p := plat{Platform: pp.Platform.String(), BaseDigest: pp.Base.Digest.String()}
		for _, s := range pp.Stages {
			st := stage{Name: s.Name}
			for _, x := range s.Packages {
				q := pkg{Name: x.Name, Version: x.Version, Arch: x.Architecture, Reason: x.Reason}
				if x.Upgrade != nil {
					q.UpgradeFrom = x.Upgrade.Version
				}
				st.Packages = append(st.Packages, q)
			}
			p.Stages = append(p.Stages, st)
		}
		if u := pp.Upgrade; u != nil {
			if len(pp.Stages) == 0 || pp.Stages[0].Name != assemble.UpgradeStage {
				for _, x := range u.Set.Packages {
					p.NotUpgraded = append(p.NotUpgraded, pkg{Name: x.Name, Version: x.Version, Arch: x.Architecture, Reason: x.Reason, UpgradeFrom: x.Upgrade.Version})
				}
			}
			for _, k := range u.Kept {
				p.KeptBack = append(p.KeptBack, kept{Name: k.Installed.Name, Installed: k.Installed.Version, Candidate: k.Candidate.Version, Reason: k.Reason})
			}
		}
		out.Platforms = append(out.Platforms, p)
	}
	return out
}
