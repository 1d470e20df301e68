package outbox

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fabrika/fabrika/platform/backoff"
	"github.com/fabrika/fabrika/platform/sqldb"
)

// Publisher publishes to JetStream asynchronously; jetstream.JetStream
// implements it.
type Publisher interface {
	PublishMsgAsync(msg *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error)
}

// claimLockID is the PostgreSQL advisory lock that serialises claims between
// relay instances sharing one database: claims are short, publishing runs in
// parallel. SQLite serialises writers by itself.
const claimLockID = 0x0fab_01

// row is a claimed message.
type row struct {
	Message
	attempts int
	seq      int64 // the database's order of the messages (0 in the fast lane)
}

type outcome struct {
	row
	err     error // nil when acknowledged
	skipped bool  // not attempted: an earlier message of its key failed
}

// unavailable tells whether the outcome is a failure of the broker to take
// the message now (see brokerUnavailable) rather than a refusal.
func (oc outcome) unavailable() bool { return oc.err != nil && brokerUnavailable(oc.err) }

// errNoAck is a publish that got no acknowledgement within PublishTimeout.
var errNoAck = errors.New("no acknowledgement")

// brokerUnavailable tells whether a publish failed because the broker could
// not take the message at that moment (no acknowledgement in time, no
// responders on the subject as while a stream elects its leader, a server
// error such as "JetStream system temporarily unavailable", the connection
// going away), rather than because it refused this message. Such a failure
// spends no attempt: the message waits and goes again, and a long outage
// is what the oldest-pending-age alert is for.
func brokerUnavailable(err error) bool {
	for _, target := range []error{errNoAck, jetstream.ErrNoStreamResponse, nats.ErrNoResponders, nats.ErrTimeout,
		jetstream.ErrAsyncPublishTimeout, jetstream.ErrTooManyStalledMsgs, nats.ErrConnectionClosed,
		nats.ErrConnectionDraining, nats.ErrDisconnected, nats.ErrNoServers, context.DeadlineExceeded, context.Canceled} {
		if errors.Is(err, target) {
			return true
		}
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code >= 500
}

// queries are the relay's statements with the database's clock (NOW_US)
// filled in for its engine.
type queries struct {
	enqueueLeased, claim, fail, unavailable, leasedBefore string
}

func newQueries(e sqldb.Engine) queries {
	r := strings.NewReplacer("NOW_US", e.NowMicros())
	return queries{enqueueLeased: r.Replace(enqueueLeasedSQL), claim: r.Replace(claimSQL),
		fail: r.Replace(failSQL), unavailable: r.Replace(unavailableSQL), leasedBefore: r.Replace(leasedBeforeSQL)}
}

// Run relays messages until ctx is cancelled; the cycle in progress is
// finished before it returns. It sweeps every Interval and at once when a
// transaction that enqueued commits.
func (o *Outbox) Run(ctx context.Context) error {
	tick := time.NewTicker(o.cfg.Interval)
	defer tick.Stop()
	// A cycle runs to its end on a context of its own: acknowledged messages
	// are deleted even while the service is shutting down.
	work := context.WithoutCancel(ctx)
	o.takeOver(work)
	o.refreshGauges(work) // the messages in error are known from the start
	o.fast.setOpen(true)
	fastDone := make(chan struct{})
	go func() {
		defer close(fastDone)
		o.fastLoop(ctx, work)
	}()
	defer func() {
		<-fastDone
		o.releaseOwn(work)
	}()
	if o.db.Engine() == sqldb.Postgres && o.cfg.VacuumInterval > 0 {
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			o.vacuumLoop(ctx)
		}()
	}
	for {
		o.sweep(work)
		select {
		case <-ctx.Done():
			return nil
		case <-o.wake:
		case <-tick.C:
			o.refreshGauges(work)
		}
	}
}

