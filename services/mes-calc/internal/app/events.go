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
//
// Concurrent calculations do not wait for each other: the load is read
// without a lock and booked with conditional upserts; when a day filled up
// meanwhile, the calculation is rolled back and made again
// (store.Schedule).
func (a *App) OnPlaced(ctx context.Context, tx *sqldb.Tx, _ inbox.Message, o contracts.OrderPlacedV1) error {
	if a.cfg.Serial {
		if err := a.store.Serialise(ctx, tx); err != nil {
			return err
		}
	}
	now := a.Now()
	start := calc.DayOf(now).NextWorking()
	began, err := a.store.Start(ctx, tx, o.OrderID, start)
	if err != nil {
		return err
	}
	if !began.Found {
		return errors.New("no price list yet") // retried; New seeds before subscribing
	}
	var prev store.Calculation
	if began.Calculated {
		if prev, err = a.store.GetCalculation(ctx, tx, o.OrderID); err != nil {
			return err
		}
		if prev.Status != store.StatusNeedsReview {
			return a.republish(ctx, tx, prev)
		}
	}
	again := began.Calculated
	pl, err := a.priceList(ctx, tx, began.Version)
	if err != nil {
		return err
	}
	capacity := make(map[string]int64, len(pl.Workstations))
	for _, ws := range pl.Workstations {
		capacity[ws.Code] = calc.Centiminutes(ws.HoursPerDay * 60)
	}
	var c store.Calculation
	var took time.Duration
	attempts, err := a.store.Schedule(ctx, tx, o.OrderID, capacity, start, began.Load, func(load calc.Load) (store.Decision, error) {
		started := time.Now()
		res, err := calc.Calculate(calc.Input{PriceList: pl, Order: o, Now: now, HorizonDays: a.cfg.HorizonDays}, load)
		if err != nil {
			return store.Decision{}, fmt.Errorf("calculate %s: %w", o.OrderID, err)
		}
		took = time.Since(started)
		c = store.Calculation{OrderID: o.OrderID, Channel: o.Channel, PriceListVersion: pl.Version, CalculatedAt: now, UpdatedAt: now}
		var msg outbox.Message
		if res.Priced != nil {
			c.Status, c.Total, c.ShipDate = store.StatusPriced, res.Priced.Total, res.Priced.ShipDate
			msg, err = outbox.NewMessage(contracts.Subject(contracts.OrderPriced), o.OrderID, res.Priced)
		} else {
			review := contracts.OrderNeedsReviewV1{OrderID: o.OrderID, Channel: o.Channel, Reason: res.Review, At: now}
			c.Status, c.Reason = store.StatusNeedsReview, res.Review
			msg, err = outbox.NewMessage(contracts.Subject(contracts.OrderNeedsReview), o.OrderID, review)
		}
		if err != nil {
			return store.Decision{}, err
		}
		c.Result = string(msg.Payload)
		if err := a.out.Enqueue(ctx, tx, msg); err != nil {
			return store.Decision{}, err
		}
		d := store.Decision{OrderID: o.OrderID, Bookings: res.Bookings}
		if again {
			c.CalculatedAt = prev.CalculatedAt
			return d, a.store.ReplaceCalculation(ctx, tx, c)
		}
		d.Record = &c // written with the bookings, last: the busiest rows are locked the shortest time
		return d, nil
	})
	if err != nil {
		return err
	}
	tx.AfterCommit(func() {
		a.metrics.orders.WithLabelValues(c.Status).Inc()
		a.metrics.calcTime.Observe(took.Seconds())
		a.metrics.attempts.Observe(float64(attempts))
	})
	return nil
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
	if _, _, err := a.store.Begin(ctx, tx); err != nil {
		return err
	}
	now := a.Now()
	cancelled, err := a.store.Cancel(ctx, tx, m.OrderID, now)
	if err != nil {
		return err
	}
	if !cancelled {
		_, err := a.store.GetCalculation(ctx, tx, m.OrderID)
		if errors.Is(err, store.ErrNotFound) {
			return a.store.InsertCalculation(ctx, tx, store.Calculation{OrderID: m.OrderID, Status: store.StatusCancelled,
				Channel: m.Channel, CalculatedAt: now, UpdatedAt: now})
		}
		return err // nil: cancelled before
	}
	n, err := a.store.Release(ctx, tx, m.OrderID)
	if err != nil {
		return err
	}
	a.log.InfoContext(ctx, "order cancelled; load released", "order_id", m.OrderID, "bookings", n)
	tx.AfterCommit(func() { a.metrics.orders.WithLabelValues(store.StatusCancelled).Inc() })
	return nil
}
