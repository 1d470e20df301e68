package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/mes-operator/internal/production"
	"github.com/fabrika/fabrika/services/mes-operator/internal/store"
)

// Subscriptions are the inbox handlers of the service, by subject.
func (a *App) Subscriptions() map[string]inbox.Handler {
	return map[string]inbox.Handler{
		contracts.Subject(contracts.OrderConfirmed): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, _ inbox.Message, p contracts.OrderConfirmedV1) error {
			return a.Confirmed(ctx, tx, p)
		}),
		contracts.Subject(contracts.OrderCancelled): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, _ inbox.Message, p contracts.OrderStatusChangedV1) error {
			return a.Cancelled(ctx, tx, p)
		}),
		contracts.Subject(contracts.OrderOnHold): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, _ inbox.Message, p contracts.OrderStatusChangedV1) error {
			return a.Held(ctx, tx, p, true)
		}),
		contracts.Subject(contracts.OrderResumed): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, _ inbox.Message, p contracts.OrderStatusChangedV1) error {
			return a.Held(ctx, tx, p, false)
		}),
		contracts.Subject(contracts.PriceListPublished): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, _ inbox.Message, p contracts.PriceListV1) error {
			return a.PriceList(ctx, tx, p)
		}),
		contracts.Subject(contracts.OrderNoteAdded): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.OrderNoteAddedV1) error {
			return a.store.AddNote(ctx, tx, m.ID, p.OrderID, store.Note{Body: p.Note, By: p.By, At: p.At})
		}),
	}
}

// Confirmed plans a confirmed order into the workstations' queues. A
// repeated confirmation changes nothing; a cancellation that arrived first
// is kept (the order is never revived); a hold that arrived first is kept.
func (a *App) Confirmed(ctx context.Context, tx *sqldb.Tx, p contracts.OrderConfirmedV1) error {
	now := a.now()
	steps := make([]production.Step, len(p.Routing))
	for i, s := range p.Routing {
		steps[i] = production.Step{LineNo: s.LineNo, Seq: s.Seq, Name: s.Operation, Workstation: s.Workstation, PlannedMinutes: s.PlannedMinutes}
	}
	ops, err := production.Plan(p.OrderID, steps)
	if err != nil {
		return inbox.Permanent(fmt.Errorf("order %s: %w", p.OrderID, err))
	}
	// Usually the confirmation is the order's first event here: one insert.
	ord := production.Order{ID: p.OrderID, Number: p.Number, Channel: p.Channel, ShipDate: p.ShipDate, Rush: p.Rush,
		Status: production.Confirmed, ConfirmedAt: p.At, Version: 1}
	inserted, err := a.store.InsertOrderIfNew(ctx, tx, ord, now)
	if err != nil {
		return err
	}
	if inserted {
		return a.insertPlan(ctx, tx, ord, p, ops, now)
	}
	// Known already: a hold or a cancellation came first, or this is a
	// repeat.
	if ord, err = a.store.Order(ctx, tx, p.OrderID); err != nil {
		return err
	}
	if ord.Status != production.Unconfirmed && ord.Status != production.OrderCancelled {
		return nil // already planned
	}
	prev, firstConfirmation := ord.Version, ord.ConfirmedAt.IsZero()
	ord.ID, ord.Number, ord.Channel, ord.ShipDate, ord.Rush = p.OrderID, p.Number, p.Channel, p.ShipDate, p.Rush
	ord.ConfirmedAt = p.At
	if ord.Status == production.OrderCancelled {
		// Cancelled before it was confirmed: keep what the order was for
		// the record and never revive it; its operations are recorded
		// cancelled, as they are when the confirmation comes first (the
		// record must not depend on the order the events arrive in).
		if !firstConfirmation {
			return nil
		}
		ord.Version++
		if err := a.store.UpdateOrder(ctx, tx, ord, prev, now); err != nil {
			return err
		}
		planned := ord
		planned.Status = production.Confirmed
		production.Cancel(&planned, ops, ord.CancelReason, ord.CancelledAt)
		return a.insertPlan(ctx, tx, ord, p, ops, now)
	}
	ord.Status = production.Confirmed
	ord.Version++
	if err := a.store.UpdateOrder(ctx, tx, ord, prev, now); err != nil {
		return err
	}
	return a.insertPlan(ctx, tx, ord, p, ops, now)
}

