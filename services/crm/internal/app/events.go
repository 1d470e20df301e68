package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/crm/internal/order"
	"github.com/fabrika/fabrika/services/crm/internal/store"
)

// Handlers are the inbox handlers keyed by subject: order.placed, priced,
// needs_review, in_production, produced, shipped, cancel_requested,
// cancelled and operation.finished. The CRM's own events (confirmed, on
// hold, resumed, assigned, note added, compensation granted) are written
// when the action is taken; order.cancelled is consumed because another
// service may cancel (the CRM's own come back as no-ops: their message id is
// in the timeline already).
func (a *App) Handlers() map[string]inbox.Handler {
	h := map[string]inbox.Handler{
		contracts.Subject(contracts.OrderPlaced): nil, // set below: it replays parked events through h
		contracts.Subject(contracts.OrderPriced): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.OrderPricedV1) error {
			return a.onOrderEvent(ctx, tx, m, contracts.OrderPriced, p.OrderID, p.PricedAt, func(o *store.Order, w *store.Writes) (string, string) {
				a.applyPrice(o, p)
				w.PriceLines(o.ID, p.Lines)
				return fmt.Sprintf("Priced at %s (price list v%d), %d routing steps, ship date %s%s", money(p.Total, p.Currency),
					p.PriceListVersion, len(p.Routing), p.ShipDate, map[bool]string{true: ", rush", false: ""}[p.Rush]), ""
			})
		}),
		contracts.Subject(contracts.OrderNeedsReview): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.OrderNeedsReviewV1) error {
			return a.onOrderEvent(ctx, tx, m, contracts.OrderNeedsReview, p.OrderID, p.At, func(o *store.Order, _ *store.Writes) (string, string) {
				if a.advance(o, contracts.StatusNeedsReview, p.At) {
					o.ReviewReason = p.Reason
				}
				return "Needs review: " + p.Reason, ""
			})
		}),
		contracts.Subject(contracts.OrderInProduction): a.statusHandler(contracts.OrderInProduction, contracts.StatusInProduction, "Production started"),
		contracts.Subject(contracts.OrderProduced):     a.statusHandler(contracts.OrderProduced, contracts.StatusProduced, "Produced"),
		contracts.Subject(contracts.OrderCancelled):    a.statusHandler(contracts.OrderCancelled, contracts.StatusCancelled, "Cancelled"),
		contracts.Subject(contracts.OrderCancelRequested): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.OrderStatusChangedV1) error {
			return a.onOrderEvent(ctx, tx, m, contracts.OrderCancelRequested, p.OrderID, p.At, func(o *store.Order, _ *store.Writes) (string, string) {
				// A request made before the order was cancelled or shipped
				// counts even when it arrives after that (events may come in
				// any order); one made afterwards does not.
				if (o.Status != contracts.StatusCancelled && o.Status != contracts.StatusShipped) || p.At.Before(o.StatusSince) {
					o.CancelRequested = true
				}
				return withReason("The customer asked to cancel", p.Reason), p.By
			})
		}),
		contracts.Subject(contracts.OperationStarted): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.OperationStartedV1) error {
			return a.onStep(ctx, tx, m, contracts.OperationStarted, p.OrderID, p.At, store.Step{LineNo: p.LineNo, Seq: p.Seq,
				Operation: p.Operation, Workstation: p.Workstation, StartedBy: p.Operator, StartedAt: p.At},
				fmt.Sprintf("Line %d step %d %s started on %s", p.LineNo, p.Seq, p.Operation, p.Workstation), p.Operator)
		}),
		contracts.Subject(contracts.OperationFinished): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.OperationFinishedV1) error {
			s := fmt.Sprintf("Line %d step %d %s on %s finished: %d good, %d scrap", p.LineNo, p.Seq, p.Operation, p.Workstation, p.GoodQty, p.ScrapQty)
			if p.ScrapReason != "" {
				s += " (" + p.ScrapReason + ")"
			}
			return a.onStep(ctx, tx, m, contracts.OperationFinished, p.OrderID, p.At, store.Step{LineNo: p.LineNo, Seq: p.Seq,
				Operation: p.Operation, Workstation: p.Workstation, FinishedBy: p.Operator, FinishedAt: p.At}, s, p.Operator)
		}),
		contracts.Subject(contracts.OrderShipped): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.OrderShippedV1) error {
			return a.onOrderEvent(ctx, tx, m, contracts.OrderShipped, p.OrderID, p.At, func(o *store.Order, _ *store.Writes) (string, string) {
				if a.advance(o, contracts.StatusShipped, p.At) {
					o.Carrier, o.TrackingNumber = p.Carrier, p.TrackingNumber
				}
				return fmt.Sprintf("Shipped with %s, tracking number %s", p.Carrier, p.TrackingNumber), p.By
			})
		}),
	}
	h[contracts.Subject(contracts.OrderPlaced)] = inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.OrderPlacedV1) error {
		return a.onPlaced(ctx, tx, m, p, h)
	})
	return h
}

