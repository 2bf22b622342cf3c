package xzcmd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "xz")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoundTrip(t *testing.T) {
	xz, err := exec.LookPath("xz")
	if err != nil {
		t.Skipf("xz not installed: %v", err)
	}
	want := bytes.Repeat([]byte("Package: x\n\n"), 10000)
	var comp bytes.Buffer
	c := exec.Command(xz, "-c")
	c.Stdin, c.Stdout = bytes.NewReader(want), &comp
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	p, err := Start(context.Background(), xz, &comp)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	got, err := io.ReadAll(p)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%d bytes, %v; want %d bytes", len(got), err, len(want))
	}
}

// A failure after part of the output is an error at the end, with xz's
// stderr, never a clean EOF.
func TestFailureIsNotAShortStream(t *testing.T) {
	p, err := Start(context.Background(), script(t, "echo partial\necho 'xz: (stdin): Compressed data is corrupt' >&2\nexit 1\n"), strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	got, err := io.ReadAll(p)
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "Compressed data is corrupt") {
		t.Fatalf("read %q, err %v; want ErrFailed with xz's stderr", got, err)
	}
	if _, err := Start(context.Background(), filepath.Join(t.TempDir(), "no-xz"), strings.NewReader("")); !errors.Is(err, ErrFailed) {
		t.Errorf("a missing binary: %v, want ErrFailed", err)
	}
}

// Cancelling the context kills an xz that never answers; the read error
// is the context's.
func TestCancelKills(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Start(ctx, script(t, "exec sleep 120\n"), strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	done := make(chan error, 1)
	go func() { _, err := io.ReadAll(p); done <- err }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrFailed) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(60 * time.Second): // far below the script's 120 s
		t.Fatal("still reading a minute after the context was cancelled")
	}
}

// failingReader gives some bytes, then err.
type failingReader struct {
	n   int
	err error
}

func (f *failingReader) Read(b []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	n := min(len(b), f.n)
	f.n -= n
	return n, nil
}

// TestInputErrorIsKept: when xz's input fails midway, the read error is
// that failure (its sentinel intact), not xz's "unexpected end of input",
// whether xz then fails or, having read a whole stream, succeeds.
func TestInputErrorIsKept(t *testing.T) {
	errCause := errors.New("member truncated")
	for _, body := range []string{
		"cat >/dev/null\necho 'xz: (stdin): Unexpected end of input' >&2\nexit 1\n",
		"cat >/dev/null\n",
	} {
		p, err := Start(context.Background(), script(t, body), &failingReader{n: 100000, err: errCause})
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(p)
		p.Close()
		if !errors.Is(err, errCause) {
			t.Errorf("xz %q: err %v, want the input's error", body, err)
		}
	}
}