// insertPlan stores a confirmed order's planned operations and lines and
// makes their workstations known.
func (a *App) insertPlan(ctx context.Context, tx *sqldb.Tx, ord production.Order, p contracts.OrderConfirmedV1, ops []production.Operation, now time.Time) error {
	workstations := make([]string, len(ops))
	for i := range ops {
		ops[i].ID = newID()
		workstations[i] = ops[i].Workstation
	}
	if err := a.store.AddWorkstations(ctx, tx, workstations, now); err != nil {
		return err
	}
	if err := a.store.InsertOperations(ctx, tx, ord, ops, now); err != nil {
		return err
	}
	lines := make([]store.Line, len(p.Lines))
	for i, l := range p.Lines {
		lines[i] = store.Line{LineNo: l.LineNo, Product: l.Product, Quantity: l.Quantity, Options: l.Options}
	}
	return a.store.InsertLines(ctx, tx, p.OrderID, lines)
}

// Cancelled stops an order's work: open operations are cancelled, a running
// one included. A cancellation of an order not yet confirmed is remembered.
func (a *App) Cancelled(ctx context.Context, tx *sqldb.Tx, p contracts.OrderStatusChangedV1) error {
	now := a.now()
	w, err := a.store.WorkOfOrder(ctx, tx, p.OrderID)
	if errors.Is(err, store.ErrNotFound) {
		return a.store.InsertOrder(ctx, tx, production.Order{ID: p.OrderID, Channel: p.Channel, Status: production.OrderCancelled,
			CancelReason: p.Reason, CancelledAt: p.At, Version: 1}, now)
	}
	if err != nil {
		return err
	}
	ord, ops := w.Order, w.Operations
	ordPrev, opsPrev := ord.Version, versions(ops)
	if !production.Cancel(&ord, ops, p.Reason, p.At) {
		return nil
	}
	if running := countStopped(ops, opsPrev); running > 0 {
		a.log.InfoContext(ctx, "order cancelled while in work; operations stopped", "order_id", ord.ID, "operations", running)
	}
	var writes store.Writes
	saveChanged(&writes, ord, ordPrev, ops, opsPrev, now)
	return stale(a.store.Write(ctx, tx, &writes))
}

func countStopped(ops []production.Operation, prev map[string]int) int {
	n := 0
	for _, op := range ops {
		if op.Version != prev[op.ID] {
			n++
		}
	}
	return n
}

// Held puts an order on hold (it leaves the queues; a running operation is
// paused) or resumes it. Only the latest hold or resume counts, whatever
// order they arrive in.
func (a *App) Held(ctx context.Context, tx *sqldb.Tx, p contracts.OrderStatusChangedV1, hold bool) error {
	now := a.now()
	w, err := a.store.WorkOfOrder(ctx, tx, p.OrderID)
	if errors.Is(err, store.ErrNotFound) {
		o := production.Order{ID: p.OrderID, Channel: p.Channel, Status: production.Unconfirmed, Version: 1}
		production.Hold(&o, nil, hold, p.Reason, p.At)
		return a.store.InsertOrder(ctx, tx, o, now)
	}
	if err != nil {
		return err
	}
	ord, ops := w.Order, w.Operations
	ordPrev, opsPrev := ord.Version, versions(ops)
	if !production.Hold(&ord, ops, hold, p.Reason, p.At) {
		return nil
	}
	var writes store.Writes
	saveChanged(&writes, ord, ordPrev, ops, opsPrev, now)
	return stale(a.store.Write(ctx, tx, &writes))
}

// PriceList learns the workstations' names from a published price list.
func (a *App) PriceList(ctx context.Context, tx *sqldb.Tx, p contracts.PriceListV1) error {
	now := a.now()
	for _, w := range p.Workstations {
		if w.Code == "" {
			continue
		}
		if err := a.store.UpsertWorkstation(ctx, tx, w.Code, w.Name, now); err != nil {
			return err
		}
	}
	type label struct{ kind, code, name string }
	var labels []label
	for _, m := range p.Materials {
		labels = append(labels, label{"material", m.Code, m.Name})
	}
	for _, f := range p.Finishes {
		labels = append(labels, label{"finish", f.Code, f.Name})
	}
	for _, pr := range p.Products {
		labels = append(labels, label{"product", pr.Code, pr.Name})
		for _, o := range pr.Operations {
			labels = append(labels, label{"operation", o.Code, o.Name})
		}
	}
	for _, l := range labels {
		if l.code == "" || l.name == "" {
			continue
		}
		if err := a.store.UpsertLabel(ctx, tx, l.kind, l.code, l.name); err != nil {
			return err
		}
	}
	return nil
}
