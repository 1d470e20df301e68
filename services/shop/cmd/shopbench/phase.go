package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fabrika/fabrika/platform/cputime"
	"github.com/fabrika/fabrika/platform/sqldb"
)

// result is what a phase measured.
type result struct {
	lat     []time.Duration // per operation: round trip (closed loop) or from the due time (fixed rate)
	server  []time.Duration // the shop's own time of the requests of the measured window
	elapsed time.Duration
	cpu     cpuUse
	behind  int // fixed rate: operations never started because the phase ran out of time
}

// window is the measured part of a phase: it turns the server recorder on,
// starts the profile, and reads the CPU counters at both ends.
type window struct {
	b      *bench
	start  time.Time
	cpu0   cpuUse
	record bool
}

func (b *bench) open(record bool) *window {
	b.profile.start()
	if record {
		b.server.take()
		b.server.on.Store(true)
	}
	return &window{b: b, start: time.Now(), cpu0: b.cpu.sample(), record: record}
}

func (w *window) close(r *result) {
	r.elapsed = time.Since(w.start)
	r.cpu = w.b.cpu.sample().minus(w.cpu0)
	if w.record {
		w.b.server.on.Store(false)
		r.server = w.b.server.take()
	}
}

// closed runs fn back to back in n goroutines (a closed loop: each client
// sends its next request when the previous one is answered), warm-up first,
// then the measured time; fn returns the latency of one operation. It
// measures capacity: with every core busy, latency is n / throughput.
func (b *bench) closed(n int, measure time.Duration, record bool, fn func(worker, i int) (time.Duration, error)) (result, error) {
	var measuring, stop atomic.Bool
	t := startTeam(n, func(w int, keep func(time.Duration)) error {
		for i := 0; !stop.Load(); i++ {
			d, err := fn(w, i)
			if err != nil {
				return err
			}
			if measuring.Load() {
				keep(d)
			}
		}
		return nil
	})
	time.Sleep(b.cfg.warmup)
	win := b.open(record)
	measuring.Store(true)
	time.Sleep(measure)
	measuring.Store(false)
	var r result
	win.close(&r)
	stop.Store(true)
	var err error
	r.lat, err = t.wait()
	return r, err
}

// team is n goroutines running one body, each keeping its own latencies.
type team struct {
	wg   sync.WaitGroup
	lats [][]time.Duration
	errs chan error
}

func startTeam(n int, body func(w int, keep func(time.Duration)) error) *team {
	t := &team{lats: make([][]time.Duration, n), errs: make(chan error, n)}
	for w := range n {
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			if err := body(w, func(d time.Duration) { t.lats[w] = append(t.lats[w], d) }); err != nil {
				t.errs <- err
			}
		}()
	}
	return t
}

// wait returns every latency kept, or the first error.
func (t *team) wait() ([]time.Duration, error) {
	t.wg.Wait()
	close(t.errs)
	if err := <-t.errs; err != nil {
		return nil, err
	}
	var all []time.Duration
	for _, l := range t.lats {
		all = append(all, l...)
	}
	return all, nil
}

// paced sends perSec operations a second, shared by n goroutines (an open
// loop): operation i is due at start + i/perSec and its latency counts from
// that due time, so an operation that starts late because every goroutine
// was busy counts its wait (no coordinated omission). Warm-up first, then
// the measured time; operations still not started 10 s after the end are
// counted as behind.
func (b *bench) paced(n int, perSec float64, measure time.Duration, record bool, fn func(worker, i int) error) (result, error) {
	warm := b.cfg.warmup
	total := int64(perSec * (warm + measure).Seconds())
	start := time.Now().Add(5 * time.Millisecond)
	from, to := start.Add(warm), start.Add(warm+measure)
	deadline := to.Add(10 * time.Second)
	due := func(i int64) time.Time { return start.Add(time.Duration(float64(i) / perSec * float64(time.Second))) }
	var next, behind atomic.Int64
	t := startTeam(n, func(w int, keep func(time.Duration)) error {
		for {
			i := next.Add(1) - 1
			if i >= total {
				return nil
			}
			at := due(i)
			if time.Now().After(deadline) {
				behind.Add(total - i) // roughly: the rest of the schedule
				next.Store(total)
				return nil
			}
			if d := time.Until(at); d > 0 {
				time.Sleep(d)
			}
			if err := fn(w, int(i)); err != nil {
				return err
			}
			if !at.Before(from) && at.Before(to) {
				keep(time.Since(at))
			}
		}
	})
	time.Sleep(time.Until(from))
	win := b.open(record)
	time.Sleep(time.Until(to))
	var r result
	win.close(&r)
	r.elapsed = measure // the scheduled window: lat holds the operations due in it
	var err error
	if r.lat, err = t.wait(); err != nil {
		return result{}, err
	}
	r.behind = int(behind.Load())
	return r, nil
}

// cpuUse is CPU time spent: by this process (load generator, shop, relay,
// embedded broker) and by the PostgreSQL backends connected to the
// benchmark's database (read from /proc: PostgreSQL must run on this
// machine; pg is -1 otherwise).
type cpuUse struct {
	proc, pg time.Duration
	pids     map[int]time.Duration
}

func (c cpuUse) minus(before cpuUse) cpuUse {
	out := cpuUse{proc: c.proc - before.proc, pg: -1}
	if c.pids == nil || before.pids == nil {
		return out
	}
	out.pg = 0
	for pid, t := range c.pids {
		out.pg += t - before.pids[pid] // a backend that started in between counts from 0
	}
	return out
}

// perOp formats CPU milliseconds per operation.
func (c cpuUse) perOp(n int) string {
	if n == 0 {
		return ""
	}
	s := fmt.Sprintf("CPU/op: process %.2f ms", ms(c.proc)/float64(n))
	if c.pg >= 0 {
		s += fmt.Sprintf(", PostgreSQL backends %.2f ms", ms(c.pg)/float64(n))
	}
	return s
}

type cpuMeter struct {
	db *sqldb.DB
}

func (m *cpuMeter) sample() cpuUse {
	u := cpuUse{proc: cputime.Process()}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := m.db.QueryContext(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		return u
	}
	defer rows.Close()
	pids := map[int]time.Duration{}
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) != nil {
			return u
		}
		t, err := cputime.OfProcess(pid)
		if err != nil {
			return u
		}
		pids[pid] = t
	}
	if rows.Err() == nil {
		u.pids = pids
	}
	return u
}
