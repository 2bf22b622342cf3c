package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

// Profiling of a real run, for measuring (README "Performance"); not a user
// feature, so environment variables rather than flags:
//
//	PGASSEMBLE_CPUPROFILE=FILE  CPU profile of the whole run
//	PGASSEMBLE_MEMPROFILE=FILE  heap profile taken when the live heap was
//	                            largest (sampled every 100 ms), plus
//	                            FILE.end at exit (its alloc_space view is
//	                            everything the run allocated)
//
// Both are off unless set; nothing is sampled otherwise.
const (
	envCPUProfile = "PGASSEMBLE_CPUPROFILE"
	envMemProfile = "PGASSEMBLE_MEMPROFILE"
)

// startProfiles starts what the environment asks for and returns the
// function that finishes it (writes the files); errors go to stderr.
func startProfiles(stderr io.Writer) (stop func()) {
	var stops []func()
	if path := os.Getenv(envCPUProfile); path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "pgassemble: %s: %v\n", envCPUProfile, err)
		} else {
			stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
		}
	}
	if path := os.Getenv(envMemProfile); path != "" {
		runtime.MemProfileRate = 64 << 10 // finer than the default 512 KiB
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			peakHeapProfile(ctx, path, stderr)
		}()
		stops = append(stops, func() {
			cancel()
			<-done
			writeHeapProfile(path+".end", stderr)
		})
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}

// peakHeapProfile writes a heap profile to path each time the live heap
// grows 5% past the largest seen, until ctx ends.
func peakHeapProfile(ctx context.Context, path string, stderr io.Writer) {
	var peak uint64
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > peak+peak/20 {
			peak = ms.HeapInuse
			writeHeapProfile(path, stderr)
			fmt.Fprintf(stderr, "pgassemble: heap profile at %d MiB in use (%d MiB from the OS)\n", ms.HeapInuse>>20, ms.Sys>>20)
		}
	}
}

func writeHeapProfile(path string, stderr io.Writer) {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("heap").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "pgassemble: %s: %v\n", envMemProfile, err)
	}
}
