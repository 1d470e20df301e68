package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// Line is what one line of an order asks for.
type Line struct {
	LineNo   int
	Product  string
	Quantity int
	Options  map[string]string
}

// InsertLines stores an order's lines once; a repeated confirmation keeps
// the first.
func (s *Store) InsertLines(ctx context.Context, q sqldb.Querier, orderID string, lines []Line) error {
	opts := make([]string, len(lines))
	for i, l := range lines {
		b, err := json.Marshal(l.Options)
		if err != nil {
			return fmt.Errorf("encode options of %s/%d: %w", orderID, l.LineNo, err)
		}
		opts[i] = string(b)
	}
	err := insertRows(ctx, q, `INSERT INTO order_lines (order_id, line_no, product, quantity, options) VALUES `,
		` ON CONFLICT (order_id, line_no) DO NOTHING`, len(lines), 5, func(i int) []any {
			return []any{orderID, lines[i].LineNo, lines[i].Product, lines[i].Quantity, opts[i]}
		})
	if err != nil {
		return fmt.Errorf("insert lines of %s: %w", orderID, err)
	}
	return nil
}

// lineColumns are an order line's columns as a LEFT JOIN of order_lines l
// gives them beside its operations: NULL for an order confirmed without its
// lines.
const lineColumns = `l.product, l.quantity, l.options`

// lineRow is a line as lineColumns are scanned.
type lineRow struct {
	product, options sql.NullString
	quantity         sql.NullInt64
}

func (r *lineRow) dest() []any { return []any{&r.product, &r.quantity, &r.options} }

// line returns the line numbered no, and whether the order has it.
func (r *lineRow) line(no int) (Line, bool, error) {
	if !r.options.Valid {
		return Line{}, false, nil
	}
	l := Line{LineNo: no, Product: r.product.String, Quantity: int(r.quantity.Int64)}
	if err := json.Unmarshal([]byte(r.options.String), &l.Options); err != nil {
		return Line{}, false, fmt.Errorf("decode options of line %d: %w", no, err)
	}
	return l, true, nil
}

// Lines returns an order's lines by number (none for orders confirmed
// before lines were sent).
func (s *Store) Lines(ctx context.Context, q sqldb.Querier, orderID string) (map[int]Line, error) {
	rows, err := q.QueryContext(ctx, `SELECT line_no, product, quantity, options FROM order_lines WHERE order_id = $1`, orderID)
	if err != nil {
		return nil, fmt.Errorf("lines of %s: %w", orderID, err)
	}
	defer rows.Close()
	out := map[int]Line{}
	for rows.Next() {
		var l Line
		var opts string
		if err := rows.Scan(&l.LineNo, &l.Product, &l.Quantity, &opts); err != nil {
			return nil, fmt.Errorf("scan line: %w", err)
		}
		if err := json.Unmarshal([]byte(opts), &l.Options); err != nil {
			return nil, fmt.Errorf("decode options of %s/%d: %w", orderID, l.LineNo, err)
		}
		out[l.LineNo] = l
	}
	return out, rows.Err()
}

// Note is a manager's note on an order.
type Note struct {
	Body string
	By   string
	At   time.Time
}

// AddNote stores a note once per event.
func (s *Store) AddNote(ctx context.Context, q sqldb.Querier, messageID, orderID string, n Note) error {
	if _, err := q.ExecContext(ctx, `INSERT INTO order_notes (message_id, order_id, body, by_name, at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (message_id) DO NOTHING`, messageID, orderID, n.Body, n.By, sqldb.Micros(n.At)); err != nil {
		return fmt.Errorf("add note to %s: %w", orderID, err)
	}
	return nil
}

// Notes returns an order's notes, oldest first.
func (s *Store) Notes(ctx context.Context, q sqldb.Querier, orderID string) ([]Note, error) {
	rows, err := q.QueryContext(ctx, `SELECT body, by_name, at FROM order_notes WHERE order_id = $1 ORDER BY at, message_id LIMIT 100`, orderID)
	if err != nil {
		return nil, fmt.Errorf("notes of %s: %w", orderID, err)
	}
	defer rows.Close()
	var out []Note
	for rows.Next() {
		var n Note
		var at int64
		if err := rows.Scan(&n.Body, &n.By, &at); err != nil {
			return nil, fmt.Errorf("scan note: %w", err)
		}
		n.At = sqldb.FromMicros(at)
		out = append(out, n)
	}
	return out, rows.Err()
}

// Labels are the names of the price list's codes, by kind and code.
type Labels map[string]map[string]string

// Name is the name of a code of a kind, or the code when none is known.
func (l Labels) Name(kind, code string) string {
	if n := l[kind][code]; n != "" {
		return n
	}
	return code
}

// UpsertLabel stores the name of a code.
func (s *Store) UpsertLabel(ctx context.Context, q sqldb.Querier, kind, code, name string) error {
	if _, err := q.ExecContext(ctx, `INSERT INTO labels (kind, code, name) VALUES ($1, $2, $3)
		ON CONFLICT (kind, code) DO UPDATE SET name = excluded.name`, kind, code, name); err != nil {
		return fmt.Errorf("upsert label %s %s: %w", kind, code, err)
	}
	return nil
}

// AllLabels returns every known name, the workstations' (kind
// "workstation") among them.
func (s *Store) AllLabels(ctx context.Context, q sqldb.Querier) (Labels, error) {
	rows, err := q.QueryContext(ctx, `SELECT kind, code, name FROM labels
		UNION ALL SELECT 'workstation', code, name FROM workstations`)
	if err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	defer rows.Close()
	out := Labels{}
	for rows.Next() {
		var kind, code, name string
		if err := rows.Scan(&kind, &code, &name); err != nil {
			return nil, fmt.Errorf("scan label: %w", err)
		}
		if out[kind] == nil {
			out[kind] = map[string]string{}
		}
		out[kind][code] = name
	}
	return out, rows.Err()
}
