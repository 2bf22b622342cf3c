package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/sys/unix"
)

// ui reports progress of long work: bars when stderr is a terminal, one
// plain line per finished task otherwise, nothing with --quiet. Errors are
// never hidden: they are returned to the caller and printed by runWith.
//
// On a terminal, plain lines (the summary, tags, warnings) go through the
// bar container while bars are live, so that they are printed above the
// bars instead of being overwritten by them. mpb flushes such lines at its
// next render only, and a container shut down before that render drops
// them; so the ui drives the renders itself (WithManualRefresh) and Wait
// forces a last render before it shuts the container down. A container
// lives from the first task after a Wait to the next Wait; between them
// lines go straight to the terminal.
type ui struct {
	mu    sync.Mutex
	w     io.Writer
	term  bool
	quiet bool
	bars  *mpb.Progress // live container, nil between Wait and the next task
	tick  chan any      // render requests to bars
	stop  chan struct{} // stops the ticker of bars
	ended chan struct{} // closed when that ticker has stopped
	start time.Time
	blobs map[string]*task
}

// refreshRate is how often live bars are redrawn.
const refreshRate = 150 * time.Millisecond

func newUI(w io.Writer, quiet bool) *ui {
	u := &ui{w: w, quiet: quiet, start: time.Now()}
	if f, ok := w.(*os.File); ok && !quiet && isTerminal(f) {
		u.term = true
	}
	return u
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// container returns the live bar container, starting one if needed; nil
// when not on a terminal. u.mu is held.
func (u *ui) container() *mpb.Progress {
	if !u.term {
		return nil
	}
	if u.bars == nil {
		u.tick, u.stop, u.ended = make(chan any), make(chan struct{}), make(chan struct{})
		u.bars = mpb.New(mpb.WithOutput(u.w), mpb.WithWidth(32), mpb.WithManualRefresh(u.tick))
		go func(tick chan<- any, stop <-chan struct{}, ended chan<- struct{}) {
			defer close(ended)
			t := time.NewTicker(refreshRate)
			defer t.Stop()
			for {
				select {
				case now := <-t.C:
					select {
					case tick <- now:
					case <-stop:
						return
					}
				case <-stop:
					return
				}
			}
		}(u.tick, u.stop, u.ended)
	}
	return u.bars
}

// task is one unit of progress: a download, a layer, an upload.
type task struct {
	u     *ui
	kind  string
	name  string
	total int64
	bar   *mpb.Bar
	done  sync.Once
	n     int64
	mu    sync.Mutex
	start time.Time
}

// Task starts a task; total is in bytes, 0 when unknown.
func (u *ui) Task(kind, name string, total int64) *task {
	t := &task{u: u, kind: kind, name: name, total: total, start: time.Now()}
	u.mu.Lock()
	bars := u.container()
	u.mu.Unlock()
	if bars != nil {
		label := fmt.Sprintf("%-8s %s", kind, trimName(name, 40))
		if total > 0 {
			t.bar = bars.AddBar(total,
				mpb.PrependDecorators(decor.Name(label, decor.WCSyncSpaceR)),
				mpb.AppendDecorators(decor.CountersKibiByte("% .1f / % .1f"), decor.Percentage(decor.WCSyncSpace)),
				mpb.BarRemoveOnComplete())
		} else {
			t.bar = bars.New(0, mpb.SpinnerStyle(),
				mpb.PrependDecorators(decor.Name(label, decor.WCSyncSpaceR)),
				mpb.AppendDecorators(decor.Elapsed(decor.ET_STYLE_GO)),
				mpb.BarRemoveOnComplete())
		}
	}
	return t
}

func trimName(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n+1:]
}

// Add records n more bytes done.
func (t *task) Add(n int64) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.n += n
	t.mu.Unlock()
	if t.bar != nil {
		t.bar.IncrInt64(n)
	}
}

// Done ends the task; err is reported in the plain log, the caller owns it.
func (t *task) Done(err error) {
	if t == nil {
		return
	}
	t.done.Do(func() {
		if t.bar != nil {
			if err != nil || t.total <= 0 {
				t.bar.Abort(true)
			} else {
				t.bar.SetTotal(-1, true)
			}
			return
		}
		if t.u.quiet {
			return
		}
		status := "done"
		if err != nil {
			status = "FAILED"
		}
		t.mu.Lock()
		n := t.n
		t.mu.Unlock()
		size := ""
		if n > 0 {
			size = " " + humanBytes(n)
		}
		t.u.Printf("%-8s %s%s %s (%s)\n", t.kind, t.name, size, status, time.Since(t.start).Round(time.Millisecond))
	})
}

// Printf writes a plain line (not with --quiet).
func (u *ui) Printf(format string, a ...any) {
	if u.quiet {
		return
	}
	u.Warnf(format, a...)
}

// Warnf writes a line even with --quiet: warnings are never hidden.
func (u *ui) Warnf(format string, a ...any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.bars != nil {
		if _, err := fmt.Fprintf(u.bars, format, a...); err == nil {
			return
		}
		// The container has just shut down: the terminal is free.
	}
	fmt.Fprintf(u.w, format, a...)
}

// Write lets a logger write through the ui: its lines are warnings.
func (u *ui) Write(p []byte) (int, error) {
	u.Warnf("%s", p)
	return len(p), nil
}

// Wait lets the live bars finish, prints every line written through them,
// and ends the container; later lines go straight to the terminal.
func (u *ui) Wait() {
	u.mu.Lock()
	bars, tick, stop, ended := u.bars, u.tick, u.stop, u.ended
	u.mu.Unlock()
	if bars == nil {
		return
	}
	close(stop)
	<-ended
	// The first request makes a render that flushes every line written so
	// far; the second is taken only once that render has started, and
	// Wait returns only after the container's goroutine, which renders,
	// has ended: so that render is complete.
	tick <- time.Now()
	tick <- time.Now()
	bars.Wait()
	u.mu.Lock()
	u.bars = nil
	u.mu.Unlock()
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// blob, blobBytes and blobDone track uploads by digest; BlobBytes reports
// the bytes written so far in the current attempt.
func (u *ui) blob(digest string, size int64) {
	t := u.Task("upload", shortDigest(digest), size)
	u.mu.Lock()
	if u.blobs == nil {
		u.blobs = map[string]*task{}
	}
	u.blobs[digest] = t
	u.mu.Unlock()
}

func (u *ui) blobBytes(digest string, written int64) {
	u.mu.Lock()
	t := u.blobs[digest]
	u.mu.Unlock()
	if t == nil {
		return
	}
	t.mu.Lock()
	delta := written - t.n
	t.mu.Unlock()
	if delta > 0 {
		t.Add(delta)
	}
}

func (u *ui) blobDone(digest string, err error) {
	u.mu.Lock()
	t := u.blobs[digest]
	delete(u.blobs, digest)
	u.mu.Unlock()
	t.Done(err)
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
