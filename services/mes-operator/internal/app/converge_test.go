package app_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/inbox/inboxtest"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/mes-operator/internal/app"
	"github.com/fabrika/fabrika/services/mes-operator/migrations"
)

// Any order and any duplication of an order's events leaves mes-operator's
// orders and operations as the events in order do (docs/messaging.md,
// "Order and duplicates").
func TestEventsConvergeInAnyOrder(t *testing.T) {
	t.Parallel()
	s := inboxtest.OrderStory("o-1", contracts.ChannelShop, time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	pl := contracts.DemoPriceList(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	histories := map[string][]inboxtest.Event{
		"held and resumed": {inboxtest.E(contracts.PriceListPublished, pl), inboxtest.E(contracts.OrderConfirmed, s.Confirmed),
			inboxtest.E(contracts.OrderOnHold, s.OnHold), inboxtest.E(contracts.OrderResumed, s.Resumed)},
		"held then cancelled": {inboxtest.E(contracts.OrderConfirmed, s.Confirmed), inboxtest.E(contracts.OrderOnHold, s.OnHold),
			inboxtest.E(contracts.OrderCancelled, contracts.OrderStatusChangedV1{OrderID: "o-1", Channel: contracts.ChannelShop, Reason: "ordered twice", At: s.Resumed.At})},
	}
	inboxtest.ConvergesEach(t, "o-1", histories, func(t *testing.T) inboxtest.Consumer {
		db := testenv.DB(t, migrations.FS)
		ob := testenv.Outbox(t, db)
		fixed := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
		a, err := app.New(db, ob, app.Config{ShippingWorkstation: "shipping", Metrics: prometheus.NewRegistry(),
			Now: func() time.Time { return fixed }}, testenv.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		return inboxtest.Consumer{DB: db, Handlers: a.Subscriptions(), State: func(t *testing.T) string {
			return inboxtest.Rows(t, db, `SELECT order_id, number, channel, ship_date, rush, status, on_hold, hold_reason, hold_at,
						cancel_reason, confirmed_at, cancelled_at FROM orders ORDER BY order_id`) +
				inboxtest.Rows(t, db, `SELECT line_no, seq, operation, workstation, planned_minutes, state, pause_reason
						FROM operations ORDER BY line_no, seq`) +
				inboxtest.Rows(t, db, `SELECT code, name FROM workstations ORDER BY code`)
		}}
	})
}