// sweep claims, publishes and records batches until a claim comes back
// empty. It claims the next batch while earlier ones still await their
// acknowledgements (a window: another batch is claimed while its rows fit
// with those claimed and not yet recorded within MaxInFlight; always at
// least one batch), so on a replicated stream a batch's replication round
// trip is not paid once per batch in a row. Each batch is recorded as soon as its
// publishes are done. The rows of a batch stay leased until it is recorded,
// so no claim of the window takes a later message of a key still in flight
// (or of one whose failure is being recorded: a failed message keeps
// blocking its key with its backoff); the order per key holds across the
// batches of the window.
func (o *Outbox) sweep(ctx context.Context) {
	defer o.sweeps.Add(1)
	sem := make(chan struct{}, o.cfg.MaxInFlight) // publishes awaiting acknowledgement, all batches
	recorded := make(chan int)                    // a batch's size, once it is recorded
	held := 0                                     // messages claimed and not yet recorded
	waitOne := func() { held -= <-recorded }
	defer func() {
		for held > 0 {
			waitOne()
		}
	}()
	for {
		if held > 0 && held+o.cfg.BatchSize > o.cfg.MaxInFlight {
			waitOne() // the window is full
			continue
		}
		if o.cfg.Connected != nil && !o.cfg.Connected() {
			return
		}
		rows, err := o.claim(ctx)
		if err != nil {
			o.noteDatabaseError()
			o.log.ErrorContext(ctx, "outbox relay claim failed", "error", err)
			return
		}
		o.holding.add(rows)
		o.releaseForgotten(ctx)
		if len(rows) == 0 {
			if held == 0 {
				return
			}
			// Messages behind a batch in flight become due once it is
			// recorded: look again then.
			waitOne()
			continue
		}
		held += len(rows)
		go func() {
			outcomes := o.publish(ctx, rows, sem)
			if err := o.record(ctx, outcomes); err != nil {
				// The rows stay leased until the database answers again
				// (releaseForgotten) or the lease runs out; then a sweep
				// publishes them again and the broker drops the duplicates.
				o.noteDatabaseError()
				o.log.ErrorContext(ctx, "outbox relay could not record a batch", "error", err, "messages", len(outcomes))
			}
			o.holding.done(outcomes)
			recorded <- len(rows)
		}()
		if len(rows) < o.cfg.BatchSize {
			// The claim took everything that was due: what comes next is
			// mostly what a record unblocks. Claiming again at once would
			// scan the waiting messages for nothing.
			waitOne()
		}
	}
}

// cycle claims a batch, publishes it and records the outcome. It returns how
// many messages it claimed.
func (o *Outbox) cycle(ctx context.Context) (int, error) {
	rows, err := o.claim(ctx)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	outcomes := o.publish(ctx, rows, make(chan struct{}, o.cfg.MaxInFlight))
	if err := o.record(ctx, outcomes); err != nil {
		return len(rows), err
	}
	return len(rows), nil
}

