package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/sqldb"
)

// Order is an order placed through the API with what the platform reported.
type Order struct {
	ID                string               `json:"id"`
	Number            string               `json:"number"`
	ClientID          string               `json:"-"`
	Reference         string               `json:"reference,omitempty"`
	Status            string               `json:"status"`
	StatusBeforeHold  string               `json:"-"`
	Lines             []contracts.LineItem `json:"lines"`
	Delivery          contracts.Address    `json:"delivery"`
	Currency          string               `json:"currency"`
	QuotedTotal       int64                `json:"quoted_total"`
	PriceListVersion  int64                `json:"price_list_version"`
	PricedTotal       int64                `json:"priced_total,omitempty"`
	ShipDate          string               `json:"ship_date,omitempty"`
	LeadDays          int                  `json:"lead_days,omitempty"`
	Reason            string               `json:"reason,omitempty"`
	Carrier           string               `json:"carrier,omitempty"`
	TrackingNumber    string               `json:"tracking_number,omitempty"`
	CancelRequestedAt time.Time            `json:"cancel_requested_at,omitzero"`
	HoldAt            time.Time            `json:"-"` // the latest hold or resume event applied
	CreatedAt         time.Time            `json:"created_at"`
	UpdatedAt         time.Time            `json:"updated_at"`
	History           []HistoryEntry       `json:"history,omitempty"`
}

// HistoryEntry is one status an order went through.
type HistoryEntry struct {
	Event  string    `json:"event"`
	Status string    `json:"status"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// InsertOrder writes a new order and its first history entry.
func (s *Store) InsertOrder(ctx context.Context, q sqldb.Querier, o Order) error {
	lines, err := json.Marshal(o.Lines)
	if err != nil {
		return fmt.Errorf("marshal lines: %w", err)
	}
	addr, err := json.Marshal(o.Delivery)
	if err != nil {
		return fmt.Errorf("marshal delivery: %w", err)
	}
	// One round trip in a transaction on PostgreSQL (sqldb.Batch); the
	// order first, so that the history's foreign key finds it.
	var b sqldb.Batch
	b.Add(`INSERT INTO api_order (id, client_id, number, reference, status, lines, delivery, currency,
		quoted_total, price_list_version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)`,
		o.ID, o.ClientID, o.Number, o.Reference, o.Status, string(lines), string(addr), o.Currency, o.QuotedTotal,
		o.PriceListVersion, sqldb.Micros(o.CreatedAt))
	b.Add(addHistorySQL, o.ID, contracts.OrderPlaced, o.Status, "", sqldb.Micros(o.CreatedAt))
	if _, err := b.Exec(ctx, q); err != nil {
		return fmt.Errorf("insert order %s: %w", o.ID, err)
	}
	return nil
}

const orderColumns = `id, client_id, number, reference, status, status_before_hold, lines, delivery, currency, quoted_total,
	price_list_version, priced_total, ship_date, lead_days, reason, carrier, tracking_number, cancel_requested_at, created_at, updated_at, hold_at`

// scanOrder scans the orderColumns of a row, then the columns after them
// into more.
func scanOrder(s interface{ Scan(...any) error }, more ...any) (Order, error) {
	var o Order
	var lines, addr string
	var cancelAt, created, updated, holdAt int64
	err := s.Scan(append([]any{&o.ID, &o.ClientID, &o.Number, &o.Reference, &o.Status, &o.StatusBeforeHold, &lines, &addr, &o.Currency,
		&o.QuotedTotal, &o.PriceListVersion, &o.PricedTotal, &o.ShipDate, &o.LeadDays, &o.Reason, &o.Carrier,
		&o.TrackingNumber, &cancelAt, &created, &updated, &holdAt}, more...)...)
	if err != nil {
		return Order{}, err
	}
	if err := json.Unmarshal([]byte(lines), &o.Lines); err != nil {
		return Order{}, fmt.Errorf("decode lines of %s: %w", o.ID, err)
	}
	if err := json.Unmarshal([]byte(addr), &o.Delivery); err != nil {
		return Order{}, fmt.Errorf("decode delivery of %s: %w", o.ID, err)
	}
	o.CancelRequestedAt, o.CreatedAt, o.UpdatedAt = sqldb.FromMicros(cancelAt), sqldb.FromMicros(created), sqldb.FromMicros(updated)
	o.HoldAt = sqldb.FromMicros(holdAt)
	return o, nil
}

// GetOrder reads an order with its history. clientID "" reads any client's
// order (for the event handlers); otherwise another client's order is
// ErrNotFound.
func (s *Store) GetOrder(ctx context.Context, q sqldb.Querier, clientID, id string) (Order, error) {
	o, err := scanOrder(q.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM api_order WHERE id = $1`, id))
	if err != nil {
		return Order{}, fmt.Errorf("get order %s: %w", id, notFound(err))
	}
	if clientID != "" && o.ClientID != clientID {
		return Order{}, fmt.Errorf("get order %s: %w", id, ErrNotFound)
	}
	o.History, err = s.History(ctx, q, id)
	return o, err
}

