package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
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

// Contact is a customer's contact data, which each order.placed carries.
func (c Customer) Contact() [5]string { return [5]string{c.Kind, c.Name, c.Email, c.Company, c.Phone} }

// UpsertCustomer creates a customer or refreshes its contact data with the
// latest order's.
func (s *Store) UpsertCustomer(ctx context.Context, q sqldb.Querier, c Customer, now time.Time) error {
	return s.write(ctx, q, func(w *Writes) {
		w.InsertCustomer(c, now)
		w.RefreshCustomer(c, now)
	})
}

// InsertCustomer creates a customer; one that exists stays as it is.
func (w *Writes) InsertCustomer(c Customer, now time.Time) {
	w.b.Add(`INSERT INTO crm_customers (id, kind, name, email, company, phone, currency, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (id) DO NOTHING`,
		c.ID, c.Kind, c.Name, c.Email, c.Company, c.Phone, c.Currency, sqldb.Micros(now))
}

// RefreshCustomer writes a customer's contact data where it changed. (Not
// ON CONFLICT DO UPDATE ... WHERE: PostgreSQL locks the row even when the
// condition leaves it as it is. An UPDATE whose condition the committed row
// does not meet takes no lock: orders of one customer handled at once do
// not wait for each other.)
func (w *Writes) RefreshCustomer(c Customer, now time.Time) {
	w.b.Add(`UPDATE crm_customers SET kind = $2, name = $3, email = $4, company = $5, phone = $6, updated_at = $7
		WHERE id = $1 AND (kind <> $2 OR name <> $3 OR email <> $4 OR company <> $5 OR phone <> $6)`,
		c.ID, c.Kind, c.Name, c.Email, c.Company, c.Phone, sqldb.Micros(now))
}

// AddToCustomer adds to a customer's order count and total spent: it
// appends the change, which locks no row another transaction needs
// (FoldCustomers moves the changes into the customers later).
func (w *Writes) AddToCustomer(id string, orders, spent int64, currency string) {
	w.b.Add(`INSERT INTO crm_customer_deltas (customer_id, orders, spent, currency) VALUES ($1, $2, $3, $4)`,
		id, orders, spent, currency)
}

// AddToCustomer adds to a customer's figures on its own.
func (s *Store) AddToCustomer(ctx context.Context, q sqldb.Querier, id string, orders, spent int64, currency string) error {
	return s.write(ctx, q, func(w *Writes) { w.AddToCustomer(id, orders, spent, currency) })
}

// FoldCustomers moves the appended changes of the customers' figures into
// their rows, in one transaction; it returns how many changes it moved.
// As FoldCounters: the DELETE takes the changes committed when it starts,
// and the rows are updated in id order (two folds at once cannot
// deadlock).
func (s *Store) FoldCustomers(ctx context.Context) (int, error) {
	type sum struct {
		orders, spent int64
		currency      string
	}
	var moved int
	err := s.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		moved = 0
		rows, err := tx.QueryContext(ctx, `DELETE FROM crm_customer_deltas RETURNING customer_id, orders, spent, currency`)
		if err != nil {
			return fmt.Errorf("take customer changes: %w", err)
		}
		sums := map[string]sum{}
		for rows.Next() {
			var id, currency string
			var orders, spent int64
			if err := rows.Scan(&id, &orders, &spent, &currency); err != nil {
				rows.Close()
				return fmt.Errorf("take customer changes: %w", err)
			}
			t := sums[id]
			t.orders, t.spent, t.currency = t.orders+orders, t.spent+spent, max(t.currency, currency)
			sums[id] = t
			moved++
		}
		if err := errors.Join(rows.Close(), rows.Err()); err != nil {
			return fmt.Errorf("take customer changes: %w", err)
		}
		for _, id := range slices.Sorted(maps.Keys(sums)) {
			t := sums[id]
			if _, err := tx.ExecContext(ctx, `UPDATE crm_customers SET order_count = order_count + $2, total_spent = total_spent + $3,
				currency = CASE WHEN currency = '' THEN $4 ELSE currency END WHERE id = $1`, id, t.orders, t.spent, t.currency); err != nil {
				return fmt.Errorf("customer %s totals: %w", id, err)
			}
		}
		return nil
	})
	return moved, err
}

