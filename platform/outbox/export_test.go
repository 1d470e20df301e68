package outbox

import (
	"context"
	"time"
)

// Internals the external tests drive directly.

func (o *Outbox) Cycle(ctx context.Context) (int, error) { return o.cycle(ctx) }

func (o *Outbox) ClaimIDs(ctx context.Context) ([]string, error) {
	rows, err := o.claim(ctx)
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	return ids, err
}

func (o *Outbox) Backoff(attempt int) time.Duration { return o.backoff(attempt) }

// WithDefaults returns c with its defaults applied.
func WithDefaults(c Config) (Config, error) { err := c.validate(); return c, err }

// SetClock gives the relay a process clock of its own (a skewed host).
func (o *Outbox) SetClock(now func() time.Time) { o.now = now }

// Claimed is a batch a relay claimed and has not recorded yet.
type Claimed struct {
	o    *Outbox
	rows []row
}

// Claim leases a batch as a sweep does.
func (o *Outbox) Claim(ctx context.Context) (*Claimed, error) {
	rows, err := o.claim(ctx)
	return &Claimed{o: o, rows: rows}, err
}

// IDs lists the claimed messages in claim order.
func (c *Claimed) IDs() []string {
	ids := make([]string, len(c.rows))
	for i, r := range c.rows {
		ids[i] = r.ID
	}
	return ids
}

// Record records every claimed message as acknowledged (err nil) or failed.
func (c *Claimed) Record(ctx context.Context, err error) error {
	outcomes := make([]outcome, len(c.rows))
	for i, r := range c.rows {
		outcomes[i] = outcome{row: r, err: err}
	}
	return c.o.record(ctx, outcomes)
}

// Sweeps counts the sweeps the relay finished.
func (o *Outbox) Sweeps() int64        { return o.sweeps.Load() }
func BrokerUnavailable(err error) bool { return brokerUnavailable(err) }

// PushFast hands a message to the fast lane as a commit does, as if its row
// had been written leased (two unserialised transactions of one key can
// both write theirs leased).
func (o *Outbox) PushFast(m Message) { o.handFast(row{Message: m}) }

// NoteDatabaseError makes the relay believe a statement of its own failed
// now; DatabaseFailureNoted tells whether it still does (it forgets once it
// gave back its forgotten leases).
func (o *Outbox) NoteDatabaseError()         { o.noteDatabaseError() }
func (o *Outbox) DatabaseFailureNoted() bool { return o.dbFailedAt.Load() != 0 }

// FastHeld counts the fast lane's messages not yet recorded.
func (o *Outbox) FastHeld() int {
	o.fast.mu.Lock()
	defer o.fast.mu.Unlock()
	return o.fast.held
}
