package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/mes-calc/internal/calc"
)

// window is how many days of one workstation's load one query reads: most
// steps find room within a few days of the first open day.
const window = 16

// Load reads the planned load through a transaction, for calc.Calculate.
// It reads a window of days at a time, without locking, and remembers what
// it read: what it returns is the load as committed when each window was
// read. Book then checks, with the rows locked, that it still has room.
type Load struct {
	ctx   context.Context
	q     sqldb.Querier
	start calc.Day // the first day that can be planned
	days  map[string]*loadWindow
	open  map[string]calc.Day
}

type loadWindow struct {
	from, to calc.Day // [from, to)
	booked   map[calc.Day]int64
}

var _ calc.Load = (*Load)(nil)

// NewLoad returns the load as q sees it from start, the first day that can
// be planned.
func (s *Store) NewLoad(ctx context.Context, q sqldb.Querier, start calc.Day) *Load {
	return &Load{ctx: ctx, q: q, start: start, days: map[string]*loadWindow{}}
}

// FirstOpen implements calc.Load. The marks of all workstations are read
// at once, on the first call.
func (l *Load) FirstOpen(ws string, from calc.Day) (calc.Day, error) {
	if err := l.readOpen(); err != nil {
		return 0, err
	}
	return max(l.open[ws], from), nil
}

// readOpenSQL reads, in one round trip, the first open day of every
// workstation that has one (kind 0) and, for each workstation of the price
// list, the window of its load that starts there, or at $1 (the first day
// that can be planned) when that is later (kind 1; a row without a day when
// the window is empty): where nearly every calculation looks. A day outside
// the window is read when asked for (Booked).
const readOpenSQL = `
SELECT 0, workstation, day, 0 FROM workstation_open
UNION ALL
SELECT 1, w.code, l.day, l.centiminutes
FROM workstations w
LEFT JOIN workstation_open o ON o.workstation = w.code
LEFT JOIN workstation_load l ON l.workstation = w.code
  AND l.day >= CASE WHEN o.day > $1 THEN o.day ELSE $1 END
  AND l.day < CASE WHEN o.day > $1 THEN o.day ELSE $1 END + $2`

func (l *Load) readOpen() error {
	if l.open != nil {
		return nil
	}
	rs, err := l.q.QueryContext(l.ctx, readOpenSQL, int64(l.start), int64(window))
	if err != nil {
		return fmt.Errorf("first open days: %w", err)
	}
	return l.fill(rs, nil)
}

// fill reads the rows of readOpenSQL from rs and closes it; rows of
// another kind go to other (Start's).
func (l *Load) fill(rs *sql.Rows, other func(kind int, n int64)) error {
	defer rs.Close()
	type booked struct {
		ws      string
		day, cm sql.NullInt64
	}
	open := map[string]calc.Day{}
	var load []booked
	for rs.Next() {
		var kind int
		var b booked
		if err := rs.Scan(&kind, &b.ws, &b.day, &b.cm); err != nil {
			return fmt.Errorf("first open days: %w", err)
		}
		switch kind {
		case 0:
			open[b.ws] = calc.Day(b.day.Int64)
		case 1:
			load = append(load, b)
		default:
			other(kind, b.day.Int64)
		}
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("first open days: %w", err)
	}
	for _, b := range load {
		w := l.days[b.ws]
		if w == nil {
			from := max(open[b.ws], l.start)
			w = &loadWindow{from: from, to: from + window, booked: map[calc.Day]int64{}}
			l.days[b.ws] = w
		}
		if b.day.Valid {
			w.booked[calc.Day(b.day.Int64)] = b.cm.Int64
		}
	}
	l.open = open
	return nil
}

// Booked implements calc.Load.
func (l *Load) Booked(ws string, day calc.Day) (int64, error) {
	if err := l.readOpen(); err != nil {
		return 0, err
	}
	w := l.days[ws]
	if w == nil || day < w.from || day >= w.to {
		var err error
		if w, err = readWindow(l.ctx, l.q, ws, day, day+window); err != nil {
			return 0, err
		}
		l.days[ws] = w
	}
	return w.booked[day], nil
}

