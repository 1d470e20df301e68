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
func GetCalculation(ctx context.Context, q Querier, orderID string) (Calculation, error) {
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
func InsertCalculation(ctx context.Context, tx *sqldb.Tx, c Calculation) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO calculations (order_id, status, channel, price_list_version, total, ship_date, reason,
		result, calculated_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		c.OrderID, c.Status, c.Channel, c.PriceListVersion, c.Total, c.ShipDate, c.Reason, c.Result,
		sqldb.Micros(c.CalculatedAt), sqldb.Micros(c.UpdatedAt))
	if err != nil {
		return fmt.Errorf("record calculation of %s: %w", c.OrderID, err)
	}
	return nil
}

// SetStatus changes the status of an order's calculation.
func SetStatus(ctx context.Context, tx *sqldb.Tx, orderID, status string, at time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE calculations SET status = $1, updated_at = $2 WHERE order_id = $3`,
		status, sqldb.Micros(at), orderID); err != nil {
		return fmt.Errorf("set calculation of %s %s: %w", orderID, status, err)
	}
	return nil
}

// ReplaceCalculation records a new calculation of an order in place of the
// previous one (an order that needed review, calculated again).
func ReplaceCalculation(ctx context.Context, tx *sqldb.Tx, c Calculation) error {
	_, err := tx.ExecContext(ctx, `UPDATE calculations SET status = $1, channel = $2, price_list_version = $3, total = $4,
		ship_date = $5, reason = $6, result = $7, calculated_at = $8, updated_at = $9 WHERE order_id = $10`,
		c.Status, c.Channel, c.PriceListVersion, c.Total, c.ShipDate, c.Reason, c.Result,
		sqldb.Micros(c.CalculatedAt), sqldb.Micros(c.UpdatedAt), c.OrderID)
	if err != nil {
		return fmt.Errorf("record calculation of %s: %w", c.OrderID, err)
	}
	return nil
}
