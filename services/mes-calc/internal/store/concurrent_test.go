package store_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/mes-calc/internal/calc"
	"github.com/fabrika/fabrika/services/mes-calc/internal/store"
	"github.com/fabrika/fabrika/services/mes-calc/migrations"
)

// plant is a store with a price list whose workstations work one hour a
// day: a few orders fill a day, so concurrent calculations keep meeting on
// the same days.
type plant struct {
	db       *sqldb.DB
	st       *store.Store
	pl       contracts.PriceListV1
	capacity map[string]int64
	start    calc.Day
	attempts atomic.Int64 // calculations made, first attempts and again
}

func newPlant(t *testing.T, engine sqldb.Engine) *plant {
	t.Helper()
	db := testenv.DBOn(t, engine, migrations.FS)
	p := &plant{db: db, st: store.New(db), pl: contracts.DemoPriceList(monday), capacity: map[string]int64{},
		start: calc.DayOf(monday).NextWorking()}
	for i := range p.pl.Workstations {
		p.pl.Workstations[i].HoursPerDay = 1
		p.capacity[p.pl.Workstations[i].Code] = calc.Centiminutes(60)
	}
	tx(t, db, func(ctx context.Context, tx *sqldb.Tx) error { return p.st.SavePriceList(ctx, tx, p.pl, "seed") })
	return p
}

// randomOrder is one or two lines of 1-40 pieces of the demo products.
func randomOrder(r *rand.Rand, id string) contracts.OrderPlacedV1 {
	lines := []contracts.LineItem{
		{Product: "laser_cut_sheet", Options: map[string]string{contracts.OptMaterial: "steel_s235", contracts.OptWidth: "200", contracts.OptHeight: "100", contracts.OptThickness: "2"}},
		{Product: "printed_3d_part", Options: map[string]string{contracts.OptMaterial: "pla", contracts.OptWidth: "40", contracts.OptHeight: "30", contracts.OptThickness: "10"}},
		{Product: "cnc_milled_part", Options: map[string]string{contracts.OptMaterial: "alu_6082", contracts.OptFinish: "anodise", contracts.OptWidth: "80", contracts.OptHeight: "40", contracts.OptThickness: "15"}},
	}
	o := contracts.OrderPlacedV1{OrderID: id, Number: id, Channel: contracts.ChannelShop, Currency: "EUR", Customer: contracts.Customer{ID: "c"}, PlacedAt: monday}
	for n := range 1 + r.IntN(2) {
		l := lines[r.IntN(len(lines))]
		l.LineNo, l.Quantity, l.Lead = n+1, 1+r.IntN(40), contracts.LeadStandard
		if r.IntN(4) == 0 {
			l.Lead = contracts.LeadRush
		}
		o.Lines = append(o.Lines, l)
	}
	return o
}

// calculate calculates and books o in a transaction of its own, as
// mes-calc's inbox does, and records its ship date.
func (p *plant) calculate(ctx context.Context, o contracts.OrderPlacedV1) error {
	return p.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		began, err := p.st.Start(ctx, tx, o.OrderID, p.start)
		if err != nil {
			return err
		}
		if !began.Found || began.Calculated {
			return fmt.Errorf("%s: price list found %v, calculated before %v", o.OrderID, began.Found, began.Calculated)
		}
		_, err = p.st.Schedule(ctx, tx, o.OrderID, p.capacity, p.start, began.Load, func(load calc.Load) (store.Decision, error) {
			p.attempts.Add(1)
			res, err := calc.Calculate(calc.Input{PriceList: p.pl, Order: o, Now: monday, HorizonDays: 100_000}, load)
			if err != nil {
				return store.Decision{}, err
			}
			if res.Priced == nil {
				return store.Decision{}, fmt.Errorf("%s: review: %s", o.OrderID, res.Review)
			}
			return store.Decision{OrderID: o.OrderID, Bookings: res.Bookings, Record: &store.Calculation{OrderID: o.OrderID,
				Status: store.StatusPriced, Total: res.Priced.Total, ShipDate: res.Priced.ShipDate, CalculatedAt: monday, UpdatedAt: monday}}, nil
		})
		return err
	})
}

