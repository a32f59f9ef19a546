// Command benchreport renders what `make bench` measured into the project's documentation: it
// reads the rows of _output/bench.json (a JSON array of {scenario, impl, version, advert_ms,
// routers, runs, min, median, max, unit}, written by the benchmarks through VRRP_BENCH_OUT) and,
// optionally, the Go micro-benchmarks' output, and writes docs/benchmarks.md with a plot it draws
// itself (docs/benchmarks.svg) before the tables, the ratios of this project's medians to
// keepalived's, the machine, the date of the run and the versions measured.
//
//	go run ./hack/benchreport -in _output/bench.json -micro _output/bench-micro.txt
//
// Run it on the machine that ran the benchmarks: it describes that machine.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

func main() {
	in := flag.String("in", "_output/bench.json", "the rows the benchmarks wrote (VRRP_BENCH_OUT)")
	micro := flag.String("micro", "", "output of `go test -bench` to list too (optional)")
	out := flag.String("out", "docs/benchmarks.md", "the page to write")
	svg := flag.String("svg", "docs/benchmarks.svg", "the plot to write, linked from the page by its path relative to it")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: benchreport [flags]\n\nRenders make bench's rows into a Markdown page and an SVG plot.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(*in, *micro, *out, *svg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(in, micro, out, svg string, log io.Writer) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return fmt.Errorf("reading the rows: %w", err)
	}
	var rows []row
	if err := json.Unmarshal(data, &rows); err != nil {
		return fmt.Errorf("%s is not a JSON array of rows: %w", in, err)
	}
	if len(rows) == 0 {
		return fmt.Errorf("%s holds no rows: did the benchmarks run (as root)?", in)
	}
	st, err := os.Stat(in)
	if err != nil {
		return fmt.Errorf("reading the date of the run: %w", err)
	}
	r := report{Rows: rows, Date: st.ModTime().UTC(), Machine: thisMachine()}
	if micro != "" {
		f, err := os.Open(micro)
		if err != nil {
			return fmt.Errorf("reading the micro-benchmarks: %w", err)
		}
		r.Micro, err = parseGoBench(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", micro, err)
		}
	}
	rel, err := filepath.Rel(filepath.Dir(out), svg)
	if err != nil {
		return fmt.Errorf("linking the plot from the page: %w", err)
	}
	for _, p := range []string{out, svg} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("creating the directory of %s: %w", p, err)
		}
	}
	if err := os.WriteFile(svg, []byte(renderSVG(r.compare())), 0o644); err != nil {
		return fmt.Errorf("writing the plot: %w", err)
	}
	if err := os.WriteFile(out, []byte(renderMarkdown(r, filepath.ToSlash(rel))), 0o644); err != nil {
		return fmt.Errorf("writing the page: %w", err)
	}
	fmt.Fprintf(log, "wrote %s and %s from %d rows\n", out, svg, len(rows))
	for _, g := range r.compare() {
		if ratio, ok := g.ratio(); ok {
			fmt.Fprintf(log, "  %-28s %-7s %s / %s = %.2f\n", g.Scenario, advertLabel(g.AdvertMS),
				formatValue(g.ours().Median, g.Unit), formatValue(g.theirs().Median, g.Unit), ratio)
		}
	}
	return nil
}

// row is one measurement of _output/bench.json, as internal/testenv's BenchRow writes it.
type row struct {
	Scenario string  `json:"scenario"`
	Impl     string  `json:"impl"`
	Version  string  `json:"version"`
	AdvertMS int64   `json:"advert_ms"`
	VRRP     int     `json:"vrrp,omitempty"`
	Routers  int     `json:"routers"`
	Runs     int     `json:"runs"`
	Min      float64 `json:"min"`
	Median   float64 `json:"median"`
	Max      float64 `json:"max"`
	Unit     string  `json:"unit"`
}

// The two implementations the page compares; rows of others are listed apart.
const (
	ours   = "vrrp-operator"
	theirs = "keepalived"
)

// report is everything the page shows.
type report struct {
	Rows    []row
	Micro   []goBench
	Date    time.Time
	Machine machine
}

// machine describes where the benchmarks ran.
type machine struct {
	CPU    string // model name
	Cores  int
	Memory string // "7.8 GiB"
	OS     string // PRETTY_NAME of os-release
	Kernel string
	Go     string
}

func thisMachine() machine {
	m := machine{CPU: "unknown", Cores: runtime.NumCPU(), Memory: "unknown", OS: "unknown", Kernel: "unknown", Go: runtime.Version()}
	if v, ok := fieldOf("/proc/cpuinfo", "model name", ":"); ok {
		m.CPU = strings.Join(strings.Fields(v), " ")
	}
	if v, ok := fieldOf("/proc/meminfo", "MemTotal", ":"); ok {
		if kb, err := strconv.ParseFloat(strings.TrimSuffix(v, " kB"), 64); err == nil {
			m.Memory = fmt.Sprintf("%.1f GiB", kb/(1<<20))
		}
	}
	if v, ok := fieldOf("/etc/os-release", "PRETTY_NAME", "="); ok {
		m.OS = strings.Trim(v, `"`)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// fieldOf returns the value of the first line of path that reads key<sep>value.
func fieldOf(path, key, sep string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), sep)
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// goBench is one line of `go test -bench` output.
type goBench struct {
	Pkg     string
	Name    string // without the Benchmark prefix and the -GOMAXPROCS suffix
	N       int64
	Metrics []metric // in the order printed: ns/op, B/op, allocs/op, custom ones
}

type metric struct {
	Value float64
	Unit  string
}

func (b goBench) metric(unit string) (float64, bool) {
	for _, m := range b.Metrics {
		if m.Unit == unit {
			return m.Value, true
		}
	}
	return 0, false
}

// parseGoBench reads the result lines of `go test -bench` output, with the package each belongs
// to; other lines (goos, PASS, logs) are skipped.
func parseGoBench(r io.Reader) ([]goBench, error) {
	var out []goBench
	pkg := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue // a log line that starts with a benchmark's name
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		b := goBench{Pkg: pkg, Name: name, N: n}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark %s: value %q: %w", f[0], f[i], err)
			}
			b.Metrics = append(b.Metrics, metric{Value: v, Unit: f[i+1]})
		}
		out = append(out, b)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("no benchmark results")
	}
	return out, nil
}
