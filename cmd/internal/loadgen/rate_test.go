package loadgen

import (
	"context"
	"testing"
	"time"
)

// TestScheduleCatchesUp: events whose time has passed are due at once, in
// order, each at its own time; a ticker would have dropped them and sent
// every later one late.
func TestScheduleCatchesUp(t *testing.T) {
	t.Parallel()
	start := time.Now().Add(-time.Hour)
	s := Schedule{start: start, interval: time.Second}
	done, cancel := context.WithCancel(context.Background())
	cancel() // an event already due does not wait, so an ended context does not matter
	for i := range 100 {
		due, ok := s.Wait(done, i)
		if !ok {
			t.Fatalf("event %d, due an hour ago, waited", i)
		}
		if want := start.Add(time.Duration(i) * time.Second); !due.Equal(want) {
			t.Fatalf("event %d due %v, want %v", i, due, want)
		}
	}
	// An event not due yet waits, until the context ends.
	if _, ok := s.Wait(done, 2*3600); ok {
		t.Fatal("an event due in an hour did not wait for its time")
	}
}
