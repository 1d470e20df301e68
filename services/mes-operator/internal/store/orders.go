package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/mes-operator/internal/production"
)

const orderColumns = `order_id, number, channel, ship_date, rush, status, on_hold, hold_reason, hold_at,
	cancel_reason, carrier, tracking_number, shipped_by, confirmed_at, produced_at, shipped_at, cancelled_at, version`

func scanOrder(row interface{ Scan(...any) error }) (production.Order, error) {
	var o production.Order
	var rush, onHold int
	var holdAt, confirmed, produced, shipped, cancelled int64
	var status string
	err := row.Scan(&o.ID, &o.Number, &o.Channel, &o.ShipDate, &rush, &status, &onHold, &o.HoldReason, &holdAt,
		&o.CancelReason, &o.Carrier, &o.TrackingNumber, &o.ShippedBy, &confirmed, &produced, &shipped, &cancelled, &o.Version)
	if err != nil {
		return o, err
	}
	o.Rush, o.OnHold, o.Status = rush == 1, onHold == 1, production.OrderStatus(status)
	o.HoldAt, o.ConfirmedAt = sqldb.FromMicros(holdAt), sqldb.FromMicros(confirmed)
	o.ProducedAt, o.ShippedAt, o.CancelledAt = sqldb.FromMicros(produced), sqldb.FromMicros(shipped), sqldb.FromMicros(cancelled)
	return o, nil
}

// Order returns an order; ErrNotFound when it is unknown.
func (s *Store) Order(ctx context.Context, q sqldb.Querier, id string) (production.Order, error) {
	o, err := scanOrder(q.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM orders WHERE order_id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return o, ErrNotFound
	}
	if err != nil {
		return o, fmt.Errorf("get order %s: %w", id, err)
	}
	return o, nil
}

// InsertOrder adds an order.
func (s *Store) InsertOrder(ctx context.Context, q sqldb.Querier, o production.Order, now time.Time) error {
	_, err := q.ExecContext(ctx, `INSERT INTO orders (`+orderColumns+`, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
		o.ID, o.Number, o.Channel, o.ShipDate, bool01(o.Rush), string(o.Status), bool01(o.OnHold), o.HoldReason, sqldb.Micros(o.HoldAt),
		o.CancelReason, o.Carrier, o.TrackingNumber, o.ShippedBy, sqldb.Micros(o.ConfirmedAt), sqldb.Micros(o.ProducedAt),
		sqldb.Micros(o.ShippedAt), sqldb.Micros(o.CancelledAt), o.Version, sqldb.Micros(now))
	if err != nil {
		return fmt.Errorf("insert order %s: %w", o.ID, err)
	}
	return nil
}

// UpdateOrder writes o if the stored row still has version prev; ErrStale
// otherwise.
func (s *Store) UpdateOrder(ctx context.Context, q sqldb.Querier, o production.Order, prev int, now time.Time) error {
	err := updatedOne(q.ExecContext(ctx, `UPDATE orders SET number = $2, channel = $3, ship_date = $4, rush = $5, status = $6,
		on_hold = $7, hold_reason = $8, hold_at = $9, cancel_reason = $10, carrier = $11, tracking_number = $12, shipped_by = $13,
		confirmed_at = $14, produced_at = $15, shipped_at = $16, cancelled_at = $17, version = $18, updated_at = $19
		WHERE order_id = $1 AND version = $20`,
		o.ID, o.Number, o.Channel, o.ShipDate, bool01(o.Rush), string(o.Status), bool01(o.OnHold), o.HoldReason, sqldb.Micros(o.HoldAt),
		o.CancelReason, o.Carrier, o.TrackingNumber, o.ShippedBy, sqldb.Micros(o.ConfirmedAt), sqldb.Micros(o.ProducedAt),
		sqldb.Micros(o.ShippedAt), sqldb.Micros(o.CancelledAt), o.Version, sqldb.Micros(now), prev))
	if err != nil {
		return fmt.Errorf("update order %s: %w", o.ID, err)
	}
	return nil
}
