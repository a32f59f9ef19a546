package main

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixed is the report of testdata/bench.json on a made-up machine, so that the output does not
// depend on where the test runs.
func fixed(t *testing.T) report {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "bench.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []row
	if err := json.Unmarshal(data, &rows); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join("testdata", "micro.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	micro, err := parseGoBench(f)
	if err != nil {
		t.Fatal(err)
	}
	return report{Rows: rows, Micro: micro, Date: time.Date(2026, 5, 4, 3, 2, 0, 0, time.UTC),
		Machine: machine{CPU: "Example CPU", Cores: 2, Memory: "8.0 GiB", OS: "Debian GNU/Linux 12 (bookworm)", Kernel: "6.1.0", Go: "go1.26.0"}}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./hack/benchreport -update writes it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

func TestThePageAndThePlotMatchTheGoldenFiles(t *testing.T) {
	r := fixed(t)
	golden(t, "benchmarks.md", renderMarkdown(r, "benchmarks.svg"))
	golden(t, "benchmarks.svg", renderSVG(r.compare()))
}

func TestThePlotIsWellFormedSVGWithABarPerRowOfTheComparedFamilies(t *testing.T) {
	r := fixed(t)
	d := xml.NewDecoder(strings.NewReader(renderSVG(r.compare())))
	bars, root := 0, ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the plot is not well-formed XML: %v", err)
		}
		if s, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = s.Name.Local
			}
			if s.Name.Local == "title" { // each bar carries its numbers as a tooltip
				bars++
			}
		}
	}
	if root != "svg" {
		t.Errorf("the root element is %q, want svg", root)
	}
	// The status row, which keepalived has no counterpart of, is in the tables only.
	if want := len(r.Rows) - 1; bars != want {
		t.Errorf("%d bars, want %d: one per row of failover and footprint", bars, want)
	}
}

func TestTheReaderSeesThePlotBeforeTheTables(t *testing.T) {
	page := renderMarkdown(fixed(t), "benchmarks.svg")
	plot, table := strings.Index(page, "![failover, footprint of vrrp-operator and keepalived"), strings.Index(page, "\n| ")
	if plot < 0 || table < 0 || plot > table {
		t.Errorf("the plot's image is at %d and the first table at %d in:\n%s", plot, table, page)
	}
}

func ms(scenario, impl string, advert int64, median float64) row {
	return row{Scenario: scenario, Impl: impl, Version: "1", AdvertMS: advert, Routers: 1, Runs: 7, Min: median, Median: median, Max: median, Unit: "ms"}
}