func withReason(s, reason string) string {
	if reason != "" {
		return s + ": " + reason
	}
	return s
}

func (a *App) statusHandler(eventType, status, text string) inbox.Handler {
	return inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.OrderStatusChangedV1) error {
		return a.onOrderEvent(ctx, tx, m, eventType, p.OrderID, p.At, func(o *store.Order, w *store.Writes) (string, string) {
			if a.advance(o, status, p.At) && status == contracts.StatusCancelled {
				uncount(o, w)
				o.CancelReason = p.Reason
			}
			return withReason(text, p.Reason), p.By
		})
	})
}

// advance moves o to status if that is forward; it tells whether it did.
func (a *App) advance(o *store.Order, status string, at time.Time) bool {
	ns, changed := o.State().Advance(status)
	if !changed {
		return false
	}
	if ns.Status != o.Status {
		o.StatusSince = at
	}
	o.Status, o.HeldFrom = ns.Status, ns.HeldFrom
	return true
}

// applyPrice keeps the binding price whatever the status (a late price is
// still the price), and moves the status to priced when that is forward.
func (a *App) applyPrice(o *store.Order, p contracts.OrderPricedV1) {
	a.advance(o, contracts.StatusPriced, p.PricedAt)
	o.Priced = true
	o.Total = p.Total
	if o.Status != contracts.StatusCancelled {
		o.CountedTotal = p.Total
	}
	o.CalcVersion = p.PriceListVersion
	o.Routing, o.ShipDate, o.LeadDays, o.Rush = p.Routing, p.ShipDate, p.LeadDays, p.Rush
	if o.Currency == "" {
		o.Currency = p.Currency
	}
}

// uncount takes a cancelled order out of its customer's total spent.
func uncount(o *store.Order, w *store.Writes) {
	if o.CountedTotal == 0 {
		return
	}
	w.AddToCustomer(o.CustomerID, 0, -o.CountedTotal, o.Currency)
	o.CountedTotal = 0
}

// onOrderEvent applies an event to a known order, or parks it until the
// order arrives. apply changes the order in memory, adds the event's own
// writes to w and returns the timeline summary and who caused the event;
// the order, its timeline entry and those writes are then made together.
func (a *App) onOrderEvent(ctx context.Context, tx *sqldb.Tx, m inbox.Message, eventType, orderID string, at time.Time,
	apply func(o *store.Order, w *store.Writes) (summary, by string)) error {
	o, ok, err := a.orderFor(ctx, tx, m, eventType, orderID, at)
	if err != nil || !ok {
		return err
	}
	before := o
	beforeCounted := o.CountedTotal
	var w store.Writes
	summary, by := apply(&o, &w)
	if o.CountedTotal != beforeCounted && o.Status != contracts.StatusCancelled {
		w.AddToCustomer(o.CustomerID, 0, o.CountedTotal-beforeCounted, o.Currency)
	}
	if changed(before, o) {
		o.UpdatedAt = a.now()
		w.SaveOrder(o, before.Version, before.Status)
	}
	if before.Status == o.Status && isStatusEvent(eventType) && statusOf(eventType) != o.Status {
		summary += " (status stays " + o.Status + ")"
	}
	w.AddEvent(store.Event{OrderID: orderID, MessageID: m.ID, Type: eventType,
		Source: order.Source(eventType, o.Channel), At: at, RecordedAt: a.now(), By: by, Summary: summary})
	if err := a.store.Write(ctx, tx, &w); err != nil {
		return err
	}
	facts := store.ListFactsOf(before)
	a.orderChanged(tx, pageChange{OrderID: o.ID, Before: &facts, After: store.ListFactsOf(o)})
	return nil
}