// cancel cancels an order in a transaction of its own, as mes-calc does.
func (p *plant) cancel(ctx context.Context, id string) error {
	return p.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		if _, _, err := p.st.Begin(ctx, tx); err != nil {
			return err
		}
		if did, err := p.st.Cancel(ctx, tx, id, monday); err != nil || !did {
			return err
		}
		_, err := p.st.Release(ctx, tx, id)
		return err
	})
}

// run calculates orders from workers goroutines at once, each order in its
// own transaction.
func (p *plant) run(t *testing.T, workers int, jobs []func(ctx context.Context) error) {
	t.Helper()
	ch := make(chan func(ctx context.Context) error)
	var wg sync.WaitGroup
	errs := make(chan error, len(jobs))
	for range workers {
		wg.Go(func() {
			for job := range ch {
				if err := job(t.Context()); err != nil {
					errs <- err
				}
			}
		})
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

type bookingKey struct {
	line, seq int
	ws        string
	day       calc.Day
}

// stored returns each order's bookings as stored, and each order's ship
// date.
func (p *plant) stored(t *testing.T) (map[string]map[bookingKey]int64, map[string]string) {
	t.Helper()
	ctx := context.Background()
	rs, err := p.db.QueryContext(ctx, `SELECT order_id, line_no, seq, workstation, day, centiminutes FROM order_bookings`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	out := map[string]map[bookingKey]int64{}
	for rs.Next() {
		var id string
		var k bookingKey
		var d, cm int64
		if err := rs.Scan(&id, &k.line, &k.seq, &k.ws, &d, &cm); err != nil {
			t.Fatal(err)
		}
		k.day = calc.Day(d)
		if out[id] == nil {
			out[id] = map[bookingKey]int64{}
		}
		out[id][k] += cm
	}
	ships := map[string]string{}
	rs2, err := p.db.QueryContext(ctx, `SELECT order_id, ship_date FROM calculations WHERE status = 'priced'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs2.Close()
	for rs2.Next() {
		var id, ship string
		if err := rs2.Scan(&id, &ship); err != nil {
			t.Fatal(err)
		}
		ships[id] = ship
	}
	return out, ships
}

func keyed(bs []calc.Booking) map[bookingKey]int64 {
	out := map[bookingKey]int64{}
	for _, b := range bs {
		out[bookingKey{b.LineNo, b.Seq, b.Workstation, b.Day}] += b.Centiminutes
	}
	return out
}

// checkLoad checks that the load of every workstation and day is the sum
// of the bookings of the orders still booked, within capacity, on working
// days only; and that every working day before a workstation's first open
// day is full.
func (p *plant) checkLoad(t *testing.T, bookings map[string]map[bookingKey]int64) {
	t.Helper()
	ctx := context.Background()
	want := map[string]map[calc.Day]int64{}
	for _, bs := range bookings {
		for k, cm := range bs {
			if want[k.ws] == nil {
				want[k.ws] = map[calc.Day]int64{}
			}
			want[k.ws][k.day] += cm
		}
	}
	load := p.st.NewLoad(ctx, p.db, p.start)
	for _, ws := range p.pl.Workstations {
		days := want[ws.Code]
		last := p.start
		if len(days) > 0 {
			last = max(last, slices.Max(slices.Collect(maps.Keys(days))))
		}
		for d := p.start; d <= last+1; d++ {
			got, err := load.Booked(ws.Code, d)
			if err != nil {
				t.Fatal(err)
			}
			if got != days[d] {
				t.Errorf("%s on %s: load %d, the orders' bookings sum to %d", ws.Code, d, got, days[d])
			}
			if got > p.capacity[ws.Code] || (got > 0 && !d.Working()) {
				t.Errorf("%s on %s: %d centiminutes booked, capacity %d", ws.Code, d, got, p.capacity[ws.Code])
			}
		}
		open, err := load.FirstOpen(ws.Code, p.start)
		if err != nil {
			t.Fatal(err)
		}
		for d := p.start; d < open; d = d.NextWorking() {
			if days[d] < p.capacity[ws.Code] && d.Working() {
				t.Errorf("%s: first open day %s, but %s has free minutes (%d of %d booked)", ws.Code, open, d, days[d], p.capacity[ws.Code])
			}
		}
	}
}

// TestConcurrentCalculationsEqualASerialOrder is the property that lets
// calculations run without a common lock: orders calculated by many
// workers at once never overbook a workstation's day, and the outcome is
// that of the same calculations made one after the other in some order:
// each order's bookings and ship date are what calc.Calculate gives on the
// load of the orders before it. The serial order is found again greedily:
// at each step, an order whose stored schedule is what a calculation on
// the load so far gives (calculations from different loads almost never
// agree by chance, and when they do either order is a valid one).
func TestConcurrentCalculationsEqualASerialOrder(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, engine sqldb.Engine) {
		t.Parallel()
		for seed := range uint64(3) {
			t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
				p := newPlant(t, engine)
				r := rand.New(rand.NewPCG(seed, 21))
				orders := map[string]contracts.OrderPlacedV1{}
				var jobs []func(ctx context.Context) error
				for i := range 150 {
					o := randomOrder(r, fmt.Sprintf("o-%03d", i))
					orders[o.OrderID] = o
					jobs = append(jobs, func(ctx context.Context) error { return p.calculate(ctx, o) })
				}
				p.run(t, 16, jobs)
				t.Logf("%d orders, %d calculations (the others were made again after a day filled up)", len(orders), p.attempts.Load())

				bookings, ships := p.stored(t)
				if len(ships) != len(orders) {
					t.Fatalf("%d orders priced of %d", len(ships), len(orders))
				}
				p.checkLoad(t, bookings)

				serial := calc.NewMemory(p.pl)
				serial.Start(p.start)
				left := slices.Sorted(maps.Keys(orders))
				for len(left) > 0 {
					found := -1
					for i, id := range left {
						res, err := calc.Calculate(calc.Input{PriceList: p.pl, Order: orders[id], Now: monday, HorizonDays: 100_000}, serial)
						if err != nil || res.Priced == nil {
							t.Fatalf("%s: %v %s", id, err, res.Review)
						}
						if maps.Equal(keyed(res.Bookings), bookings[id]) && res.Priced.ShipDate == ships[id] {
							found = i
							serial.Add(res.Bookings)
							break
						}
					}
					if found < 0 {
						t.Fatalf("no serial order gives these schedules: after %d orders, none of the %d left (%v...) is what a calculation on the load of the others gives",
							len(orders)-len(left), len(left), left[:min(5, len(left))])
					}
					left = slices.Delete(left, found, found+1)
				}
			})
		}
	})
}

// TestAnOrderThatKeepsLosingIsBookedAtLast gives one order a rival that,
// while each attempt calculates, fills every day the attempt is about to
// book and commits first: each optimistic attempt conflicts. After
// 4 of them the order takes the booking gate, the
// rival's booking waits for it (a lock timeout here: the rival gives up)
// and the order is booked on the load as it is then. Without the gate the
// order would lose all store.MaxAttempts attempts. PostgreSQL only: SQLite's
// write transactions exclude each other whole, so a rival cannot commit
// between an attempt's read and its booking.
func TestAnOrderThatKeepsLosingIsBookedAtLast(t *testing.T) {
	if !testenv.PostgresConfigured() {
		t.Skip("PostgreSQL only (FABRIKA_TEST_POSTGRES): SQLite's calculations never conflict")
	}
	t.Parallel()
	ctx := t.Context()
	p := newPlant(t, sqldb.Postgres)
	o := contracts.OrderPlacedV1{OrderID: "big", Number: "big", Channel: contracts.ChannelShop, Currency: "EUR", Customer: contracts.Customer{ID: "c"}, PlacedAt: monday,
		Lines: []contracts.LineItem{{LineNo: 1, Quantity: 40, Lead: contracts.LeadStandard, Product: "laser_cut_sheet",
			Options: map[string]string{contracts.OptMaterial: "steel_s235", contracts.OptWidth: "200", contracts.OptHeight: "100", contracts.OptThickness: "2"}}}}

	// rival fills the room left on each workstation and day of bookings,
	// in a transaction of its own that gives up after 100 ms of waiting
	// for a lock; it tells whether it booked.
	rivals, refused := 0, 0
	rival := func(bookings []calc.Booking) {
		t.Helper()
		id := fmt.Sprint("rival-", rivals+refused)
		err := p.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
			if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '100ms'`); err != nil {
				return err
			}
			load := p.st.NewLoad(ctx, tx, p.start)
			var fill []calc.Booking
			for i, tot := range calc.Totals(bookings) {
				booked, err := load.Booked(tot.Workstation, tot.Day)
				if err != nil {
					return err
				}
				fill = append(fill, calc.Booking{LineNo: 1, Seq: i + 1, Workstation: tot.Workstation, Day: tot.Day, Centiminutes: p.capacity[tot.Workstation] - booked})
			}
			return p.st.Book(ctx, tx, load, store.Decision{OrderID: id, Bookings: fill}, p.capacity, p.start)
		})
		switch {
		case err == nil:
			rivals++
		case strings.Contains(err.Error(), "55P03"):
			refused++
		default:
			t.Fatalf("%s: %v", id, err)
		}
	}

	var attempts int
	err := p.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		began, err := p.st.Start(ctx, tx, o.OrderID, p.start)
		if err != nil {
			return err
		}
		attempts, err = p.st.Schedule(ctx, tx, o.OrderID, p.capacity, p.start, began.Load, func(load calc.Load) (store.Decision, error) {
			res, err := calc.Calculate(calc.Input{PriceList: p.pl, Order: o, Now: monday, HorizonDays: 100_000}, load)
			if err != nil || res.Priced == nil {
				return store.Decision{}, fmt.Errorf("calculate: %v %s", err, res.Review)
			}
			rival(res.Bookings)
			return store.Decision{OrderID: o.OrderID, Bookings: res.Bookings, Record: &store.Calculation{OrderID: o.OrderID,
				Status: store.StatusPriced, Total: res.Priced.Total, ShipDate: res.Priced.ShipDate, CalculatedAt: monday, UpdatedAt: monday}}, nil
		})
		return err
	})
	if err != nil {
		t.Fatalf("after %d rivals booked first: %v", rivals, err)
	}
	if attempts != store.OptimisticAttempts+1 || rivals != store.OptimisticAttempts || refused != 1 {
		t.Errorf("booked at attempt %d, %d rivals booked first, %d waited; want attempt %d after %d rivals, one waiting",
			attempts, rivals, refused, store.OptimisticAttempts+1, store.OptimisticAttempts)
	}
	bookings, ships := p.stored(t)
	if ships[o.OrderID] == "" || len(bookings[o.OrderID]) == 0 {
		t.Fatalf("%s not booked: ship date %q, %d bookings", o.OrderID, ships[o.OrderID], len(bookings[o.OrderID]))
	}
	p.checkLoad(t, bookings)
}