func TestCompare(t *testing.T) {
	type summary struct {
		Scenario string
		AdvertMS int64
		Impls    []string
		Ratio    float64
		HasRatio bool
	}
	for name, tc := range map[string]struct {
		rows []row
		want []summary
	}{
		"both implementations of a measurement form one group, this project first, with its ratio": {
			rows: []row{ms("failover graceful", theirs, 100, 80), ms("failover graceful", ours, 100, 60)},
			want: []summary{{"failover graceful", 100, []string{ours, theirs}, 0.75, true}},
		},
		"a later row of the same implementation replaces the earlier": {
			rows: []row{ms("failover graceful", ours, 100, 999), ms("failover graceful", theirs, 100, 80), ms("failover graceful", ours, 100, 40)},
			want: []summary{{"failover graceful", 100, []string{ours, theirs}, 0.5, true}},
		},
		"a measurement of one implementation has no ratio": {
			rows: []row{ms("status-entry-latency-p99", ours, 100, 180)},
			want: []summary{{"status-entry-latency-p99", 100, []string{ours}, 0, false}},
		},
		"keepalived at zero gives no ratio rather than infinity": {
			rows: []row{ms("footprint cpu backup", ours, 1000, 0.1), ms("footprint cpu backup", theirs, 1000, 0)},
			want: []summary{{"footprint cpu backup", 1000, []string{ours, theirs}, 0, false}},
		},
		"failover comes before footprint and status, longer adverts first": {
			rows: []row{ms("status-entry-latency", ours, 100, 1), ms("footprint cpu master", ours, 100, 1), ms("failover unplanned", ours, 10, 1),
				ms("failover graceful", ours, 10, 1), ms("failover graceful", ours, 1000, 1), ms("other thing", ours, 0, 1)},
			want: []summary{{"failover graceful", 1000, []string{ours}, 0, false}, {"failover graceful", 10, []string{ours}, 0, false},
				{"failover unplanned", 10, []string{ours}, 0, false}, {"footprint cpu master", 100, []string{ours}, 0, false},
				{"status-entry-latency", 100, []string{ours}, 0, false}, {"other thing", 0, []string{ours}, 0, false}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			var got []summary
			for _, g := range (report{Rows: tc.rows}).compare() {
				s := summary{Scenario: g.Scenario, AdvertMS: g.AdvertMS}
				for _, r := range g.Impls {
					s.Impls = append(s.Impls, r.Impl)
				}
				s.Ratio, s.HasRatio = g.ratio()
				got = append(got, s)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("groups (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
pkg: github.com/vrrp-dev/vrrp-operator/agent/vrrp
BenchmarkDecode/v2-ipv4.bin-2   	15000000	        85.3 ns/op	 328.14 MB/s	      16 B/op	       1 allocs/op
BenchmarkDecode/v2-ipv4.bin-2 is logging something
pkg: github.com/vrrp-dev/vrrp-operator/agent/speaker
BenchmarkSend-16	1000	1200 ns/op	0 B/op	0 allocs/op
PASS
`
	got, err := parseGoBench(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []goBench{
		{Pkg: "github.com/vrrp-dev/vrrp-operator/agent/vrrp", Name: "Decode/v2-ipv4.bin", N: 15000000,
			Metrics: []metric{{85.3, "ns/op"}, {328.14, "MB/s"}, {16, "B/op"}, {1, "allocs/op"}}},
		{Pkg: "github.com/vrrp-dev/vrrp-operator/agent/speaker", Name: "Send", N: 1000,
			Metrics: []metric{{1200, "ns/op"}, {0, "B/op"}, {0, "allocs/op"}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if _, err := parseGoBench(strings.NewReader("PASS\n")); err == nil {
		t.Error("output without results: no error")
	}
}

func TestRunWritesThePageAndThePlotBesideIt(t *testing.T) {
	dir := t.TempDir()
	out, svg := filepath.Join(dir, "docs", "benchmarks.md"), filepath.Join(dir, "docs", "benchmarks.svg")
	if err := run(filepath.Join("testdata", "bench.json"), filepath.Join("testdata", "micro.txt"), out, svg, io.Discard); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "](benchmarks.svg)") {
		t.Errorf("the page does not link the plot by its relative path:\n%s", page)
	}
	if _, err := os.Stat(svg); err != nil {
		t.Error(err)
	}
}

func TestRunRefusesAFileWithoutRows(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "bench.json")
	if err := os.WriteFile(in, []byte("[]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run(in, "", filepath.Join(dir, "b.md"), filepath.Join(dir, "b.svg"), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no rows") {
		t.Errorf("run on an empty array: %v, want an error saying it holds no rows", err)
	}
}

// A third implementation measured in a side-by-side group (this project in cluster mode) has no
// column in the side-by-side table: its rows go to the table of single measurements, not away.
func TestAThirdImplementationOfASideBySideGroupIsListed(t *testing.T) {
	r := report{Rows: []row{ms("footprint cpu master", ours, 1000, 1.1), ms("footprint cpu master", theirs, 1000, 0.9),
		ms("footprint cpu master", ours+" (cluster)", 1000, 3.7)}}
	page := renderMarkdown(r, "benchmarks.svg")
	if !strings.Contains(page, "| footprint cpu master | "+ours+" (cluster) |") {
		t.Errorf("the cluster row is missing from:\n%s", page)
	}
	if !strings.Contains(page, "## Side by side") {
		t.Errorf("the side-by-side table is missing from:\n%s", page)
	}
}
