package main

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// phase is one kind of request: straight to the upstream or through the
// gateway.
type phase struct {
	name   string
	url    string
	cookie *http.Cookie
}

// load is how a phase is driven: clients back to back (closed loop, rate
// 0), or clients sharing a schedule of rate requests a second (fixed rate,
// open loop).
type load struct {
	clients          int
	rate             float64
	warmup, duration time.Duration
	client           string // "raw" (rawClient) or "net/http"
}

// proc is a process whose usage is measured over a phase.
type proc struct {
	name  string
	usage func() (usage, error)
}

type result struct {
	p50, p99   time.Duration // latency; at a fixed rate from the due time
	lagP99     time.Duration // how late requests started (fixed rate)
	sp50, sp99 time.Duration // fixed rate: latency from the moment the request went out
	rps        float64       // completed requests a second in the measured window
	missed     int           // fixed rate: requests not even started by the deadline
	use        []usage       // per proc: per request (cpu, mallocs, bytes), per second (gcs)
}

// sample is one request: its latency, and at a fixed rate how much later
// than due it started.
type sample struct {
	lat, lag time.Duration
	missed   bool
}

// run drives the phase and measures the window after the warm-up: latency
// quantiles and each process's CPU and allocations per request.
//
// At a fixed rate request i is due at start + i/rate, whichever client
// takes it; its latency runs from the due time, so a request that starts
// late because every client is busy (or the machine is) counts its wait:
// no coordinated omission. Requests not started by the deadline (the end
// of the window plus max(duration, 5s)) are counted as missed, with the
// time until the deadline as their latency.
func (p phase) run(l load, procs []proc) (result, error) {
	tr := &http.Transport{MaxIdleConns: l.clients * 2, MaxIdleConnsPerHost: l.clients * 2, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	start := time.Now().Add(10 * time.Millisecond)
	measureFrom, stop := start.Add(l.warmup), start.Add(l.warmup+l.duration)
	deadline := stop.Add(max(l.duration, 5*time.Second))
	var (
		period       float64 // ns between due times
		total, first int64   // requests scheduled; index of the first measured one
		next         atomic.Int64
	)
	if l.rate > 0 {
		period = float64(time.Second) / l.rate
		total = int64(l.rate * (l.warmup + l.duration).Seconds())
		first = int64(l.rate * l.warmup.Seconds())
	}
	due := func(i int64) time.Time { return start.Add(time.Duration(float64(i) * period)) }

	samples := make([][]sample, l.clients)
	errs := make(chan error, l.clients+1)
	var count atomic.Int64    // measured requests completed
	var inWindow atomic.Int64 // requests completed within the measured window, for CPU per request
	var lastDone atomic.Int64 // unix ns of the last measured completion
	use0 := make([]usage, len(procs))
	use1 := make([]usage, len(procs))
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		snap := func(into []usage) {
			for i, pr := range procs {
				u, err := pr.usage()
				if err != nil {
					errs <- fmt.Errorf("usage of %s: %w", pr.name, err)
				}
				into[i] = u
			}
		}
		time.Sleep(time.Until(measureFrom))
		snap(use0)
		time.Sleep(time.Until(stop))
		snap(use1)
	}()

	var wg sync.WaitGroup
	for c := range l.clients {
		wg.Go(func() {
			send, closeClient, err := p.sender(l.client, client)
			if err != nil {
				errs <- err
				return
			}
			defer closeClient()
			for {
				var t0, dueAt time.Time
				measured := false
				if l.rate > 0 {
					i := next.Add(1) - 1
					if i >= total {
						return
					}
					dueAt = due(i)
					time.Sleep(time.Until(dueAt))
					t0 = time.Now()
					measured = i >= first
					if t0.After(deadline) {
						if measured {
							samples[c] = append(samples[c], sample{lat: deadline.Sub(dueAt), missed: true})
						}
						continue
					}
				} else {
					t0 = time.Now()
					if t0.After(stop) {
						return
					}
					dueAt = t0
					measured = t0.After(measureFrom)
				}
				if err := send(); err != nil {
					errs <- err
					return
				}
				end := time.Now()
				if end.After(measureFrom) && !end.After(stop) {
					inWindow.Add(1)
				}
				if measured {
					samples[c] = append(samples[c], sample{lat: end.Sub(dueAt), lag: t0.Sub(dueAt)})
					count.Add(1)
					for n := end.UnixNano(); ; {
						if old := lastDone.Load(); n <= old || lastDone.CompareAndSwap(old, n) {
							break
						}
					}
				}
			}
		})
	}
	wg.Wait()
	<-sampled
	close(errs)
	if err := <-errs; err != nil {
		return result{}, err
	}
	all := slices.Concat(samples...)
	if len(all) == 0 {
		return result{}, fmt.Errorf("%s: no requests measured", p.name)
	}
	var r result
	lags := make([]time.Duration, 0, len(all))
	lats := make([]time.Duration, 0, len(all))
	sent := make([]time.Duration, 0, len(all))
	for _, s := range all {
		lats = append(lats, s.lat)
		if s.missed {
			r.missed++
			continue
		}
		lags = append(lags, s.lag)
		sent = append(sent, s.lat-s.lag)
	}
	r.p50, r.p99 = quantile(lats, 0.50), quantile(lats, 0.99)
	r.lagP99 = quantile(lags, 0.99)
	r.sp50, r.sp99 = quantile(sent, 0.50), quantile(sent, 0.99)
	done := count.Load()
	window := l.duration
	if l.rate > 0 {
		window = max(l.duration, time.Unix(0, lastDone.Load()).Sub(measureFrom))
	}
	r.rps = float64(done) / window.Seconds()
	perReq := max(1, inWindow.Load())
	for i := range procs {
		d := use1[i].sub(use0[i])
		r.use = append(r.use, usage{cpu: d.cpu / time.Duration(perReq), mallocs: d.mallocs / uint64(perReq),
			bytes: d.bytes / uint64(perReq), conns: use1[i].conns, gcs: d.gcs / l.duration.Seconds()})
	}
	return r, nil
}

