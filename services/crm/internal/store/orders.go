package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/crm/internal/order"
)

// Order is the CRM's copy of an order.
type Order struct {
	ID               string                  `json:"id"`
	Number           string                  `json:"number"`
	Channel          string                  `json:"channel"`
	CustomerID       string                  `json:"customer_id"`
	Status           string                  `json:"status"`
	HeldFrom         string                  `json:"held_from,omitempty"`
	StatusSince      time.Time               `json:"status_since"`
	Version          int64                   `json:"version"`
	Currency         string                  `json:"currency"`
	QuotedTotal      int64                   `json:"quoted_total"`
	Total            int64                   `json:"total"`
	CountedTotal     int64                   `json:"-"`
	Priced           bool                    `json:"priced"`
	PriceListVersion int64                   `json:"price_list_version"`
	CalcVersion      int64                   `json:"calculation_version"`
	Routing          []contracts.RoutingStep `json:"routing"`
	ShipDate         string                  `json:"ship_date,omitempty"`
	LeadDays         int                     `json:"lead_days,omitempty"`
	Rush             bool                    `json:"rush"`
	Manager          string                  `json:"manager,omitempty"`
	Delivery         contracts.Address       `json:"delivery"`
	ReviewReason     string                  `json:"review_reason,omitempty"`
	CancelRequested  bool                    `json:"cancel_requested"`
	CancelReason     string                  `json:"cancel_reason,omitempty"`
	Carrier          string                  `json:"carrier,omitempty"`
	TrackingNumber   string                  `json:"tracking_number,omitempty"`
	PlacedAt         time.Time               `json:"placed_at"`
	UpdatedAt        time.Time               `json:"updated_at"`
}

// State is the order's status state.
func (o Order) State() order.State { return order.State{Status: o.Status, HeldFrom: o.HeldFrom} }

// Line is one line of an order with its quote and binding price.
type Line struct {
	LineNo          int               `json:"line_no"`
	Product         string            `json:"product"`
	Options         map[string]string `json:"options"`
	Quantity        int               `json:"quantity"`
	Lead            string            `json:"lead"`
	UnitPrice       int64             `json:"unit_price"`
	Total           int64             `json:"total"`
	PricedUnitPrice int64             `json:"priced_unit_price"`
	PricedTotal     int64             `json:"priced_total"`
}

const orderColumns = `id, number, channel, customer_id, status, held_from, status_since, version, currency, quoted_total, total,
	counted_total, priced, price_list_version, calc_version, routing, ship_date, lead_days, rush, manager, delivery, review_reason,
	cancel_requested, cancel_reason, carrier, tracking_number, placed_at, updated_at`

// GetOrder returns an order or order.ErrNotFound.
func (s *Store) GetOrder(ctx context.Context, q sqldb.Querier, id string) (Order, error) {
	return s.getOrder(ctx, q, id, `SELECT `+orderColumns+` FROM crm_orders WHERE id = $1`, nil)
}

// OrderWithCustomer returns an order and its customer (as GetCustomer),
// in one query: what the order card shows first.
func (s *Store) OrderWithCustomer(ctx context.Context, q sqldb.Querier, id string) (Order, Customer, error) {
	var c Customer
	var created, updated int64
	o, err := s.getOrder(ctx, q, id, `SELECT o.*, `+customerColumns+`
		FROM (SELECT `+orderColumns+` FROM crm_orders WHERE id = $1) AS o
		JOIN crm_customers c ON c.id = o.customer_id
		LEFT JOIN (`+customerDeltas+` WHERE customer_id = (SELECT customer_id FROM crm_orders WHERE id = $1) GROUP BY customer_id) d
			ON d.customer_id = c.id`, nil, customerDest(&c, &created, &updated)...)
	c.CreatedAt, c.UpdatedAt = sqldb.FromMicros(created), sqldb.FromMicros(updated)
	return o, c, err
}

// OrderForEvent returns an order (or order.ErrNotFound) and whether the
// message messageID is in its timeline already: what an event's handler
// reads first, in one query rather than two (the CRM handles ten or so
// events per order).
func (s *Store) OrderForEvent(ctx context.Context, q sqldb.Querier, id, messageID string) (o Order, seen bool, err error) {
	var n int64
	o, err = s.getOrder(ctx, q, id, `SELECT `+orderColumns+`,
		(SELECT COUNT(*) FROM crm_timeline WHERE order_id = $1 AND message_id = $2) FROM crm_orders WHERE id = $1`, []any{messageID}, &n)
	return o, n > 0, err
}

