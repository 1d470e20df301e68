package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/orderevent"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/mes-api/internal/store"
)

// Handlers returns the inbox handlers of the order status events, keyed by
// subject.
func (a *App) Handlers() map[string]inbox.Handler {
	return orderevent.Handlers(func(ctx context.Context, tx *sqldb.Tx, e orderevent.Event) error {
		if e.Elsewhere(contracts.ChannelAPI) {
			return nil // a shop order: not one of the clients'
		}
		var set func(*store.Order)
		switch {
		case e.Priced != nil:
			set = func(o *store.Order) {
				o.PricedTotal, o.ShipDate, o.LeadDays = e.Priced.Total, e.Priced.ShipDate, e.Priced.LeadDays
			}
		case e.Confirmed != nil && e.Confirmed.ShipDate != "":
			set = func(o *store.Order) { o.ShipDate = e.Confirmed.ShipDate }
		case e.Shipped != nil:
			set = func(o *store.Order) { o.Carrier, o.TrackingNumber = e.Shipped.Carrier, e.Shipped.TrackingNumber }
		}
		return a.applyEvent(ctx, tx, e.OrderID, e.Type, e.At, e.Reason, set)
	})
}

// PriceListHandlers returns the inbox handler of published price lists.
func (a *App) PriceListHandlers() map[string]inbox.Handler {
	return map[string]inbox.Handler{
		contracts.Subject(contracts.PriceListPublished): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, _ inbox.Message, p contracts.PriceListV1) error {
			saved, err := a.store.SavePriceList(ctx, tx, p, a.now())
			if err != nil || !saved {
				return err
			}
			tx.AfterCommit(func() {
				a.keepPriceList(&p) // another worker may have stored a newer one meanwhile
				a.cfg.Caches.Invalidate(cachePriceList, "")
			})
			return nil
		}),
	}
}

// applyEvent records what an event says about one of the clients' orders
// and, when its status changed, enqueues a webhook delivery to each endpoint
// of the client that wants the event, in the same transaction. Events of
// orders placed elsewhere are acknowledged and ignored.
func (a *App) applyEvent(ctx context.Context, tx *sqldb.Tx, orderID, event string, at time.Time, reason string, set func(*store.Order)) error {
	o, endpoints, err := a.store.OrderForEvent(ctx, tx, orderID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	prev := o.Status
	if event == contracts.OrderOnHold || event == contracts.OrderResumed {
		// Only the latest hold or resume counts, whatever order they
		// arrive in: an older one is stale; a newer one is remembered even
		// when it changes nothing yet (a resume before its hold).
		if !o.HoldAt.IsZero() && !at.After(o.HoldAt) {
			return nil
		}
		o.HoldAt = at
	}
	status, before, changed := transition(o.Status, o.StatusBeforeHold, event)
	if set != nil {
		set(&o)
	}
	o.Status, o.StatusBeforeHold, o.UpdatedAt = status, before, a.now()
	if changed && (reason != "" || event == contracts.OrderResumed) {
		o.Reason = reason
	}
	if !changed {
		return a.store.SaveEvent(ctx, tx, o, nil)
	}
	if at.IsZero() {
		at = a.now()
	}
	h := store.HistoryEntry{Event: event, Status: status, Reason: reason, At: at.UTC()}
	if err := a.store.SaveEvent(ctx, tx, o, &h); err != nil {
		return err
	}
	if endpoints == 0 {
		return nil // most clients have no webhook endpoint
	}
	return a.enqueueWebhooks(ctx, tx, o, event, prev, at)
}

// WebhookPayload is the body of a webhook delivery (Standard Webhooks'
// type, timestamp, data).
type WebhookPayload struct {
	Type      string      `json:"type"`
	Timestamp time.Time   `json:"timestamp"`
	Data      WebhookData `json:"data"`
}

// WebhookData is what a delivery says about the order.
type WebhookData struct {
	PreviousStatus string      `json:"previous_status"`
	Order          store.Order `json:"order"`
}

// enqueueWebhooks enqueues the deliveries of an event to the client's
// endpoints that want it. o is the order as changed by the event, without
// its history: that is read only when a delivery carries it.
func (a *App) enqueueWebhooks(ctx context.Context, tx *sqldb.Tx, o store.Order, event, prev string, at time.Time) error {
	eps, err := a.store.ListEndpoints(ctx, tx, o.ClientID)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(eps, func(e store.Endpoint) bool { return e.Wants(event) }) {
		return nil
	}
	if o.History, err = a.store.History(ctx, tx, o.ID); err != nil {
		return err
	}
	body, err := json.Marshal(WebhookPayload{Type: event, Timestamp: at.UTC(), Data: WebhookData{PreviousStatus: prev, Order: o}})
	if err != nil {
		return fmt.Errorf("marshal webhook payload: %w", err)
	}
	now := a.now()
	n := 0
	for _, e := range eps {
		if !e.Wants(event) {
			continue
		}
		d := store.Delivery{ID: store.NewID(), MsgID: "msg_" + store.NewID(), EndpointID: e.ID, ClientID: o.ClientID, OrderID: o.ID,
			EventType: event, Payload: string(body), NextAttemptAt: now, CreatedAt: now, GiveUpAt: now.Add(a.cfg.WebhookRetryFor)}
		if err := a.store.InsertDelivery(ctx, tx, d); err != nil {
			return err
		}
		n++
	}
	if n > 0 {
		tx.AfterCommit(a.Wake)
	}
	return nil
}