func readWindow(ctx context.Context, q sqldb.Querier, ws string, from, to calc.Day) (*loadWindow, error) {
	rs, err := q.QueryContext(ctx, `SELECT day, centiminutes FROM workstation_load WHERE workstation = $1 AND day >= $2 AND day < $3`,
		ws, int64(from), int64(to))
	if err != nil {
		return nil, fmt.Errorf("load of %s: %w", ws, err)
	}
	defer rs.Close()
	w := &loadWindow{from: from, to: to, booked: map[calc.Day]int64{}}
	for rs.Next() {
		var d, cm int64
		if err := rs.Scan(&d, &cm); err != nil {
			return nil, fmt.Errorf("load of %s: %w", ws, err)
		}
		w.booked[calc.Day(d)] = cm
	}
	return w, rs.Err()
}

// set records the load of a day as the locked row holds it.
func (l *Load) set(ws string, day calc.Day, cm int64) {
	if w := l.days[ws]; w != nil && day >= w.from && day < w.to {
		w.booked[day] = cm
	}
}

// ErrConflict is returned by Book when a day it books filled up after the
// calculation read it: another calculation committed there first. The
// calculation must be made again on the load as it is now.
var ErrConflict = errors.New("a day filled up meanwhile")

// MaxAttempts bounds how often Schedule calculates one order again after a
// conflict before it gives up (the message is then redelivered). With the
// gate (OptimisticAttempts) no attempt after the first few can conflict:
// the bound only guards against a bug.
const MaxAttempts = 50

// OptimisticAttempts is how many attempts of one calculation run without
// the booking gate. An order that lost this many times in a row (a large
// order spanning many days, while many small ones book its first days) runs
// its next attempt holding the gate: on PostgreSQL an exclusive
// transaction-level advisory lock (bookingGate) that every Book takes
// shared, in its booking statement. Taking it waits for the calculations
// that booked and have not committed yet, and makes the others wait at
// their booking until this one commits; the load it then reads cannot
// change under it except by cancellations, which only free minutes, so
// that attempt cannot conflict: no order starves however busy its days.
// Gated attempts serialise with each other; an attempt that takes the gate
// holds no lock of another booking (its earlier attempts were rolled back
// to the savepoint, which also lets go of their share of the gate), so no
// cycle of waits can form. SQLite's write transactions exclude each other
// whole: nothing changes between its read and its booking, and it never
// conflicts.
const OptimisticAttempts = 4

// bookingGate is the key of the advisory lock of OptimisticAttempts
// (advisory locks are per database: mes-calc's own).
const bookingGate = 0x6d6573_63616c63 // "mescalc"

// Decision is what one attempt of a calculation books: the order's
// bookings and, unless the caller wrote it, its calculation record.
type Decision struct {
	OrderID  string
	Bookings []calc.Booking
	// Record is inserted with the bookings, in the same statement on
	// PostgreSQL (nil: none, or the caller wrote it).
	Record *Calculation
}

// Schedule makes one calculation and books it, optimistically: attempt
// calculates on the load as committed (a Load it is given, read without
// locks), writes what else it decided (the outgoing event) and returns
// the bookings and the calculation record; Book then writes them, adding
// the bookings only where the day still has room. When a day filled up
// meanwhile, everything attempt and Book wrote is rolled back to a
// savepoint, which also lets go of the rows Book locked, and attempt runs
// again on the load as it is now; Schedule returns how many attempts it
// took. A calculation thus equals the one it would have made had it run
// alone after the calculations that committed before it. capacity gives
// the centiminutes of a workstation's day; start is the first day that
// can be planned; first, when not nil, is the load the first attempt
// reads (Start's). After OptimisticAttempts conflicts, the next attempt
// takes the booking gate first and cannot conflict.
//
// Book comes last, so the busiest rows stay locked only until the commit,
// and the savepoint is not released (sqldb.Tx.Retry): nothing is sent
// between the booking and the commit.
func (s *Store) Schedule(ctx context.Context, tx *sqldb.Tx, orderID string, capacity map[string]int64, start calc.Day, first *Load,
	attempt func(load calc.Load) (Decision, error)) (int, error) {
	n, err := tx.Retry(ctx, MaxAttempts, func(err error) bool { return errors.Is(err, ErrConflict) }, func(n int) error {
		if n > OptimisticAttempts && tx.Engine() == sqldb.Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(bookingGate)); err != nil {
				return fmt.Errorf("schedule %s: booking gate: %w", orderID, err)
			}
		}
		l := first
		if l == nil || n > 1 {
			l = s.NewLoad(ctx, tx, start)
		}
		d, err := attempt(l)
		if err != nil {
			return err
		}
		return s.Book(ctx, tx, l, d, capacity, start)
	})
	if errors.Is(err, ErrConflict) {
		return n, fmt.Errorf("schedule %s: %d attempts: %w", orderID, n, err)
	}
	return n, err
}

