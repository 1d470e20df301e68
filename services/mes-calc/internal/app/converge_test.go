package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/inbox/inboxtest"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/mes-calc/internal/app"
	"github.com/fabrika/fabrika/services/mes-calc/migrations"
)

// Any order and any duplication of an order's events leaves mes-calc's
// calculation status and the workstations' load as the events in order do
// (docs/messaging.md, "Order and duplicates"). An order cancelled before it
// is placed is never priced, so a price is not compared: what counts is
// that it ends cancelled with nothing booked.
func TestEventsConvergeInAnyOrder(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	s := inboxtest.OrderStory("o-1", contracts.ChannelShop, t0)
	other := inboxtest.OrderStory("o-2", contracts.ChannelShop, t0)
	histories := map[string][]inboxtest.Event{
		"placed":               {inboxtest.E(contracts.OrderPlaced, s.Placed)},
		"placed and cancelled": {inboxtest.E(contracts.OrderPlaced, s.Placed), inboxtest.E(contracts.OrderCancelled, s.Cancelled)},
	}
	inboxtest.ConvergesEach(t, "o-1", histories, func(t *testing.T) inboxtest.Consumer {
		ctx := context.Background()
		db := testenv.DB(t, migrations.FS)
		svc, err := app.New(ctx, db, testenv.Outbox(t, db), app.Config{Now: func() time.Time { return t0 }}, testenv.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		// Another order already booked, so that a release that took
		// too much would show.
		if _, err := inbox.Deliver(ctx, db, "setup", inbox.JSON(svc.OnPlaced), inboxtest.Message(t, "o-2", contracts.OrderPlaced, other.Placed)); err != nil {
			t.Fatal(err)
		}
		return inboxtest.Consumer{DB: db, Handlers: svc.Subscriptions(), State: func(t *testing.T) string {
			return inboxtest.Rows(t, db, `SELECT order_id, status, channel FROM calculations ORDER BY order_id`) +
				inboxtest.Rows(t, db, `SELECT workstation, day, centiminutes FROM workstation_load WHERE centiminutes <> 0 ORDER BY workstation, day`) +
				inboxtest.Rows(t, db, `SELECT order_id, line_no, seq, workstation, day, centiminutes FROM order_bookings ORDER BY 1, 2, 3, 5`)
		}}
	})
}
