package outbox

import (
	"context"
	"time"
)

// Internals the external tests drive directly.

func (o *Outbox) Cycle(ctx context.Context) (int, error) { return o.cycle(ctx) }

func (o *Outbox) ClaimIDs(ctx context.Context, now time.Time) ([]string, error) {
	rows, err := o.claim(ctx, now)
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	return ids, err
}

func (o *Outbox) Backoff(attempt int) time.Duration { return o.backoff(attempt) }

// WithDefaults returns c with its defaults applied.
func WithDefaults(c Config) (Config, error) { err := c.validate(); return c, err }
