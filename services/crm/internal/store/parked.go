package store

import (
	"context"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// Parked is an event that came before its order.
type Parked struct {
	MessageID  string
	OrderID    string
	Type       string
	Payload    []byte
	At         time.Time
	ReceivedAt time.Time
}

// Park keeps an event for an order not known yet.
func (s *Store) Park(ctx context.Context, q sqldb.Querier, p Parked) error {
	if _, err := q.ExecContext(ctx, `INSERT INTO crm_parked (message_id, order_id, event_type, payload, at, received_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (message_id) DO NOTHING`,
		p.MessageID, p.OrderID, p.Type, string(p.Payload), sqldb.Micros(p.At), sqldb.Micros(p.ReceivedAt)); err != nil {
		return fmt.Errorf("park %s for order %s: %w", p.Type, p.OrderID, err)
	}
	return nil
}

// TakeParked removes and returns the events parked for an order, in the
// order they happened.
func (s *Store) TakeParked(ctx context.Context, q sqldb.Querier, orderID string) ([]Parked, error) {
	rows, err := q.QueryContext(ctx, `SELECT message_id, event_type, payload, at, received_at FROM crm_parked
		WHERE order_id = $1 ORDER BY at, received_at, message_id`, orderID)
	if err != nil {
		return nil, fmt.Errorf("parked events of %s: %w", orderID, err)
	}
	var out []Parked
	for rows.Next() {
		p := Parked{OrderID: orderID}
		var payload string
		var at, rec int64
		if err := rows.Scan(&p.MessageID, &p.Type, &payload, &at, &rec); err != nil {
			rows.Close()
			return nil, fmt.Errorf("parked events of %s: %w", orderID, err)
		}
		p.Payload, p.At, p.ReceivedAt = []byte(payload), sqldb.FromMicros(at), sqldb.FromMicros(rec)
		out = append(out, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) > 0 {
		if _, err := q.ExecContext(ctx, `DELETE FROM crm_parked WHERE order_id = $1`, orderID); err != nil {
			return nil, fmt.Errorf("unpark events of %s: %w", orderID, err)
		}
	}
	return out, nil
}

// CountParked returns how many events wait for their order.
func (s *Store) CountParked(ctx context.Context, q sqldb.Querier) (int64, error) {
	var n int64
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM crm_parked`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count parked: %w", err)
	}
	return n, nil
}

// LockArrival serialises, per order, the transaction that creates the order
// (order.placed) and those that find it missing and park one of its events.
// Without it, on PostgreSQL, two CRM replicas can take order.placed and
// order.priced of one order at once: the second does not see the first's
// uncommitted order and parks its event, the first does not see the
// uncommitted parked row, and the event stays parked for ever. Taken before
// order.placed's insert and before a park (which then looks for the order
// again), the lock makes one of them see the other's commit. SQLite runs one
// write transaction at a time, so there is nothing to take there.
func (s *Store) LockArrival(ctx context.Context, tx *sqldb.Tx, orderID string) error {
	if tx.Engine() != sqldb.Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('crm_order_arrival'), hashtext($1))`, orderID); err != nil {
		return fmt.Errorf("lock the arrival of order %s: %w", orderID, err)
	}
	return nil
}
