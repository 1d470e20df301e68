package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/orderevent"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/shop/internal/order"
	"github.com/fabrika/fabrika/services/shop/internal/store"
)

// Handlers returns the inbox handlers of the events that fill the timeline
// of the shop's orders, by subject.
func (s *Shop) Handlers() map[string]inbox.Handler {
	h := orderevent.Handlers(func(ctx context.Context, tx *sqldb.Tx, e orderevent.Event) error {
		detail := e.Reason
		var extra func(context.Context, *sqldb.Tx) error // what the event changes besides the status
		switch {
		case e.Priced != nil:
			detail = fmt.Sprintf("Binding price %s, ships by %s", money(e.Priced.Total, e.Priced.Currency), e.Priced.ShipDate)
			extra = func(ctx context.Context, tx *sqldb.Tx) error {
				return s.st.SetPriced(ctx, tx, e.OrderID, e.Priced.Total, e.Priced.ShipDate)
			}
		case e.Confirmed != nil && e.Confirmed.ShipDate != "":
			detail = "Ships by " + e.Confirmed.ShipDate
			extra = func(ctx context.Context, tx *sqldb.Tx) error {
				return s.st.SetShipDate(ctx, tx, e.OrderID, e.Confirmed.ShipDate)
			}
		case e.Shipped != nil:
			detail = fmt.Sprintf("%s, tracking number %s", e.Shipped.Carrier, e.Shipped.TrackingNumber)
			extra = func(ctx context.Context, tx *sqldb.Tx) error {
				return s.st.SetShipped(ctx, tx, e.OrderID, e.Shipped.Carrier, e.Shipped.TrackingNumber)
			}
		}
		return s.applyEvent(ctx, tx, store.Event{ID: e.MsgID, OrderID: e.OrderID, Kind: e.Type, At: e.At, Detail: detail}, extra)
	})
	h[contracts.Subject(contracts.CompensationGranted)] = inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.CompensationGrantedV1) error {
		if p.OrderID == "" {
			return nil // a compensation not tied to an order has no timeline here
		}
		return s.applyEvent(ctx, tx, store.Event{ID: m.ID, OrderID: p.OrderID, Kind: contracts.CompensationGranted, At: p.At,
			Detail: p.Kind + ": " + p.Reason, Amount: p.Amount, Currency: p.Currency}, nil)
	})
	return h
}

// PriceListHandlers returns the inbox handler of published price lists.
func (s *Shop) PriceListHandlers() map[string]inbox.Handler {
	return map[string]inbox.Handler{
		contracts.Subject(contracts.PriceListPublished): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, _ inbox.Message, p contracts.PriceListV1) error {
			return s.ReceivePriceList(ctx, tx, p)
		}),
	}
}

// applyEvent adds an event to the timeline of an order the shop owns and
// moves its status forward. Events of orders the shop does not know (API
// orders) are ignored: they are normal, not errors.
func (s *Shop) applyEvent(ctx context.Context, tx *sqldb.Tx, e store.Event, extra func(context.Context, *sqldb.Tx) error) error {
	if !order.ValidID(e.OrderID) {
		return nil // not an id the shop hands out
	}
	// The row's lock first: another replica handling another event of the
	// order at once must not read the status this one is about to change.
	if err := s.st.LockOrder(ctx, tx, e.OrderID); err != nil {
		return err
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
