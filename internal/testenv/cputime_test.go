package testenv

import (
	"os"
	"testing"
	"time"
)

func TestSumExecRuntime(t *testing.T) {
	tests := map[string]struct {
		sched   string
		want    time.Duration
		wantErr bool
	}{
		"milliseconds with six decimals are nanoseconds": {sched: "head (30731, #threads: 1)\n---\nse.exec_start  :  12142533.289034\nse.sum_exec_runtime  :  182.783846\n", want: 182783846 * time.Nanosecond},
		"fewer decimals are tenths and hundredths":       {sched: "se.sum_exec_runtime : 3.5\n", want: 3500 * time.Microsecond},
		"a kernel without the line is an error":          {sched: "se.exec_start : 1.0\n", wantErr: true},
		"a value that is no number is an error":          {sched: "se.sum_exec_runtime : x.1\n", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := sumExecRuntime([]byte(tc.sched))
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("sumExecRuntime = %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestCPUTimeCountsThisProcess(t *testing.T) {
	before, err := CPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for x := 0; ; x++ {
		if now, _ := CPUTime(os.Getpid()); now > before {
			return
		}
		if x > 1e9 {
			t.Fatal("a busy loop used no CPU time")
		}
	}
}
