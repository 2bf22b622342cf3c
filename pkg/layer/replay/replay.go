package replay

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pgassemble/pgassemble/pkg/apt"
)

// Package is one package being installed, given in install order.
type Package struct {
	Name, Version, Arch string
	Control             apt.Paragraph
	// Scripts holds the control members by name: "preinst", "postinst",
	// "prerm", "postrm", "triggers", "config", "templates", "conffiles", ...
	Scripts map[string][]byte
}

// Edit changes a generated file: every line of Path matching Pattern (a Go
// regexp) is replaced by Replace (which may use $1...). Path is relative,
// e.g. "etc/postgresql-common/createcluster.conf".
type Edit struct {
	Path    string
	Pattern string
	Replace string
}

// Options configures a Plan.
type Options struct {
	// Arch is the dpkg architecture of the image: amd64, arm64, ...
	Arch string
	// FixedIDs gives a system user a fixed uid, e.g. {"postgres": 26}. Like
	// CloudNativePG's `usermod -u 26 postgres`, only the uid changes; the
	// user's group keeps the gid it was allocated unless FixedGroupIDs says
	// otherwise.
	FixedIDs map[string]int
	// FixedGroupIDs gives a system group a fixed gid.
	FixedGroupIDs map[string]int
	// AllowUnhandled makes AddPackages accept script commands whose effect
	// is unknown (--allow-unhandled-scripts); they are still reported by
	// Explain.
	AllowUnhandled bool
	// Edits are applied to generated files (ucf copies) after generation.
	Edits []Edit
	// Epoch is SOURCE_DATE_EPOCH: it dates new /etc/shadow entries
	// (last password change, in days). Zero means the Unix epoch.
	Epoch time.Time
}

// File is one entry of the final state layer. Path is relative ("etc/passwd").
type File struct {
	Path     string
	Type     byte // tar.TypeReg, tar.TypeDir or tar.TypeSymlink
	Mode     int64
	Uid, Gid int
	Data     []byte
	Linkname string
}

// Verdict is the classification of one script command.
type Verdict int

const (
	// Handled: the effect is reproduced by the replay table.
	Handled Verdict = iota
	// NoOp: the command changes nothing that matters in an image.
	NoOp
	// Unhandled: the effect is unknown; the build stops unless allowed.
	Unhandled
)

func (v Verdict) String() string {
	switch v {
	case Handled:
		return "handled"
	case NoOp:
		return "no-op"
	case Unhandled:
		return "unhandled"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Classification says what one command of one maintainer script does.
type Classification struct {
	Package string
	Script  string // "postinst", "preinst", "triggers", ...
	Command string // the command as written, e.g. "adduser --system postgres"
	Verdict Verdict
	Reason  string
}

// ErrUnhandled is matched by errors.Is on an *UnhandledError.
var ErrUnhandled = errors.New("unhandled maintainer script command")

// UnhandledError lists the commands whose effect the replay cannot reproduce.
type UnhandledError struct {
	Commands []Classification
}

func (e *UnhandledError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d unhandled maintainer script command(s)", len(e.Commands))
	for i, c := range e.Commands {
		if i == 5 {
			fmt.Fprintf(&b, "; and %d more", len(e.Commands)-i)
			break
		}
		fmt.Fprintf(&b, "; %s %s: %q", c.Package, c.Script, c.Command)
	}
	return b.String() + " (use --allow-unhandled-scripts to build anyway)"
}

func (e *UnhandledError) Is(target error) bool { return target == ErrUnhandled }
