package loadgen

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Latencies are the client-side latencies of one run and its length.
type Latencies struct {
	D       []time.Duration
	Elapsed time.Duration
	Errors  int64
	FirstEr error
}

// Quantile is the q-quantile (0..1) of the latencies, 0 when there are none.
func (l Latencies) Quantile(q float64) time.Duration {
	if len(l.D) == 0 {
		return 0
	}
	d := slices.Clone(l.D)
	slices.Sort(d)
	return d[min(len(d)-1, int(float64(len(d))*q))]
}

// PerSecond is the completed requests per second of the run.
func (l Latencies) PerSecond() float64 {
	if l.Elapsed <= 0 {
		return 0
	}
	return float64(len(l.D)) / l.Elapsed.Seconds()
}

// Schedule paces an open loop at a fixed rate: event i is due at
// start + i/rate. A loop that waits for each event's due time in turn
// catches up after it fell behind (descheduled on a busy machine, a GC
// pause): the events it missed are due at once. A time.Ticker instead
// drops the ticks its receiver missed, so that every later event is sent
// later than its time for good and, with latencies counted from the due
// times, the lag of every stall adds to all the figures after it.
type Schedule struct {
	start    time.Time
	interval time.Duration
}

// NewSchedule is a schedule of rate events a second from now.
func NewSchedule(rate float64) Schedule {
	return Schedule{start: time.Now(), interval: time.Duration(float64(time.Second) / rate)}
}

// Due is event i's due time.
func (s Schedule) Due(i int) time.Time { return s.start.Add(time.Duration(i) * s.interval) }

// Wait waits until event i is due (not at all when it is already) and
// returns its due time; false when ctx ended first.
func (s Schedule) Wait(ctx context.Context, i int) (time.Time, bool) {
	due := s.Due(i)
	d := time.Until(due)
	if d <= 0 {
		return due, true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return due, false
	case <-t.C:
		return due, true
	}
}

// FixedRate is an open loop: request i starts when it is due (Schedule), n
// requests in all, each in its own goroutine, whatever the answers to the
// previous ones; a request's latency counts from its due time (so a slow
// server, or a client that starts late, shows in the figures: no
// coordinated omission). do gets the request's index.
func FixedRate(ctx context.Context, rate float64, n int, do func(ctx context.Context, i int) error) Latencies {
	out := make([]time.Duration, n)
	var errs atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	s := NewSchedule(rate)
	for i := 0; i < n; i++ {
		due, ok := s.Wait(ctx, i)
		if !ok {
			n = i
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := do(ctx, i); err != nil {
				errs.Add(1)
				first.CompareAndSwap(nil, firstError{err})
			}
			out[i] = time.Since(due)
		}()
	}
	wg.Wait()
	l := Latencies{D: out[:n], Elapsed: time.Since(s.start), Errors: errs.Load()}
	if e, ok := first.Load().(firstError); ok {
		l.FirstEr = e.err
	}
	return l
}

// ClosedLoop runs n requests over workers, each starting its next request
// when its last one ends: its throughput is the capacity.
func ClosedLoop(ctx context.Context, workers, n int, do func(ctx context.Context, worker, i int) error) Latencies {
	out := make([]time.Duration, n)
	var next, errs atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				t := time.Now()
				if err := do(ctx, w, i); err != nil {
					errs.Add(1)
					first.CompareAndSwap(nil, firstError{err})
				}
				out[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	l := Latencies{D: out, Elapsed: time.Since(start), Errors: errs.Load()}
	if e, ok := first.Load().(firstError); ok {
		l.FirstEr = e.err
	}
	return l
}

// firstError boxes the first error of a run: an atomic.Value holds one
// concrete type, and errors come in many.
type firstError struct{ err error }

// Check is an error unless the reply is 200.
func Check(r Reply, err error) error {
	if err != nil {
		return err
	}
	if r.Code != 200 {
		return fmt.Errorf("answer %s", r)
	}
	return nil
}