// orderFor reads the order an event is for; ok is false when there is
// nothing more to do: the event's message is in its timeline already, or
// the order is not here and the event was parked.
func (a *App) orderFor(ctx context.Context, tx *sqldb.Tx, m inbox.Message, eventType, orderID string, at time.Time) (o store.Order, ok bool, err error) {
	o, seen, err := a.store.OrderForEvent(ctx, tx, orderID, m.ID)
	if errors.Is(err, order.ErrNotFound) {
		// Another replica may be creating it right now: wait for it, look
		// again, park only if it is still missing (see store.LockArrival).
		if err := a.store.LockArrival(ctx, tx, orderID); err != nil {
			return o, false, err
		}
		o, seen, err = a.store.OrderForEvent(ctx, tx, orderID, m.ID)
	}
	if errors.Is(err, order.ErrNotFound) {
		err = a.store.Park(ctx, tx, store.Parked{MessageID: m.ID, OrderID: orderID, Type: eventType, Payload: m.Payload, At: at, ReceivedAt: a.now()})
		return o, false, err
	}
	return o, err == nil && !seen, err
}

// onStep records a step of the order's routing that the shop floor started
// or finished: the step and the timeline entry, written without reading the
// order (store.RecordStep). Only when they were not written is the order
// read: the event is parked, or was recorded before, or the order arrived
// meanwhile and they are written now. Neither the list nor its counters
// change: the cached pages stay.
func (a *App) onStep(ctx context.Context, tx *sqldb.Tx, m inbox.Message, eventType, orderID string, at time.Time, step store.Step, summary, by string) error {
	e := store.Event{OrderID: orderID, MessageID: m.ID, Type: eventType, Source: order.Source(eventType, ""), At: at,
		RecordedAt: a.now(), By: by, Summary: summary}
	recorded, err := a.store.RecordStep(ctx, tx, step, e)
	if err != nil || recorded {
		return err
	}
	if _, ok, err := a.orderFor(ctx, tx, m, eventType, orderID, at); err != nil || !ok {
		return err
	}
	_, err = a.store.RecordStep(ctx, tx, step, e)
	return err
}

// statusOf is the status an incoming event sets; the CRM's own decisions
// (confirmed, on hold) are made by its actions, not by events.
func statusOf(eventType string) string {
	if eventType == contracts.OrderConfirmed || eventType == contracts.OrderOnHold {
		return ""
	}
	return contracts.StatusAfter(eventType)
}

func isStatusEvent(eventType string) bool { return statusOf(eventType) != "" }

func changed(a, b store.Order) bool {
	return a.Status != b.Status || a.HeldFrom != b.HeldFrom || a.Total != b.Total || a.CountedTotal != b.CountedTotal ||
		a.Priced != b.Priced || a.CalcVersion != b.CalcVersion || a.ShipDate != b.ShipDate || a.ReviewReason != b.ReviewReason ||
		a.CancelRequested != b.CancelRequested || a.CancelReason != b.CancelReason || a.Carrier != b.Carrier ||
		a.TrackingNumber != b.TrackingNumber || a.Manager != b.Manager || len(a.Routing) != len(b.Routing) || a.Rush != b.Rush
}

