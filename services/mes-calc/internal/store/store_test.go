package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/mes-calc/internal/calc"
	"github.com/fabrika/fabrika/services/mes-calc/internal/store"
	"github.com/fabrika/fabrika/services/mes-calc/migrations"
)

var monday = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

func tx(t *testing.T, db *sqldb.DB, fn func(ctx context.Context, tx *sqldb.Tx) error) {
	t.Helper()
	if err := db.InTx(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func TestPriceListRoundTrip(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, testPriceListRoundTrip)
}

func testPriceListRoundTrip(t *testing.T, engine sqldb.Engine) {
	t.Parallel()
	db := testenv.DBOn(t, engine, migrations.FS)
	st := store.New(db)
	ctx := context.Background()
	tx(t, db, func(ctx context.Context, tx *sqldb.Tx) error {
		_, found, err := st.Lock(ctx, tx)
		if err != nil || found {
			t.Fatalf("lock before seed: %v %v", found, err)
		}
		return st.SavePriceList(ctx, tx, contracts.DemoPriceList(monday), "seed")
	})
	got, err := st.LoadPriceList(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if want := contracts.DemoPriceList(monday); !reflect.DeepEqual(got, want) {
		t.Fatalf("loaded\n%+v\nwant\n%+v", got, want)
	}
	next := contracts.DemoPriceList(monday.Add(time.Hour))
	next.Version = 2
	next.Materials = next.Materials[:3]
	next.Products = next.Products[:1]
	tx(t, db, func(ctx context.Context, tx *sqldb.Tx) error {
		v, found, err := st.Lock(ctx, tx)
		if err != nil || !found || v != 1 {
			t.Fatalf("lock: v%d %v %v", v, found, err)
		}
		return st.SavePriceList(ctx, tx, next, "ada")
	})
	if got, err = st.LoadPriceList(ctx, db); err != nil || !reflect.DeepEqual(got, next) {
		t.Fatalf("after change: %v\n%+v", err, got)
	}
	v1, err := st.GetVersion(ctx, db, 1)
	if err != nil || v1.PublishedBy != "seed" || len(v1.PriceList.Products) != 4 {
		t.Fatalf("version 1: %v %+v", err, v1)
	}
	if _, err := st.GetVersion(ctx, db, 3); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("version 3: %v", err)
	}
}

func TestBookAndRelease(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, testBookAndRelease)
}

func testBookAndRelease(t *testing.T, engine sqldb.Engine) {
	t.Parallel()
	db := testenv.DBOn(t, engine, migrations.FS)
	st := store.New(db)
	ctx := context.Background()
	tue := calc.DayOf(monday).NextWorking()
	capacity := map[string]int64{"laser": 48000, "inspection": 1000}
	// o-1 fills inspection on Tuesday and Wednesday and half of Thursday.
	o1 := []calc.Booking{
		{LineNo: 1, Seq: 1, Workstation: "laser", Day: tue, Centiminutes: 500},
		{LineNo: 1, Seq: 2, Workstation: "inspection", Day: tue, Centiminutes: 1000},
		{LineNo: 1, Seq: 2, Workstation: "inspection", Day: tue + 1, Centiminutes: 1000},
		{LineNo: 1, Seq: 2, Workstation: "inspection", Day: tue + 2, Centiminutes: 500},
	}
	tx(t, db, func(ctx context.Context, tx *sqldb.Tx) error {
		return st.Book(ctx, tx, st.NewLoad(ctx, tx, tue), store.Decision{OrderID: "o-1", Bookings: o1}, capacity, tue)
	})
	o2 := []calc.Booking{{LineNo: 1, Seq: 1, Workstation: "inspection", Day: tue + 2, Centiminutes: 500}}
	tx(t, db, func(ctx context.Context, tx *sqldb.Tx) error {
		return st.Book(ctx, tx, st.NewLoad(ctx, tx, tue), store.Decision{OrderID: "o-2", Bookings: o2}, capacity, tue)
	})

	check := func(ws string, wantOpen calc.Day, wantBooked map[calc.Day]int64) {
		t.Helper()
		l := st.NewLoad(ctx, db, tue)
		open, err := l.FirstOpen(ws, tue)
		if err != nil || open != wantOpen {
			t.Errorf("%s first open %s (%v), want %s", ws, open, err, wantOpen)
		}
		for d, want := range wantBooked {
			if got, err := l.Booked(ws, d); err != nil || got != want {
				t.Errorf("%s on %s: %d (%v), want %d", ws, d, got, err, want)
			}
		}
	}
	// Thursday is now full too: inspection opens on Friday.
	check("inspection", tue+3, map[calc.Day]int64{tue: 1000, tue + 1: 1000, tue + 2: 1000, tue + 3: 0})
	check("laser", tue, map[calc.Day]int64{tue: 500})

	var n int
	tx(t, db, func(ctx context.Context, tx *sqldb.Tx) (err error) {
		n, err = st.Release(ctx, tx, "o-1")
		return err
	})
	if n != 4 {
		t.Errorf("released %d bookings, want 4", n)
	}
	check("inspection", tue, map[calc.Day]int64{tue: 0, tue + 1: 0, tue + 2: 500})
	check("laser", tue, map[calc.Day]int64{tue: 0})
	tx(t, db, func(ctx context.Context, tx *sqldb.Tx) (err error) {
		n, err = st.Release(ctx, tx, "o-1")
		return err
	})
	if n != 0 {
		t.Errorf("released again: %d", n)
	}
	loads, err := st.LoadBetween(ctx, db, tue, tue+5)
	if err != nil || len(loads) != 1 || loads[0].Minutes != 5 || loads[0].Day != "2026-03-05" {
		t.Errorf("load between: %v %+v", err, loads)
	}
}

func TestCalculations(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, testCalculations)
}

func testCalculations(t *testing.T, engine sqldb.Engine) {
	t.Parallel()
	db := testenv.DBOn(t, engine, migrations.FS)
	st := store.New(db)
	ctx := context.Background()
	c := store.Calculation{OrderID: "o-1", Status: store.StatusPriced, Channel: "shop", PriceListVersion: 3, Total: 5700,
		ShipDate: "2026-03-16", Result: `{"order_id":"o-1"}`, CalculatedAt: monday, UpdatedAt: monday}
	tx(t, db, func(ctx context.Context, tx *sqldb.Tx) error { return st.InsertCalculation(ctx, tx, c) })
	err := db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error { return st.InsertCalculation(ctx, tx, c) })
	if !sqldb.IsUniqueViolation(err) {
		t.Fatalf("second insert: %v", err)
	}
	for i, want := range []bool{true, false} { // cancelled, then already cancelled
		tx(t, db, func(ctx context.Context, tx *sqldb.Tx) error {
			did, err := st.Cancel(ctx, tx, "o-1", monday.Add(time.Hour*time.Duration(i+1)))
			if err == nil && did != want {
				t.Errorf("cancel #%d: %v, want %v", i+1, did, want)
			}
			return err
		})
	}
	// A calculation to replace must still be the one that needed review.
	err = db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error { return st.ReplaceCalculation(ctx, tx, c) })
	if !errors.Is(err, store.ErrChanged) {
		t.Fatalf("replace a cancelled calculation: %v", err)
	}
	got, err := st.GetCalculation(ctx, db, "o-1")
	if err != nil || got.Status != store.StatusCancelled || got.Total != 5700 || !got.UpdatedAt.Equal(monday.Add(time.Hour)) || got.Result != c.Result {
		t.Fatalf("%v %+v", err, got)
	}
	if _, err := st.GetCalculation(ctx, db, "o-2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
}
