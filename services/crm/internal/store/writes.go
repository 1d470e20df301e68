package store

import (
	"context"
	"fmt"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/crm/internal/order"
)

// Writes are the writes of one event or action, collected by the use case
// and made together, in order, by Store.Write (a sqldb.Batch), which checks
// the saved orders' versions once written.
type Writes struct {
	b      sqldb.Batch
	saves  []saved
	tokens []string // customers' tokens written (InsertListRow)
}

// CustomerTokens are the tokens w adds to customers (some they may have
// already): the search's sets of customers they may change
// (Store.ForgetCustomerTokens).
func (w *Writes) CustomerTokens() []string { return w.tokens }

// saved is an order update to check once written: no row means that the
// order changed since it was read (or is gone).
type saved struct {
	index   int
	orderID string
	seen    int64
}

// Write makes w's writes in q (the caller's transaction: on SQLite they run
// one after another); w is empty afterwards. An order saved with
// Writes.SaveOrder that is no longer at the version it was read at is an
// *order.ConflictError, and nothing of w is kept once the caller rolls
// back.
func (s *Store) Write(ctx context.Context, q sqldb.Querier, w *Writes) error {
	saves, tokens := w.saves, w.tokens
	w.saves, w.tokens = nil, nil
	counts, err := w.b.Exec(ctx, q)
	if err != nil {
		return err
	}
	if len(tokens) > 0 {
		// This process's sets of customers; the caller tells the other
		// replicas (CustomerTokens).
		if tx, ok := q.(*sqldb.Tx); ok {
			tx.AfterCommit(func() { s.ForgetCustomerTokens(tokens) })
		} else {
			s.ForgetCustomerTokens(tokens)
		}
	}
	for _, sv := range saves {
		if counts[sv.index] > 0 {
			continue
		}
		var cur int64
		if err := q.QueryRowContext(ctx, `SELECT version FROM crm_orders WHERE id = $1`, sv.orderID).Scan(&cur); err != nil {
			return fmt.Errorf("save order %s: %w", sv.orderID, order.ErrNotFound)
		}
		return fmt.Errorf("save order %s: %w", sv.orderID, &order.ConflictError{Seen: sv.seen, Current: cur})
	}
	return nil
}

// write makes a single-purpose Writes of the standalone methods.
func (s *Store) write(ctx context.Context, q sqldb.Querier, add func(w *Writes)) error {
	var w Writes
	add(&w)
	return s.Write(ctx, q, &w)
}
