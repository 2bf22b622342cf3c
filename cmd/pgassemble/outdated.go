package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pgassemble/pgassemble/cmd/pgassemble/options"
	"github.com/pgassemble/pgassemble/pkg/assemble"
	"github.com/pgassemble/pgassemble/pkg/variants"
)

// Exit codes of outdated: 0 nothing newer, 1 a rebuild is due, 2 bad
// usage, 3 the check itself failed (never read as "outdated").
const (
	exitDue    = 1
	exitFailed = 3
)

func newOutdatedCmd() *cobra.Command {
	f := &buildFlags{}
	c := &cobra.Command{
		Use:   "outdated [IMAGE|TARGET...]",
		Short: "Say whether published images are older than a rebuild would make them",
		Long: `Read each published image's dpkg status from the registry (only its top layer,
pgassemble's state layer, when that carries it) and resolve its target as a build
would, then print every package a rebuild would bring in newer, marking those from
a -security suite, and whether the base image moved.

An argument is an image reference (REGISTRY/REPO:TAG, the target read from a tag
of the form <version>[-<timestamp>]-<type>-<codename>) or a target name (the
image is then <registry>/<repository>:<MM>-<type>-<codename> per --registry and
--environment); none means the matrix, filtered by --pg, --type and --base.

Exit codes: 0 nothing is newer, 1 a rebuild is due (or an image is not
published), 2 bad usage, 3 the check failed (registry or repositories
unreachable...), so that a failure is never mistaken for "outdated".`,
		Example: `  pgassemble outdated postgresql-17-standard-trixie
  pgassemble outdated localhost:5000/postgresql-testing:17-standard-trixie --json
  pgassemble outdated --pg 17 && echo up to date`,
		RunE: func(cmd *cobra.Command, args []string) error {
			due, err := runOutdated(cmd, f, args)
			var ue options.UsageError
			switch {
			case errors.As(err, &ue):
				return err
			case err != nil:
				return codeError{exitFailed, err}
			case due:
				return codeError{code: exitDue}
			}
			return nil
		},
	}
	f.register(c, true)
	return c
}

// outdatedCheck is one image to check and the target it is compared with.
type outdatedCheck struct {
	ref    string
	target variants.Target
}

func outdatedChecks(f *buildFlags, args []string) ([]outdatedCheck, error) {
	cat, err := f.target.Catalog()
	if err != nil {
		return nil, err
	}
	var names []string
	var out []outdatedCheck
	for _, a := range args {
		if !strings.ContainsAny(a, ":/@") {
			names = append(names, a)
			continue
		}
		t, err := targetOfImage(cat, a)
		if err != nil {
			return nil, err
		}
		if len(f.target.Platforms) > 0 {
			if t, err = t.WithPlatforms(f.target.Platforms); err != nil {
				return nil, options.Usagef("--platform: %w", err)
			}
		}
		out = append(out, outdatedCheck{ref: a, target: t})
	}
	if len(names) > 0 || len(args) == 0 {
		targets, err := f.target.Targets(cat, names)
		if err != nil {
			return nil, err
		}
		for _, t := range targets {
			ref, err := f.publishedRef(t)
			if err != nil {
				return nil, err
			}
			out = append(out, outdatedCheck{ref: ref, target: t})
		}
	}
	return out, nil
}

// publishedRef is where t's first tag is published per --registry and
// --environment.
func (f *buildFlags) publishedRef(t variants.Target) (string, error) {
	dest, err := f.publish.Destination()
	if err != nil {
		return "", err
	}
	if dest.Layout != "" {
		return "", options.Usagef("outdated reads images from a registry, not from --output %s", f.publish.Output)
	}
	return dest.Repository + ":" + t.Tags("", time.Time{})[0], nil
}

// tagRE reads a tag pgassemble gives: <version>[-<YYYYMMDDhhmm>]-<type>-<codename>.
var tagRE = regexp.MustCompile(`^([0-9]+)(?:[.~][0-9a-z.~]*|beta[0-9]+|rc[0-9]+)?(?:-[0-9]{12})?-([a-z0-9]+)-([a-z]+)$`)

// targetOfImage finds the catalog target an image reference was built from,
// by its tag.
func targetOfImage(cat *variants.Catalog, ref string) (variants.Target, error) {
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") || strings.Contains(ref, "@") {
		return variants.Target{}, options.Usagef("%s: name the image by a tag such as REPO:17-standard-trixie (the target is read from it)", ref)
	}
	m := tagRE.FindStringSubmatch(ref[i+1:])
	if m == nil {
		return variants.Target{}, options.Usagef("%s: tag %q is not <version>-<type>-<codename>", ref, ref[i+1:])
	}
	t, err := cat.TargetByName("postgresql-" + m[1] + "-" + m[2] + "-" + m[3])
	if err != nil {
		return t, options.Usagef("%s: %w", ref, err)
	}
	return t, nil
}

// runOutdated checks every image and prints the result; due reports
// whether any needs a rebuild.
func runOutdated(cmd *cobra.Command, f *buildFlags, args []string) (due bool, err error) {
	checks, err := outdatedChecks(f, args)
	if err != nil {
		return false, err
	}
	s, err := newSession(cmd, f)
	if err != nil {
		return false, err
	}
	var reports []*assemble.OutdatedReport
	for _, c := range checks {
		rep, err := s.builder.Outdated(cmd.Context(), c.target, c.ref, assemble.OutdatedInsecure(f.publish.Insecure))
		if errors.Is(err, assemble.ErrImageNotFound) {
			rep, err = &assemble.OutdatedReport{Image: c.ref, Target: c.target.Name, NotPublished: true, Packages: []assemble.OutdatedPackage{}}, nil
		}
		if err != nil {
			s.ui.Wait()
			return false, fmt.Errorf("%s: %w", c.ref, err)
		}
		reports = append(reports, rep)
		due = due || rep.Due()
	}
	s.ui.Wait()
	if f.report.JSON {
		return due, s.printJSON(reports)
	}
	for _, r := range reports {
		state := "up to date"
		if r.Due() {
			state = "rebuild due"
		}
		fmt.Fprintf(s.out, "%s (%s): %s\n", r.Target, r.Image, state)
		if r.NotPublished {
			fmt.Fprintln(s.out, "  not published")
		}
		for _, p := range r.MissingPlatforms {
			fmt.Fprintf(s.out, "  %s: not in the image\n", p)
		}
		if r.BaseChanged {
			fmt.Fprintf(s.out, "  base image moved: now %s\n", r.BaseDigest)
		}
		for _, p := range r.Packages {
			sec := ""
			if p.Security {
				sec = " [security]"
			}
			fmt.Fprintf(s.out, "  %s %s %s -> %s (%s)%s\n", p.Platform, p.Name, p.Installed, p.Available, p.Suite, sec)
		}
	}
	return due, nil
}

// codeError ends a command with a given exit code; err, when set, is
// printed.
type codeError struct {
	code int
	err  error
}

func (e codeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e codeError) Unwrap() error { return e.err }