// customerColumns are a customer's columns with the changes not folded
// yet (d: the sums of crm_customer_deltas by customer).
const customerColumns = `c.id, c.kind, c.name, c.email, c.company, c.phone,
	c.order_count + COALESCE(d.orders, 0), c.total_spent + COALESCE(d.spent, 0),
	CASE WHEN c.currency = '' THEN COALESCE(d.currency, '') ELSE c.currency END, c.created_at, c.updated_at`

// customerDeltas sums the changes not folded yet, by customer.
const customerDeltas = `SELECT customer_id, CAST(SUM(orders) AS BIGINT) AS orders, CAST(SUM(spent) AS BIGINT) AS spent,
	MAX(currency) AS currency FROM crm_customer_deltas`

// GetCustomer returns a customer or order.ErrNotFound.
func (s *Store) GetCustomer(ctx context.Context, q sqldb.Querier, id string) (Customer, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+customerColumns+` FROM crm_customers c
		LEFT JOIN (`+customerDeltas+` WHERE customer_id = $1 GROUP BY customer_id) d ON d.customer_id = c.id
		WHERE c.id = $1`, id)
	if err != nil {
		return Customer{}, fmt.Errorf("get customer %s: %w", id, err)
	}
	cs, err := scanCustomers(rows)
	if err != nil {
		return Customer{}, fmt.Errorf("get customer %s: %w", id, err)
	}
	if len(cs) == 0 {
		return Customer{}, fmt.Errorf("customer %s: %w", id, order.ErrNotFound)
	}
	return cs[0], nil
}

// Customers lists customers whose name, e-mail or company contains search
// (case-insensitive; all when empty), the biggest spenders first.
func (s *Store) Customers(ctx context.Context, q sqldb.Querier, search string, limit int) ([]Customer, error) {
	where, args := "", []any{limit}
	if search = strings.TrimSpace(search); search != "" {
		where = ` WHERE LOWER(c.name) LIKE $2 ESCAPE '\' OR LOWER(c.email) LIKE $2 ESCAPE '\' OR LOWER(c.company) LIKE $2 ESCAPE '\'`
		args = append(args, "%"+likeEscaper.Replace(strings.ToLower(search))+"%")
	}
	rows, err := q.QueryContext(ctx, `SELECT `+customerColumns+` FROM crm_customers c
		LEFT JOIN (`+customerDeltas+` GROUP BY customer_id) d ON d.customer_id = c.id`+where+`
		ORDER BY c.total_spent + COALESCE(d.spent, 0) DESC, c.id LIMIT $1`, args...)
	if err != nil {
		return nil, fmt.Errorf("list customers: %w", err)
	}
	cs, err := scanCustomers(rows)
	if err != nil {
		return nil, fmt.Errorf("list customers: %w", err)
	}
	return cs, nil
}

func scanCustomers(rows *sql.Rows) ([]Customer, error) {
	defer rows.Close()
	out := []Customer{}
	for rows.Next() {
		var c Customer
		var created, updated int64
		if err := rows.Scan(customerDest(&c, &created, &updated)...); err != nil {
			return nil, err
		}
		c.CreatedAt, c.UpdatedAt = sqldb.FromMicros(created), sqldb.FromMicros(updated)
		out = append(out, c)
	}
	return out, rows.Err()
}

// customerDest are the destinations of customerColumns; created and
// updated take the times' microseconds.
func customerDest(c *Customer, created, updated *int64) []any {
	return []any{&c.ID, &c.Kind, &c.Name, &c.Email, &c.Company, &c.Phone, &c.OrderCount, &c.TotalSpent, &c.Currency, created, updated}
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)
