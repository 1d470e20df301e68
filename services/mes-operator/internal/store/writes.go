package store

import (
	"context"
	"fmt"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// Writes are the writes of one action or event, made together by
// Store.Write (sqldb.Batch: one after another; one statement of
// data-modifying WITH queries cost PostgreSQL more CPU than the round trips
// it saved). An operator's finish writes its operation, the next one of the
// line, perhaps the order, and the action's event id. None of the writes
// reads what another writes (the order and its operations were read
// before), each changes one row of its own, and each must change it: an
// update whose row is no longer at the version it was read at is a
// concurrent change (ErrStale).
type Writes struct {
	b    sqldb.Batch
	what []string // each write's row, for the error
}

func (w *Writes) add(what, query string, args ...any) {
	w.b.Add(query, args...)
	w.what = append(w.what, what)
}

// Write makes w's writes in q (the caller's transaction); w is empty
// afterwards. A write that changed no row is
// ErrStale, and nothing of w is kept once the caller rolls back.
func (s *Store) Write(ctx context.Context, q sqldb.Querier, w *Writes) error {
	what := w.what
	w.what = nil
	counts, err := w.b.Exec(ctx, q)
	if err != nil {
		return fmt.Errorf("write %v: %w", what, err)
	}
	for i, n := range counts {
		if n != 1 {
			return fmt.Errorf("write %s: %w", what[i], ErrStale)
		}
	}
	return nil
}
