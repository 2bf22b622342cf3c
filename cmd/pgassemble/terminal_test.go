package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pgassemble/pgassemble/internal/fixture"
)

// openPTY opens a pseudo-terminal pair sized cols x rows.
func openPTY(t *testing.T, cols, rows uint16) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetUint32(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: cols, Row: rows}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close(); tty.Close() })
	return master, tty
}

// screen is what a terminal shows after the bytes a program wrote: enough
// of a VT100 for what mpb writes (CR, LF, cursor up, erase below, erase
// line); other escape sequences are ignored.
type screen struct {
	lines    [][]rune
	row, col int
}

func (s *screen) write(b []byte) {
	rs := []rune(string(b))
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; r {
		case '\r':
			s.col = 0
		case '\n':
			s.row++
		case 0x1b:
			if i+1 < len(rs) && rs[i+1] == '[' {
				j := i + 2
				for j < len(rs) && (rs[j] < 0x40 || rs[j] > 0x7e) {
					j++
				}
				if j < len(rs) {
					s.csi(string(rs[i+2:j]), rs[j])
				}
				i = j
			}
		default:
			if r >= ' ' {
				s.put(r)
			}
		}
	}
}

func (s *screen) csi(param string, final rune) {
	n, err := strconv.Atoi(strings.TrimPrefix(param, "?"))
	if err != nil || n == 0 {
		n = 1
	}
	switch final {
	case 'A':
		s.row = max(0, s.row-n)
	case 'J': // erase below (the only form mpb uses)
		s.line()
		s.lines[s.row] = s.lines[s.row][:min(s.col, len(s.lines[s.row]))]
		s.lines = s.lines[:s.row+1]
	case 'K':
		s.line()
		s.lines[s.row] = s.lines[s.row][:min(s.col, len(s.lines[s.row]))]
	}
}

func (s *screen) line() {
	for len(s.lines) <= s.row {
		s.lines = append(s.lines, nil)
	}
}

func (s *screen) put(r rune) {
	s.line()
	l := s.lines[s.row]
	for len(l) < s.col {
		l = append(l, ' ')
	}
	if s.col < len(l) {
		l[s.col] = r
	} else {
		l = append(l, r)
	}
	s.lines[s.row] = l
	s.col++
}

func (s *screen) String() string {
	var b strings.Builder
	for _, l := range s.lines {
		b.WriteString(strings.TrimRight(string(l), " "))
		b.WriteByte('\n')
	}
	return b.String()
}

// TestTerminalKeepsSummaryAndLogs runs a real build with stderr on a
// pseudo-terminal, so that progress bars are drawn, and checks what the
// screen shows once the command has ended: the summary line, every tag and
// the log lines written while bars were live (-v: every record goes the
// way a warning goes). Before the ui drove mpb's renders itself, lines
// written through the bar container in its last refresh period were
// dropped: the screen ended with "building ..." only.
func TestTerminalKeepsSummaryAndLogs(t *testing.T) {
	w := fixture.New(t)
	// Tags are pushed last and slowly, as over a real network: the bars
	// have ended long before the summary is written.
	w.Counter.DelayIf(func(r *http.Request) time.Duration {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") && !strings.Contains(r.URL.Path, "/manifests/sha256:") {
			return 300 * time.Millisecond
		}
		return 0
	})
	master, tty := openPTY(t, 160, 50)
	read := make(chan []byte)
	go func() {
		var buf bytes.Buffer
		io.Copy(&buf, master) // ends with EIO once the terminal side is closed
		read <- buf.Bytes()
	}()
	var stdout bytes.Buffer
	code := runWith(context.Background(), worldArgs(w, t.TempDir(), "--pg", "17", "--type", "minimal", "--base", "trixie", "--allow-unhandled-scripts", "-v"), &stdout, tty)
	tty.Close()
	raw := <-read
	var s screen
	s.write(raw)
	shown := s.String()
	if code != 0 {
		t.Fatalf("exit %d; screen:\n%s", code, shown)
	}
	if !bytes.Contains(raw, []byte("\x1b[")) {
		t.Fatalf("no escape sequence written: the bars were not drawn, so this test proves nothing:\n%q", raw)
	}
	want := []string{"building postgresql-17-minimal-trixie", "published postgresql-17-minimal-trixie sha256:", "blobs uploaded", "level=DEBUG"}
	for _, tag := range []string{"17-minimal-trixie", "17.12-minimal-trixie"} {
		want = append(want, fmt.Sprintf("  %s/postgresql-testing:%s\n", w.RegHost, tag))
	}
	for _, s := range want {
		if !strings.Contains(shown, s) {
			t.Errorf("the screen lacks %q once the command has ended:\n%s", s, shown)
		}
	}
	// The bars are gone: no line of the final screen is a bar.
	for _, l := range strings.Split(shown, "\n") {
		if strings.Contains(l, "upload ") && strings.Contains(l, "%") {
			t.Errorf("a bar is left on the screen: %q", l)
		}
	}
}
