package orderevent_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/inbox/inboxtest"
	"github.com/fabrika/fabrika/platform/orderevent"
	"github.com/fabrika/fabrika/platform/sqldb"
)

// Every event type gives its order's channel, and Elsewhere skips only the
// events that name another channel than the one asked about; an event that
// names none (status changes and shipments may not) is never skipped.
func TestChannel(t *testing.T) {
	t.Parallel()
	var got orderevent.Event
	h := orderevent.Handlers(func(_ context.Context, _ *sqldb.Tx, e orderevent.Event) error {
		got = e
		return nil
	})
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	for _, channel := range []string{contracts.ChannelShop, contracts.ChannelAPI, ""} {
		s := inboxtest.OrderStory("o-1", channel, t0)
		events := []inboxtest.Event{inboxtest.E(contracts.OrderShipped, s.Shipped), inboxtest.E(contracts.OrderOnHold, s.OnHold),
			inboxtest.E(contracts.OrderResumed, s.Resumed), inboxtest.E(contracts.OrderInProduction, s.InProduction),
			inboxtest.E(contracts.OrderProduced, s.Produced), inboxtest.E(contracts.OrderCancelled, s.Cancelled)}
		if channel != "" { // their payloads always name it
			events = append(events, inboxtest.E(contracts.OrderPriced, s.Priced), inboxtest.E(contracts.OrderConfirmed, s.Confirmed),
				inboxtest.E(contracts.OrderNeedsReview, contracts.OrderNeedsReviewV1{OrderID: "o-1", Channel: channel, Reason: "r", At: t0}))
		}
		for _, e := range events {
			b, err := json.Marshal(e.Payload)
			if err != nil {
				t.Fatal(err)
			}
			got = orderevent.Event{}
			if err := h[e.Subject](context.Background(), nil, inbox.Message{ID: "m", Subject: e.Subject, Payload: b}); err != nil {
				t.Fatalf("%s through %q: %v", e.Subject, channel, err)
			}
			if got.OrderID != "o-1" || got.Channel != channel || contracts.Subject(got.Type) != e.Subject {
				t.Errorf("%s through %q: event %s of %s through %q", e.Subject, channel, got.Type, got.OrderID, got.Channel)
			}
			for _, asked := range []string{contracts.ChannelShop, contracts.ChannelAPI} {
				if want := channel != "" && channel != asked; got.Elsewhere(asked) != want {
					t.Errorf("%s through %q: Elsewhere(%s) = %t, want %t", e.Subject, channel, asked, !want, want)
				}
			}
		}
	}
}

// OtherChannel skips the order events that say their order came through
// another channel, and nothing else.
func TestOtherChannel(t *testing.T) {
	skip := orderevent.OtherChannel(contracts.ChannelShop)
	for _, c := range []struct {
		name, subject, payload string
		want                   bool
	}{
		{"an API order's event", contracts.Subject(contracts.OrderPriced), `{"order_id":"o1","channel":"api"}`, true},
		{"a status change of an API order", contracts.Subject(contracts.OrderInProduction), `{"order_id":"o1","channel":"api"}`, true},
		{"a shop order's event", contracts.Subject(contracts.OrderPriced), `{"order_id":"o1","channel":"shop"}`, false},
		{"an event that does not say", contracts.Subject(contracts.OrderShipped), `{"order_id":"o1"}`, false},
		{"a payload that does not decode", contracts.Subject(contracts.OrderShipped), `{"channel":`, false},
		{"another subject", contracts.Subject(contracts.CompensationGranted), `{"order_id":"o1","channel":"api"}`, false},
	} {
		if got := skip(inbox.Message{Subject: c.subject, Payload: []byte(c.payload)}); got != c.want {
			t.Errorf("%s: skipped %v, want %v", c.name, got, c.want)
		}
	}
}