// relaxDurability lets a relay transaction commit without waiting for its
// WAL flush on PostgreSQL. Losing such a commit in a crash is harmless: a
// lost lease only lets the message be claimed again, a lost delete only
// republishes a message the broker (duplicate window) and the inbox (its
// table) both recognise.
func relaxDurability(ctx context.Context, tx *sqldb.Tx) error {
	if tx.Engine() != sqldb.Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit TO OFF`)
	return err
}

// claimSQL leases the next due messages whose key has no earlier message
// that is leased, backing off or in error: a key's messages go out in the
// order of their seq, which the database gives at insert, and a failing one
// holds back only its own key. Due and leased are judged by the database's
// clock (NOW_US), never by the relay's host, whose clock may be off.
// The first condition on p is the predicate of the partial index
// outbox_blockers (platform migration 3): only rows that may block are
// probed, not the whole table. "LIMIT 1 OFFSET 0" keeps the check a probe
// of that index by key for each candidate: without it PostgreSQL turns
// NOT EXISTS into an anti-join that may read the whole index for every
// candidate, dead entries included (EXPLAIN in docs/BENCHMARKS.md,
// "Messaging").
const claimSQL = `
UPDATE outbox SET lease_owner = $1, lease_until = NOW_US + $2
WHERE id IN (
  SELECT o.id FROM outbox o
  WHERE o.status = 'pending' AND o.next_attempt_at <= NOW_US AND o.lease_until <= NOW_US
    AND NOT EXISTS (
      SELECT 1 FROM outbox p
      WHERE p.msg_key = o.msg_key
        AND (p.status <> 'pending' OR p.next_attempt_at > 0 OR p.lease_until > 0)
        AND p.seq < o.seq
        AND (p.status <> 'pending' OR p.next_attempt_at > NOW_US OR p.lease_until > NOW_US)
      LIMIT 1 OFFSET 0)
  ORDER BY o.seq
  LIMIT $3)
RETURNING id, subject, msg_key, payload, headers, created_at, attempts, seq`

// failSQL records a refused publish of a row this relay still holds ($6):
// an attempt spent, the next one after $2 microseconds of database time.
const failSQL = `UPDATE outbox SET attempts = $1, next_attempt_at = NOW_US + $2, status = $3, last_error = $4,
	lease_owner = '', lease_until = 0 WHERE id = $5 AND lease_owner = $6`

// unavailableSQL gives back a row this relay still holds ($4) after the
// broker could not take it: no attempt spent, tried again after $1
// microseconds.
const unavailableSQL = `UPDATE outbox SET next_attempt_at = NOW_US + $1, last_error = $2,
	lease_owner = '', lease_until = 0 WHERE id = $3 AND lease_owner = $4`

func (o *Outbox) claim(ctx context.Context) ([]row, error) {
	var rows []row
	err := o.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		rows = rows[:0]
		if tx.Engine() == sqldb.Postgres {
			// One round trip for both: the claim lock, and a commit that does
			// not wait for its WAL flush (see relaxDurability).
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1), set_config('synchronous_commit', 'off', true)`, claimLockID); err != nil {
				return fmt.Errorf("claim lock: %w", err)
			}
		}
		rs, err := tx.QueryContext(ctx, o.q.claim, o.owner, o.cfg.Lease.Microseconds(), o.cfg.BatchSize)
		if err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		defer rs.Close()
		for rs.Next() {
			var r row
			var payload, headers string
			var created int64
			if err := rs.Scan(&r.ID, &r.Subject, &r.Key, &payload, &headers, &created, &r.attempts, &r.seq); err != nil {
				return fmt.Errorf("claim scan: %w", err)
			}
			r.Payload = json.RawMessage(payload)
			r.CreatedAt = sqldb.FromMicros(created)
			if err := json.Unmarshal([]byte(headers), &r.Headers); err != nil {
				r.Headers = nil // a damaged header set must not block the message
			}
			rows = append(rows, r)
		}
		return rs.Err()
	})
	if err != nil {
		return nil, err
	}
	sortRows(rows)
	return rows, nil
}

func sortRows(rows []row) {
	// RETURNING gives no order; the relay needs enqueue order.
	slices.SortFunc(rows, func(a, b row) int { return cmp.Compare(a.seq, b.seq) })
}

// publish sends the claimed messages and waits for their outcomes: keys in
// parallel, the messages of one key one after the other, and none of a key
// after its first failure. sem bounds the publishes awaiting
// acknowledgement.
func (o *Outbox) publish(ctx context.Context, rows []row, sem chan struct{}) []outcome {
	return o.startPublish(ctx, rows, sem, nil)()
}

// startPublish starts publishing rows as publish does and returns what
// waits for their outcomes. With a chain, a key's messages also wait for
// that key's messages of the batches started earlier on the chain, and are
// skipped when one of those failed.
func (o *Outbox) startPublish(ctx context.Context, rows []row, sem chan struct{}, chain *keyChain) func() []outcome {
	var groups [][]row
	index := map[string]int{}
	for _, r := range rows {
		i, ok := index[r.Key]
		if !ok {
			i = len(groups)
			index[r.Key] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], r)
	}
	out := make([]outcome, 0, len(rows))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, g := range groups {
		var prev, mine *keyFlight
		if chain != nil {
			prev, mine = chain.enter(g[0].Key)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			failed := false
			if prev != nil {
				<-prev.done
				failed = prev.failed
			}
			res := make([]outcome, 0, len(g))
			for _, r := range g {
				if failed {
					res = append(res, outcome{row: r, skipped: true})
					continue
				}
				sem <- struct{}{}
				err := o.publishOne(ctx, r)
				<-sem
				res = append(res, outcome{row: r, err: err})
				failed = err != nil
			}
			if mine != nil {
				chain.leave(g[0].Key, mine, failed)
			}
			mu.Lock()
			out = append(out, res...)
			mu.Unlock()
		}()
	}
	return func() []outcome {
		wg.Wait()
		return out
	}
}

