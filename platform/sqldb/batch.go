package sqldb

import (
	"context"
	"fmt"
)

// Batch is a group of writes (INSERT, UPDATE or DELETE statements) that a
// caller collects before making them together, in the order they were
// added, with the number of rows each one affected. It lets a store build
// what a use case writes in one place and run it at once.
//
// Sending a batch to PostgreSQL as one statement (each write a
// data-modifying WITH query) was measured and dropped: it saved the round
// trips but cost PostgreSQL more CPU than they did (an order status
// change's four writes: 0.3-0.5 ms more backend CPU, docs/crm.md).
type Batch struct {
	writes []batchWrite
}

type batchWrite struct {
	query string
	args  []any
}

// Add queues a write. It returns the write's index in Exec's counts.
func (b *Batch) Add(query string, args ...any) int {
	b.writes = append(b.writes, batchWrite{query: query, args: args})
	return len(b.writes) - 1
}

// Len is the number of writes queued.
func (b *Batch) Len() int { return len(b.writes) }

// Exec runs the queued writes on q, one after another, and returns the
// number of rows each one affected, by index; the batch is empty
// afterwards. Run it in a transaction when the writes must be atomic.
func (b *Batch) Exec(ctx context.Context, q Querier) ([]int64, error) {
	writes := b.writes
	b.writes = nil
	counts := make([]int64, len(writes))
	for i, w := range writes {
		res, err := q.ExecContext(ctx, w.query, w.args...)
		if err != nil {
			return nil, fmt.Errorf("write %d of %d: %w", i+1, len(writes), err)
		}
		if counts[i], err = res.RowsAffected(); err != nil {
			return nil, fmt.Errorf("write %d of %d: %w", i+1, len(writes), err)
		}
	}
	return counts, nil
}
