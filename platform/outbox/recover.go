package outbox

import (
	"context"
	"sync"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// After a database outage the relay may hold leases on messages that
// nothing in this process will publish or record any more: a batch whose
// record (the delete of what the broker acknowledged) failed, and a
// message whose business transaction committed while its commit answered
// with an error (PostgreSQL's fast shutdown ends a session that has just
// committed; the caller saw a failure, so the message never reached the
// fast lane, yet the row is there, leased). Such a message would wait for
// its lease (Lease, 30 s), and hold back the later messages of its key as
// long. So the relay notes when a statement of its own fails, and once the
// database answers again it gives back every lease it took before the
// failure: a sweep publishes those messages at once (again, for those the
// broker had; the broker and the inbox drop the copy).

// noteDatabaseError records that a statement of the relay failed; the
// first failure since the database last answered counts.
func (o *Outbox) noteDatabaseError() {
	o.dbFailedAt.CompareAndSwap(0, o.now().UnixNano())
}

// releaseForgotten runs after a statement of the relay succeeded: when one
// had failed before, it gives back the leases this relay took before that
// failure and wakes a sweep for them. The messages this process still
// holds (claimed by a sweep or handed to the fast lane, not yet recorded)
// keep theirs: they are being published, and a later message of their key
// must not be claimed before they are recorded.
func (o *Outbox) releaseForgotten(ctx context.Context) {
	failedAt := o.dbFailedAt.Load()
	if failedAt == 0 {
		return
	}
	// A lease taken before the failure ends before now + Lease - (time since
	// the failure), in the database's time; only the duration since the
	// failure comes from this process's clock.
	since := o.now().Sub(time.Unix(0, failedAt))
	n, err := o.releaseBefore(ctx, (o.cfg.Lease - since).Microseconds())
	if err != nil {
		o.log.WarnContext(ctx, "outbox relay could not give back the leases of before the database outage; they run out by themselves", "error", err)
		return
	}
	o.dbFailedAt.CompareAndSwap(failedAt, 0)
	if n > 0 {
		o.log.InfoContext(ctx, "outbox relay gave back the leases it held when the database went away", "messages", n)
		o.Wake()
	}
}

// releaseBefore gives back this relay's leases that end before the
// database's now + within microseconds, except those of the messages it
// holds, and returns how many.
func (o *Outbox) releaseBefore(ctx context.Context, within int64) (int, error) {
	var ids []any
	err := o.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		ids = ids[:0]
		rs, err := tx.QueryContext(ctx, o.q.leasedBefore, o.owner, within)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var id string
			if err := rs.Scan(&id); err != nil {
				return err
			}
			if !o.holding.has(id) {
				ids = append(ids, id)
			}
		}
		if err := rs.Err(); err != nil {
			return err
		}
		return execIn(ctx, tx, `UPDATE outbox SET lease_owner = '', lease_until = 0 WHERE lease_owner = $1 AND id IN (%s)`, o.owner, ids)
	})
	return len(ids), err
}

// leasedBeforeSQL lists this relay's ($1) leases that end before
// NOW_US + $2.
const leasedBeforeSQL = `SELECT id FROM outbox WHERE lease_owner = $1 AND lease_until > 0 AND lease_until <= NOW_US + $2`

// holdSet is the ids of the messages the relay holds: claimed by a sweep or
// handed to the fast lane, and not recorded yet.
type holdSet struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

func (h *holdSet) add(rows []row) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ids == nil {
		h.ids = map[string]struct{}{}
	}
	for _, r := range rows {
		h.ids[r.ID] = struct{}{}
	}
}

func (h *holdSet) done(outcomes []outcome) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, oc := range outcomes {
		delete(h.ids, oc.ID)
	}
}

func (h *holdSet) has(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.ids[id]
	return ok
}
