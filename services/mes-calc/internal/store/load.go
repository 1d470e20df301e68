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
		if kind == 0 {
			open[b.ws] = calc.Day(b.day.Int64)
		} else {
			load = append(load, b)
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
// conflict before it gives up (the message is then redelivered).
const MaxAttempts = 50

// Schedule makes one calculation and books it, optimistically: attempt
// calculates on the load as committed (a Load it is given, read without
// locks), writes what it decided (the calculation record, the outgoing
// event) and returns the bookings; Book then adds them only where the day
// still has room. When a day filled up meanwhile, everything attempt wrote
// is rolled back to a savepoint and it runs again on the load as it is
// now; it returns how many attempts it took. A calculation thus equals the
// one it would have made had it run alone after the calculations that
// committed before it. capacity gives the centiminutes of a workstation's
// day; start is the first day that can be planned.
func (s *Store) Schedule(ctx context.Context, tx *sqldb.Tx, orderID string, capacity map[string]int64, start calc.Day,
	attempt func(load calc.Load) ([]calc.Booking, error)) (int, error) {
	for n := 1; ; n++ {
		err := tx.Savepoint(ctx, func() error {
			l := s.NewLoad(ctx, tx, start)
			bookings, err := attempt(l)
			if err != nil {
				return err
			}
			return s.Book(ctx, tx, l, orderID, bookings, capacity, start)
		})
		if !errors.Is(err, ErrConflict) {
			return n, err
		}
		if n == MaxAttempts {
			return n, fmt.Errorf("schedule %s: %d attempts: %w", orderID, n, err)
		}
	}
}

// Book stores an order's bookings: the order's own rows (to release them
// later) and the sums per workstation and day, each added only if the day
// keeps within capacity (ErrConflict otherwise); then it moves each touched
// workstation's first open day past the days now full. l is the Load the
// calculation read; capacity gives the centiminutes of a workstation's day;
// start is the first day that can be planned (tomorrow's working day).
//
// The sums are written last, in one statement, in the order of
// (workstation, day): the rows of the busiest days are then locked for as
// short a time as the transaction allows, and always in the same order, so
// two calculations never wait for each other in a cycle.
func (s *Store) Book(ctx context.Context, tx *sqldb.Tx, l *Load, orderID string, bookings []calc.Booking, capacity map[string]int64, start calc.Day) error {
	if len(bookings) == 0 {
		return nil
	}
	// One statement for the order's rows and one for the sums; the
	// placeholders are numbered here, the values stay parameters.
	rows := make([][]any, len(bookings))
	for i, b := range bookings {
		rows[i] = []any{orderID, b.LineNo, b.Seq, b.Workstation, int64(b.Day), b.Centiminutes}
	}
	q, args := multiInsert(`INSERT INTO order_bookings (order_id, line_no, seq, workstation, day, centiminutes) VALUES `,
		rows, ` ON CONFLICT (order_id, line_no, seq, day) DO UPDATE SET centiminutes = order_bookings.centiminutes + excluded.centiminutes`, nil)
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("book %s: %w", orderID, err)
	}
	totals := calc.Totals(bookings)
	rows = make([][]any, len(totals))
	for i, t := range totals {
		rows[i] = []any{t.Workstation, int64(t.Day), t.Centiminutes}
	}
	// A new row never exceeds capacity (the calculation books at most a
	// day's capacity); an existing one is added to only if the sum fits.
	// The capacities go in as a CASE over the workstations booked.
	var cases strings.Builder
	var capArgs []any
	seen := map[string]bool{}
	for _, t := range totals {
		if seen[t.Workstation] {
			continue
		}
		seen[t.Workstation] = true
		capArgs = append(capArgs, t.Workstation, capacity[t.Workstation])
		n := len(rows)*3 + len(capArgs) // the numbers follow the rows'
		fmt.Fprintf(&cases, " WHEN $%d THEN CAST($%d AS BIGINT)", n-1, n)
	}
	q, args = multiInsert(`INSERT INTO workstation_load (workstation, day, centiminutes) VALUES `, rows,
		` ON CONFLICT (workstation, day) DO UPDATE SET centiminutes = workstation_load.centiminutes + excluded.centiminutes
		WHERE workstation_load.centiminutes + excluded.centiminutes <= CASE excluded.workstation`+cases.String()+` ELSE 0 END
		RETURNING workstation, day, centiminutes`, capArgs)
	rs, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("book %s: load: %w", orderID, err)
	}
	booked := 0
	for rs.Next() {
		var ws string
		var d, cm int64
		if err := rs.Scan(&ws, &d, &cm); err != nil {
			rs.Close()
			return fmt.Errorf("book %s: load: %w", orderID, err)
		}
		l.set(ws, calc.Day(d), cm) // exact: the row stays locked until commit
		booked++
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return fmt.Errorf("book %s: load: %w", orderID, err)
	}
	if booked < len(totals) {
		return fmt.Errorf("book %s: %w", orderID, ErrConflict)
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

// multiInsert returns the statement and its arguments for rows of equal
// width, then the arguments of tail.
func multiInsert(head string, rows [][]any, tail string, tailArgs []any) (string, []any) {
	var q strings.Builder
	q.WriteString(head)
	args := make([]any, 0, len(rows)*len(rows[0])+len(tailArgs))
	for i, r := range rows {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteByte('(')
		for j, v := range r {
			if j > 0 {
				q.WriteString(", ")
			}
			args = append(args, v)
			q.WriteString("$" + strconv.Itoa(len(args)))
		}
		q.WriteByte(')')
	}
	q.WriteString(tail)
	return q.String(), append(args, tailArgs...)
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
