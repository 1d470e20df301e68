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

// orderRow is an orders row as scanned, for queries that read it beside
// other tables' columns.
type orderRow struct {
	o                                               production.Order
	rush, onHold                                    int
	holdAt, confirmed, produced, shipped, cancelled int64
	status                                          string
}

// dest lists where the orderColumns go.
func (r *orderRow) dest() []any {
	o := &r.o
	return []any{&o.ID, &o.Number, &o.Channel, &o.ShipDate, &r.rush, &r.status, &r.onHold, &o.HoldReason, &r.holdAt,
		&o.CancelReason, &o.Carrier, &o.TrackingNumber, &o.ShippedBy, &r.confirmed, &r.produced, &r.shipped, &r.cancelled, &o.Version}
}

func (r *orderRow) order() production.Order {
	o := r.o
	o.Rush, o.OnHold, o.Status = r.rush == 1, r.onHold == 1, production.OrderStatus(r.status)
	o.HoldAt, o.ConfirmedAt = sqldb.FromMicros(r.holdAt), sqldb.FromMicros(r.confirmed)
	o.ProducedAt, o.ShippedAt, o.CancelledAt = sqldb.FromMicros(r.produced), sqldb.FromMicros(r.shipped), sqldb.FromMicros(r.cancelled)
	return o
}

func scanOrder(row interface{ Scan(...any) error }) (production.Order, error) {
	var r orderRow
	if err := row.Scan(r.dest()...); err != nil {
		return production.Order{}, err
	}
	return r.order(), nil
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
	if _, err := s.insertOrder(ctx, q, o, now, ""); err != nil {
		return fmt.Errorf("insert order %s: %w", o.ID, err)
	}
	return nil
}

// InsertOrderIfNew adds an order unless one with its id is known, and says
// whether it did: the usual first event of an order costs one statement
// instead of a read and an insert.
func (s *Store) InsertOrderIfNew(ctx context.Context, q sqldb.Querier, o production.Order, now time.Time) (bool, error) {
	res, err := s.insertOrder(ctx, q, o, now, " ON CONFLICT (order_id) DO NOTHING")
	if err != nil {
		return false, fmt.Errorf("insert order %s: %w", o.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("insert order %s: %w", o.ID, err)
	}
	return n == 1, nil
}

func (s *Store) insertOrder(ctx context.Context, q sqldb.Querier, o production.Order, now time.Time, onConflict string) (sql.Result, error) {
	return q.ExecContext(ctx, `INSERT INTO orders (`+orderColumns+`, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`+onConflict,
		o.ID, o.Number, o.Channel, o.ShipDate, bool01(o.Rush), string(o.Status), bool01(o.OnHold), o.HoldReason, sqldb.Micros(o.HoldAt),
		o.CancelReason, o.Carrier, o.TrackingNumber, o.ShippedBy, sqldb.Micros(o.ConfirmedAt), sqldb.Micros(o.ProducedAt),
		sqldb.Micros(o.ShippedAt), sqldb.Micros(o.CancelledAt), o.Version, sqldb.Micros(now))
}

// UpdateOrder writes o if the stored row still has version prev; ErrStale
// otherwise.
func (s *Store) UpdateOrder(ctx context.Context, q sqldb.Querier, o production.Order, prev int, now time.Time) error {
	var w Writes
	w.UpdateOrder(o, prev, now)
	return s.Write(ctx, q, &w)
}

// UpdateOrder adds the write of o, if the stored row still has version
// prev.
func (w *Writes) UpdateOrder(o production.Order, prev int, now time.Time) {
	w.add("order "+o.ID, `UPDATE orders SET number = $2, channel = $3, ship_date = $4, rush = $5, status = $6,
		on_hold = $7, hold_reason = $8, hold_at = $9, cancel_reason = $10, carrier = $11, tracking_number = $12, shipped_by = $13,
		confirmed_at = $14, produced_at = $15, shipped_at = $16, cancelled_at = $17, version = $18, updated_at = $19
		WHERE order_id = $1 AND version = $20`,
		o.ID, o.Number, o.Channel, o.ShipDate, bool01(o.Rush), string(o.Status), bool01(o.OnHold), o.HoldReason, sqldb.Micros(o.HoldAt),
		o.CancelReason, o.Carrier, o.TrackingNumber, o.ShippedBy, sqldb.Micros(o.ConfirmedAt), sqldb.Micros(o.ProducedAt),
		sqldb.Micros(o.ShippedAt), sqldb.Micros(o.CancelledAt), o.Version, sqldb.Micros(now), prev)
}
