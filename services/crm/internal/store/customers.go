package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/crm/internal/order"
)

// Customer kinds.
const (
	KindPerson  = "person"
	KindCompany = "company"
)

// Customer is a shop customer or a B2B company.
type Customer struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	Name       string    `json:"name"`
	Email      string    `json:"email"`
	Company    string    `json:"company,omitempty"`
	Phone      string    `json:"phone,omitempty"`
	OrderCount int64     `json:"order_count"`
	TotalSpent int64     `json:"total_spent"`
	Currency   string    `json:"currency"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// UpsertCustomer creates a customer or refreshes its contact data with the
// latest order's.
func (s *Store) UpsertCustomer(ctx context.Context, q sqldb.Querier, c Customer, now time.Time) error {
	_, err := q.ExecContext(ctx, `INSERT INTO crm_customers (id, kind, name, email, company, phone, currency, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
		ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, name = excluded.name, email = excluded.email,
			company = excluded.company, phone = excluded.phone, updated_at = excluded.updated_at`,
		c.ID, c.Kind, c.Name, c.Email, c.Company, c.Phone, c.Currency, sqldb.Micros(now))
	if err != nil {
		return fmt.Errorf("upsert customer %s: %w", c.ID, err)
	}
	return nil
}

// AddToCustomer adds to a customer's order count and total spent.
func (s *Store) AddToCustomer(ctx context.Context, q sqldb.Querier, id string, orders, spent int64, currency string) error {
	_, err := q.ExecContext(ctx, `UPDATE crm_customers SET order_count = order_count + $2, total_spent = total_spent + $3,
		currency = CASE WHEN currency = '' THEN $4 ELSE currency END WHERE id = $1`, id, orders, spent, currency)
	if err != nil {
		return fmt.Errorf("update customer %s totals: %w", id, err)
	}
	return nil
}

// GetCustomer returns a customer or order.ErrNotFound.
func (s *Store) GetCustomer(ctx context.Context, q sqldb.Querier, id string) (Customer, error) {
	var c Customer
	var created, updated int64
	err := q.QueryRowContext(ctx, `SELECT id, kind, name, email, company, phone, order_count, total_spent, currency, created_at, updated_at
		FROM crm_customers WHERE id = $1`, id).Scan(&c.ID, &c.Kind, &c.Name, &c.Email, &c.Company, &c.Phone, &c.OrderCount,
		&c.TotalSpent, &c.Currency, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("customer %s: %w", id, order.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("get customer %s: %w", id, err)
	}
	c.CreatedAt, c.UpdatedAt = sqldb.FromMicros(created), sqldb.FromMicros(updated)
	return c, nil
}

// Customers lists customers whose name, e-mail or company contains search
// (case-insensitive; all when empty), the biggest spenders first.
func (s *Store) Customers(ctx context.Context, q sqldb.Querier, search string, limit int) ([]Customer, error) {
	where, args := "", []any{limit}
	if search = strings.TrimSpace(search); search != "" {
		where = ` WHERE LOWER(name) LIKE $2 ESCAPE '\' OR LOWER(email) LIKE $2 ESCAPE '\' OR LOWER(company) LIKE $2 ESCAPE '\'`
		args = append(args, "%"+likeEscaper.Replace(strings.ToLower(search))+"%")
	}
	rows, err := q.QueryContext(ctx, `SELECT id, kind, name, email, company, phone, order_count, total_spent, currency, created_at, updated_at
		FROM crm_customers`+where+` ORDER BY total_spent DESC, id LIMIT $1`, args...)
	if err != nil {
		return nil, fmt.Errorf("list customers: %w", err)
	}
	defer rows.Close()
	out := []Customer{}
	for rows.Next() {
		var c Customer
		var created, updated int64
		if err := rows.Scan(&c.ID, &c.Kind, &c.Name, &c.Email, &c.Company, &c.Phone, &c.OrderCount, &c.TotalSpent, &c.Currency, &created, &updated); err != nil {
			return nil, fmt.Errorf("list customers: %w", err)
		}
		c.CreatedAt, c.UpdatedAt = sqldb.FromMicros(created), sqldb.FromMicros(updated)
		out = append(out, c)
	}
	return out, rows.Err()
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)
