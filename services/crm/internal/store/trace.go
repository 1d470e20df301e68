package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// OrderIDByNumber returns the id of the order with an order number (shop
// and API numbers alike), or "" when there is none.
func (s *Store) OrderIDByNumber(ctx context.Context, q sqldb.Querier, number string) (string, error) {
	var id string
	err := q.QueryRowContext(ctx, `SELECT id FROM crm_orders WHERE number = $1`, number).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("order number %s: %w", number, err)
	}
	return id, nil
}

// ParkedFor returns the types of the events parked for an order (they came
// before its order.placed), oldest first.
func (s *Store) ParkedFor(ctx context.Context, q sqldb.Querier, orderID string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT event_type FROM crm_parked WHERE order_id = $1 ORDER BY received_at, message_id`, orderID)
	if err != nil {
		return nil, fmt.Errorf("parked events of %s: %w", orderID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("parked events of %s: %w", orderID, err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