// sender returns what sends one request of the phase and checks its
// status, for one client of the kind given.
func (p phase) sender(kind string, client *http.Client) (send func() error, closeClient func(), err error) {
	check := func(status int) error {
		if status != http.StatusOK {
			return fmt.Errorf("%s: status %d", p.name, status)
		}
		return nil
	}
	if kind == "raw" {
		rc, err := newRawClient(p.url, p.cookie)
		if err != nil {
			return nil, nil, err
		}
		return func() error {
			status, err := rc.do()
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			return check(status)
		}, rc.close, nil
	}
	req, err := http.NewRequest("GET", p.url, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if p.cookie != nil {
		req.AddCookie(p.cookie)
	}
	return func() error {
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return check(res.StatusCode)
	}, func() {}, nil
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, int(q*float64(len(d))))]
}

// median takes each figure's median over rounds separately.
func median(rs []result) result {
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	dur := func(f func(result) time.Duration) time.Duration {
		return time.Duration(pick(func(r result) float64 { return float64(f(r)) }))
	}
	m := result{
		p50:    dur(func(r result) time.Duration { return r.p50 }),
		p99:    dur(func(r result) time.Duration { return r.p99 }),
		lagP99: dur(func(r result) time.Duration { return r.lagP99 }),
		sp50:   dur(func(r result) time.Duration { return r.sp50 }),
		sp99:   dur(func(r result) time.Duration { return r.sp99 }),
		rps:    pick(func(r result) float64 { return r.rps }),
		missed: int(pick(func(r result) float64 { return float64(r.missed) })),
	}
	for i := range rs[0].use {
		m.use = append(m.use, usage{
			cpu:     dur(func(r result) time.Duration { return r.use[i].cpu }),
			mallocs: uint64(pick(func(r result) float64 { return float64(r.use[i].mallocs) })),
			bytes:   uint64(pick(func(r result) float64 { return float64(r.use[i].bytes) })),
			conns:   int64(pick(func(r result) float64 { return float64(r.use[i].conns) })),
			gcs:     pick(func(r result) float64 { return r.use[i].gcs }),
		})
	}
	return m
}
