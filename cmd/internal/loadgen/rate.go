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

// FixedRate is an open loop: a ticker starts request i at start + i/rate,
// n requests in all, each in its own goroutine, whatever the answers to the
// previous ones; a request's latency counts from its due time (so a slow
// server, or a client that ticks late, shows in the figures: no
// coordinated omission). do gets the request's index.
func FixedRate(ctx context.Context, rate float64, n int, do func(ctx context.Context, i int) error) Latencies {
	out := make([]time.Duration, n)
	var errs atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; i < n; i++ {
		due := start.Add(time.Duration(i) * interval)
		if i > 0 {
			select {
			case <-ctx.Done():
				n = i
			case <-tick.C:
			}
			if n == i {
				break
			}
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
	l := Latencies{D: out[:n], Elapsed: time.Since(start), Errors: errs.Load()}
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
