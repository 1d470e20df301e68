package store

import (
	"context"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// Note is a manager's note on an order (shown on the customer card too).
type Note struct {
	ID         string    `json:"id"`
	OrderID    string    `json:"order_id"`
	CustomerID string    `json:"customer_id"`
	Body       string    `json:"body"`
	By         string    `json:"by"`
	At         time.Time `json:"at"`
}

// AddNote stores a note.
func (w *Writes) AddNote(n Note) {
	w.b.Add(`INSERT INTO crm_notes (id, order_id, customer_id, body, by_name, at) VALUES ($1, $2, $3, $4, $5, $6)`,
		n.ID, n.OrderID, n.CustomerID, n.Body, n.By, sqldb.Micros(n.At))
}

// Notes returns the notes of an order (by "order_id") or of a customer (by
// "customer_id"), newest first.
func (s *Store) Notes(ctx context.Context, q sqldb.Querier, byCustomer bool, id string, limit int) ([]Note, error) {
	query := `SELECT id, order_id, customer_id, body, by_name, at FROM crm_notes WHERE order_id = $1 ORDER BY at DESC LIMIT $2`
	if byCustomer {
		query = `SELECT id, order_id, customer_id, body, by_name, at FROM crm_notes WHERE customer_id = $1 ORDER BY at DESC LIMIT $2`
	}
	rows, err := q.QueryContext(ctx, query, id, limit)
	if err != nil {
		return nil, fmt.Errorf("notes of %s: %w", id, err)
	}
	defer rows.Close()
	var out []Note
	for rows.Next() {
		var n Note
		var at int64
		if err := rows.Scan(&n.ID, &n.OrderID, &n.CustomerID, &n.Body, &n.By, &at); err != nil {
			return nil, fmt.Errorf("notes of %s: %w", id, err)
		}
		n.At = sqldb.FromMicros(at)
		out = append(out, n)
	}
	return out, rows.Err()
}
