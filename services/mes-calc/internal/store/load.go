package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/mes-calc/internal/calc"
)

// window is how many days of one workstation's load one query reads: most
// steps find room within a few days of the first open day.
const window = 16

// Load reads the planned load through a transaction, for calc.Calculate.
// It reads a window of days at a time and remembers what it read; it must
// be used within the transaction that holds the price list's lock.
type Load struct {
	ctx  context.Context
	q    Querier
	days map[string]*loadWindow
	open map[string]calc.Day
}

type loadWindow struct {
	from, to calc.Day // [from, to)
	booked   map[calc.Day]int64
}

var _ calc.Load = (*Load)(nil)

// NewLoad returns the load as q sees it.
func NewLoad(ctx context.Context, q Querier) *Load {
	return &Load{ctx: ctx, q: q, days: map[string]*loadWindow{}, open: map[string]calc.Day{}}
}

// FirstOpen implements calc.Load.
func (l *Load) FirstOpen(ws string, from calc.Day) (calc.Day, error) {
	d, ok := l.open[ws]
	if !ok {
		var err error
		if d, err = firstOpen(l.ctx, l.q, ws); err != nil {
			return 0, err
		}
		l.open[ws] = d
	}
	return max(d, from), nil
}

func firstOpen(ctx context.Context, q Querier, ws string) (calc.Day, error) {
	var d int64
	err := q.QueryRowContext(ctx, `SELECT day FROM workstation_open WHERE workstation = $1`, ws).Scan(&d)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("first open day of %s: %w", ws, err)
	}
	return calc.Day(d), nil
}

// Booked implements calc.Load.
func (l *Load) Booked(ws string, day calc.Day) (int64, error) {
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

func readWindow(ctx context.Context, q Querier, ws string, from, to calc.Day) (*loadWindow, error) {
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

// Book stores an order's bookings: the order's own rows (to release them
// later) and the sums per workstation and day; then it moves each touched
// workstation's first open day past the days now full. capacity gives the
// centiminutes of a workstation's day; start is the first day that can be
// planned (tomorrow's working day).
func Book(ctx context.Context, tx *sqldb.Tx, orderID string, bookings []calc.Booking, capacity map[string]int64, start calc.Day) error {
	if len(bookings) > 0 {
		// One statement for all of them; the placeholders are numbered here,
		// the values stay parameters.
		var q strings.Builder
		q.WriteString(`INSERT INTO order_bookings (order_id, line_no, seq, workstation, day, centiminutes) VALUES `)
		args := make([]any, 0, 6*len(bookings))
		for i, b := range bookings {
			if i > 0 {
				q.WriteString(", ")
			}
			n := len(args)
			fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6)
			args = append(args, orderID, b.LineNo, b.Seq, b.Workstation, int64(b.Day), b.Centiminutes)
		}
		q.WriteString(` ON CONFLICT (order_id, line_no, seq, day) DO UPDATE SET centiminutes = order_bookings.centiminutes + excluded.centiminutes`)
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("book %s: %w", orderID, err)
		}
	}
	touched := map[string]bool{}
	for _, t := range calc.Totals(bookings) {
		touched[t.Workstation] = true
		if _, err := tx.ExecContext(ctx, `INSERT INTO workstation_load (workstation, day, centiminutes) VALUES ($1, $2, $3)
			ON CONFLICT (workstation, day) DO UPDATE SET centiminutes = workstation_load.centiminutes + excluded.centiminutes`,
			t.Workstation, int64(t.Day), t.Centiminutes); err != nil {
			return fmt.Errorf("book %s: load of %s: %w", orderID, t.Workstation, err)
		}
	}
	for ws := range touched {
		if err := advanceOpen(ctx, tx, ws, capacity[ws], start); err != nil {
			return err
		}
	}
	return nil
}

// advanceOpen moves the first open day of ws past the full working days.
func advanceOpen(ctx context.Context, tx *sqldb.Tx, ws string, capacity int64, start calc.Day) error {
	stored, err := firstOpen(ctx, tx, ws)
	if err != nil {
		return err
	}
	d := max(stored, start)
	for !d.Working() {
		d++
	}
	for capacity > 0 {
		var booked int64
		err := tx.QueryRowContext(ctx, `SELECT centiminutes FROM workstation_load WHERE workstation = $1 AND day = $2`, ws, int64(d)).Scan(&booked)
		if errors.Is(err, sql.ErrNoRows) || err == nil && booked < capacity {
			break
		}
		if err != nil {
			return fmt.Errorf("first open day of %s: %w", ws, err)
		}
		d = d.NextWorking()
	}
	if d == stored {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO workstation_open (workstation, day) VALUES ($1, $2)
		ON CONFLICT (workstation) DO UPDATE SET day = excluded.day`, ws, int64(d)); err != nil {
		return fmt.Errorf("first open day of %s: %w", ws, err)
	}
	return nil
}

// Release gives back what an order booked, and moves the first open day of
// each workstation back to the earliest day freed. It returns how many
// bookings were released.
func Release(ctx context.Context, tx *sqldb.Tx, orderID string) (int, error) {
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
	for ws, d := range earliest {
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
func ResetOpen(ctx context.Context, tx *sqldb.Tx) error {
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
func LoadBetween(ctx context.Context, q Querier, from, to calc.Day) ([]DayLoad, error) {
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
