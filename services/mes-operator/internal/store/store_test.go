package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/mes-operator/internal/production"
	"github.com/fabrika/fabrika/services/mes-operator/internal/store"
	"github.com/fabrika/fabrika/services/mes-operator/migrations"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// eachStore runs test, in parallel with other tests, on a store on a fresh
// database of each engine (testenv.EachEngine), the engines in parallel too.
func eachStore(t *testing.T, test func(t *testing.T, s *store.Store, db *sqldb.DB)) {
	t.Helper()
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		db := testenv.DBOn(t, e, migrations.FS)
		test(t, store.New(db), db)
	})
}

// plan stores a confirmed order with n operations on line 1 (laser, then
// bend, alternating) and one on line 2, and the lines given.
func plan(t *testing.T, s *store.Store, db *sqldb.DB, orderID string, n int, lines ...store.Line) []production.Operation {
	t.Helper()
	ctx := context.Background()
	o := production.Order{ID: orderID, Number: "F-" + orderID, ShipDate: "2026-03-05", Status: production.Confirmed, ConfirmedAt: t0, Version: 1}
	if err := s.InsertOrder(ctx, db, o, t0); err != nil {
		t.Fatal(err)
	}
	var steps []production.Step
	for i := range n {
		steps = append(steps, production.Step{LineNo: 1, Seq: i + 1, Name: "cut", Workstation: []string{"laser", "bend"}[i%2], PlannedMinutes: 1})
	}
	steps = append(steps, production.Step{LineNo: 2, Seq: 1, Name: "print", Workstation: "printer", PlannedMinutes: 2})
	ops, err := production.Plan(orderID, steps)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ops {
		ops[i].ID = fmt.Sprintf("%s-op-%d-%04d", orderID, ops[i].LineNo, ops[i].Seq)
	}
	if err := s.InsertOperations(ctx, db, o, ops, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertLines(ctx, db, orderID, lines); err != nil {
		t.Fatal(err)
	}
	return ops
}

// TestWork: an order's operations and lines come in one read, whether
// asked for by one of its operations or by the order; an order without
// operations comes alone; an unknown one is not found.
func TestWork(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store, db *sqldb.DB) {
		ctx := context.Background()
		sheet := store.Line{LineNo: 1, Product: "laser_cut_sheet", Quantity: 10, Options: map[string]string{"material": "steel_s235"}}
		ops := plan(t, s, db, "o1", 2, sheet) // line 2 came without its line
		plan(t, s, db, "o2", 3, store.Line{LineNo: 1, Product: "other", Quantity: 1, Options: map[string]string{}})
		if err := s.InsertOrder(ctx, db, production.Order{ID: "held", Status: production.Unconfirmed, OnHold: true, Version: 1}, t0); err != nil {
			t.Fatal(err)
		}
		byOp, err := s.WorkOfOperation(ctx, db, ops[2].ID)
		if err != nil {
			t.Fatal(err)
		}
		byOrder, err := s.WorkOfOrder(ctx, db, "o1")
		if err != nil {
			t.Fatal(err)
		}
		for name, w := range map[string]store.Work{"by operation": byOp, "by order": byOrder} {
			if w.Order.ID != "o1" || w.Order.Number != "F-o1" || w.Order.Status != production.Confirmed || !w.Order.ConfirmedAt.Equal(t0) {
				t.Errorf("%s: order %+v", name, w.Order)
			}
			var ids []string
			for _, op := range w.Operations {
				ids = append(ids, op.ID)
			}
			if want := []string{"o1-op-1-0001", "o1-op-1-0002", "o1-op-2-0001"}; !slices.Equal(ids, want) {
				t.Errorf("%s: operations %v, want %v", name, ids, want)
			}
			if got := w.Operation(ops[1].ID); got.Workstation != "bend" || got.State != production.Waiting {
				t.Errorf("%s: operation %+v", name, got)
			}
			if l, ok := w.Lines[1]; !ok || l.Product != sheet.Product || l.Quantity != 10 || l.Options["material"] != "steel_s235" {
				t.Errorf("%s: line 1 %+v", name, l)
			}
			if l, ok := w.Lines[2]; ok {
				t.Errorf("%s: line 2 %+v, the order came without it", name, l)
			}
		}
		held, err := s.WorkOfOrder(ctx, db, "held")
		if err != nil || held.Order.ID != "held" || !held.Order.OnHold || len(held.Operations) != 0 {
			t.Errorf("order without operations: %+v, %v", held, err)
		}
		for name, err := range map[string]error{
			"unknown operation": func() error { _, err := s.WorkOfOperation(ctx, db, "nope"); return err }(),
			"unknown order":     func() error { _, err := s.WorkOfOrder(ctx, db, "nope"); return err }(),
		} {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: %v, want ErrNotFound", name, err)
			}
		}
	})
}

