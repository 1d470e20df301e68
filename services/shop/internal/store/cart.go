package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// CartLine is a configured part waiting in a customer's cart.
type CartLine struct {
	ID       string
	Product  string
	Options  map[string]string
	Quantity int
	Lead     string
	AddedAt  time.Time
}

// AddCartLine puts a line in a cart.
func (s *Store) AddCartLine(ctx context.Context, customerID string, l CartLine) error {
	opts, err := json.Marshal(l.Options)
	if err != nil {
		return err
	}
	_, err = s.DB.ExecContext(ctx, `INSERT INTO cart_line (id, customer_id, product, options, quantity, lead, added_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, l.ID, customerID, l.Product, string(opts), l.Quantity, l.Lead, sqldb.Micros(l.AddedAt))
	if err != nil {
		return fmt.Errorf("add cart line: %w", err)
	}
	return nil
}

// CartLines returns a cart, oldest line first.
func (s *Store) CartLines(ctx context.Context, customerID string) ([]CartLine, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT id, product, options, quantity, lead, added_at FROM cart_line
		WHERE customer_id = $1 ORDER BY added_at, id`, customerID)
	if err != nil {
		return nil, fmt.Errorf("cart: %w", err)
	}
	defer rows.Close()
	var out []CartLine
	for rows.Next() {
		var l CartLine
		var opts string
		var added int64
		if err := rows.Scan(&l.ID, &l.Product, &opts, &l.Quantity, &l.Lead, &added); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(opts), &l.Options); err != nil {
			return nil, fmt.Errorf("cart line %s options: %w", l.ID, err)
		}
		l.AddedAt = sqldb.FromMicros(added)
		out = append(out, l)
	}
	return out, rows.Err()
}

// CountCartLines tells how many lines a cart holds.
func (s *Store) CountCartLines(ctx context.Context, customerID string) (int, error) {
	var n int
	err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM cart_line WHERE customer_id = $1`, customerID).Scan(&n)
	return n, err
}

// DeleteCartLine removes one line of a customer's cart.
func (s *Store) DeleteCartLine(ctx context.Context, customerID, id string) error {
	_, err := s.DB.ExecContext(ctx, `DELETE FROM cart_line WHERE customer_id = $1 AND id = $2`, customerID, id)
	if err != nil {
		return fmt.Errorf("delete cart line: %w", err)
	}
	return nil
}

// ClearCart empties a cart in the transaction that placed its order.
func (s *Store) ClearCart(ctx context.Context, tx *sqldb.Tx, customerID string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM cart_line WHERE customer_id = $1`, customerID); err != nil {
		return fmt.Errorf("clear cart: %w", err)
	}
	return nil
}
