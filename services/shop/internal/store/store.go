// Package store is the shop's SQL: one file per aggregate (price list,
// customer and session, cart, order), the same statements on SQLite and
// PostgreSQL.
package store

import (
	"database/sql"
	"errors"
	"sync/atomic"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/shop/internal/order"
)

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// Store reads and writes the shop's tables.
type Store struct {
	DB *sqldb.DB
	// lineInserts holds the INSERT of n order lines at n, built on first use.
	lineInserts [order.MaxLines + 1]atomic.Pointer[string]
}

// New returns a store over db.
func New(db *sqldb.DB) *Store { return &Store{DB: db} }

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}