// TestConcurrentCancellations runs calculations and cancellations of
// orders already booked at once: the load stays the sum of the bookings of
// the orders not cancelled, within capacity, and no day before a first
// open day has free minutes (a cancellation that frees a day moves the mark
// back, and a calculation that moves it forward meanwhile does not undo
// that).
func TestConcurrentCancellations(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, engine sqldb.Engine) {
		t.Parallel()
		p := newPlant(t, engine)
		r := rand.New(rand.NewPCG(5, 21))
		var jobs []func(ctx context.Context) error
		var mu sync.Mutex
		var booked []string
		for i := range 300 {
			if i%3 == 2 { // cancel an order booked before, in the low days where the marks are
				jobs = append(jobs, func(ctx context.Context) error {
					mu.Lock()
					if len(booked) == 0 {
						mu.Unlock()
						return nil
					}
					id := booked[0]
					booked = booked[1:]
					mu.Unlock()
					return p.cancel(ctx, id)
				})
				continue
			}
			o := randomOrder(r, fmt.Sprintf("o-%03d", i))
			jobs = append(jobs, func(ctx context.Context) error {
				if err := p.calculate(ctx, o); err != nil {
					return err
				}
				mu.Lock()
				booked = append(booked, o.OrderID)
				mu.Unlock()
				return nil
			})
		}
		p.run(t, 16, jobs)
		bookings, _ := p.stored(t)
		t.Logf("%d orders booked after the cancellations, %d calculations", len(bookings), p.attempts.Load())
		p.checkLoad(t, bookings)
	})
}