// Placing is what order.placed's handler reads first, in one query.
type Placing struct {
	Known    bool     // the order is there already: a replayed order.placed
	Parked   int64    // how many of its events came before it
	Customer Customer // its customer's contact data; ID "" when the customer is new
}

// Placing reads whether an order is known, how many events are parked for
// it and its customer's contact data.
func (s *Store) Placing(ctx context.Context, q sqldb.Querier, orderID, customerID string) (Placing, error) {
	var p Placing
	var known int64
	c := &p.Customer
	err := q.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM crm_orders WHERE id = $1), (SELECT COUNT(*) FROM crm_parked WHERE order_id = $1),
		COALESCE(c.id, ''), COALESCE(c.kind, ''), COALESCE(c.name, ''), COALESCE(c.email, ''), COALESCE(c.company, ''), COALESCE(c.phone, '')
		FROM (SELECT 1 AS one) AS x LEFT JOIN crm_customers c ON c.id = $2`, orderID, customerID).
		Scan(&known, &p.Parked, &c.ID, &c.Kind, &c.Name, &c.Email, &c.Company, &c.Phone)
	if err != nil {
		return p, fmt.Errorf("order %s before placing: %w", orderID, err)
	}
	p.Known = known > 0
	return p, nil
}

// getOrder reads an order by query, whose first argument is the id and
// args the next; extra take the columns after the order's.
func (s *Store) getOrder(ctx context.Context, q sqldb.Querier, id, query string, args []any, extra ...any) (Order, error) {
	var o Order
	var since, placed, updated int64
	var priced, rush, cancelReq int
	var routing, delivery string
	dest := []any{&o.ID, &o.Number, &o.Channel, &o.CustomerID, &o.Status, &o.HeldFrom, &since, &o.Version, &o.Currency, &o.QuotedTotal, &o.Total,
		&o.CountedTotal, &priced, &o.PriceListVersion, &o.CalcVersion, &routing, &o.ShipDate, &o.LeadDays, &rush, &o.Manager, &delivery,
		&o.ReviewReason, &cancelReq, &o.CancelReason, &o.Carrier, &o.TrackingNumber, &placed, &updated}
	dest = append(dest, extra...)
	err := q.QueryRowContext(ctx, query, append([]any{id}, args...)...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return o, fmt.Errorf("order %s: %w", id, order.ErrNotFound)
	}
	if err != nil {
		return o, fmt.Errorf("get order %s: %w", id, err)
	}
	o.StatusSince, o.PlacedAt, o.UpdatedAt = sqldb.FromMicros(since), sqldb.FromMicros(placed), sqldb.FromMicros(updated)
	o.Priced, o.Rush, o.CancelRequested = priced == 1, rush == 1, cancelReq == 1
	if err := json.Unmarshal([]byte(routing), &o.Routing); err != nil {
		return o, fmt.Errorf("order %s routing: %w", id, err)
	}
	if err := json.Unmarshal([]byte(delivery), &o.Delivery); err != nil {
		return o, fmt.Errorf("order %s delivery: %w", id, err)
	}
	return o, nil
}

// InsertOrder adds an order with its lines. An order with that id that
// exists already stays as it is (order.placed's handler looks for it first:
// a replayed order.placed writes nothing).
func (w *Writes) InsertOrder(o Order, lines []Line) {
	routing, _ := json.Marshal(o.Routing)
	if o.Routing == nil {
		routing = []byte("[]")
	}
	delivery, _ := json.Marshal(o.Delivery)
	w.b.Add(`INSERT INTO crm_orders (`+orderColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
		$11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28) ON CONFLICT (id) DO NOTHING`,
		o.ID, o.Number, o.Channel, o.CustomerID, o.Status, o.HeldFrom, sqldb.Micros(o.StatusSince), o.Version, o.Currency,
		o.QuotedTotal, o.Total, o.CountedTotal, boolInt(o.Priced), o.PriceListVersion, o.CalcVersion, string(routing), o.ShipDate,
		o.LeadDays, boolInt(o.Rush), o.Manager, string(delivery), o.ReviewReason, boolInt(o.CancelRequested), o.CancelReason,
		o.Carrier, o.TrackingNumber, sqldb.Micros(o.PlacedAt), sqldb.Micros(o.UpdatedAt))
	for _, l := range lines {
		opts, _ := json.Marshal(l.Options)
		w.b.Add(`INSERT INTO crm_order_lines (order_id, line_no, product, options, quantity, lead, unit_price, total)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (order_id, line_no) DO NOTHING`,
			o.ID, l.LineNo, l.Product, string(opts), l.Quantity, l.Lead, l.UnitPrice, l.Total)
	}
}