// Book stores an order's decision: its calculation record, its own
// booking rows (to release them later) and the sums per workstation and
// day, each added only if the day keeps within capacity (ErrConflict
// otherwise: what it wrote must then be rolled back, as Schedule does);
// then it moves each touched workstation's first open day past the days
// now full. l is the Load the calculation read; capacity gives the
// centiminutes of a workstation's day; start is the first day that can be
// planned (tomorrow's working day).
//
// The sums are written last, in the order of (workstation, day): the rows
// of the busiest days are then locked for as short a time as the
// transaction allows, and always in the same order, so two calculations
// never wait for each other in a cycle. On PostgreSQL the record and the
// booking rows go in the same statement as the sums (data-modifying WITH
// queries): one round trip instead of three.
func (s *Store) Book(ctx context.Context, tx *sqldb.Tx, l *Load, d Decision, capacity map[string]int64, start calc.Day) error {
	if len(d.Bookings) == 0 {
		if d.Record == nil {
			return nil
		}
		return s.InsertCalculation(ctx, tx, *d.Record)
	}
	var writes []func(*statement)
	if c := d.Record; c != nil {
		writes = append(writes, func(st *statement) { insertCalculation(st, *c) })
	}
	writes = append(writes, func(st *statement) {
		st.add(`INSERT INTO order_bookings (order_id, line_no, seq, workstation, day, centiminutes) VALUES `)
		for i, b := range d.Bookings {
			if i > 0 {
				st.add(", ")
			}
			st.values([]any{d.OrderID, b.LineNo, b.Seq, b.Workstation, int64(b.Day), b.Centiminutes})
		}
		st.add(` ON CONFLICT (order_id, line_no, seq, day) DO UPDATE SET centiminutes = order_bookings.centiminutes + excluded.centiminutes`)
	})
	totals := calc.Totals(d.Bookings)
	// A new row never exceeds capacity (the calculation books at most a
	// day's capacity); an existing one is added to only if the sum fits.
	// The capacities go in as a CASE over the workstations booked. On
	// PostgreSQL the rows come from a join with the shared booking gate
	// (OptimisticAttempts), so it is taken before the first row is
	// written; the VALUES then need their types.
	gated := tx.Engine() == sqldb.Postgres
	sums := func(st *statement) {
		if gated {
			st.add(`INSERT INTO workstation_load (workstation, day, centiminutes) SELECT v.* FROM (VALUES `)
		} else {
			st.add(`INSERT INTO workstation_load (workstation, day, centiminutes) VALUES `)
		}
		for i, t := range totals {
			if i > 0 {
				st.add(", ")
			}
			if gated {
				st.add("(" + st.arg(t.Workstation) + "::text, " + st.arg(int64(t.Day)) + "::integer, " + st.arg(t.Centiminutes) + "::bigint)")
				continue
			}
			st.values([]any{t.Workstation, int64(t.Day), t.Centiminutes})
		}
		if gated {
			st.add(`) v, (SELECT pg_advisory_xact_lock_shared(` + st.arg(int64(bookingGate)) + `)) gate WHERE true`)
		}
		st.add(` ON CONFLICT (workstation, day) DO UPDATE SET centiminutes = workstation_load.centiminutes + excluded.centiminutes
		WHERE workstation_load.centiminutes + excluded.centiminutes <= CASE excluded.workstation`)
		seen := map[string]bool{}
		for _, t := range totals {
			if !seen[t.Workstation] {
				seen[t.Workstation] = true
				st.add(" WHEN " + st.arg(t.Workstation) + " THEN CAST(" + st.arg(capacity[t.Workstation]) + " AS BIGINT)")
			}
		}
		st.add(` ELSE 0 END RETURNING workstation, day, centiminutes`)
	}
	rs, err := queryAfter(ctx, tx, writes, sums)
	if err != nil {
		return fmt.Errorf("book %s: %w", d.OrderID, err)
	}
	booked := 0
	for rs.Next() {
		var ws string
		var day, cm int64
		if err := rs.Scan(&ws, &day, &cm); err != nil {
			rs.Close()
			return fmt.Errorf("book %s: load: %w", d.OrderID, err)
		}
		l.set(ws, calc.Day(day), cm) // exact: the row stays locked until commit
		booked++
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return fmt.Errorf("book %s: load: %w", d.OrderID, err)
	}
	if booked < len(totals) {
		return fmt.Errorf("book %s: %w", d.OrderID, ErrConflict)
	}
	done := map[string]bool{}
	for _, t := range totals {
		if !done[t.Workstation] {
			done[t.Workstation] = true
			if err := l.advanceOpen(tx, t.Workstation, capacity[t.Workstation], start); err != nil {
				return err
			}
		}
	}
	return nil
}

