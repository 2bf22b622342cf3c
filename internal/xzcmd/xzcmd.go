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
	"sync"
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
	in     *input
	done   bool
	err    error
}

// input keeps the first error reading xz's input: exec reports it only
// when xz succeeds, and xz, seeing its input end early, fails with
// "Unexpected end of input", which would hide the cause (a truncated
// member, a digest mismatch, an I/O error) and its sentinel.
type input struct {
	r   io.Reader
	mu  sync.Mutex
	err error
}

func (in *input) Read(b []byte) (int, error) {
	n, err := in.r.Read(b)
	if err != nil && err != io.EOF {
		in.mu.Lock()
		if in.err == nil {
			in.err = err
		}
		in.mu.Unlock()
	}
	return n, err
}

func (in *input) failure() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.err
}

// Start runs path ("xz", "/usr/bin/xz") with -dc over r.
func Start(ctx context.Context, path string, r io.Reader) (*Process, error) {
	p := &Process{ctx: ctx, cmd: exec.CommandContext(ctx, path, "-dc")}
	// Killed, xz closes its stderr; a child it left holding it must not
	// keep Wait from returning.
	p.cmd.WaitDelay = 5 * time.Second
	p.in = &input{r: r}
	p.cmd.Stdin = p.in
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
		if ierr := p.in.failure(); ierr != nil {
			p.err = fmt.Errorf("reading xz's input: %w", ierr)
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
