package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// Calculation statuses.
const (
	StatusPriced      = "priced"
	StatusNeedsReview = "needs_review"
	StatusCancelled   = "cancelled"
)

// Calculation is what mes-calc decided for an order, keyed by the order id.
type Calculation struct {
	OrderID          string    `json:"order_id"`
	Status           string    `json:"status"`
	Channel          string    `json:"channel"`
	PriceListVersion int64     `json:"price_list_version"`
	Total            int64     `json:"total"`
	ShipDate         string    `json:"ship_date,omitempty"`
	Reason           string    `json:"reason,omitempty"`
	Result           string    `json:"-"` // the JSON payload emitted
	CalculatedAt     time.Time `json:"calculated_at"`
	UpdatedAt        time.Time `json:"updated_at"`
}

// GetCalculation returns the calculation of an order, or ErrNotFound.
func (s *Store) GetCalculation(ctx context.Context, q sqldb.Querier, orderID string) (Calculation, error) {
	var c Calculation
	var calcAt, updAt int64
	err := q.QueryRowContext(ctx, `SELECT order_id, status, channel, price_list_version, total, ship_date, reason, result,
		calculated_at, updated_at FROM calculations WHERE order_id = $1`, orderID).Scan(
		&c.OrderID, &c.Status, &c.Channel, &c.PriceListVersion, &c.Total, &c.ShipDate, &c.Reason, &c.Result, &calcAt, &updAt)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("calculation of %s: %w", orderID, ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("calculation of %s: %w", orderID, err)
	}
	c.CalculatedAt, c.UpdatedAt = sqldb.FromMicros(calcAt), sqldb.FromMicros(updAt)
	return c, nil
}

// InsertCalculation records the calculation of an order.
func (s *Store) InsertCalculation(ctx context.Context, tx *sqldb.Tx, c Calculation) error {
	var st statement
	insertCalculation(&st, c)
	if _, err := tx.ExecContext(ctx, st.String(), st.args...); err != nil {
		return fmt.Errorf("record calculation of %s: %w", c.OrderID, err)
	}
	return nil
}

// insertCalculation writes the statement that records c (Book puts it in
// its own).
func insertCalculation(st *statement, c Calculation) {
	st.add(`INSERT INTO calculations (order_id, status, channel, price_list_version, total, ship_date, reason,
		result, calculated_at, updated_at) VALUES `)
	st.values([]any{c.OrderID, c.Status, c.Channel, c.PriceListVersion, c.Total, c.ShipDate, c.Reason, c.Result,
		sqldb.Micros(c.CalculatedAt), sqldb.Micros(c.UpdatedAt)})
}

// Cancel marks the calculation of an order cancelled, unless it is
// already; it tells whether it did. It locks the row first, so a
// calculation of the same order committing meanwhile is either seen (its
// bookings are then visible to Release) or refused (ReplaceCalculation).
func (s *Store) Cancel(ctx context.Context, tx *sqldb.Tx, orderID string, at time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE calculations SET status = $1, updated_at = $2 WHERE order_id = $3 AND status <> $1`,
		StatusCancelled, sqldb.Micros(at), orderID)
	if err != nil {
		return false, fmt.Errorf("cancel calculation of %s: %w", orderID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("cancel calculation of %s: %w", orderID, err)
	}
	return n == 1, nil
}

// ErrChanged is returned when a calculation to replace is no longer the
// one that needed review: a concurrent delivery calculated or cancelled the
// order. The message is redelivered and then finds the new state.
var ErrChanged = errors.New("the calculation changed meanwhile")

// ReplaceCalculation records a new calculation of an order in place of the
// previous one, which needed review (the order calculated again).
func (s *Store) ReplaceCalculation(ctx context.Context, tx *sqldb.Tx, c Calculation) error {
	res, err := tx.ExecContext(ctx, `UPDATE calculations SET status = $1, channel = $2, price_list_version = $3, total = $4,
		ship_date = $5, reason = $6, result = $7, calculated_at = $8, updated_at = $9 WHERE order_id = $10 AND status = $11`,
		c.Status, c.Channel, c.PriceListVersion, c.Total, c.ShipDate, c.Reason, c.Result,
		sqldb.Micros(c.CalculatedAt), sqldb.Micros(c.UpdatedAt), c.OrderID, StatusNeedsReview)
	if err != nil {
		return fmt.Errorf("record calculation of %s: %w", c.OrderID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("record calculation of %s: %w", c.OrderID, errors.Join(ErrChanged, err))
	}
	return nil
}