// keyChain orders the publishes of one key across batches that are
// published concurrently (the fast lane's): a batch's messages of a key go
// after those of the batch started before it are done, and are skipped (left
// to the sweeps) when one of those failed.
type keyChain struct {
	mu   sync.Mutex
	last map[string]*keyFlight
}

// keyFlight is one batch's messages of one key.
type keyFlight struct {
	done   chan struct{}
	failed bool // set before done is closed
}

func newKeyChain() *keyChain { return &keyChain{last: map[string]*keyFlight{}} }

// enter registers a batch's messages of key behind the key's latest ones and
// returns those (nil when none are in flight).
func (c *keyChain) enter(key string) (prev, mine *keyFlight) {
	c.mu.Lock()
	defer c.mu.Unlock()
	mine = &keyFlight{done: make(chan struct{})}
	prev = c.last[key]
	c.last[key] = mine
	return prev, mine
}

// leave marks a batch's messages of key done.
func (c *keyChain) leave(key string, f *keyFlight, failed bool) {
	f.failed = failed
	close(f.done)
	c.mu.Lock()
	if c.last[key] == f {
		delete(c.last, key)
	}
	c.mu.Unlock()
}

func (o *Outbox) publishOne(ctx context.Context, r row) error {
	m := nats.NewMsg(r.Subject)
	m.Data = r.Payload
	for k, v := range r.Headers {
		m.Header.Set(k, v)
	}
	m.Header.Set(HeaderMsgID, r.ID)
	m.Header.Set(HeaderKey, r.Key)
	m.Header.Set(HeaderCreated, r.CreatedAt.Format(time.RFC3339Nano))
	start := time.Now()
	fut, err := o.pub.PublishMsgAsync(m, jetstream.WithMsgID(r.ID))
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	timer := time.NewTimer(o.cfg.PublishTimeout)
	defer timer.Stop()
	select {
	case <-fut.Ok():
		o.metrics.latency.Observe(time.Since(start).Seconds())
		return nil
	case err := <-fut.Err():
		return fmt.Errorf("publish: %w", err)
	case <-timer.C:
		return fmt.Errorf("publish: %w within %s", errNoAck, o.cfg.PublishTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// record deletes what the broker acknowledged, schedules the next attempt of
// what failed (or gives it status error) and releases what was skipped, in
// one short transaction.
func (o *Outbox) record(ctx context.Context, outcomes []outcome) error {
	_, err := o.recordAndLook(ctx, outcomes, false)
	return err
}

// recordChecked records like record and also tells whether a later message
// of an acknowledged message's key is in the table (the fast lane wakes a
// sweep for it).
func (o *Outbox) recordChecked(ctx context.Context, outcomes []outcome) (behind bool, err error) {
	return o.recordAndLook(ctx, outcomes, true)
}

func (o *Outbox) recordAndLook(ctx context.Context, outcomes []outcome, look bool) (bool, error) {
	var acked, skipped, keys []any
	var failed, unavailable []outcome
	for _, oc := range outcomes {
		switch {
		case oc.skipped:
			skipped = append(skipped, oc.ID)
		case oc.err == nil:
			acked = append(acked, oc.ID)
			keys = append(keys, oc.Key)
		case oc.unavailable():
			unavailable = append(unavailable, oc)
		default:
			failed = append(failed, oc)
		}
	}
	// Every statement touches only the rows this relay still holds
	// (lease_owner = its token): a relay that stalled past its lease must
	// not delete, release or charge a row another relay has taken over.
	if o.db.Engine() == sqldb.Postgres && len(skipped)+len(failed)+len(unavailable) == 0 && len(acked) <= inChunk {
		// The usual case on PostgreSQL, in one statement and one round trip
		// instead of four. The statement is its own transaction, and the
		// setting made in it holds for that transaction: its commit does not
		// wait for the WAL flush either (see relaxDurability), which matters
		// because the sweep waits for this record before it records the next
		// batch or ends. The look for later messages of the same keys rides
		// along: the deleted rows are still visible to it (one snapshot), so
		// it leaves them out by id. (SQLite writes go through InTx, which
		// serialises this process's writers.)
		const relaxed = `WITH relax AS (SELECT set_config('synchronous_commit', 'off', true))`
		ids := placeholdersFrom(2, len(acked))
		args := append([]any{o.owner}, acked...)
		var behind bool
		var err error
		if look {
			q := relaxed + fmt.Sprintf(`, gone AS (DELETE FROM outbox WHERE lease_owner = $1 AND id IN (%s) AND EXISTS (SELECT 1 FROM relax) RETURNING msg_key)
				SELECT EXISTS (SELECT 1 FROM outbox WHERE msg_key IN (SELECT msg_key FROM gone) AND id NOT IN (%s))`, ids, ids)
			err = o.db.QueryRowContext(ctx, q, args...).Scan(&behind)
		} else {
			_, err = o.db.ExecContext(ctx, relaxed+fmt.Sprintf(` DELETE FROM outbox WHERE lease_owner = $1 AND id IN (%s) AND EXISTS (SELECT 1 FROM relax)`, ids), args...)
		}
		if err != nil {
			return false, fmt.Errorf("delete published: %w", err)
		}
		o.metrics.published.Add(float64(len(acked)))
		o.deleted.Add(int64(len(acked)))
		return behind, nil
	}
	var gaveUp []outcome
	err := o.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		gaveUp = gaveUp[:0]
		if err := relaxDurability(ctx, tx); err != nil {
			return fmt.Errorf("record: %w", err)
		}
		if err := execIn(ctx, tx, `DELETE FROM outbox WHERE lease_owner = $1 AND id IN (%s)`, o.owner, acked); err != nil {
			return fmt.Errorf("delete published: %w", err)
		}
		if err := execIn(ctx, tx, `UPDATE outbox SET lease_owner = '', lease_until = 0 WHERE lease_owner = $1 AND id IN (%s)`, o.owner, skipped); err != nil {
			return fmt.Errorf("release skipped: %w", err)
		}
		for _, u := range unavailable {
			_, err := tx.ExecContext(ctx, o.q.unavailable, o.cfg.BaseBackoff.Microseconds(), truncate(u.err.Error(), 1000), u.ID, o.owner)
			if err != nil {
				return fmt.Errorf("record unavailable broker for %s: %w", u.ID, err)
			}
		}
		for _, f := range failed {
			attempts := f.attempts + 1
			status := "pending"
			if attempts >= o.cfg.MaxAttempts {
				status = "error"
			}
			res, err := tx.ExecContext(ctx, o.q.fail, attempts, o.backoff(attempts).Microseconds(), status,
				truncate(f.err.Error(), 1000), f.ID, o.owner)
			if err != nil {
				return fmt.Errorf("record failure of %s: %w", f.ID, err)
			}
			if n, err := res.RowsAffected(); err == nil && n == 1 && status == "error" {
				gaveUp = append(gaveUp, f)
			}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	o.metrics.published.Add(float64(len(acked)))
	o.deleted.Add(int64(len(acked)))
	o.metrics.attemptErrors.WithLabelValues(kindRefused).Add(float64(len(failed)))
	o.metrics.attemptErrors.WithLabelValues(kindUnavailable).Add(float64(len(unavailable)))
	for _, f := range failed {
		o.log.WarnContext(ctx, "outbox publish refused, will retry", "message_id", f.ID, "subject", f.Subject, "key", f.Key, "attempt", f.attempts+1, "error", f.err)
	}
	if len(unavailable) > 0 {
		u := unavailable[0]
		o.log.WarnContext(ctx, "outbox publish: broker unavailable, messages wait without spending an attempt",
			"messages", len(unavailable), "message_id", u.ID, "subject", u.Subject, "error", u.err)
	}
	for _, f := range gaveUp {
		o.metrics.failed.Inc()
		o.log.ErrorContext(ctx, "outbox message failed after max attempts; status error, needs a person",
			"message_id", f.ID, "subject", f.Subject, "key", f.Key, "attempts", f.attempts+1, "error", f.err)
	}
	if !look || len(keys) == 0 {
		return false, nil
	}
	behind, err := o.anyOf(ctx, keys)
	if err != nil {
		return false, fmt.Errorf("look for later messages: %w", err)
	}
	return behind, nil
}

// anyOf tells whether the table holds a message of one of keys.
func (o *Outbox) anyOf(ctx context.Context, keys []any) (bool, error) {
	for len(keys) > 0 {
		n := min(inChunk, len(keys))
		var found bool
		q := fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM outbox WHERE msg_key IN (%s))`, placeholders(n))
		if err := o.db.QueryRowContext(ctx, q, keys[:n]...).Scan(&found); err != nil || found {
			return found, err
		}
		keys = keys[n:]
	}
	return false, nil
}

// backoff is exponential in the attempt, with jitter in [d/2, d].
func (o *Outbox) backoff(attempt int) time.Duration {
	d := backoff.Exponential(attempt, o.cfg.BaseBackoff, o.cfg.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// inChunk is the most ids one IN list carries.
const inChunk = 500

// execIn runs a statement with the relay's lease token as $1 and an IN list
// of ids from $2, in chunks.
func execIn(ctx context.Context, tx *sqldb.Tx, query, owner string, ids []any) error {
	for len(ids) > 0 {
		n := min(inChunk, len(ids))
		args := append([]any{owner}, ids[:n]...)
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(query, placeholdersFrom(2, n)), args...); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// placeholders returns "$1,$2,...,$n".
func placeholders(n int) string { return placeholdersFrom(1, n) }

// placeholdersFrom returns n placeholders from $first.
func placeholdersFrom(first, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(first + i))
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// vacuumLoop vacuums the outbox table (PostgreSQL only) every
// VacuumInterval when the relay deleted rows since the last time, and
// sooner once it deleted VacuumAfter rows. Every message leaves dead row
// versions (its delete; a lease too when a sweep claimed it) and their
// index entries; scans walk over them until a vacuum removes them, and
// autovacuum runs a minute apart at best, never when it is off. Above all,
// the planner sees a nearly empty table (it holds only what is in flight)
// and may scan its heap for Enqueue's key probe; each vacuum both shrinks
// that heap and makes the cached plans be made again for its real size.
// The table holds only what is in flight, so a vacuum takes milliseconds;
// it does not block writers, and SKIP_LOCKED skips it while another relay
// instance's vacuum runs.
func (o *Outbox) vacuumLoop(ctx context.Context) {
	t := time.NewTicker(min(o.cfg.VacuumInterval, 200*time.Millisecond))
	defer t.Stop()
	var last int64
	lastAt := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		deleted := o.deleted.Load()
		if deleted == last || (deleted-last < o.cfg.VacuumAfter && time.Since(lastAt) < o.cfg.VacuumInterval) {
			continue
		}
		last, lastAt = deleted, time.Now()
		if _, err := o.db.ExecContext(ctx, `VACUUM (SKIP_LOCKED) outbox`); err != nil && ctx.Err() == nil {
			o.log.WarnContext(ctx, "outbox vacuum failed", "error", err)
		}
	}
}

func (o *Outbox) refreshGauges(ctx context.Context) {
	var pending, errored int64
	var oldest sql.NullInt64
	err := o.db.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END), 0),
		MIN(created_at) FROM outbox`).Scan(&pending, &errored, &oldest)
	if err != nil {
		o.log.WarnContext(ctx, "outbox gauges", "error", err)
		return
	}
	o.metrics.pending.Set(float64(pending))
	o.metrics.errored.Set(float64(errored))
	if oldest.Valid && pending+errored > 0 {
		o.metrics.oldestAge.Set(time.Since(sqldb.FromMicros(oldest.Int64)).Seconds())
	} else {
		o.metrics.oldestAge.Set(0)
	}
}