// SaveOrder writes an order changed in memory, provided it is still at
// version seen (Store.Write tells when it is not); it returns the order as
// saved, at version seen+1. The read model row follows, and the status
// counters move when the status changed from oldStatus.
func (w *Writes) SaveOrder(o Order, seen int64, oldStatus string) Order {
	routing, _ := json.Marshal(o.Routing)
	if o.Routing == nil {
		routing = []byte("[]")
	}
	i := w.b.Add(`UPDATE crm_orders SET status = $3, held_from = $4, status_since = $5, version = $2 + 1,
		total = $6, counted_total = $7, priced = $8, price_list_version = $9, calc_version = $10, routing = $11, ship_date = $12,
		lead_days = $13, rush = $14, manager = $15, review_reason = $16, cancel_requested = $17, cancel_reason = $18,
		carrier = $19, tracking_number = $20, updated_at = $21
		WHERE id = $1 AND version = $2`,
		o.ID, seen, o.Status, o.HeldFrom, sqldb.Micros(o.StatusSince), o.Total, o.CountedTotal, boolInt(o.Priced),
		o.PriceListVersion, o.CalcVersion, string(routing), o.ShipDate, o.LeadDays, boolInt(o.Rush), o.Manager, o.ReviewReason,
		boolInt(o.CancelRequested), o.CancelReason, o.Carrier, o.TrackingNumber, sqldb.Micros(o.UpdatedAt))
	w.saves = append(w.saves, saved{index: i, orderID: o.ID, seen: seen})
	o.Version = seen + 1
	w.b.Add(`UPDATE crm_order_list SET status = $2, status_since = $3, total = $4, manager = $5, cancel_requested = $6
		WHERE order_id = $1`, o.ID, o.Status, sqldb.Micros(o.StatusSince), o.Total, o.Manager, boolInt(pendingCancel(o)))
	if oldStatus != o.Status {
		w.AddCounters(Delta{"status:" + oldStatus, -1}, Delta{"status:" + o.Status, 1})
	}
	return o
}

// pendingCancel is the list row's cancel_requested: the customer asked to
// cancel and the order is neither cancelled nor shipped.
func pendingCancel(o Order) bool {
	return o.CancelRequested && o.Status != contracts.StatusCancelled && o.Status != contracts.StatusShipped
}

// ListFactsOf returns the facts SaveOrder writes to the order's list row.
func ListFactsOf(o Order) ListFacts {
	return ListFacts{Status: o.Status, Channel: o.Channel, Manager: o.Manager, CustomerID: o.CustomerID,
		PlacedAt: sqldb.Micros(o.PlacedAt), Total: o.Total, CancelRequested: pendingCancel(o)}
}

// Lines returns an order's lines.
func (s *Store) Lines(ctx context.Context, q sqldb.Querier, orderID string) ([]Line, error) {
	rows, err := q.QueryContext(ctx, `SELECT line_no, product, options, quantity, lead, unit_price, total, priced_unit_price, priced_total
		FROM crm_order_lines WHERE order_id = $1 ORDER BY line_no`, orderID)
	if err != nil {
		return nil, fmt.Errorf("order %s lines: %w", orderID, err)
	}
	defer rows.Close()
	var out []Line
	for rows.Next() {
		var l Line
		var opts string
		if err := rows.Scan(&l.LineNo, &l.Product, &opts, &l.Quantity, &l.Lead, &l.UnitPrice, &l.Total, &l.PricedUnitPrice, &l.PricedTotal); err != nil {
			return nil, fmt.Errorf("order %s lines: %w", orderID, err)
		}
		_ = json.Unmarshal([]byte(opts), &l.Options)
		out = append(out, l)
	}
	return out, rows.Err()
}

// PriceLines stores the binding prices of an order's lines.
func (w *Writes) PriceLines(orderID string, lines []contracts.PricedLine) {
	for _, l := range lines {
		w.b.Add(`UPDATE crm_order_lines SET priced_unit_price = $3, priced_total = $4 WHERE order_id = $1 AND line_no = $2`,
			orderID, l.LineNo, l.UnitPrice, l.Total)
	}
}

// OrdersOfCustomer returns a customer's latest orders from the read model.
func (s *Store) OrdersOfCustomer(ctx context.Context, q sqldb.Querier, customerID string, limit int) ([]ListRow, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+listColumns+` FROM crm_order_list WHERE customer_id = $1
		ORDER BY placed_at DESC, order_id DESC LIMIT $2`, customerID, limit)
	if err != nil {
		return nil, fmt.Errorf("orders of customer %s: %w", customerID, err)
	}
	return scanList(rows)
}
