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
		if e.Elsewhere(contracts.ChannelShop) {
			return nil // an API order: not the shop's
		}
		detail := e.Reason
		var set func(*store.Order) // what the event changes besides the status
		switch {
		case e.Priced != nil:
			detail = fmt.Sprintf("Binding price %s, ships by %s", money(e.Priced.Total, e.Priced.Currency), e.Priced.ShipDate)
			set = func(o *store.Order) { o.PricedTotal, o.ShipDate = e.Priced.Total, e.Priced.ShipDate }
		case e.Confirmed != nil && e.Confirmed.ShipDate != "":
			detail = "Ships by " + e.Confirmed.ShipDate
			set = func(o *store.Order) { o.ShipDate = e.Confirmed.ShipDate }
		case e.Shipped != nil:
			detail = fmt.Sprintf("%s, tracking number %s", e.Shipped.Carrier, e.Shipped.TrackingNumber)
			set = func(o *store.Order) { o.Carrier, o.TrackingNumber = e.Shipped.Carrier, e.Shipped.TrackingNumber }
		}
		return s.applyEvent(ctx, tx, store.Event{ID: e.MsgID, OrderID: e.OrderID, Kind: e.Type, At: e.At, Detail: detail}, set)
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
// moves its status forward; set, when not nil, changes the other fields the
// event carries. Events of orders the shop does not know (API orders) are
// ignored: they are normal, not errors.
func (s *Shop) applyEvent(ctx context.Context, tx *sqldb.Tx, e store.Event, set func(*store.Order)) error {
	if !order.ValidID(e.OrderID) {
		return nil // not an id the shop hands out
	}
	// Read with the row's lock: another replica handling another event of
	// the order at once must not read the status this one is about to change.
	o, err := s.st.OrderForUpdate(ctx, tx, e.OrderID)
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
	before := o
	if next, changed := order.Next(o.Status, e.Kind); changed && !stale {
		o.Status, o.UpdatedAt = next, s.now()
	}
	if set != nil {
		set(&o)
	}
	var changed *store.Order
	if o.Status != before.Status || o.PricedTotal != before.PricedTotal || o.ShipDate != before.ShipDate ||
		o.Carrier != before.Carrier || o.TrackingNumber != before.TrackingNumber {
		changed = &o
	}
	added, err := s.st.ApplyEvent(ctx, tx, e, changed)
	if err != nil || !added {
		return err
	}
	// The status, price or cancellation shown in "my orders" may change.
	tx.AfterCommit(func() { s.caches.Invalidate(cacheOrders, o.CustomerID) })
	return nil
}

func money(amount int64, currency string) string {
	return fmt.Sprintf("%d.%02d %s", amount/100, amount%100, currency)
}
