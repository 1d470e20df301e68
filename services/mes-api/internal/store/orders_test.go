package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/mes-api/internal/store"
	"github.com/fabrika/fabrika/services/mes-api/migrations"
)

// placed opens a store on a fresh database of engine with the client c-1,
// the other clients given, and an order of c-1 placed at 2026-12-07 09:00
// UTC.
func placed(t *testing.T, engine sqldb.Engine, clients ...string) (*sqldb.DB, *store.Store, store.Order) {
	t.Helper()
	db := testenv.DBOn(t, engine, migrations.FS)
	st := store.New(db)
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	o := store.Order{ID: store.NewID(), ClientID: "c-1", Number: "API-1", Status: contracts.StatusPlaced,
		Lines: []contracts.LineItem{}, Currency: "EUR", QuotedTotal: 4200, PriceListVersion: 1, CreatedAt: now}
	err := db.InTx(context.Background(), func(ctx context.Context, tx *sqldb.Tx) error {
		for _, c := range append([]string{"c-1"}, clients...) {
			if err := st.InsertClient(ctx, tx, store.Client{ID: c, Name: c, CreatedAt: now}); err != nil {
				return err
			}
		}
		return st.InsertOrder(ctx, tx, o)
	})
	if err != nil {
		t.Fatal(err)
	}
	return db, st, o
}

// TestOrderForEvent: an event handler reads the order and how many live
// webhook endpoints its client has in one statement, which takes the
// order's row lock (on PostgreSQL; SQLite's write transactions exclude each
// other), so that two replicas handling two events of one order do not both
// compute from the same old status.
func TestOrderForEvent(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		db, st, o := placed(t, engine, "c-2")
		now := o.CreatedAt
		// endpoints adds a live endpoint of client, or a deleted one.
		endpoints := 0
		endpoint := func(client string, deleted bool) {
			t.Helper()
			e := store.Endpoint{ID: store.NewID(), ClientID: client, URL: "https://example.com/hook", Secret: "s", CreatedAt: now}
			err := db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
				if err := st.InsertEndpoint(ctx, tx, e); err != nil || !deleted {
					return err
				}
				return st.DeleteEndpoint(ctx, tx, client, e.ID, now)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		read := func(t *testing.T) {
			t.Helper()
			err := db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
				if _, _, err := st.OrderForEvent(ctx, tx, store.NewID()); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("unknown order: %v, want ErrNotFound", err)
				}
				got, n, err := st.OrderForEvent(ctx, tx, o.ID)
				if err != nil {
					return err
				}
				if got.ID != o.ID || got.ClientID != "c-1" || got.Status != contracts.StatusPlaced || !got.CreatedAt.Equal(now) || n != endpoints {
					t.Errorf("read %s of %s, %s, created %s, with %d endpoints; want %d endpoints", got.ID, got.ClientID, got.Status, got.CreatedAt, n, endpoints)
				}
				if engine == sqldb.Postgres {
					if err := testenv.WriteWaits(ctx, db, `UPDATE api_order SET status = 'cancelled' WHERE id = $1`, o.ID); err != nil {
						t.Error(err)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		read(t)
		endpoint("c-2", false) // another client's
		endpoint("c-1", true)  // deleted
		read(t)
		endpoint("c-1", false)
		endpoint("c-1", false)
		endpoints = 2
		read(t)
	})
}

// TestSaveEvent: an event's changes of the order and its history entry are
// written together (one round trip on PostgreSQL), the entry numbered after
// the last; an event that changes no status adds no entry.
func TestSaveEvent(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		db, st, o := placed(t, engine)
		now := o.CreatedAt
		for i, tc := range []struct {
			change  func(*store.Order)
			history *store.HistoryEntry
		}{
			{func(o *store.Order) { o.Status, o.PricedTotal, o.ShipDate = contracts.StatusPriced, 4100, "2026-12-20" },
				&store.HistoryEntry{Event: contracts.OrderPriced, Status: contracts.StatusPriced, At: now.Add(time.Minute)}},
			{func(o *store.Order) { o.LeadDays = 9 }, nil},
			{func(o *store.Order) { o.Status, o.Reason = contracts.StatusOnHold, "material" },
				&store.HistoryEntry{Event: contracts.OrderOnHold, Status: contracts.StatusOnHold, Reason: "material", At: now.Add(2 * time.Minute)}},
		} {
			err := db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
				got, _, err := st.OrderForEvent(ctx, tx, o.ID)
				if err != nil {
					return err
				}
				tc.change(&got)
				got.UpdatedAt = now.Add(time.Duration(i+1) * time.Minute)
				return st.SaveEvent(ctx, tx, got, tc.history)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		got, err := st.GetOrder(ctx, db, "c-1", o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != contracts.StatusOnHold || got.PricedTotal != 4100 || got.ShipDate != "2026-12-20" || got.LeadDays != 9 ||
			got.Reason != "material" || !got.UpdatedAt.Equal(now.Add(3*time.Minute)) {
			t.Errorf("order %s priced %d ship %s lead %d reason %q updated %s", got.Status, got.PricedTotal, got.ShipDate, got.LeadDays,
				got.Reason, got.UpdatedAt)
		}
		var events []string
		for _, h := range got.History {
			events = append(events, h.Event+"/"+h.Status)
		}
		want := []string{"order.placed/placed", "order.priced/priced", "order.on_hold/on_hold"}
		if !slices.Equal(events, want) {
			t.Errorf("history %v, want %v", events, want)
		}
	})
}
