package store

import (
	"context"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// Compensation is a discount or voucher granted to a customer for an order.
type Compensation struct {
	ID         string    `json:"id"`
	OrderID    string    `json:"order_id"`
	CustomerID string    `json:"customer_id"`
	Kind       string    `json:"kind"`
	Amount     int64     `json:"amount"`
	Currency   string    `json:"currency"`
	Reason     string    `json:"reason"`
	By         string    `json:"by"`
	At         time.Time `json:"at"`
}

// AddCompensation stores a compensation.
func (w *Writes) AddCompensation(c Compensation) {
	w.b.Add(`INSERT INTO crm_compensations (id, order_id, customer_id, kind, amount, currency, reason, by_name, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		c.ID, c.OrderID, c.CustomerID, c.Kind, c.Amount, c.Currency, c.Reason, c.By, sqldb.Micros(c.At))
}

// Compensations returns the compensations of an order or of a customer,
// newest first.
func (s *Store) Compensations(ctx context.Context, q sqldb.Querier, byCustomer bool, id string, limit int) ([]Compensation, error) {
	query := `SELECT id, order_id, customer_id, kind, amount, currency, reason, by_name, at FROM crm_compensations
		WHERE order_id = $1 ORDER BY at DESC LIMIT $2`
	if byCustomer {
		query = `SELECT id, order_id, customer_id, kind, amount, currency, reason, by_name, at FROM crm_compensations
		WHERE customer_id = $1 ORDER BY at DESC LIMIT $2`
	}
	rows, err := q.QueryContext(ctx, query, id, limit)
	if err != nil {
		return nil, fmt.Errorf("compensations of %s: %w", id, err)
	}
	defer rows.Close()
	var out []Compensation
	for rows.Next() {
		var c Compensation
		var at int64
		if err := rows.Scan(&c.ID, &c.OrderID, &c.CustomerID, &c.Kind, &c.Amount, &c.Currency, &c.Reason, &c.By, &at); err != nil {
			return nil, fmt.Errorf("compensations of %s: %w", id, err)
		}
		c.At = sqldb.FromMicros(at)
		out = append(out, c)
	}
	return out, rows.Err()
}
