// Package store is mes-api's SQL, one file per aggregate. Every method
// takes a sqldb.Querier so that the caller decides the transaction; the same SQL
// runs on SQLite and PostgreSQL.
package store

import (
	"database/sql"
	"errors"

	"github.com/google/uuid"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// Store reads and writes mes-api's tables. Its methods take the
// transaction (or the database) they run on, so that the caller decides
// what is atomic.
type Store struct{ db *sqldb.DB }

// New returns a store over db (migrated with the service's migrations).
func New(db *sqldb.DB) *Store { return &Store{db: db} }

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
