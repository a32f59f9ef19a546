package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func row(scenario, impl string, median float64) BenchRow {
	return NewBenchRow(scenario, impl, "1.0", 100*time.Millisecond, 1, []float64{median - 1, median, median + 5}, "ms")
}

func TestMergeBenchRows(t *testing.T) {
	for name, tc := range map[string]struct {
		existing string // the file's content before; "-" for no file
		add      []BenchRow
		want     []BenchRow
	}{
		"a missing file is created with the rows": {
			existing: "-",
			add:      []BenchRow{row("failover graceful", "keepalived", 70)},
			want:     []BenchRow{row("failover graceful", "keepalived", 70)},
		},
		"an empty file holds no rows yet": {
			existing: "\n",
			add:      []BenchRow{row("failover graceful", "keepalived", 70)},
			want:     []BenchRow{row("failover graceful", "keepalived", 70)},
		},
		"a row of the same key replaces the earlier one in place": {
			existing: `[{"scenario":"failover graceful","impl":"keepalived","version":"1.0","advert_ms":100,"routers":1,"runs":1,"min":9,"median":9,"max":9,"unit":"ms"},
				{"scenario":"footprint cpu master","impl":"keepalived","version":"1.0","advert_ms":100,"routers":250,"runs":3,"min":1,"median":2,"max":3,"unit":"%"}]`,
			add: []BenchRow{row("failover graceful", "keepalived", 70)},
			want: []BenchRow{row("failover graceful", "keepalived", 70),
				{Scenario: "footprint cpu master", Impl: "keepalived", Version: "1.0", AdvertMS: 100, Routers: 250, Runs: 3, Min: 1, Median: 2, Max: 3, Unit: "%"}},
		},
		"rows of another impl or scenario are added after the others": {
			existing: "-",
			add:      []BenchRow{row("failover graceful", "keepalived", 70), row("failover graceful", "vrrp-operator", 68), row("failover unplanned", "keepalived", 350)},
			want:     []BenchRow{row("failover graceful", "keepalived", 70), row("failover graceful", "vrrp-operator", 68), row("failover unplanned", "keepalived", 350)},
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out", "bench.json")
			if tc.existing != "-" {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(tc.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := MergeBenchRows(path, tc.add...); err != nil {
				t.Fatal(err)
			}
			got, err := ReadBenchRows(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMergeBenchRowsRefusesAFileThatIsNotAnArrayOfRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bench.json")
	if err := os.WriteFile(path, []byte(`{"scenario": "x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := MergeBenchRows(path, row("failover graceful", "keepalived", 70)); err == nil {
		t.Fatal("merging into a JSON object: no error")
	}
}

func TestMedian(t *testing.T) {
	for name, tc := range map[string]struct {
		in   []float64
		want float64
	}{
		"one value is its own median":           {in: []float64{3}, want: 3},
		"an odd count takes the middle, sorted": {in: []float64{9, 1, 5}, want: 5},
		"an even count takes the mean of two":   {in: []float64{4, 1, 2, 8}, want: 3},
	} {
		t.Run(name, func(t *testing.T) {
			if got := Median(tc.in); got != tc.want {
				t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

// benchWriterEnv makes the test binary a writer process for TestMergeBenchRowsFromParallelProcesses.
const benchWriterEnv = "VRRP_TESTENV_BENCH_WRITER"

// TestMergeBenchRowsFromParallelProcesses runs writers as separate processes, as `go test` runs
// benchmark packages, each adding rows of its own: none may be lost to another's rewrite.
func TestMergeBenchRowsFromParallelProcesses(t *testing.T) {
	if w := os.Getenv(benchWriterEnv); w != "" {
		for i := range 20 {
			if err := MergeBenchRows(os.Getenv(BenchOutEnv), row(fmt.Sprintf("scenario %d", i), "writer "+w, 1)); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	path := filepath.Join(t.TempDir(), "bench.json")
	const writers = 4
	cmds := make([]*exec.Cmd, writers)
	for w := range writers {
		cmds[w] = exec.Command(os.Args[0], "-test.run=^TestMergeBenchRowsFromParallelProcesses$", "-test.count=1")
		cmds[w].Env = append(os.Environ(), benchWriterEnv+"="+strconv.Itoa(w), BenchOutEnv+"="+path)
		if err := cmds[w].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("a writer failed: %v", err)
		}
	}
	got, err := ReadBenchRows(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != writers*20 {
		t.Errorf("%d rows after %d writers added 20 each, want %d", len(got), writers, writers*20)
	}
}