// statement builds a statement and numbers its arguments.
type statement struct {
	strings.Builder
	args []any
}

func (st *statement) add(sql string) { st.WriteString(sql) }

// arg adds v as the next argument and returns its placeholder.
func (st *statement) arg(v any) string {
	st.args = append(st.args, v)
	return "$" + strconv.Itoa(len(st.args))
}

// values writes one parenthesised row of arguments.
func (st *statement) values(row []any) {
	st.WriteByte('(')
	for i, v := range row {
		if i > 0 {
			st.WriteString(", ")
		}
		st.WriteString(st.arg(v))
	}
	st.WriteByte(')')
}

// queryAfter runs writes, then query, and returns query's rows. On
// PostgreSQL that is one statement and one round trip: the writes become
// data-modifying WITH queries, which run to completion whether or not the
// query reads them (they must not touch query's rows: the statement's parts
// do not see each other's changes). SQLite has no such queries, and there
// a statement costs no round trip: it runs them one after the other.
func queryAfter(ctx context.Context, tx *sqldb.Tx, writes []func(*statement), query func(*statement)) (*sql.Rows, error) {
	var st statement
	if tx.Engine() == sqldb.Postgres {
		for i, w := range writes {
			if i == 0 {
				st.add("WITH ")
			} else {
				st.add(", ")
			}
			st.add("w" + strconv.Itoa(i) + " AS (")
			w(&st)
			st.add(") ")
		}
	} else {
		for _, w := range writes {
			var ws statement
			w(&ws)
			if _, err := tx.ExecContext(ctx, ws.String(), ws.args...); err != nil {
				return nil, err
			}
		}
	}
	query(&st)
	return tx.QueryContext(ctx, st.String(), st.args...)
}

// advanceOpen moves the first open day of ws past the working days that are
// full. The days it passes are checked full with their rows locked (an
// update that changes nothing), so a cancellation cannot free one of them
// unseen before this transaction commits; and the mark moves only forward
// from where this calculation read it: a cancellation that moved it back
// meanwhile wins. Most calculations fill no day and write nothing here.
func (l *Load) advanceOpen(tx *sqldb.Tx, ws string, capacity int64, start calc.Day) error {
	if capacity <= 0 {
		return nil
	}
	if err := l.readOpen(); err != nil {
		return err
	}
	from := max(l.open[ws], start)
	for !from.Working() {
		from++
	}
	to := from
	for {
		booked, err := l.Booked(ws, to)
		if err != nil {
			return err
		}
		if booked < capacity {
			break
		}
		to = to.NextWorking()
	}
	if to == from {
		return nil
	}
	rs, err := tx.QueryContext(l.ctx, `UPDATE workstation_load SET centiminutes = centiminutes
		WHERE workstation = $1 AND day >= $2 AND day < $3 AND centiminutes >= $4 RETURNING day`, ws, int64(from), int64(to), capacity)
	if err != nil {
		return fmt.Errorf("first open day of %s: %w", ws, err)
	}
	full := map[calc.Day]bool{}
	for rs.Next() {
		var d int64
		if err := rs.Scan(&d); err != nil {
			rs.Close()
			return fmt.Errorf("first open day of %s: %w", ws, err)
		}
		full[calc.Day(d)] = true
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return fmt.Errorf("first open day of %s: %w", ws, err)
	}
	d := from
	for d < to && full[d] {
		d = d.NextWorking()
	}
	if d == from {
		return nil
	}
	// A mark before start is stale (yesterday's): it may move too.
	if _, err := tx.ExecContext(l.ctx, `INSERT INTO workstation_open (workstation, day) VALUES ($1, $2)
		ON CONFLICT (workstation) DO UPDATE SET day = excluded.day
		WHERE workstation_open.day < excluded.day AND (workstation_open.day >= $3 OR workstation_open.day < $4)`,
		ws, int64(d), int64(from), int64(start)); err != nil {
		return fmt.Errorf("first open day of %s: %w", ws, err)
	}
	l.open[ws] = d
	return nil
}

