package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/inbox/inboxtest"
)

// Any order and any duplication of an order's events leaves the shop's
// order (status, price, shipping) and its timeline as the events in order
// do (docs/messaging.md, "Order and duplicates").
func TestEventsConvergeInAnyOrder(t *testing.T) {
	t.Parallel()
	const id = "01940000-0000-7000-8000-000000000001"
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	s := inboxtest.OrderStory(id, contracts.ChannelShop, t0)
	inboxtest.ConvergesEach(t, id, s.StatusHistories(), func(t *testing.T) inboxtest.Consumer {
		f := newFixture(t)
		if _, err := f.db.ExecContext(context.Background(), `INSERT INTO orders (id, number, customer_id, idempotency_key,
			request_hash, status, currency, quoted_total, price_list_version, line_count, contact, delivery, placed_at, updated_at)
			VALUES ($1, 'S-2026-000001', 'c-1', 'k', 'h', 'placed', 'EUR', 4200, 1, 1, '{}', '{}', $2, $2)`, id, t0.UnixMicro()); err != nil {
			t.Fatal(err)
		}
		return inboxtest.Consumer{DB: f.db, Handlers: f.shop.Handlers(), State: func(t *testing.T) string {
			return inboxtest.Rows(t, f.db, `SELECT status, priced_total, ship_date, carrier, tracking_number, cancel_requested_at
						FROM orders`) + inboxtest.Rows(t, f.db, `SELECT id, kind, at, detail FROM order_event ORDER BY id`)
		}}
	})
}
