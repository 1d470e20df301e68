// Package store keeps mes-calc's tables: the price list (one table per kind
// of entry), the calculations of orders, and the load planned on each
// workstation. Every function runs on the caller's transaction (or the
// database for reads), with plain SQL that runs on SQLite and PostgreSQL.
package store

import (
	"context"
	"database/sql"
)

// Querier is a transaction or the database.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}
