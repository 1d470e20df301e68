package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/crm/internal/order"
	"github.com/fabrika/fabrika/services/crm/internal/store"
)

// TestOrderForEvent: an event's handler reads the order and whether its
// message is in the timeline already (the CRM's own events come back from
// the broker: applying one again would, say, take a cancelled order out of
// its customer's total twice), and a missing order is order.ErrNotFound.
func TestOrderForEvent(t *testing.T) {
	eachStore(t, func(t *testing.T, db *sqldb.DB, st *store.Store) {
		ctx := context.Background()
		o := placed("placed", 500)
		place(t, st, db, ada(), o)
		if err := st.AddEvent(ctx, db, store.Event{OrderID: "o1", MessageID: "m-cancel", Type: "order.cancelled", At: t0, RecordedAt: t0}); err != nil {
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

// TestWriteConflict: an order saved through Writes that another
// transaction changed since it was read is an order.ConflictError with the
// current version (order.ErrNotFound once it is gone), and none of the
// writes made with it is kept.
func TestWriteConflict(t *testing.T) {
	eachStore(t, func(t *testing.T, db *sqldb.DB, st *store.Store) {
		ctx := context.Background()
		o := placed("placed", 500)
		place(t, st, db, ada(), o)
		save := func(o store.Order, seen int64) error {
			return db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
				var w store.Writes
				w.SaveOrder(o, seen, "placed")
				w.AddEvent(store.Event{OrderID: o.ID, MessageID: "m-" + o.Status, Type: "order.priced", At: t0, RecordedAt: t0})
				return st.Write(ctx, tx, &w)
			})
		}
		priced := o
		priced.Status = "priced"
		if err := save(priced, 1); err != nil {
			t.Fatal(err)
		}
		stale := o
		stale.Status = "needs_review"
		var ce *order.ConflictError
		if err := save(stale, 1); !errors.As(err, &ce) || ce.Seen != 1 || ce.Current != 2 {
			t.Fatalf("saving version 1 of an order at version 2: %v, want a conflict 1 -> 2", err)
		}
		gone := stale
		gone.ID = "o2"
		if err := save(gone, 1); !errors.Is(err, order.ErrNotFound) {
			t.Fatalf("saving an order that is not there: %v, want not found", err)
		}
		var status string
		var events int
		if err := db.QueryRowContext(ctx, `SELECT status, (SELECT COUNT(*) FROM crm_timeline) FROM crm_order_list WHERE order_id = 'o1'`).
			Scan(&status, &events); err != nil {
			t.Fatal(err)
		}
		if status != "priced" || events != 1 {
			t.Errorf("list row %s, %d timeline entries; want priced, 1 (the conflicting saves kept nothing)", status, events)
		}
	})
}

// TestPlacing: what order.placed reads first: whether the order is there,
// how many of its events are parked, the customer's contact data.
func TestPlacing(t *testing.T) {
	eachStore(t, func(t *testing.T, db *sqldb.DB, st *store.Store) {
		ctx := context.Background()
		ada := store.Customer{ID: "c1", Kind: store.KindCompany, Name: "Ada", Email: "ada@x.io", Company: "Engines Ltd", Phone: "+44 1"}
		place(t, st, db, ada, placed("placed", 0))
		for _, id := range []string{"m1", "m2"} {
			if err := st.Park(ctx, db, store.Parked{MessageID: id, OrderID: "o2", Type: "order.priced", Payload: []byte("{}"), At: t0, ReceivedAt: t0}); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			order, customer string
			want            store.Placing
		}{
			{"o1", "c1", store.Placing{Known: true, Customer: store.Customer{ID: "c1", Kind: ada.Kind, Name: ada.Name, Email: ada.Email,
				Company: ada.Company, Phone: ada.Phone}}},
			{"o2", "c1", store.Placing{Parked: 2, Customer: store.Customer{ID: "c1", Kind: ada.Kind, Name: ada.Name, Email: ada.Email,
				Company: ada.Company, Phone: ada.Phone}}},
			{"o3", "c2", store.Placing{}},
		} {
			got, err := st.Placing(ctx, db, tc.order, tc.customer)
			if err != nil || got != tc.want {
				t.Errorf("order %s customer %s: %+v, %v; want %+v", tc.order, tc.customer, got, err, tc.want)
			}
		}
	})
}

// TestRecordStep: a step and its timeline entry are written without reading
// the order, only where the order exists and only once per message; a start
// that comes after its finish keeps the finish.
func TestRecordStep(t *testing.T) {
	eachStore(t, func(t *testing.T, db *sqldb.DB, st *store.Store) {
		ctx := context.Background()
		finish := store.Step{LineNo: 1, Seq: 2, Operation: "bend", Workstation: "bend1", FinishedBy: "ana", FinishedAt: t0.Add(time.Hour)}
		start := store.Step{LineNo: 1, Seq: 2, Operation: "bend", Workstation: "bend1", StartedBy: "ana", StartedAt: t0}
		event := func(msg string) store.Event {
			return store.Event{OrderID: "o1", MessageID: msg, Type: "operation.finished", Source: "mes-operator", At: t0, RecordedAt: t0, By: "ana"}
		}
		record := func(step store.Step, msg string, want bool) {
			t.Helper()
			if got, err := st.RecordStep(ctx, db, step, event(msg)); err != nil || got != want {
				t.Fatalf("record %s: %v, %v; want %v", msg, got, err, want)
			}
		}
		record(finish, "m-finish", false) // no order yet: nothing written
		if steps, err := st.Floor(ctx, db, "o1"); err != nil || len(steps) != 0 {
			t.Fatalf("steps of an order that is not there: %+v, %v", steps, err)
		}
		place(t, st, db, ada(), placed("in_production", 0))
		record(finish, "m-finish", true)
		again := finish
		again.FinishedBy = "someone else"
		record(again, "m-finish", false) // the same message again changes nothing
		record(start, "m-start", true)   // after its finish
		steps, err := st.Floor(ctx, db, "o1")
		if err != nil {
			t.Fatal(err)
		}
		want := store.Step{LineNo: 1, Seq: 2, Operation: "bend", Workstation: "bend1", StartedBy: "ana", StartedAt: t0,
			FinishedBy: "ana", FinishedAt: t0.Add(time.Hour)}
		if len(steps) != 1 || steps[0] != want {
			t.Errorf("steps %+v, want %+v", steps, want)
		}
		timeline, err := st.Timeline(ctx, db, "o1")
		if err != nil || len(timeline) != 2 {
			t.Errorf("timeline %+v, %v; want the finish and the start", timeline, err)
		}
	})
}

// TestOrderWithCustomer: the order card's first read is the order and its
// customer as GetOrder and GetCustomer read them, the customer's changes not
// folded yet included.
func TestOrderWithCustomer(t *testing.T) {
	eachStore(t, func(t *testing.T, db *sqldb.DB, st *store.Store) {
		ctx := context.Background()
		var w store.Writes
		for i, id := range []string{"o1", "o2"} {
			w.InsertCustomer(store.Customer{ID: "c" + id, Kind: store.KindCompany, Name: "Ada " + id, Email: id + "@x.io", Company: "Engines", Currency: "EUR"}, t0)
			w.InsertOrder(store.Order{ID: id, Number: "S-" + id, Channel: "shop", CustomerID: "c" + id, Status: "placed", StatusSince: t0,
				Version: 1, Total: 500, Routing: []contracts.RoutingStep{{LineNo: 1, Seq: 1, Operation: "cut"}}, PlacedAt: t0, UpdatedAt: t0}, nil)
			w.AddToCustomer("c"+id, 1, int64(500*(i+1)), "EUR")
		}
		if err := st.Write(ctx, db, &w); err != nil {
			t.Fatal(err)
		}
		if _, err := st.FoldCustomers(ctx); err != nil {
			t.Fatal(err)
		}
		if err := st.AddToCustomer(ctx, db, "co1", 0, -100, "EUR"); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"o1", "o2"} {
			o, c, err := st.OrderWithCustomer(ctx, db, id)
			if err != nil {
				t.Fatal(err)
			}
			wantO, err := st.GetOrder(ctx, db, id)
			if err != nil {
				t.Fatal(err)
			}
			wantC, err := st.GetCustomer(ctx, db, "c"+id)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(o, wantO) || c != wantC {
				t.Errorf("%s: %+v\n%+v\nwant %+v\n%+v", id, o, c, wantO, wantC)
			}
		}
		if c, _ := st.GetCustomer(ctx, db, "co1"); c.TotalSpent != 400 {
			t.Errorf("customer co1 spent %d, want 400", c.TotalSpent)
		}
		if _, _, err := st.OrderWithCustomer(ctx, db, "o3"); !errors.Is(err, order.ErrNotFound) {
			t.Errorf("an order that is not there: %v", err)
		}
	})
}
