// Package xzcmd runs the system's xz as a decompressor: about six times
// faster than the pure-Go decoder (github.com/ulikunitz/xz), and exact
// (xz checks its own stream; callers check the result's SHA256 where a
// signature gives one). pkg/apt/archive uses it for Packages.xz and
// pkg/layer for data.tar.xz: one implementation of the process handling,
// because that is where the traps are (a failure must never look like a
// short stream, a cancelled build must not wait for xz, the process must
// always be reaped).
package xzcmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// ErrFailed is wrapped by the error of an xz that exited with a failure
// (a corrupt stream, a missing binary); a cancelled context is reported
// as the context's error instead.
var ErrFailed = errors.New("xz failed")

// Process is "xz -dc" reading its input. Reading it to the end waits for
// the process: a failure is a read error (ErrFailed, with xz's stderr),
// never a short stream. Cancelling the context kills it, and the read
// error is then the context's.
type Process struct {
	ctx    context.Context
	cmd    *exec.Cmd
	out    io.ReadCloser
	stderr bytes.Buffer
	done   bool
	err    error
}

// Start runs path ("xz", "/usr/bin/xz") with -dc over r.
func Start(ctx context.Context, path string, r io.Reader) (*Process, error) {
	p := &Process{ctx: ctx, cmd: exec.CommandContext(ctx, path, "-dc")}
	// Killed, xz closes its stderr; a child it left holding it must not
	// keep Wait from returning.
	p.cmd.WaitDelay = 5 * time.Second
	p.cmd.Stdin = r
	p.cmd.Stderr = &p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: start %s: %v", ErrFailed, path, err)
	}
	p.out = out
	return p, nil
}

// Read reads the decompressed stream; at its end, the process's outcome.
func (p *Process) Read(b []byte) (int, error) {
	if p.done {
		return 0, p.finalErr()
	}
	n, err := p.out.Read(b)
	if err == io.EOF {
		p.wait()
		return n, p.finalErr()
	}
	return n, err
}

func (p *Process) finalErr() error {
	if p.err != nil {
		return p.err
	}
	return io.EOF
}

func (p *Process) wait() {
	if p.done {
		return
	}
	p.done = true
	if err := p.cmd.Wait(); err != nil {
		if cerr := p.ctx.Err(); cerr != nil {
			p.err = fmt.Errorf("xz stopped: %w", cerr)
			return
		}
		p.err = fmt.Errorf("%w: %v: %s", ErrFailed, err, strings.TrimSpace(p.stderr.String()))
	}
}

// Close stops the process if it was not read to the end, and reaps it.
func (p *Process) Close() error {
	if !p.done {
		p.cmd.Process.Kill()
		p.wait()
	}
	return nil
}