// OrderForEvent reads an order without its history (History) and how many
// live webhook endpoints its client has, and holds the order's row lock
// until tx ends (sqldb.Engine.ForUpdate): what an event handler reads
// first, in one statement. The lock keeps the handler's read, transition
// and write from being interleaved with another replica's: without it two
// events of one order handled at once by two replicas each wrote the
// status it computed from the same old row, and order.priced written last
// left a confirmed order priced.
func (s *Store) OrderForEvent(ctx context.Context, tx *sqldb.Tx, id string) (o Order, endpoints int, err error) {
	row := tx.QueryRowContext(ctx, `SELECT `+orderColumns+`, (SELECT COUNT(*) FROM webhook_endpoint e
		WHERE e.client_id = api_order.client_id AND e.deleted_at = 0) FROM api_order WHERE id = $1`+tx.Engine().ForUpdate(), id)
	o, err = scanOrder(row, &endpoints)
	if err != nil {
		return Order{}, 0, fmt.Errorf("get order %s: %w", id, notFound(err))
	}
	return o, endpoints, nil
}

// ListOrders lists a client's orders newest first, those with an id below
// before when it is set, optionally of one status.
// OrderFilter narrows a list of orders; an empty field matches any.
type OrderFilter struct {
	Status    string
	Number    string // the order number mes-api gave ("API-...")
	Reference string // the client's own reference
}

func (s *Store) ListOrders(ctx context.Context, q sqldb.Querier, clientID string, f OrderFilter, before string, limit int) ([]Order, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+orderColumns+` FROM api_order
		WHERE client_id = $1 AND ($2 = '' OR status = $2) AND ($3 = '' OR id < $3)
		  AND ($5 = '' OR number = $5) AND ($6 = '' OR reference = $6)
		ORDER BY id DESC LIMIT $4`, clientID, f.Status, before, limit, f.Number, f.Reference)
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	defer rows.Close()
	var out []Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, fmt.Errorf("list orders: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// SaveEvent writes the fields of an order that the event handlers change
// and, when h is not nil, appends h to its history: on PostgreSQL in one
// round trip (sqldb.Batch; the history's next number is read from rows the
// update does not touch).
func (s *Store) SaveEvent(ctx context.Context, tx *sqldb.Tx, o Order, h *HistoryEntry) error {
	var b sqldb.Batch
	b.Add(`UPDATE api_order SET status = $2, status_before_hold = $3, priced_total = $4, ship_date = $5,
		lead_days = $6, reason = $7, carrier = $8, tracking_number = $9, updated_at = $10, hold_at = $11 WHERE id = $1`,
		o.ID, o.Status, o.StatusBeforeHold, o.PricedTotal, o.ShipDate, o.LeadDays, o.Reason, o.Carrier, o.TrackingNumber,
		sqldb.Micros(o.UpdatedAt), sqldb.Micros(o.HoldAt))
	if h != nil {
		b.Add(addHistorySQL, o.ID, h.Event, h.Status, h.Reason, sqldb.Micros(h.At))
	}
	if _, err := b.Exec(ctx, tx); err != nil {
		return fmt.Errorf("update order %s: %w", o.ID, err)
	}
	return nil
}

// MarkCancelRequested records a client's cancellation request once; it tells
// whether this call was the one that recorded it.
func (s *Store) MarkCancelRequested(ctx context.Context, q sqldb.Querier, id string, at time.Time) (bool, error) {
	res, err := q.ExecContext(ctx, `UPDATE api_order SET cancel_requested_at = $2, updated_at = $2 WHERE id = $1 AND cancel_requested_at = 0`,
		id, sqldb.Micros(at))
	if err != nil {
		return false, fmt.Errorf("cancel request %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// addHistorySQL appends an entry to an order's history, numbered after the
// last.
const addHistorySQL = `INSERT INTO api_order_history (order_id, seq, event_type, status, reason, at)
	VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM api_order_history WHERE order_id = $1), $2, $3, $4, $5)`

// History reads an order's history, oldest first.
func (s *Store) History(ctx context.Context, q sqldb.Querier, orderID string) ([]HistoryEntry, error) {
	rows, err := q.QueryContext(ctx, `SELECT event_type, status, reason, at FROM api_order_history WHERE order_id = $1 ORDER BY seq`, orderID)
	if err != nil {
		return nil, fmt.Errorf("order %s history: %w", orderID, err)
	}
	defer rows.Close()
	var out []HistoryEntry
	for rows.Next() {
		var h HistoryEntry
		var at int64
		if err := rows.Scan(&h.Event, &h.Status, &h.Reason, &at); err != nil {
			return nil, fmt.Errorf("order %s history: %w", orderID, err)
		}
		h.At = sqldb.FromMicros(at)
		out = append(out, h)
	}
	return out, rows.Err()
}
