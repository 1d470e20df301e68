package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/shop/internal/order"
)

// Order is a shop order as stored.
type Order struct {
	ID, Number, CustomerID      string
	IdempotencyKey, RequestHash string
	Status                      string
	Currency                    string
	QuotedTotal, PricedTotal    int64
	PriceListVersion            int64
	LineCount                   int
	Contact                     order.Contact
	Delivery                    contracts.Address
	ShipDate                    string
	Carrier, TrackingNumber     string
	CancelRequestedAt           time.Time
	PlacedAt, UpdatedAt         time.Time
	Lines                       []Line  // only by Order and PlaceOrder
	Events                      []Event // only by Order
}

// Line is a priced order line.
type Line struct {
	LineNo    int
	Product   string
	Options   map[string]string
	Quantity  int
	Lead      string
	UnitPrice int64
	Total     int64
	LeadDays  int
}

// Event is an entry of an order's timeline.
type Event struct {
	ID       string
	OrderID  string
	Kind     string
	At       time.Time
	Detail   string
	Amount   int64
	Currency string
}

// TakeNumberBlock reserves the next size order numbers of a year in a
// transaction of its own and returns the first and last.
func (s *Store) TakeNumberBlock(ctx context.Context, year int, size int64) (first, last int64, err error) {
	err = s.DB.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO order_number_block (year, last) VALUES ($1, $2)
			ON CONFLICT (year) DO UPDATE SET last = order_number_block.last + $2 RETURNING last`, year, size).Scan(&last)
	})
	if err != nil {
		return 0, 0, fmt.Errorf("take order number block: %w", err)
	}
	return last - size + 1, last, nil
}

// ErrKeyUsed is returned by InsertOrder when the customer already placed an
// order with the idempotency key.
var ErrKeyUsed = errors.New("idempotency key already used")

// InsertOrder writes the order and its lines in tx (the timeline's "placed"
// entry is the order row itself, see CustomerOrder). When the customer
// already used the idempotency key the order's INSERT fails on the unique
// constraint (on PostgreSQL after waiting for a concurrent holder of the key
// to commit or roll back) and ErrKeyUsed is returned: tx is then unusable,
// and the caller reads the order that holds the key with OrderByKey.
func (s *Store) InsertOrder(ctx context.Context, tx *sqldb.Tx, o Order) error {
	contact, err := json.Marshal(o.Contact)
	if err != nil {
		return err
	}
	delivery, err := json.Marshal(o.Delivery)
	if err != nil {
		return err
	}
	// The order and its lines go in one batch, the order first (the lines'
	// foreign key finds it): one round trip in a transaction on PostgreSQL.
	var b sqldb.Batch
	b.Add(`INSERT INTO orders (id, number, customer_id, idempotency_key, request_hash, status, currency,
			quoted_total, price_list_version, line_count, contact, delivery, placed_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)`,
		o.ID, o.Number, o.CustomerID, o.IdempotencyKey, o.RequestHash, o.Status, o.Currency,
		o.QuotedTotal, o.PriceListVersion, len(o.Lines), string(contact), string(delivery), sqldb.Micros(o.PlacedAt))
	// One multi-row statement for the lines: a round trip per line would
	// dominate the cost of a large order.
	args := make([]any, 0, len(o.Lines)*9)
	for _, l := range o.Lines {
		opts, err := json.Marshal(l.Options)
		if err != nil {
			return err
		}
		args = append(args, o.ID, l.LineNo, l.Product, string(opts), l.Quantity, l.Lead, l.UnitPrice, l.Total, l.LeadDays)
	}
	b.Add(s.lineSQL(len(o.Lines)), args...)
	_, err = b.Exec(ctx, tx)
	if sqldb.IsUniqueViolation(err) {
		return fmt.Errorf("insert order %s: %w: %w", o.Number, ErrKeyUsed, err)
	}
	if err != nil {
		return fmt.Errorf("insert order %s: %w", o.Number, err)
	}
	return nil
}

// lineSQL is the INSERT of n order lines, built once per n.
func (s *Store) lineSQL(n int) string {
	if n < len(s.lineInserts) {
		if q := s.lineInserts[n].Load(); q != nil {
			return *q
		}
	}
	var q strings.Builder
	q.WriteString(`INSERT INTO order_line (order_id, line_no, product, options, quantity, lead, unit_price, total, lead_days) VALUES `)
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		k := i * 9
		fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)", k+1, k+2, k+3, k+4, k+5, k+6, k+7, k+8, k+9)
	}
	out := q.String()
	if n < len(s.lineInserts) {
		s.lineInserts[n].Store(&out)
	}
	return out
}

const orderCols = `id, number, customer_id, idempotency_key, request_hash, status, currency, quoted_total, priced_total,
	price_list_version, line_count, contact, delivery, ship_date, carrier, tracking_number, cancel_requested_at, placed_at, updated_at`

func scanOrder(row interface{ Scan(...any) error }) (Order, error) {
	var o Order
	var contact, delivery string
	var cancelAt, placed, updated int64
	err := row.Scan(&o.ID, &o.Number, &o.CustomerID, &o.IdempotencyKey, &o.RequestHash, &o.Status, &o.Currency,
		&o.QuotedTotal, &o.PricedTotal, &o.PriceListVersion, &o.LineCount, &contact, &delivery, &o.ShipDate,
		&o.Carrier, &o.TrackingNumber, &cancelAt, &placed, &updated)
	if err != nil {
		return Order{}, notFound(err)
	}
	if err := json.Unmarshal([]byte(contact), &o.Contact); err != nil {
		return Order{}, fmt.Errorf("order %s contact: %w", o.ID, err)
	}
	if err := json.Unmarshal([]byte(delivery), &o.Delivery); err != nil {
		return Order{}, fmt.Errorf("order %s delivery: %w", o.ID, err)
	}
	o.CancelRequestedAt, o.PlacedAt, o.UpdatedAt = sqldb.FromMicros(cancelAt), sqldb.FromMicros(placed), sqldb.FromMicros(updated)
	return o, nil
}

// OrderByKey returns the order a customer placed with an idempotency key.
func (s *Store) OrderByKey(ctx context.Context, q sqldb.Querier, customerID, key string) (Order, error) {
	o, err := scanOrder(q.QueryRowContext(ctx, `SELECT `+orderCols+` FROM orders WHERE customer_id = $1 AND idempotency_key = $2`, customerID, key))
	if err != nil {
		return Order{}, fmt.Errorf("order by key: %w", err)
	}
	return o, nil
}

// OrderForUpdate returns an order without lines and events, by id, and
// holds its row lock until tx ends (sqldb.Engine.ForUpdate), so that an
// event handler's read, transition and write are not interleaved with
// another replica's: two replicas handling two events of one order at once
// would otherwise compute from the same old status, and the later write
// would undo the other's (a confirmed order left priced).
func (s *Store) OrderForUpdate(ctx context.Context, tx *sqldb.Tx, id string) (Order, error) {
	o, err := scanOrder(tx.QueryRowContext(ctx, `SELECT `+orderCols+` FROM orders WHERE id = $1`+tx.Engine().ForUpdate(), id))
	if err != nil {
		return Order{}, fmt.Errorf("order %s: %w", id, err)
	}
	return o, nil
}

// CustomerOrder returns a customer's order, by id or number, with its lines
// and timeline.
func (s *Store) CustomerOrder(ctx context.Context, customerID, ref string) (Order, error) {
	q := `SELECT ` + orderCols + ` FROM orders WHERE customer_id = $1 AND number = $2`
	if order.ValidID(ref) {
		q = `SELECT ` + orderCols + ` FROM orders WHERE customer_id = $1 AND id = $2`
	}
	o, err := scanOrder(s.DB.QueryRowContext(ctx, q, customerID, ref))
	if err != nil {
		return Order{}, fmt.Errorf("order %s: %w", ref, err)
	}
	if o.Lines, err = s.lines(ctx, o.ID); err != nil {
		return Order{}, err
	}
	events, err := s.events(ctx, o.ID)
	if err != nil {
		return Order{}, err
	}
	o.Events = append([]Event{{ID: o.ID, OrderID: o.ID, Kind: order.KindPlaced, At: o.PlacedAt}}, events...)
	return o, nil
}

func (s *Store) lines(ctx context.Context, orderID string) ([]Line, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT line_no, product, options, quantity, lead, unit_price, total, lead_days
		FROM order_line WHERE order_id = $1 ORDER BY line_no`, orderID)
	if err != nil {
		return nil, fmt.Errorf("lines of %s: %w", orderID, err)
	}
	defer rows.Close()
	var out []Line
	for rows.Next() {
		var l Line
		var opts string
		if err := rows.Scan(&l.LineNo, &l.Product, &opts, &l.Quantity, &l.Lead, &l.UnitPrice, &l.Total, &l.LeadDays); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(opts), &l.Options); err != nil {
			return nil, fmt.Errorf("line options: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

func (s *Store) events(ctx context.Context, orderID string) ([]Event, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT id, kind, at, detail, amount, currency FROM order_event
		WHERE order_id = $1 ORDER BY at, id`, orderID)
	if err != nil {
		return nil, fmt.Errorf("events of %s: %w", orderID, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e := Event{OrderID: orderID}
		var at int64
		if err := rows.Scan(&e.ID, &e.Kind, &at, &e.Detail, &e.Amount, &e.Currency); err != nil {
			return nil, err
		}
		e.At = sqldb.FromMicros(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Summary is a row of "my orders".
type Summary struct {
	ID, Number, Status, Currency string
	QuotedTotal, PricedTotal     int64
	LineCount                    int
	CancelRequested              bool
	PlacedAt                     time.Time
	PlacedAtMicros               int64
}

// ListOrders returns up to limit orders of a customer, newest first, placed
// before the cursor when there is one, of one status when status is not "".
// The queries walk the indexes (customer_id[, status], placed_at DESC, id
// DESC): the cost of a page does not grow with its depth.
func (s *Store) ListOrders(ctx context.Context, customerID, status string, after *order.Cursor, limit int) ([]Summary, error) {
	const cols = `SELECT id, number, status, currency, quoted_total, priced_total, line_count, cancel_requested_at, placed_at FROM orders`
	var rows *sql.Rows
	var err error
	switch {
	case status == "" && after == nil:
		rows, err = s.DB.QueryContext(ctx, cols+` WHERE customer_id = $1
			ORDER BY placed_at DESC, id DESC LIMIT $2`, customerID, limit)
	case status == "":
		rows, err = s.DB.QueryContext(ctx, cols+` WHERE customer_id = $1 AND (placed_at, id) < ($2, $3)
			ORDER BY placed_at DESC, id DESC LIMIT $4`, customerID, after.PlacedAt, after.ID, limit)
	case after == nil:
		rows, err = s.DB.QueryContext(ctx, cols+` WHERE customer_id = $1 AND status = $2
			ORDER BY placed_at DESC, id DESC LIMIT $3`, customerID, status, limit)
	default:
		rows, err = s.DB.QueryContext(ctx, cols+` WHERE customer_id = $1 AND status = $2 AND (placed_at, id) < ($3, $4)
			ORDER BY placed_at DESC, id DESC LIMIT $5`, customerID, status, after.PlacedAt, after.ID, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	defer rows.Close()
	out := make([]Summary, 0, limit)
	for rows.Next() {
		var o Summary
		var cancelAt int64
		if err := rows.Scan(&o.ID, &o.Number, &o.Status, &o.Currency, &o.QuotedTotal, &o.PricedTotal, &o.LineCount, &cancelAt, &o.PlacedAtMicros); err != nil {
			return nil, err
		}
		o.CancelRequested = cancelAt != 0
		o.PlacedAt = sqldb.FromMicros(o.PlacedAtMicros)
		out = append(out, o)
	}
	return out, rows.Err()
}

// AddEvent adds a timeline entry; an entry with the same id (the same
// message delivered twice) is not added again and false is returned.
func (s *Store) AddEvent(ctx context.Context, tx *sqldb.Tx, e Event) (bool, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO order_event (id, order_id, kind, at, detail, amount, currency)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
		e.ID, e.OrderID, e.Kind, sqldb.Micros(e.At), e.Detail, e.Amount, e.Currency)
	if err != nil {
		return false, fmt.Errorf("add %s event to %s: %w", e.Kind, e.OrderID, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// LatestHoldChange returns the time of the latest hold or resume event in an
// order's timeline (zero when there is none).
func (s *Store) LatestHoldChange(ctx context.Context, tx *sqldb.Tx, orderID string) (time.Time, error) {
	var at sql.NullInt64
	err := tx.QueryRowContext(ctx, `SELECT MAX(at) FROM order_event WHERE order_id = $1 AND kind IN ($2, $3)`,
		orderID, contracts.OrderOnHold, contracts.OrderResumed).Scan(&at)
	if err != nil {
		return time.Time{}, fmt.Errorf("latest hold of %s: %w", orderID, err)
	}
	return sqldb.FromMicros(at.Int64), nil
}

// ApplyEvent adds an event of the order's timeline and, when it is new and
// changed is not nil, writes the fields events change (status, updated_at,
// binding price, ship date, shipment) as changed holds them; it tells
// whether the event was new. The caller read the order with OrderForUpdate
// in tx. On PostgreSQL both writes are one round trip (sqldb.Batch).
//
// The update applies only when the event is not in the timeline yet: a
// message delivered again must not write its fields over those of the
// events applied since. The update is added first: the writes run in order
// and it must not see the event inserted.
func (s *Store) ApplyEvent(ctx context.Context, tx *sqldb.Tx, e Event, changed *Order) (bool, error) {
	var b sqldb.Batch
	if o := changed; o != nil {
		b.Add(`UPDATE orders SET status = $2, updated_at = $3, priced_total = $4, ship_date = $5, carrier = $6, tracking_number = $7
			WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM order_event WHERE id = $8)`,
			o.ID, o.Status, sqldb.Micros(o.UpdatedAt), o.PricedTotal, o.ShipDate, o.Carrier, o.TrackingNumber, e.ID)
	}
	added := b.Add(`INSERT INTO order_event (id, order_id, kind, at, detail, amount, currency)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
		e.ID, e.OrderID, e.Kind, sqldb.Micros(e.At), e.Detail, e.Amount, e.Currency)
	n, err := b.Exec(ctx, tx)
	if err != nil {
		return false, fmt.Errorf("apply %s event to %s: %w", e.Kind, e.OrderID, err)
	}
	return n[added] == 1, nil
}

// MarkCancelRequested records a customer's cancellation request; it tells
// false when one was already recorded.
func (s *Store) MarkCancelRequested(ctx context.Context, tx *sqldb.Tx, id string, at time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE orders SET cancel_requested_at = $2, updated_at = $2
		WHERE id = $1 AND cancel_requested_at = 0`, id, sqldb.Micros(at))
	if err != nil {
		return false, fmt.Errorf("mark cancel requested %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
