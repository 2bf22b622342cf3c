//go:build e2e

// Command e2e-summary prints the end-to-end suite's summary: the pgassemble builds and how
// long they took, each image's tags, layer count and sizes per platform, and every check's
// result. It exits 1 when a build or a check failed or could not be run, so the suite does.
//
//	go run -tags e2e ./test/e2e/cmd/e2e-summary -results R.jsonl -builds B.tsv [-out FILE] IMAGE...
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

type result struct {
	Image   string  `json:"image"`
	Check   string  `json:"check"`
	Status  string  `json:"status"`
	Detail  string  `json:"detail,omitempty"`
	Seconds float64 `json:"seconds"`
}

func main() {
	results := flag.String("results", "", "results file the checks wrote (JSON lines)")
	builds := flag.String("builds", "", "builds file run.sh wrote (name, milliseconds, exit status, log)")
	notChecked := flag.String("not-checked", "", "what the setup could not check, if anything")
	out := flag.String("out", "", "also write the summary to this file")
	flag.Parse()

	var buf bytes.Buffer
	ok := summarize(&buf, *results, *builds, *notChecked, flag.Args())
	os.Stdout.Write(buf.Bytes())
	if *out != "" {
		if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "write summary %s: %v\n", *out, err)
			os.Exit(1)
		}
	}
	if !ok {
		os.Exit(1)
	}
}

func summarize(w io.Writer, resultsPath, buildsPath, notChecked string, images []string) bool {
	ok := true
	fmt.Fprintf(w, "pgassemble end-to-end summary, %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))

	if rows := readTSV(buildsPath); len(rows) > 0 {
		fmt.Fprintln(w, "\nBuilds (into the local registry)")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		for _, r := range rows {
			if len(r) < 3 {
				continue
			}
			ms, _ := strconv.Atoi(r[1])
			status := "ok"
			if r[2] != "0" {
				status, ok = "FAILED (exit "+r[2]+"), log "+r[3], false
			}
			fmt.Fprintf(tw, "  %s\t%.1f s\t%s\n", r[0], float64(ms)/1000, status)
		}
		tw.Flush()
	}

	fmt.Fprintln(w, "\nImages (compressed = layer blobs as pushed, uncompressed = layer tars)")
	for _, ref := range images {
		if err := describe(w, ref); err != nil {
			fmt.Fprintf(w, "  %s: %v\n", ref, err)
			ok = false
		}
	}

	res, err := readResults(resultsPath)
	if err != nil {
		fmt.Fprintf(w, "\nresults: %v\n", err)
		ok = false
	}
	counts := map[string]int{}
	fmt.Fprintln(w, "\nChecks")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, r := range res {
		counts[r.Status]++
		detail := r.Detail
		if len(detail) > 240 {
			detail = detail[:240] + "..."
		}
		detail = strings.ReplaceAll(detail, "\n", " ")
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%.1f s\t%s\n", r.Status, shortRef(r.Image), r.Check, r.Seconds, detail)
		if r.Status != "PASS" {
			ok = false
		}
	}
	if notChecked != "" {
		fmt.Fprintf(tw, "  NOT CHECKED\tsetup\t\t\t%s\n", notChecked)
		counts["NOT CHECKED"]++
		ok = false
	}
	tw.Flush()
	if len(res) == 0 {
		fmt.Fprintln(w, "  no check reported a result")
		ok = false
	}
	fmt.Fprintf(w, "\ne2e: %d not checked\n", counts["NOT CHECKED"])
	fmt.Fprintf(w, "e2e: %d passed, %d failed\n", counts["PASS"], counts["FAIL"]+counts["NOT CHECKED"])
	return ok
}

func shortRef(ref string) string {
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

func readTSV(path string) [][]string {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line != "" {
			rows = append(rows, strings.Split(line, "\t"))
		}
	}
	return rows
}

func readResults(path string) ([]result, error) {
	if path == "" {
		return nil, fmt.Errorf("no results file given")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var res []result
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return res, fmt.Errorf("%s: %w", path, err)
		}
		res = append(res, r)
	}
	return res, sc.Err()
}

// describe prints an image's digest, tags and per-platform layer count and sizes. The
// uncompressed size is measured by reading every layer, since manifests do not carry it.
func describe(w io.Writer, ref string) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	desc, err := remote.Get(r)
	if err != nil {
		return fmt.Errorf("not found: %w", err)
	}
	fmt.Fprintf(w, "  %s  %s\n", ref, desc.Digest)
	if tags, err := remote.List(r.Context()); err == nil {
		var same []string
		for _, t := range tags {
			if d, err := remote.Head(r.Context().Tag(t)); err == nil && d.Digest == desc.Digest {
				same = append(same, t)
			}
		}
		sort.Strings(same)
		fmt.Fprintf(w, "    tags: %s\n", strings.Join(same, " "))
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return fmt.Errorf("not an index: %w", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "    platform\tlayers\tcompressed\tuncompressed\t\n")
	for _, m := range im.Manifests {
		if m.Platform != nil && m.Platform.OS == "unknown" {
			continue // an attestation manifest, not an image
		}
		plat := "?"
		if m.Platform != nil {
			plat = m.Platform.String()
		}
		img, err := idx.Image(m.Digest)
		if err != nil {
			return fmt.Errorf("%s: %w", plat, err)
		}
		comp, uncomp, n, err := sizes(img)
		if err != nil {
			return fmt.Errorf("%s: %w", plat, err)
		}
		fmt.Fprintf(tw, "    %s\t%d\t%s\t%s\t\n", plat, n, human(comp), human(uncomp))
	}
	return tw.Flush()
}

func sizes(img v1.Image) (comp, uncomp int64, n int, err error) {
	layers, err := img.Layers()
	if err != nil {
		return 0, 0, 0, err
	}
	for _, l := range layers {
		s, err := l.Size()
		if err != nil {
			return 0, 0, 0, err
		}
		comp += s
		rc, err := l.Uncompressed()
		if err != nil {
			return 0, 0, 0, err
		}
		u, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return 0, 0, 0, err
		}
		uncomp += u
	}
	return comp, uncomp, len(layers), nil
}

func human(n int64) string {
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
