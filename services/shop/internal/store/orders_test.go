package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/shop/internal/store"
	"github.com/fabrika/fabrika/services/shop/migrations"
)

// TestOrderForUpdate: an event handler's read of the order takes its row
// lock (on PostgreSQL; SQLite's write transactions exclude each other), so
// that two replicas handling two events of one order do not both compute
// from the same old status; ApplyEvent adds the event to the timeline and
// writes what it changed, only once.
func TestOrderForUpdate(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		db := testenv.DBOn(t, engine, migrations.FS)
		st := store.New(db)
		placed := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
		o := store.Order{ID: "01940000-0000-7000-8000-000000000001", Number: "S-2026-000001", CustomerID: "c-1",
			IdempotencyKey: "k", RequestHash: "h", Status: contracts.StatusPlaced, Currency: "EUR", QuotedTotal: 4200,
			PriceListVersion: 1, PlacedAt: placed, Lines: []store.Line{{LineNo: 1, Product: "p", Quantity: 1, Lead: "standard"}}}
		if err := db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error { return st.InsertOrder(ctx, tx, o) }); err != nil {
			t.Fatal(err)
		}

		err := db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
			if _, err := st.OrderForUpdate(ctx, tx, "01940000-0000-7000-8000-00000000ffff"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("unknown order: %v, want ErrNotFound", err)
			}
			got, err := st.OrderForUpdate(ctx, tx, o.ID)
			if err != nil {
				return err
			}
			if got.Status != contracts.StatusPlaced || got.CustomerID != "c-1" || !got.PlacedAt.Equal(placed) {
				t.Errorf("read %+v", got)
			}
			if engine == sqldb.Postgres {
				if err := testenv.WriteWaits(ctx, db, `UPDATE orders SET status = 'cancelled' WHERE id = $1`, o.ID); err != nil {
					t.Error(err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		// An event and its changes, then the same event again with other
		// changes (a message delivered twice, between them another event
		// changed the order): the second writes nothing.
		priced := store.Event{ID: "m-priced", OrderID: o.ID, Kind: contracts.OrderPriced, At: placed, Detail: "priced"}
		for i, tc := range []struct {
			event     store.Event
			change    func(*store.Order)
			wantAdded bool
		}{
			{priced, func(o *store.Order) { o.Status, o.PricedTotal, o.ShipDate = contracts.StatusPriced, 4100, "2026-12-20" }, true},
			{store.Event{ID: "m-confirmed", OrderID: o.ID, Kind: contracts.OrderConfirmed, At: placed, Detail: "confirmed"},
				func(o *store.Order) { o.Status, o.ShipDate = contracts.StatusConfirmed, "2026-12-21" }, true},
			{priced, func(o *store.Order) { o.Status, o.PricedTotal, o.ShipDate = contracts.StatusPriced, 4100, "2026-12-20" }, false},
			{store.Event{ID: "m-shipped", OrderID: o.ID, Kind: contracts.OrderShipped, At: placed, Detail: "shipped"},
				func(o *store.Order) { o.Status, o.Carrier, o.TrackingNumber = contracts.StatusShipped, "DHL", "JD1" }, true},
			{store.Event{ID: "m-note", OrderID: o.ID, Kind: contracts.CompensationGranted, At: placed, Detail: "note"}, nil, true},
		} {
			err := db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
				got, err := st.OrderForUpdate(ctx, tx, o.ID)
				if err != nil {
					return err
				}
				var changed *store.Order
				if tc.change != nil {
					tc.change(&got)
					got.UpdatedAt = placed.Add(time.Duration(i+1) * time.Minute)
					changed = &got
				}
				added, err := st.ApplyEvent(ctx, tx, tc.event, changed)
				if added != tc.wantAdded {
					t.Errorf("event %d (%s): added %t, want %t", i, tc.event.ID, added, tc.wantAdded)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		var got store.Order
		err = db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) (err error) {
			got, err = st.OrderForUpdate(ctx, tx, o.ID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != contracts.StatusShipped || got.PricedTotal != 4100 || got.ShipDate != "2026-12-21" ||
			got.Carrier != "DHL" || got.TrackingNumber != "JD1" || !got.UpdatedAt.Equal(placed.Add(4*time.Minute)) {
			t.Errorf("after the events: %s priced %d ship %s by %s %s, updated %s", got.Status, got.PricedTotal, got.ShipDate,
				got.Carrier, got.TrackingNumber, got.UpdatedAt)
		}
		full, err := st.CustomerOrder(ctx, "c-1", o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(full.Events) != 5 { // placed and four
			t.Errorf("timeline of %d entries, want 5", len(full.Events))
		}
	})
}
