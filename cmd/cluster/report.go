package main

import (
	"cmp"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"
)

// kindFigures are one fault kind's figures.
type kindFigures struct {
	kind             string
	rounds           int
	acked            int
	lost, doubled    int
	stuck            int
	unserved         time.Duration // the longest time without any acknowledgement, from a fault's start to 30 s after its end
	affected         int           // orders first tried from 1 s before a fault's start to its end
	p50, p99         time.Duration // placed (first attempt) to priced (mes-calc), of the affected orders
	afterEnd99       time.Duration // p99 of priced minus the fault's end (0 when priced before), of the affected orders
	unpricedAffected int
	slowest          []slowOrder    // the affected orders priced last after their fault's end, slowest first
	retried          map[string]int // answers the clients retried (answerClass), of the orders of the kind's span
}

// slowOrder is an affected order's path, relative to the end of its fault:
// where the time after the fault went (the client's retries until
// acknowledged, or the messaging after it).
type slowOrder struct {
	id, channel          string
	first, acked, priced time.Duration // relative to the fault's end
	attempts             int
	last                 string // the last answer before the acknowledgement
}

// figures computes each kind's figures from the orders, the rounds and the
// final state. An order belongs to the kind whose rounds' span (from the
// settle before its first round to the settle after its last) holds its
// first attempt.
func figures(orders []order, rounds []round, s state, v verdict, settle time.Duration) []kindFigures {
	bad := func(list []string) map[string]bool {
		m := map[string]bool{}
		for _, id := range list {
			m[id] = true
		}
		return m
	}
	lost, doubled, stuck := bad(v.lost), bad(v.doubled), bad(v.stuck)
	var acks []time.Time
	for _, o := range orders {
		if !o.acked.IsZero() {
			acks = append(acks, o.acked)
		}
	}
	slices.SortFunc(acks, func(a, b time.Time) int { return a.Compare(b) })

	var out []kindFigures
	for _, kind := range allKinds {
		var rs []round
		for _, r := range rounds {
			if r.kind == kind {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 {
			continue
		}
		f := kindFigures{kind: kind, rounds: len(rs)}
		from, to := rs[0].start.Add(-settle), rs[len(rs)-1].end.Add(settle)
		f.retried = map[string]int{}
		for _, o := range orders {
			if o.first.Before(from) || !o.first.Before(to) {
				continue
			}
			for _, a := range o.retried {
				f.retried[answerClass(a)]++
			}
			if o.acked.IsZero() {
				continue
			}
			f.acked++
			switch {
			case lost[o.id]:
				f.lost++
			case doubled[o.id]:
				f.doubled++
			case stuck[o.id]:
				f.stuck++
			}
		}
		var lat, after []time.Duration
		for _, r := range rs {
			// Up to 30 s after the fault, but not into the next one, nor
			// past the load's end (which is not an outage).
			to := r.end.Add(30 * time.Second)
			for _, next := range rounds {
				if next.start.After(r.start) && next.start.Before(to) {
					to = next.start
				}
			}
			if n := len(acks); n > 0 && acks[n-1].Before(to) {
				to = acks[n-1]
			}
			f.unserved = max(f.unserved, longestGap(acks, r.start, to))
			for _, o := range orders {
				if o.first.Before(r.start.Add(-time.Second)) || o.first.After(r.end) || o.acked.IsZero() {
					continue
				}
				f.affected++
				at, ok := s.pricedAt[o.id]
				if !ok || s.calc[o.id] != "priced" {
					f.unpricedAffected++
					continue
				}
				lat = append(lat, at.Sub(o.first))
				after = append(after, max(at.Sub(r.end), 0))
				f.slowest = append(f.slowest, slowOrder{id: o.id, channel: o.channel, attempts: o.attempts, last: o.last,
					first: o.first.Sub(r.end), acked: o.acked.Sub(r.end), priced: at.Sub(r.end)})
			}
		}
		f.p50, f.p99 = percentile(lat, 50), percentile(lat, 99)
		f.afterEnd99 = percentile(after, 99)
		slices.SortFunc(f.slowest, func(a, b slowOrder) int { return cmp.Compare(b.priced, a.priced) })
		f.slowest = f.slowest[:min(len(f.slowest), 3)]
		out = append(out, f)
	}
	return out
}

// answerClass is what kind of answer a client retried: the status code,
// or the transport error without the request's URL.
func answerClass(a string) string {
	if code, _, ok := strings.Cut(a, " "); ok && len(code) == 3 && code[0] >= '1' && code[0] <= '5' {
		return code
	}
	if i := strings.LastIndex(a, ": "); i >= 0 {
		a = a[i+2:]
	}
	return a[:min(len(a), 60)]
}

// counts is "2 x 502, 1 x EOF" (most first), or "none".
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b)) })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d x %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}

