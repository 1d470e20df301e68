package cputime

import (
	"runtime"
	"testing"
	"time"
)

func TestBusy(t *testing.T) {
	tests := []struct {
		line string
		want time.Duration
		bad  bool
	}{
		// user nice system idle iowait irq softirq steal guest guest_nice
		{line: "cpu  100 20 30 5000 70 1 2 3 40 5", want: 1560 * time.Millisecond},
		{line: "cpu 1 0 0 0 0 0 0", want: 10 * time.Millisecond},
		{line: "cpu0 100 20 30 5000 70 1 2 3 0 0", bad: true},
		{line: "cpu 100 20", bad: true},
		{line: "cpu 100 x 30 5000 70 1 2 3", bad: true},
		{line: "cpu 100 -1 30 5000 70 1 2 3", bad: true},
	}
	for _, tt := range tests {
		got, err := busy(tt.line)
		if tt.bad {
			if err == nil {
				t.Errorf("busy(%q) = %v, want an error", tt.line, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("busy(%q) = %v, %v; want %v", tt.line, got, err, tt.want)
		}
	}
}

// TestMachineCountsThisProcess keeps a CPU busy until the machine's busy
// time has grown: it must, within seconds.
func TestMachineCountsThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/stat is Linux's")
	}
	before, err := Machine()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for x := 0; ; x++ {
		if x%1_000_000 == 0 {
			now, err := Machine()
			if err != nil {
				t.Fatal(err)
			}
			if now > before {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("busy for 10 s, the machine's busy time still %v", now)
			}
		}
	}
}