// TestInsertManyOperations: a routing longer than one statement takes is
// inserted whole.
func TestInsertManyOperations(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store, db *sqldb.DB) {
		plan(t, s, db, "long", 1200)
		w, err := s.WorkOfOrder(context.Background(), db, "long")
		if err != nil {
			t.Fatal(err)
		}
		if len(w.Operations) != 1201 || w.Operations[1199].Seq != 1200 || w.Operations[0].State != production.Ready {
			t.Fatalf("%d operations read back", len(w.Operations))
		}
	})
}

// TestInsertOrderIfNew: the first insert adds the order, a second of the
// same id changes nothing and says so.
func TestInsertOrderIfNew(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store, db *sqldb.DB) {
		ctx := context.Background()
		for i, want := range []bool{true, false} {
			o := production.Order{ID: "o1", Number: fmt.Sprintf("F-%d", i), Status: production.Confirmed, Version: 1}
			if got, err := s.InsertOrderIfNew(ctx, db, o, t0); err != nil || got != want {
				t.Fatalf("insert %d: %v, %v; want %v", i, got, err, want)
			}
		}
		if o, err := s.Order(ctx, db, "o1"); err != nil || o.Number != "F-0" {
			t.Fatalf("order after the second insert: %+v, %v", o, err)
		}
	})
}

// TestAddWorkstations: a routing's workstations become known once, named
// by their codes; a name a price list gave stays.
func TestAddWorkstations(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store, db *sqldb.DB) {
		ctx := context.Background()
		if err := s.UpsertWorkstation(ctx, db, "laser", "Fibre laser", t0); err != nil {
			t.Fatal(err)
		}
		if err := s.AddWorkstations(ctx, db, []string{"laser", "bend", "printer", "bend", "laser"}, t0); err != nil {
			t.Fatal(err)
		}
		if err := s.AddWorkstations(ctx, db, nil, t0); err != nil {
			t.Fatal(err)
		}
		got, err := s.Workstations(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		want := []store.Workstation{{Code: "bend", Name: "bend"}, {Code: "laser", Name: "Fibre laser"}, {Code: "printer", Name: "printer"}}
		if !slices.Equal(got, want) {
			t.Fatalf("workstations %v, want %v", got, want)
		}
	})
}

// TestQueueCarriesLines: a queue's operations come with their lines (none
// for an order confirmed without them) in the same read.
func TestQueueCarriesLines(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store, db *sqldb.DB) {
		ctx := context.Background()
		plan(t, s, db, "o1", 1, store.Line{LineNo: 1, Product: "sheet", Quantity: 7, Options: map[string]string{"finish": "none"}},
			store.Line{LineNo: 2, Product: "print", Quantity: 3, Options: map[string]string{}})
		plan(t, s, db, "o2", 1)
		for _, tc := range []struct {
			ws    string
			lines []store.Line
		}{
			{"laser", []store.Line{{LineNo: 1, Product: "sheet", Quantity: 7, Options: map[string]string{"finish": "none"}}, {}}},
			{"printer", []store.Line{{LineNo: 2, Product: "print", Quantity: 3, Options: map[string]string{}}, {}}},
		} {
			items, err := s.Queue(ctx, db, tc.ws, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != len(tc.lines) {
				t.Fatalf("%s: %d items, want %d", tc.ws, len(items), len(tc.lines))
			}
			for i, it := range items {
				l, want := it.Line, tc.lines[i]
				if l.LineNo != want.LineNo || l.Product != want.Product || l.Quantity != want.Quantity || len(l.Options) != len(want.Options) ||
					l.Options["finish"] != want.Options["finish"] {
					t.Errorf("%s item %d (%s): line %+v, want %+v", tc.ws, i, it.OrderID, l, want)
				}
			}
		}
	})
}

