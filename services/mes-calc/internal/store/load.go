package store

import (
	"context"
	"fmt"
	"strconv"
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
	return &Load{ctx: ctx, q: q, days: map[string]*loadWindow{}}
}

// FirstOpen implements calc.Load. The marks of all workstations are read
// at once, on the first call.
func (l *Load) FirstOpen(ws string, from calc.Day) (calc.Day, error) {
	if l.open == nil {
		open, err := readOpen(l.ctx, l.q)
		if err != nil {
			return 0, err
		}
		l.open = open
	}
	return max(l.open[ws], from), nil
}

func readOpen(ctx context.Context, q Querier) (map[string]calc.Day, error) {
	rs, err := q.QueryContext(ctx, `SELECT workstation, day FROM workstation_open`)
	if err != nil {
		return nil, fmt.Errorf("first open days: %w", err)
	}
	defer rs.Close()
	open := map[string]calc.Day{}
	for rs.Next() {
		var ws string
		var d int64
		if err := rs.Scan(&ws, &d); err != nil {
			return nil, fmt.Errorf("first open days: %w", err)
		}
		open[ws] = calc.Day(d)
	}
	return open, rs.Err()
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
// workstation's first open day past the days now full. l is the Load the
// calculation read (what it remembers spares queries); capacity gives the
// centiminutes of a workstation's day; start is the first day that can be
// planned (tomorrow's working day).
func Book(ctx context.Context, tx *sqldb.Tx, l *Load, orderID string, bookings []calc.Booking, capacity map[string]int64, start calc.Day) error {
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
		rows, ` ON CONFLICT (order_id, line_no, seq, day) DO UPDATE SET centiminutes = order_bookings.centiminutes + excluded.centiminutes`)
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("book %s: %w", orderID, err)
	}
	totals := calc.Totals(bookings)
	rows = make([][]any, len(totals))
	for i, t := range totals {
		rows[i] = []any{t.Workstation, int64(t.Day), t.Centiminutes}
	}
	l.add(totals) // before the write: windows read later come from the table
	q, args = multiInsert(`INSERT INTO workstation_load (workstation, day, centiminutes) VALUES `,
		rows, ` ON CONFLICT (workstation, day) DO UPDATE SET centiminutes = workstation_load.centiminutes + excluded.centiminutes`)
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("book %s: load: %w", orderID, err)
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
// width.
func multiInsert(head string, rows [][]any, tail string) (string, []any) {
	var q strings.Builder
	q.WriteString(head)
	args := make([]any, 0, len(rows)*len(rows[0]))
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
	return q.String(), args
}

// add counts bookings into the windows already read.
func (l *Load) add(totals []calc.Booking) {
	for _, t := range totals {
		if w := l.days[t.Workstation]; w != nil && t.Day >= w.from && t.Day < w.to {
			w.booked[t.Day] += t.Centiminutes
		}
	}
}

// advanceOpen moves the first open day of ws past the full working days.
func (l *Load) advanceOpen(tx *sqldb.Tx, ws string, capacity int64, start calc.Day) error {
	if capacity <= 0 {
		return nil
	}
	if _, err := l.FirstOpen(ws, start); err != nil { // reads the stored mark once
		return err
	}
	stored := l.open[ws]
	d := max(stored, start)
	for !d.Working() {
		d++
	}
	for {
		booked, err := l.Booked(ws, d)
		if err != nil {
			return err
		}
		if booked < capacity {
			break
		}
		d = d.NextWorking()
	}
	if d == stored {
		return nil
	}
	if _, err := tx.ExecContext(l.ctx, `INSERT INTO workstation_open (workstation, day) VALUES ($1, $2)
		ON CONFLICT (workstation) DO UPDATE SET day = excluded.day`, ws, int64(d)); err != nil {
		return fmt.Errorf("first open day of %s: %w", ws, err)
	}
	l.open[ws] = d
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
