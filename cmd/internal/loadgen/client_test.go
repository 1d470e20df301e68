package loadgen

import (
	"testing"
	"time"
)

// TestRetryWait: the waits grow from 100 ms, jitter takes at most half of
// one away, and no wait passes the 1 s cap however long the outage.
func TestRetryWait(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	for _, tt := range []struct {
		n      int
		jitter float64
		want   time.Duration
	}{
		{1, 0, 100 * ms},
		{1, 0.5, 75 * ms},
		{2, 0, 200 * ms},
		{4, 0, 800 * ms},
		{4, 0.75, 500 * ms},
		{5, 0, time.Second},
		{5, 0.5, 750 * ms},
		{50, 0, time.Second},
		{50, 0.5, 750 * ms},
	} {
		if got := retryWait(tt.n, tt.jitter); got != tt.want {
			t.Errorf("retryWait(%d, %v) = %v, want %v", tt.n, tt.jitter, got, tt.want)
		}
	}
}
