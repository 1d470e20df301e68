package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/platform/ordertrace"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/mes-operator/internal/production"
)

// Trace is mes-operator's part of `fabrika order trace` (an
// ordertrace.Finder over q): the order on the shop floor, by id or number,
// with how far its operations are.
func (st *Store) Trace(ctx context.Context, q sqldb.Querier, ref string) (ordertrace.Summary, bool, error) {
	o, err := st.Order(ctx, q, ref)
	if errors.Is(err, ErrNotFound) {
		o, err = scanOrder(q.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM orders WHERE number = $1 AND number <> ''`, ref))
		if errors.Is(err, sql.ErrNoRows) {
			return ordertrace.Summary{}, false, nil
		}
	}
	if err != nil {
		return ordertrace.Summary{}, false, fmt.Errorf("trace order %s: %w", ref, err)
	}
	ops, err := st.OrderOperations(ctx, q, o.ID)
	if err != nil {
		return ordertrace.Summary{}, false, err
	}
	s := ordertrace.Summary{OrderID: o.ID, Number: o.Number, Channel: o.Channel, Status: string(o.Status), Times: []ordertrace.Moment{}}
	moment := func(what string, at time.Time) {
		if !at.IsZero() {
			s.Times = append(s.Times, ordertrace.Moment{What: what, At: at})
		}
	}
	fact := func(name, value string) {
		if value != "" {
			s.Facts = append(s.Facts, ordertrace.Fact{Name: name, Value: value})
		}
	}
	moment("confirmed", o.ConfirmedAt)
	var started time.Time
	done, running := 0, ""
	for _, op := range ops {
		if !op.StartedAt.IsZero() && (started.IsZero() || op.StartedAt.Before(started)) {
			started = op.StartedAt
		}
		switch op.State {
		case production.Done:
			done++
		case production.Running, production.Paused:
			running = fmt.Sprintf("%s at %s (%s, %s)", op.Name, op.Workstation, op.State, op.Operator)
		}
	}
	moment("first operation started", started)
	moment("produced", o.ProducedAt)
	moment("shipped", o.ShippedAt)
	moment("cancelled", o.CancelledAt)
	switch o.Status {
	case production.Confirmed:
		s.Since = o.ConfirmedAt
	case production.InProduction:
		s.Since = started
	case production.Produced:
		s.Since = o.ProducedAt
	case production.Shipped:
		s.Since = o.ShippedAt
		fact("by", o.ShippedBy)
	case production.OrderCancelled:
		s.Since = o.CancelledAt
	}
	if o.OnHold {
		s.Status, s.Since = "on_hold", o.HoldAt
		moment("on hold", o.HoldAt)
		fact("hold reason", o.HoldReason)
	}
	if len(ops) > 0 {
		fact("operations done", fmt.Sprintf("%d of %d", done, len(ops)))
	}
	fact("now", running)
	return s, true, nil
}
