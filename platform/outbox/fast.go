package outbox

import (
	"context"
	"sync"
)

// The fast lane publishes a message the moment its transaction commits,
// from memory: Enqueue writes the row already leased to this relay when no
// other message of its key is in the table, and the commit hands the
// message over here. There is no claim and no wait for a sweep; the row
// stays the record of truth. If the process dies first, the lease runs out
// and a sweep (here after a restart, or another instance) publishes it;
// the broker and the inbox recognise a duplicate. A message whose key has
// an earlier message still in the table goes the usual way, claimed by a
// sweep once that one is gone, so the order per key holds. See
// docs/messaging.md, "Publishing at commit".

// fastLane is the queue between the commits and the fast loop.
type fastLane struct {
	mu    sync.Mutex
	open  bool // the fast loop runs and takes what is pushed
	queue []row
	held  int // pushed and not yet recorded: queued, publishing or being recorded
	limit int // of held; beyond it, Enqueue takes the usual way
	ready chan struct{}
}

func newFastLane(limit int) *fastLane {
	return &fastLane{limit: limit, ready: make(chan struct{}, 1)}
}

// admit tells whether a message may be written leased for the fast lane.
func (f *fastLane) admit() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.open && f.held < f.limit
}

// push queues a committed message; it never blocks a committing caller.
func (f *fastLane) push(r row) {
	f.mu.Lock()
	f.queue = append(f.queue, r)
	f.held++
	f.mu.Unlock()
	select {
	case f.ready <- struct{}{}:
	default:
	}
}

// handFast hands a committed message to the fast lane; the relay holds it
// from now on (see releaseForgotten).
func (o *Outbox) handFast(r row) {
	o.holding.add([]row{r})
	o.fast.push(r)
}

// take returns everything queued.
func (f *fastLane) take() []row {
	f.mu.Lock()
	defer f.mu.Unlock()
	rows := f.queue
	f.queue = nil
	return rows
}

// recorded counts n messages out of the lane.
func (f *fastLane) recorded(n int) {
	f.mu.Lock()
	f.held -= n
	f.mu.Unlock()
}

func (f *fastLane) setOpen(open bool) {
	f.mu.Lock()
	f.open = open
	f.mu.Unlock()
}

// fastLoop publishes what the commits hand over until ctx is cancelled,
// then what was still queued. It publishes what it takes at once, while the
// messages taken before still await their acknowledgements (at most
// MaxInFlight awaiting, as in a sweep): on a replicated stream a message
// committed meanwhile does not wait for the round trip of the ones before
// it. A key's messages still go one after the other (keyChain). One
// recorder deletes what the broker acknowledged, whatever has come back in
// one statement, while the publishing goes on; a failed publish is recorded
// as by a sweep (backoff, then a sweep retries it).
func (o *Outbox) fastLoop(ctx, work context.Context) {
	sem := make(chan struct{}, o.cfg.MaxInFlight)
	chain := newKeyChain()
	results := make(chan []outcome, 64)
	recorderDone := make(chan struct{})
	go func() {
		defer close(recorderDone)
		o.fastRecord(work, results)
	}()
	var batches sync.WaitGroup
	defer func() {
		batches.Wait()
		close(results)
		<-recorderDone
	}()
	stopping := false
	for {
		if !stopping {
			select {
			case <-ctx.Done():
				o.fast.setOpen(false)
				stopping = true
			case <-o.fast.ready:
			}
		}
		rows := o.fast.take()
		if len(rows) == 0 {
			if stopping {
				return
			}
			continue
		}
		if o.cfg.Connected != nil && !o.cfg.Connected() {
			// The broker is away: give the rows back to the sweeps without
			// spending an attempt.
			outcomes := make([]outcome, len(rows))
			for i, r := range rows {
				outcomes[i] = outcome{row: r, skipped: true}
			}
			results <- outcomes
			continue
		}
		wait := o.startPublish(work, rows, sem, chain)
		batches.Go(func() { results <- wait() })
	}
}

// fastRecord records the fast lane's outcomes as they come back: what has
// arrived while the previous record ran goes in one record (one statement
// on PostgreSQL in the usual case).
func (o *Outbox) fastRecord(ctx context.Context, results <-chan []outcome) {
	for outcomes := range results {
	gather:
		for len(outcomes) < inChunk {
			select {
			case more, ok := <-results:
				if !ok {
					break gather
				}
				outcomes = append(outcomes, more...)
			default:
				break gather
			}
		}
		behind, err := o.recordChecked(ctx, outcomes)
		o.holding.done(outcomes)
		o.fast.recorded(len(outcomes))
		if err != nil {
			o.noteDatabaseError()
			o.log.ErrorContext(ctx, "outbox relay could not record a published batch", "error", err, "messages", len(outcomes))
			continue
		}
		if behind {
			// A later message of one of these keys waits in the table:
			// a sweep may claim it now.
			o.Wake()
		}
	}
}

// takeOver gives back the leases that earlier processes of this relay's
// instance left behind: they died (kill -9) before publishing or releasing,
// and their messages would otherwise wait for the lease to run out. Should
// another live process carry the same instance name, its messages are only
// claimed again: published twice (the broker and the inbox drop the copy),
// their order per key kept, since a later message of a key is claimed only
// once the earlier one is deleted.
func (o *Outbox) takeOver(ctx context.Context) {
	prefix := o.cfg.Instance + "#"
	res, err := o.db.ExecContext(ctx, `UPDATE outbox SET lease_owner = '', lease_until = 0
		WHERE lease_until > 0 AND lease_owner <> $1 AND substr(lease_owner, 1, length(CAST($2 AS TEXT))) = CAST($2 AS TEXT)`, o.owner, prefix)
	if err != nil {
		o.log.WarnContext(ctx, "outbox relay could not take over its instance's earlier leases; they run out by themselves", "error", err)
		return
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		o.log.InfoContext(ctx, "outbox relay took over the leases of an earlier process of its instance", "instance", o.cfg.Instance, "messages", n)
	}
}

// releaseOwn gives back the leases this relay still holds when it stops
// (messages committed while it was stopping), so that the next relay to
// start need not wait for them to run out.
func (o *Outbox) releaseOwn(ctx context.Context) {
	if _, err := o.db.ExecContext(ctx, `UPDATE outbox SET lease_owner = '', lease_until = 0 WHERE lease_owner = $1`, o.owner); err != nil {
		o.log.WarnContext(ctx, "outbox relay could not release its leases; they run out by themselves", "error", err)
	}
}
