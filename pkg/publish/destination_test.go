package publish

import (
	"errors"
	"testing"
)

func TestParseDestination(t *testing.T) {
	for _, tc := range []struct {
		output, repo string
		want         Destination
		str          string
		bad          bool
	}{
		{output: "registry", repo: "localhost:5000/postgresql", want: Destination{Repository: "localhost:5000/postgresql"}, str: "localhost:5000/postgresql"},
		{output: "oci:./out", repo: "localhost:5000/postgresql", want: Destination{Layout: "./out"}, str: "oci:./out"},
		{output: "oci:", bad: true},
		{output: "tarball", repo: "r/x", bad: true},
		{output: "registry", repo: "", bad: true},
	} {
		got, err := ParseDestination(tc.output, tc.repo)
		if tc.bad {
			if !errors.Is(err, ErrDestination) {
				t.Errorf("%q: error %v, want ErrDestination", tc.output, err)
			}
			continue
		}
		if err != nil || got != tc.want || got.String() != tc.str {
			t.Errorf("%q: %+v (%q), %v; want %+v (%q)", tc.output, got, got.String(), err, tc.want, tc.str)
		}
	}
}
