package backoff_test

import (
	"math"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/backoff"
)

func TestExponential(t *testing.T) {
	t.Parallel()
	const huge = time.Duration(math.MaxInt64)
	for _, tc := range []struct {
		n         int
		base, max time.Duration
		want      time.Duration
	}{
		{0, time.Second, time.Minute, time.Second},
		{1, time.Second, time.Minute, time.Second},
		{2, time.Second, time.Minute, 2 * time.Second},
		{6, time.Second, time.Minute, 32 * time.Second},
		{7, time.Second, time.Minute, time.Minute},
		{1000, time.Second, time.Minute, time.Minute},
		{1, time.Minute, time.Second, time.Second}, // base above max: max
		{100, time.Second, huge, huge},             // no overflow on the way
		{63, 1, huge, 1 << 62},
		{64, 1, huge, huge},
	} {
		if got := backoff.Exponential(tc.n, tc.base, tc.max); got != tc.want {
			t.Errorf("Exponential(%d, %v, %v) = %v, want %v", tc.n, tc.base, tc.max, got, tc.want)
		}
	}
}
