package archive

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// WithXZCommand decompresses Packages.xz indexes with an external xz
// binary (e.g. "/usr/bin/xz") instead of the pure-Go decoder, which is
// about six times slower: 2 s of CPU per architecture for trixie main, the
// largest cost of planning a cold build. The result is checked as before
// (xz's own check, then the signed size and SHA256 of the uncompressed
// index where the Release gives them).
func WithXZCommand(path string) Option { return func(c *Client) { c.xzCommand = path } }

// xzProcess is "xz -dc" reading r. Reading it to the end waits for the
// process: a failure (a corrupt stream, a missing binary) is a read error,
// never a short index. Cancelling the context kills it, and the read
// error is then the context's.
type xzProcess struct {
	ctx    context.Context
	cmd    *exec.Cmd
	out    io.ReadCloser
	stderr bytes.Buffer
	done   bool
	err    error
}

func startXZ(ctx context.Context, path string, r io.Reader) (*xzProcess, error) {
	p := &xzProcess{ctx: ctx, cmd: exec.CommandContext(ctx, path, "-dc")}
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
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	p.out = out
	return p, nil
}

func (p *xzProcess) Read(b []byte) (int, error) {
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

func (p *xzProcess) finalErr() error {
	if p.err != nil {
		return p.err
	}
	return io.EOF
}

func (p *xzProcess) wait() {
	if p.done {
		return
	}
	p.done = true
	if err := p.cmd.Wait(); err != nil {
		if cerr := p.ctx.Err(); cerr != nil {
			p.err = fmt.Errorf("xz stopped: %w", cerr)
			return
		}
		p.err = fmt.Errorf("xz: %v: %s", err, strings.TrimSpace(p.stderr.String()))
	}
}

// Close stops the process if it was not read to the end.
func (p *xzProcess) Close() error {
	if !p.done {
		p.cmd.Process.Kill()
		p.wait()
	}
	return nil
}
