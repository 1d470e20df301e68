package cputime

import (
	"os"
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

// TestCountsThisProcess keeps a CPU busy until each reading has grown: it
// must, within seconds. Process is read as another process's would be
// (OfProcess), and as the whole machine's.
func TestCountsThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	for name, read := range map[string]func() (time.Duration, error){
		"Machine":   Machine,
		"OfProcess": func() (time.Duration, error) { return OfProcess(os.Getpid()) },
	} {
		t.Run(name, func(t *testing.T) {
			before, err := read()
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for x := 0; ; x++ {
				if x%1_000_000 != 0 {
					continue
				}
				now, err := read()
				if err != nil {
					t.Fatal(err)
				}
				if now > before {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("busy for 10 s, still %v", now)
				}
			}
		})
	}
}

func TestOfProcessGone(t *testing.T) {
	if _, err := OfProcess(-1); err == nil {
		t.Error("OfProcess(-1): no error")
	}
}
