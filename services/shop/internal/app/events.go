package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/shop/internal/order"
	"github.com/fabrika/fabrika/services/shop/internal/store"
)

// Handlers returns the inbox handlers of the events that fill the timeline
// of the shop's orders, by subject.
func (s *Shop) Handlers() map[string]inbox.Handler {
	status := func(eventType string) inbox.Handler {
		return inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.OrderStatusChangedV1) error {
			return s.apply(ctx, tx, m.ID, eventType, p.OrderID, p.At, p.Reason, nil)
		})
	}
	return map[string]inbox.Handler{
		contracts.Subject(contracts.OrderPriced): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.OrderPricedV1) error {
			detail := fmt.Sprintf("Binding price %s, ships by %s", money(p.Total, p.Currency), p.ShipDate)
			return s.apply(ctx, tx, m.ID, contracts.OrderPriced, p.OrderID, p.PricedAt, detail, func(ctx context.Context, tx *sqldb.Tx) error {
				return s.st.SetPriced(ctx, tx, p.OrderID, p.Total, p.ShipDate)
			})
		}),
		contracts.Subject(contracts.OrderNeedsReview): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.OrderNeedsReviewV1) error {
			return s.apply(ctx, tx, m.ID, contracts.OrderNeedsReview, p.OrderID, p.At, p.Reason, nil)
		}),
		contracts.Subject(contracts.OrderConfirmed): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.OrderConfirmedV1) error {
			detail := ""
			if p.ShipDate != "" {
				detail = "Ships by " + p.ShipDate
			}
			return s.apply(ctx, tx, m.ID, contracts.OrderConfirmed, p.OrderID, p.At, detail, func(ctx context.Context, tx *sqldb.Tx) error {
				if p.ShipDate == "" {
					return nil
				}
				return s.st.SetShipDate(ctx, tx, p.OrderID, p.ShipDate)
			})
		}),
		contracts.Subject(contracts.OrderOnHold):       status(contracts.OrderOnHold),
		contracts.Subject(contracts.OrderResumed):      status(contracts.OrderResumed),
		contracts.Subject(contracts.OrderInProduction): status(contracts.OrderInProduction),
		contracts.Subject(contracts.OrderProduced):     status(contracts.OrderProduced),
		contracts.Subject(contracts.OrderCancelled):    status(contracts.OrderCancelled),
		contracts.Subject(contracts.OrderShipped): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.OrderShippedV1) error {
			detail := fmt.Sprintf("%s, tracking number %s", p.Carrier, p.TrackingNumber)
			return s.apply(ctx, tx, m.ID, contracts.OrderShipped, p.OrderID, p.At, detail, func(ctx context.Context, tx *sqldb.Tx) error {
				return s.st.SetShipped(ctx, tx, p.OrderID, p.Carrier, p.TrackingNumber)
			})
		}),
		contracts.Subject(contracts.CompensationGranted): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.CompensationGrantedV1) error {
			if p.OrderID == "" {
				return nil // a compensation not tied to an order has no timeline here
			}
			return s.applyEvent(ctx, tx, store.Event{ID: m.ID, OrderID: p.OrderID, Kind: contracts.CompensationGranted, At: p.At,
				Detail: p.Kind + ": " + p.Reason, Amount: p.Amount, Currency: p.Currency}, nil)
		}),
	}
}

// PriceListHandlers returns the inbox handler of published price lists.
func (s *Shop) PriceListHandlers() map[string]inbox.Handler {
	return map[string]inbox.Handler{
		contracts.Subject(contracts.PriceListPublished): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, _ inbox.Message, p contracts.PriceListV1) error {
			return s.ReceivePriceList(ctx, tx, p)
		}),
	}
}

func (s *Shop) apply(ctx context.Context, tx *sqldb.Tx, msgID, eventType, orderID string, at time.Time, detail string, extra func(context.Context, *sqldb.Tx) error) error {
	return s.applyEvent(ctx, tx, store.Event{ID: msgID, OrderID: orderID, Kind: eventType, At: at, Detail: detail}, extra)
}

// applyEvent adds an event to the timeline of an order the shop owns and
// moves its status forward. Events of orders the shop does not know (API
// orders) are ignored: they are normal, not errors.
func (s *Shop) applyEvent(ctx context.Context, tx *sqldb.Tx, e store.Event, extra func(context.Context, *sqldb.Tx) error) error {
	if !order.ValidID(e.OrderID) {
		return nil // not an id the shop hands out
	}
	o, err := s.st.OrderHead(ctx, tx, e.OrderID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	// Only the latest hold or resume counts, whatever order they arrive in:
	// an older one goes into the timeline but does not move the status.
	stale := false
	if e.Kind == contracts.OrderOnHold || e.Kind == contracts.OrderResumed {
		latest, err := s.st.LatestHoldChange(ctx, tx, e.OrderID)
		if err != nil {
			return err
		}
		stale = !latest.IsZero() && !e.At.After(latest)
	}
	added, err := s.st.AddEvent(ctx, tx, e)
	if err != nil || !added {
		return err
	}
	// The status, price or cancellation shown in "my orders" may change.
	tx.AfterCommit(func() { s.caches.Invalidate(cacheOrders, o.CustomerID) })
	if next, changed := order.Next(o.Status, e.Kind); changed && !stale {
		if err := s.st.SetStatus(ctx, tx, o.ID, o.Status, next, s.now()); err != nil {
			return err
		}
	}
	if extra != nil {
		return extra(ctx, tx)
	}
	return nil
}

func money(amount int64, currency string) string {
	return fmt.Sprintf("%d.%02d %s", amount/100, amount%100, currency)
}
