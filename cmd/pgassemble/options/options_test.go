package options

import (
	"errors"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/pgassemble/pgassemble/pkg/layer"
)

func parse(t *testing.T, add func(*pflag.FlagSet), args ...string) {
	t.Helper()
	fl := pflag.NewFlagSet("test", pflag.ContinueOnError)
	add(fl)
	if err := fl.Parse(args); err != nil {
		t.Fatal(err)
	}
}

func TestTargetOptions(t *testing.T) {
	var o TargetOptions
	parse(t, func(fl *pflag.FlagSet) { o.AddFlags(fl, false) }, "--pg", "17", "--platform", "linux/arm64")
	cat, err := o.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	_, err = o.Target(cat)
	var ue UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "missing --type, --base") {
		t.Errorf("Target without --type and --base: %v", err)
	}
	o.Type, o.Base = "minimal", "trixie"
	tg, err := o.Target(cat)
	if err != nil || tg.Name != "postgresql-17-minimal-trixie" || strings.Join(tg.Platforms, ",") != "linux/arm64" {
		t.Errorf("Target: %+v, %v", tg, err)
	}

	var m TargetOptions
	parse(t, func(fl *pflag.FlagSet) { m.AddFlags(fl, true) }, "--pg", "17,18", "--type", "minimal", "--base", "trixie")
	ts, err := m.Targets(cat, nil)
	if err != nil || len(ts) != 2 {
		t.Errorf("matrix filter: %d targets, %v; want 2", len(ts), err)
	}
	m.PG = "9"
	if _, err := m.Targets(cat, nil); !errors.As(err, &ue) {
		t.Errorf("unknown version: %v, want a usage error", err)
	}
}

func TestBuildOptions(t *testing.T) {
	var o BuildOptions
	parse(t, o.AddFlags, "--compression", "zstd", "--xz", "go")
	if c, err := o.LayerCompression(); err != nil || c != layer.Zstd {
		t.Errorf("zstd: %v %v", c, err)
	}
	if p, err := o.XZCommand(); err != nil || p != "" {
		t.Errorf("--xz go: %q %v, want the built-in decoder", p, err)
	}
	o.Compression = "lz4"
	var ue UsageError
	if _, err := o.LayerCompression(); !errors.As(err, &ue) || !strings.Contains(err.Error(), "--compression") {
		t.Errorf("lz4: %v", err)
	}
	o.XZ = "/nonexistent/xz"
	if _, err := o.XZCommand(); !errors.As(err, &ue) {
		t.Errorf("missing xz: %v", err)
	}
}

func TestSourceDateEpoch(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	if e, err := SourceDateEpoch(); err != nil || !e.IsZero() {
		t.Errorf("unset: %v %v, want zero (assemble's default)", e, err)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	if e, err := SourceDateEpoch(); err != nil || e.Unix() != 1700000000 {
		t.Errorf("set: %v %v", e, err)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	var ue UsageError
	if _, err := SourceDateEpoch(); !errors.As(err, &ue) {
		t.Errorf("bad: %v", err)
	}
}

func TestPublishOptions(t *testing.T) {
	var o PublishOptions
	parse(t, o.AddFlags, "--registry", "127.0.0.1:5000/", "--environment", "production")
	d, err := o.Destination()
	if err != nil || d.Repository != "127.0.0.1:5000/postgresql" {
		t.Errorf("registry: %+v %v", d, err)
	}
	o.Output = "oci:/tmp/x"
	if d, err := o.Destination(); err != nil || d.String() != "oci:/tmp/x" {
		t.Errorf("layout: %+v %v", d, err)
	}
	o.Environment = "staging"
	var ue UsageError
	if _, err := o.Destination(); !errors.As(err, &ue) || !strings.Contains(err.Error(), "--environment") {
		t.Errorf("bad environment: %v", err)
	}
}

func TestResolveOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		o  ResolveOptions
		ok bool
	}{
		{ResolveOptions{Arch: "arm64"}, true},
		{ResolveOptions{Arch: "linux/arm64"}, false},
		{ResolveOptions{Arch: "amd64", Keyrings: []string{"k.gpg"}}, false},
		{ResolveOptions{Arch: "amd64", Keyrings: []string{"k.gpg"}, Sources: []string{"http://m trixie main"}}, true},
	} {
		if err := tc.o.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.o, err)
		}
	}
}
