package sqldb

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Batch is a group of writes (INSERT, UPDATE or DELETE statements) that a
// caller collects before making them together, in the order they were
// added, with the number of rows each one affected. It lets a store build
// what a use case writes in one place and run it at once.
//
// In a transaction on PostgreSQL (a *Tx of InTx) the writes go to the
// server together, in pgx's pipeline mode: one round trip for the batch
// instead of one a write; each is still a statement of its own, run in
// order, each seeing the ones before. (Sending them as one statement, each
// write a data-modifying WITH query, was measured and dropped: it saved the
// round trips but cost PostgreSQL more CPU than they did, docs/crm.md.)
// Elsewhere, and on SQLite, they run one after another.
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
	if tx, ok := q.(*Tx); ok && tx.conn != nil && len(writes) > 1 {
		return tx.pipeline(ctx, writes)
	}
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

// pipeline sends the writes to PostgreSQL in one round trip on the
// transaction's connection (pgx's batch: the statements of a pipeline, then
// one Sync, which inside a transaction does not commit). A failing write
// fails the transaction, as it would one after another.
func (tx *Tx) pipeline(ctx context.Context, writes []batchWrite) ([]int64, error) {
	counts := make([]int64, len(writes))
	err := tx.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("batch: a PostgreSQL connection is %T, not pgx's", dc)
		}
		var pb pgx.Batch
		for _, w := range writes {
			pb.Queue(w.query, w.args...)
		}
		br := c.Conn().SendBatch(ctx, &pb)
		for i := range writes {
			tag, err := br.Exec()
			if err != nil {
				_ = br.Close()
				return fmt.Errorf("write %d of %d: %w", i+1, len(writes), err)
			}
			counts[i] = tag.RowsAffected()
		}
		return br.Close()
	})
	if err != nil {
		return nil, err
	}
	return counts, nil
}
