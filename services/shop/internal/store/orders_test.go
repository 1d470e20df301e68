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
// from the same old status; SaveEventFields writes back what the events
// change, in one statement.
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
			got.Status, got.UpdatedAt = contracts.StatusPriced, placed.Add(time.Minute)
			got.PricedTotal, got.ShipDate, got.Carrier, got.TrackingNumber = 4100, "2026-12-20", "DHL", "JD1"
			return st.SaveEventFields(ctx, tx, got)
		})
		if err != nil {
			t.Fatal(err)
		}
		err = db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
			got, err := st.OrderForUpdate(ctx, tx, o.ID)
			if err != nil {
				return err
			}
			if got.Status != contracts.StatusPriced || got.PricedTotal != 4100 || got.ShipDate != "2026-12-20" ||
				got.Carrier != "DHL" || got.TrackingNumber != "JD1" || !got.UpdatedAt.Equal(placed.Add(time.Minute)) {
				t.Errorf("saved %+v", got)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