// longestGap is the longest time without an acknowledgement (ts, sorted)
// within [from, to], where the gap open at from counts from the
// acknowledgement before it and the one open at to ends there.
func longestGap(ts []time.Time, from, to time.Time) time.Duration {
	i, _ := slices.BinarySearchFunc(ts, from, func(a, b time.Time) int { return a.Compare(b) })
	prev := from
	if i > 0 {
		prev = ts[i-1]
	}
	var gap time.Duration
	for ; i < len(ts) && !ts[i].After(to); i++ {
		gap = max(gap, ts[i].Sub(prev))
		prev = ts[i]
	}
	return max(gap, to.Sub(prev))
}

// percentile is the nearest-rank percentile p of ds (0 for none).
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := (p*len(s) + 99) / 100
	return s[max(rank, 1)-1]
}

func ms(d time.Duration) string {
	if d >= 10*time.Second {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

// signed is a duration relative to a fault's end: "-1.2 s", "+350 ms".
func signed(d time.Duration) string {
	if d < 0 {
		return "-" + ms(-d)
	}
	return "+" + ms(d)
}

// report is the suite's result in markdown.
func report(orders []order, rounds []round, s state, v verdict, cfg Config, fc faultConfig, streamReplicas int, took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Fault suite: %d NATS nodes (stream R%d), %d replicas per service, PostgreSQL %s\n\n", cfg.NATSNodes, streamReplicas, cfg.Replicas, cfg.Postgres)
	fmt.Fprintf(&b, "%.0f orders/s (half shop, half B2B) through HAProxy, %d orders, %s in all; %s, %d cores.\n\n",
		fc.rate, len(orders), took.Round(time.Second), runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU())
	b.WriteString("| fault | rounds | acknowledged | lost | doubled | stuck | longest without an answer | affected | placed→priced p50 / p99 | priced after the fault's end p99 |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, f := range figures(orders, rounds, s, v, fc.settle) {
		unpriced := ""
		if f.unpricedAffected > 0 {
			unpriced = fmt.Sprintf(" (%d not priced)", f.unpricedAffected)
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %s | %d%s | %s / %s | %s |\n", f.kind, f.rounds, f.acked, f.lost, f.doubled, f.stuck,
			ms(f.unserved), f.affected, unpriced, ms(f.p50), ms(f.p99), ms(f.afterEnd99))
	}
	b.WriteString("\nAnswers the clients retried (the same Idempotency-Key again), of the orders placed around each kind's rounds:\n")
	for _, f := range figures(orders, rounds, s, v, fc.settle) {
		fmt.Fprintf(&b, "  %-8s %s\n", f.kind, counts(f.retried))
	}
	b.WriteString("\nThe affected orders priced last, relative to their fault's end (first attempt, acknowledged, priced):\n")
	for _, f := range figures(orders, rounds, s, v, fc.settle) {
		for _, o := range f.slowest {
			fmt.Fprintf(&b, "  %-8s %s %-4s first %s, acknowledged %s (%d attempts), priced %s\n", f.kind, o.id, o.channel,
				signed(o.first), signed(o.acked), o.attempts, signed(o.priced))
			if o.last != "" {
				fmt.Fprintf(&b, "           last answer before: %s\n", o.last)
			}
		}
	}
	fmt.Fprintf(&b, "\nAll orders: %d acknowledged, %d lost, %d doubled, %d stuck, %d created but never acknowledged, %d refused, %d unanswered, %d not confirmed by the manager; %d in outboxes, %d open dead letters.\n",
		v.acked, len(v.lost), len(v.doubled), len(v.stuck), len(v.orphans), v.refused, v.pending, v.unconfirmed, v.outbox, v.dead)
	if r := refusals(orders); r != "" {
		b.WriteString("Refusals (final answers):\n" + r)
	}
	if len(v.problems) > 0 {
		b.WriteString("First problems:\n")
		for _, p := range v.problems {
			b.WriteString("  " + p + "\n")
		}
	}
	b.WriteString("\nRounds:\n")
	for _, r := range rounds {
		fmt.Fprintf(&b, "  %-8s %-32s %-8s ended %s\n", r.kind, r.what, ms(r.end.Sub(r.start)), r.end.UTC().Format("15:04:05.000"))
		if r.ready != "" {
			fmt.Fprintf(&b, "           ready after the start: %s\n", r.ready)
		}
	}
	if v.ok() {
		b.WriteString("\nPASS: every acknowledged order exactly once in every service, priced; outboxes and dead letters empty.\n")
	} else {
		b.WriteString("\nFAIL\n")
	}
	return b.String()
}