// TestQueueReadsTheIndexInOrder: a queue is read in its priority order
// from the index operations_queue, stopping after its limit, with no sort of
// all the workstation's open operations (a backlog of thousands made every
// read of a busy queue cost tens of ms).
func TestQueueReadsTheIndexInOrder(t *testing.T) {
	eachStore(t, func(t *testing.T, s *store.Store, db *sqldb.DB) {
		ctx := context.Background()
		for i := range 300 {
			plan(t, s, db, fmt.Sprintf("o%03d", i), 2)
		}
		if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
			t.Fatal(err)
		}
		explain := map[sqldb.Engine]string{sqldb.SQLite: `EXPLAIN QUERY PLAN `, sqldb.Postgres: `EXPLAIN `}[db.Engine()]
		rows, err := db.QueryContext(ctx, explain+store.QueueQuery, "laser", 20)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var plan []string
		for rows.Next() {
			dest := make([]any, len(cols))
			for i := range dest {
				dest[i] = new(any)
			}
			if err := rows.Scan(dest...); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, fmt.Sprint(*dest[len(dest)-1].(*any)))
		}
		text := strings.Join(plan, "\n")
		if !strings.Contains(text, "operations_queue") || strings.Contains(text, "Sort") || strings.Contains(text, "TEMP B-TREE") {
			t.Errorf("the queue is not read in the index's order:\n%s", text)
		}
	})
}

// TestQueueOrderMigrated: operations planned before the queue's index kept
// their order's due date, rush flag and confirmation time get them from
// their order.
func TestQueueOrderMigrated(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx := context.Background()
		db := testenv.MigratedOver(t, e, migrations.FS, "00004",
			`INSERT INTO orders (order_id, number, ship_date, rush, status, confirmed_at, updated_at) VALUES ('a', 'F-a', '2026-03-09', 0, 'confirmed', 2, 0)`,
			`INSERT INTO orders (order_id, number, ship_date, rush, status, confirmed_at, updated_at) VALUES ('b', 'F-b', '2026-03-05', 1, 'in_production', 1, 0)`,
			`INSERT INTO operations (id, order_id, line_no, seq, operation, workstation, planned_minutes, state, updated_at)
				VALUES ('a1', 'a', 1, 1, 'cut', 'laser', 1, 'ready', 0), ('b1', 'b', 1, 1, 'cut', 'laser', 1, 'done', 0), ('b2', 'b', 1, 2, 'cut', 'laser', 1, 'ready', 0)`)
		items, err := store.New(db).Queue(ctx, db, "laser", 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, it := range items {
			got = append(got, fmt.Sprintf("%s %s %v", it.ID, it.ShipDate, it.Rush))
		}
		if want := []string{"b2 2026-03-05 true", "a1 2026-03-09 false"}; !slices.Equal(got, want) {
			t.Errorf("queue after the migration %q, want %q", got, want)
		}
		var confirmed int64
		if err := db.QueryRowContext(ctx, `SELECT confirmed_at FROM operations WHERE id = 'a1'`).Scan(&confirmed); err != nil || confirmed != 2 {
			t.Errorf("confirmed_at %d, %v; want the order's 2", confirmed, err)
		}
	})
}
