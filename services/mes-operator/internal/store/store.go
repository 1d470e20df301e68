// Package store keeps mes-operator's orders, operations, workstations and
// applied operator events in SQL that runs unchanged on SQLite and
// PostgreSQL. Each function takes the transaction (or the database) it runs
// on, so that the use cases decide what is atomic.
package store

import (
	"context"
	"database/sql"
	"errors"
)

// Querier is a database or a transaction.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// ErrStale is returned when a row changed since it was read: another request
// got there first.
var ErrStale = errors.New("changed concurrently")

func bool01(b bool) int {
	if b {
		return 1
	}
	return 0
}

func updatedOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		return ErrStale
	}
	return nil
}
