// Package store is the shop's SQL: one file per aggregate (price list,
// customer and session, cart, order), the same statements on SQLite and
// PostgreSQL.
package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// Querier is a database or a transaction.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

var (
	_ Querier = (*sqldb.DB)(nil)
	_ Querier = (*sqldb.Tx)(nil)
)

// Store reads and writes the shop's tables.
type Store struct {
	DB *sqldb.DB
}

// New returns a store over db.
func New(db *sqldb.DB) *Store { return &Store{DB: db} }

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}
