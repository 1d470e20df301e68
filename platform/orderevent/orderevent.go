// Package orderevent subscribes a service to the events of an order's life
// after its placement (priced, needs review, confirmed, on hold, resumed, in
// production, produced, shipped, cancelled) in one shape, for the services
// that follow an order's status without deciding it: the shop's timeline
// and mes-api's webhooks.
package orderevent

import (
	"context"
	"encoding/json"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
)

// Event is what one of those events says about an order. Priced, Confirmed
// and Shipped hold the payload of their event type, nil for the others.
type Event struct {
	MsgID   string // the message's id: the same for every delivery of it
	Type    string // contracts.OrderPriced, contracts.OrderOnHold, ...
	OrderID string
	Channel string // through which the order entered (contracts.ChannelShop, ChannelAPI); "" when the event does not say
	At      time.Time
	Reason  string // of a review, a hold, a resumption or a cancellation

	Priced    *contracts.OrderPricedV1
	Confirmed *contracts.OrderConfirmedV1
	Shipped   *contracts.OrderShippedV1
}

// Elsewhere tells whether the event says that its order entered the
// platform through another channel than channel: a service that follows
// only its own channel's orders then has nothing to read (an event that
// does not say is looked up).
func (e Event) Elsewhere(channel string) bool { return e.Channel != "" && e.Channel != channel }

// Handlers returns the inbox handlers of the events, by subject; each
// calls apply in the inbox's transaction.
func Handlers(apply func(ctx context.Context, tx *sqldb.Tx, e Event) error) map[string]inbox.Handler {
	h := map[string]inbox.Handler{
		contracts.Subject(contracts.OrderPriced): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.OrderPricedV1) error {
			return apply(ctx, tx, Event{MsgID: m.ID, Type: contracts.OrderPriced, OrderID: p.OrderID, Channel: p.Channel, At: p.PricedAt, Priced: &p})
		}),
		contracts.Subject(contracts.OrderNeedsReview): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.OrderNeedsReviewV1) error {
			return apply(ctx, tx, Event{MsgID: m.ID, Type: contracts.OrderNeedsReview, OrderID: p.OrderID, Channel: p.Channel, At: p.At, Reason: p.Reason})
		}),
		contracts.Subject(contracts.OrderConfirmed): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.OrderConfirmedV1) error {
			return apply(ctx, tx, Event{MsgID: m.ID, Type: contracts.OrderConfirmed, OrderID: p.OrderID, Channel: p.Channel, At: p.At, Confirmed: &p})
		}),
		contracts.Subject(contracts.OrderShipped): inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.OrderShippedV1) error {
			return apply(ctx, tx, Event{MsgID: m.ID, Type: contracts.OrderShipped, OrderID: p.OrderID, Channel: p.Channel, At: p.At, Shipped: &p})
		}),
	}
	for _, t := range []string{contracts.OrderOnHold, contracts.OrderResumed, contracts.OrderInProduction, contracts.OrderProduced, contracts.OrderCancelled} {
		h[contracts.Subject(t)] = inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.OrderStatusChangedV1) error {
			return apply(ctx, tx, Event{MsgID: m.ID, Type: t, OrderID: p.OrderID, Channel: p.Channel, At: p.At, Reason: p.Reason})
		})
	}
	return h
}

// OtherChannel is an inbox subscription's Skip for a service that follows
// only channel's orders: an event of Handlers that says its order entered
// through another channel is acked without a transaction (an event that
// does not say, or does not decode, goes to its handler, which looks it up
// or dead-letters it).
func OtherChannel(channel string) func(inbox.Message) bool {
	subjects := Handlers(nil)
	return func(m inbox.Message) bool {
		if _, ok := subjects[m.Subject]; !ok {
			return false
		}
		var p struct {
			Channel string `json:"channel"`
		}
		return json.Unmarshal(m.Payload, &p) == nil && Event{Channel: p.Channel}.Elsewhere(channel)
	}
}
