package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/inbox/inboxtest"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/mes-api/internal/app"
	"github.com/fabrika/fabrika/services/mes-api/internal/store"
	"github.com/fabrika/fabrika/services/mes-api/migrations"
)

// Any order and any duplication of an order's events leaves the order a
// client sees through the API as the events in order do (docs/messaging.md,
// "Order and duplicates"). Its history and webhooks tell the transitions as
// they were observed, so they are not compared.
func TestEventsConvergeInAnyOrder(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	s := inboxtest.OrderStory("o-1", contracts.ChannelAPI, t0)
	inboxtest.ConvergesEach(t, "o-1", s.StatusHistories(), func(t *testing.T) inboxtest.Consumer {
		ctx := context.Background()
		db := testenv.DB(t, migrations.FS)
		ob := testenv.Outbox(t, db)
		fixed := t0.Add(time.Hour)
		a, err := app.New(ctx, db, ob, app.Config{Now: func() time.Time { return fixed }})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
			if err := store.New(db).InsertClient(ctx, tx, store.Client{ID: "cl-1", Name: "Acme", CreatedAt: t0}); err != nil {
				return err
			}
			return store.New(db).InsertOrder(ctx, tx, store.Order{ID: "o-1", ClientID: "cl-1", Number: "F-o-1", Status: contracts.StatusPlaced,
				Lines: s.Placed.Lines, Delivery: s.Placed.Delivery, Currency: "EUR", QuotedTotal: 4200, PriceListVersion: 1, CreatedAt: t0})
		}); err != nil {
			t.Fatal(err)
		}
		return inboxtest.Consumer{DB: db, Handlers: a.Handlers(), State: func(t *testing.T) string {
			return inboxtest.Rows(t, db, `SELECT id, status, status_before_hold, priced_total, ship_date, lead_days, reason, carrier,
				tracking_number, cancel_requested_at FROM api_order`)
		}}
	})
}
