package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/mes-calc/internal/calc"
	"github.com/fabrika/fabrika/services/mes-calc/internal/store"
)

// OnPlaced calculates an order once: the calculation, the load it books and
// the order.priced (or order.needs_review) event are written in the inbox's
// transaction. A second order.placed of a priced order (a re-send, with
// another message id) books nothing; it re-publishes the first outcome, so
// a producer that re-sent because it missed the answer gets it. An order
// that needed review booked nothing: a re-send calculates it again (after
// the price list was fixed, say).
func (a *App) OnPlaced(ctx context.Context, tx *sqldb.Tx, _ inbox.Message, o contracts.OrderPlacedV1) error {
	version, found, err := store.Lock(ctx, tx)
	if err != nil {
		return err
	}
	if !found {
		return errors.New("no price list yet") // retried; New seeds before subscribing
	}
	prev, err := store.GetCalculation(ctx, tx, o.OrderID)
	again := err == nil && prev.Status == store.StatusNeedsReview
	switch {
	case err == nil && !again:
		return a.republish(ctx, tx, prev)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	}
	pl, err := a.priceList(ctx, tx, version)
	if err != nil {
		return err
	}
	now := a.Now()
	load := store.NewLoad(ctx, tx)
	started := time.Now()
	res, err := calc.Calculate(calc.Input{PriceList: pl, Order: o, Now: now, HorizonDays: a.cfg.HorizonDays}, load)
	if err != nil {
		return fmt.Errorf("calculate %s: %w", o.OrderID, err)
	}
	took := time.Since(started)
	c := store.Calculation{OrderID: o.OrderID, Channel: o.Channel, PriceListVersion: pl.Version, CalculatedAt: now, UpdatedAt: now}
	var msg outbox.Message
	if res.Priced != nil {
		capacity := make(map[string]int64, len(pl.Workstations))
		for _, ws := range pl.Workstations {
			capacity[ws.Code] = calc.Centiminutes(ws.HoursPerDay * 60)
		}
		if err := store.Book(ctx, tx, load, o.OrderID, res.Bookings, capacity, calc.DayOf(now).NextWorking()); err != nil {
			return err
		}
		c.Status, c.Total, c.ShipDate = store.StatusPriced, res.Priced.Total, res.Priced.ShipDate
		if msg, err = outbox.NewMessage(contracts.Subject(contracts.OrderPriced), o.OrderID, res.Priced); err != nil {
			return err
		}
	} else {
		review := contracts.OrderNeedsReviewV1{OrderID: o.OrderID, Channel: o.Channel, Reason: res.Review, At: now}
		c.Status, c.Reason = store.StatusNeedsReview, res.Review
		if msg, err = outbox.NewMessage(contracts.Subject(contracts.OrderNeedsReview), o.OrderID, review); err != nil {
			return err
		}
	}
	c.Result = string(msg.Payload)
	save := store.InsertCalculation
	if again {
		c.CalculatedAt = prev.CalculatedAt
		save = store.ReplaceCalculation
	}
	if err := save(ctx, tx, c); err != nil {
		return err
	}
	tx.AfterCommit(func() {
		a.metrics.orders.WithLabelValues(c.Status).Inc()
		a.metrics.calcTime.Observe(took.Seconds())
	})
	return a.out.Enqueue(ctx, tx, msg)
}

func (a *App) republish(ctx context.Context, tx *sqldb.Tx, c store.Calculation) error {
	var subject string
	switch c.Status {
	case store.StatusPriced:
		subject = contracts.Subject(contracts.OrderPriced)
	default:
		return nil // cancelled: nothing to say
	}
	a.log.InfoContext(ctx, "order calculated before; re-publishing its outcome", "order_id", c.OrderID, "status", c.Status)
	tx.AfterCommit(func() { a.metrics.orders.WithLabelValues("republished").Inc() })
	msg, err := outbox.NewMessage(subject, c.OrderID, json.RawMessage(c.Result))
	if err != nil {
		return err
	}
	return a.out.Enqueue(ctx, tx, msg)
}

// OnCancelled releases the load an order booked. A cancellation that comes
// before the order itself is remembered, so the order is then not booked.
func (a *App) OnCancelled(ctx context.Context, tx *sqldb.Tx, _ inbox.Message, m contracts.OrderStatusChangedV1) error {
	if _, _, err := store.Lock(ctx, tx); err != nil {
		return err
	}
	now := a.Now()
	c, err := store.GetCalculation(ctx, tx, m.OrderID)
	if errors.Is(err, store.ErrNotFound) {
		return store.InsertCalculation(ctx, tx, store.Calculation{OrderID: m.OrderID, Status: store.StatusCancelled,
			Channel: m.Channel, CalculatedAt: now, UpdatedAt: now})
	}
	if err != nil || c.Status == store.StatusCancelled {
		return err
	}
	n, err := store.Release(ctx, tx, m.OrderID)
	if err != nil {
		return err
	}
	a.log.InfoContext(ctx, "order cancelled; load released", "order_id", m.OrderID, "bookings", n)
	tx.AfterCommit(func() { a.metrics.orders.WithLabelValues(store.StatusCancelled).Inc() })
	return store.SetStatus(ctx, tx, m.OrderID, store.StatusCancelled, now)
}