// Release gives back what an order booked, and moves the first open day of
// each workstation back to the earliest day freed. It returns how many
// bookings were released.
func (s *Store) Release(ctx context.Context, tx *sqldb.Tx, orderID string) (int, error) {
	rs, err := tx.QueryContext(ctx, `SELECT workstation, day, centiminutes FROM order_bookings WHERE order_id = $1`, orderID)
	if err != nil {
		return 0, fmt.Errorf("release %s: %w", orderID, err)
	}
	var bs []calc.Booking
	for rs.Next() {
		var b calc.Booking
		var d int64
		if err := rs.Scan(&b.Workstation, &d, &b.Centiminutes); err != nil {
			rs.Close()
			return 0, fmt.Errorf("release %s: %w", orderID, err)
		}
		b.Day = calc.Day(d)
		bs = append(bs, b)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return 0, fmt.Errorf("release %s: %w", orderID, err)
	}
	// In the order of (workstation, day), as Book locks them.
	earliest := map[string]calc.Day{}
	for _, t := range calc.Totals(bs) {
		if _, err := tx.ExecContext(ctx, `UPDATE workstation_load SET centiminutes = centiminutes - $1 WHERE workstation = $2 AND day = $3`,
			t.Centiminutes, t.Workstation, int64(t.Day)); err != nil {
			return 0, fmt.Errorf("release %s: %w", orderID, err)
		}
		if d, ok := earliest[t.Workstation]; !ok || t.Day < d {
			earliest[t.Workstation] = t.Day
		}
	}
	for _, ws := range slices.Sorted(maps.Keys(earliest)) {
		d := earliest[ws]
		if _, err := tx.ExecContext(ctx, `UPDATE workstation_open SET day = $1 WHERE workstation = $2 AND day > $1`, int64(d), ws); err != nil {
			return 0, fmt.Errorf("release %s: first open day of %s: %w", orderID, ws, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM order_bookings WHERE order_id = $1`, orderID); err != nil {
		return 0, fmt.Errorf("release %s: %w", orderID, err)
	}
	return len(bs), nil
}

// ResetOpen forgets the first open days: after a change of capacity, a day
// that was full may not be any more.
func (s *Store) ResetOpen(ctx context.Context, tx *sqldb.Tx) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM workstation_open`); err != nil {
		return fmt.Errorf("reset first open days: %w", err)
	}
	return nil
}

// DayLoad is the load of one workstation on one day.
type DayLoad struct {
	Workstation string  `json:"workstation"`
	Day         string  `json:"day"`
	Minutes     float64 `json:"planned_minutes"`
}

// LoadBetween returns the planned load on the days [from, to), by
// workstation and day.
func (s *Store) LoadBetween(ctx context.Context, q sqldb.Querier, from, to calc.Day) ([]DayLoad, error) {
	rs, err := q.QueryContext(ctx, `SELECT workstation, day, centiminutes FROM workstation_load
		WHERE day >= $1 AND day < $2 AND centiminutes > 0 ORDER BY workstation, day`, int64(from), int64(to))
	if err != nil {
		return nil, fmt.Errorf("load between %s and %s: %w", from, to, err)
	}
	defer rs.Close()
	var out []DayLoad
	for rs.Next() {
		var dl DayLoad
		var d, cm int64
		if err := rs.Scan(&dl.Workstation, &d, &cm); err != nil {
			return nil, err
		}
		dl.Day, dl.Minutes = calc.Day(d).String(), float64(cm)/100
		out = append(out, dl)
	}
	return out, rs.Err()
}
