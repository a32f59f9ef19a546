package testenv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchOutEnv names the file benchmarks add their numbers to, for `make bench` (_output/bench.json):
// a JSON array of BenchRow objects, created if missing.
const BenchOutEnv = "VRRP_BENCH_OUT"

// BenchRow is one measured number of `make bench`, summarised over its runs. Rows with the same
// key (every field but the numbers) describe the same measurement: a later one replaces an earlier.
type BenchRow struct {
	// Scenario says what was measured, e.g. "failover graceful" or "footprint cpu master".
	Scenario string `json:"scenario"`
	// Impl is the program measured: "vrrp-operator" or "keepalived".
	Impl string `json:"impl"`
	// Version is Impl's version: `git describe` for this project, "2.2.7" for keepalived.
	Version string `json:"version"`
	// AdvertMS is the advertisement interval in milliseconds.
	AdvertMS int64 `json:"advert_ms"`
	// VRRP is the protocol version (2 or 3), when the scenario fixes one.
	VRRP int `json:"vrrp,omitempty"`
	// Routers is the number of virtual routers each node runs.
	Routers int `json:"routers"`
	// Runs is how many measurements Min, Median and Max summarise.
	Runs   int     `json:"runs"`
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
	// Unit of Min, Median and Max: "ms", "%" (of one core), "MiB", ...
	Unit string `json:"unit"`
}

// NewBenchRow summarises values, which must not be empty, into a row.
func NewBenchRow(scenario, impl, version string, advert time.Duration, routers int, values []float64, unit string) BenchRow {
	return BenchRow{Scenario: scenario, Impl: impl, Version: version, AdvertMS: advert.Milliseconds(), Routers: routers,
		Runs: len(values), Min: slices.Min(values), Median: Median(values), Max: slices.Max(values), Unit: unit}
}

// Median is the middle of values, or the mean of the two middle ones.
func Median(values []float64) float64 {
	s := slices.Clone(values)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// key is what makes two rows the same measurement.
func (r BenchRow) key() BenchRow {
	r.Runs, r.Min, r.Median, r.Max = 0, 0, 0, 0
	return r
}

var benchOutMu sync.Mutex

// WriteBenchRows adds rows to the file named by VRRP_BENCH_OUT; without it, it does nothing. A row
// replaces one of the same key already there, so that a benchmark Go runs twice (once with b.N=1
// first) leaves its last, full measurement. The file is locked while it is read and rewritten:
// `go test` runs packages as parallel processes.
func WriteBenchRows(t testing.TB, rows ...BenchRow) {
	t.Helper()
	path := os.Getenv(BenchOutEnv)
	if path == "" {
		return
	}
	if err := MergeBenchRows(path, rows...); err != nil {
		t.Fatalf("%s: %v", BenchOutEnv, err)
	}
}

// MergeBenchRows merges rows into the JSON array in path, as WriteBenchRows does.
func MergeBenchRows(path string, rows ...BenchRow) error {
	benchOutMu.Lock()
	defer benchOutMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating the directory of %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("locking %s: %w", path, err)
	}
	all, err := decodeBenchRows(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, r := range rows {
		if i := slices.IndexFunc(all, func(o BenchRow) bool { return o.key() == r.key() }); i >= 0 {
			all[i] = r
		} else {
			all = append(all, r)
		}
	}
	out, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the rows: %w", err)
	}
	// Rewritten in place rather than renamed over, so that the lock other writers wait on is on
	// the file they will read.
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("truncating %s: %w", path, err)
	}
	if _, err := f.WriteAt(append(out, '\n'), 0); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// ReadBenchRows reads the JSON array of rows in path; a missing or empty file holds none.
func ReadBenchRows(path string) ([]BenchRow, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	rows, err := decodeBenchRows(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rows, nil
}

func decodeBenchRows(r io.Reader) ([]BenchRow, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading: %w", err)
	}
	var rows []BenchRow
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(data, &rows); err != nil {
		return nil, fmt.Errorf("not a JSON array of rows: %w", err)
	}
	return rows, nil
}

// Quantile is the q-quantile of d by the nearest-rank method; 0 for none.
func Quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// CountDiff is after minus before, by key, without the keys that did not change: the requests
// a benchmark made between two readings of a counter.
func CountDiff(after, before map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// CountTotal is the sum of m's counts.
func CountTotal(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
