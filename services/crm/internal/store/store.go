// Package store is the CRM's SQL, one file per aggregate: customers, orders
// with their lines, the timeline, notes, compensations, parked events and
// the orders page's read model with its counters. The same statements run
// on SQLite and PostgreSQL.
package store

import (
	"context"
	"database/sql"
)

// Querier is a database or a transaction.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
