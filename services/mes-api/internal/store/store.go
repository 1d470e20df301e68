// Package store is mes-api's SQL, one file per aggregate. Every function
// takes a Querier so that the caller decides the transaction; the same SQL
// runs on SQLite and PostgreSQL.
package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/google/uuid"
)

// Querier is what both *sqldb.DB and *sqldb.Tx offer.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// ErrNotFound is returned when a row does not exist (or is not the
// caller's).
var ErrNotFound = errors.New("not found")

// NewID returns a UUIDv7: ids sort by creation time.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}
