package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/crm/internal/order"
	"github.com/fabrika/fabrika/services/crm/internal/store"
	"github.com/fabrika/fabrika/services/crm/migrations"
)

// TestOrderForEvent: an event's handler reads the order and whether its
// message is in the timeline already (the CRM's own events come back from
// the broker: applying one again would, say, take a cancelled order out of
// its customer's total twice), and a missing order is order.ErrNotFound.
func TestOrderForEvent(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, engine sqldb.Engine) {
		db := testenv.DBOn(t, engine, migrations.FS)
		st := store.New(db)
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		if err := st.UpsertCustomer(ctx, db, store.Customer{ID: "c1", Kind: store.KindPerson, Name: "Ada", Email: "ada@x.io"}, t0); err != nil {
			t.Fatal(err)
		}
		o := store.Order{ID: "o1", Number: "S-1", Channel: "shop", CustomerID: "c1", Status: "placed", StatusSince: t0, Version: 1,
			Total: 500, PlacedAt: t0, UpdatedAt: t0}
		if _, err := st.InsertOrder(ctx, db, o, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := st.AddEvent(ctx, db, store.Event{OrderID: "o1", MessageID: "m-cancel", Type: "order.cancelled", At: t0, RecordedAt: t0}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			order, message string
			seen           bool
			err            error
		}{
			{"o1", "m-cancel", true, nil},
			{"o1", "m-new", false, nil},
			{"o2", "m-cancel", false, order.ErrNotFound},
		} {
			got, seen, err := st.OrderForEvent(ctx, db, tc.order, tc.message)
			if !errors.Is(err, tc.err) || seen != tc.seen {
				t.Errorf("order %s, message %s: seen %v, %v; want %v, %v", tc.order, tc.message, seen, err, tc.seen, tc.err)
			}
			if err == nil && (got.ID != "o1" || got.Total != 500 || got.Number != "S-1") {
				t.Errorf("order %s: %+v", tc.order, got)
			}
		}
	})
}
