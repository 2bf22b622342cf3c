package options

import (
	"encoding/json"
	"io"
	"log/slog"

	"github.com/spf13/pflag"
)

// ReportOptions say what is printed: a JSON report on stdout, progress on
// stderr, or nothing but errors.
//
// Every --json output uses lowerCamelCase keys (the style of the OCI
// specifications and of TargetReport); PrintJSON is the one printer.
type ReportOptions struct {
	JSON    bool
	Quiet   bool
	Verbose bool
}

// AddFlags registers --json, --quiet and --verbose.
func (o *ReportOptions) AddFlags(fl *pflag.FlagSet) {
	fl.BoolVar(&o.JSON, "json", false, "print a machine-readable report on stdout")
	fl.BoolVarP(&o.Quiet, "quiet", "q", false, "print nothing but errors (and --json)")
	fl.BoolVarP(&o.Verbose, "verbose", "v", false, "log every step")
}

// Logger logs to w: warnings, or everything with --verbose.
func (o *ReportOptions) Logger(w io.Writer) *slog.Logger {
	level := slog.LevelWarn
	if o.Verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// PrintJSON writes v indented to w.
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