// onPlaced creates the customer, the order with its lines and its read
// model row, then applies the events that were parked for it, all in the
// inbox's transaction: one read (is the order known, are events parked, the
// customer's contact data) and the writes together.
func (a *App) onPlaced(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.OrderPlacedV1, handlers map[string]inbox.Handler) error {
	now := a.now()
	c := store.Customer{ID: p.Customer.ID, Kind: store.KindPerson, Name: p.Customer.Name, Email: p.Customer.Email,
		Company: p.Customer.Company, Phone: p.Customer.Phone, Currency: p.Currency}
	if strings.TrimSpace(c.Company) != "" {
		c.Kind = store.KindCompany
	}
	o := store.Order{ID: p.OrderID, Number: p.Number, Channel: p.Channel, CustomerID: c.ID, Status: contracts.StatusPlaced,
		StatusSince: p.PlacedAt, Version: 1, Currency: p.Currency, QuotedTotal: p.QuotedTotal, Total: p.QuotedTotal,
		CountedTotal: p.QuotedTotal, PriceListVersion: p.PriceListVersion, Delivery: p.Delivery, PlacedAt: p.PlacedAt, UpdatedAt: now}
	lines := make([]store.Line, len(p.Lines))
	for i, l := range p.Lines {
		lines[i] = store.Line{LineNo: l.LineNo, Product: l.Product, Options: l.Options, Quantity: l.Quantity, Lead: l.Lead,
			UnitPrice: l.UnitPrice, Total: l.Total}
	}
	// Taken before the read: the order and its parked events are as the
	// last transaction of its arrival left them.
	if err := a.store.LockArrival(ctx, tx, o.ID); err != nil {
		return err
	}
	known, err := a.store.Placing(ctx, tx, o.ID, c.ID)
	if err != nil || known.Known {
		return err // an order.placed seen before under another message id changes nothing
	}
	var w store.Writes
	switch {
	case known.Customer.ID == "":
		w.InsertCustomer(c, now)
	case known.Customer.Contact() != c.Contact():
		w.RefreshCustomer(c, now)
	}
	w.InsertOrder(o, lines)
	w.AddToCustomer(c.ID, 1, o.CountedTotal, o.Currency)
	row := store.ListRow{OrderID: o.ID, Number: o.Number, Channel: o.Channel, Status: o.Status,
		StatusSince: o.StatusSince, PlacedAt: o.PlacedAt, Total: o.Total, Currency: o.Currency, CustomerID: c.ID,
		CustomerName: c.Name, CustomerEmail: c.Email, CustomerCompany: c.Company}
	w.InsertListRow(row)
	summary := fmt.Sprintf("Order %s placed through %s: %d line(s), quoted %s", p.Number, p.Channel, len(p.Lines), money(p.QuotedTotal, p.Currency))
	w.AddEvent(store.Event{OrderID: o.ID, MessageID: m.ID, Type: contracts.OrderPlaced,
		Source: order.Source(contracts.OrderPlaced, p.Channel), At: p.PlacedAt, RecordedAt: now, By: p.Customer.Name, Summary: summary})
	a.customersGained(tx, w.CustomerTokens())
	if err := a.store.Write(ctx, tx, &w); err != nil {
		return err
	}
	a.orderChanged(tx, pageChange{OrderID: o.ID, After: row.Facts(), Tokens: w.CustomerTokens()}) // the tokens InsertListRow wrote
	if known.Parked == 0 {
		return nil
	}
	parked, err := a.store.TakeParked(ctx, tx, o.ID)
	if err != nil {
		return err
	}
	for _, pk := range parked {
		subject := contracts.Subject(pk.Type)
		h, ok := handlers[subject]
		if !ok {
			continue
		}
		if err := h(ctx, tx, inbox.Message{ID: pk.MessageID, Subject: subject, Key: o.ID, Payload: pk.Payload}); err != nil {
			return fmt.Errorf("apply parked %s %s: %w", pk.Type, pk.MessageID, err)
		}
	}
	return nil
}
