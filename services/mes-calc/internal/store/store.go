// Package store keeps mes-calc's tables: the price list (one table per kind
// of entry), the calculations of orders, and the load planned on each
// workstation. Every method runs on the caller's transaction (or the
// database for reads), with plain SQL that runs on SQLite and PostgreSQL.
//
// Calculations book the load optimistically (see Schedule): they read it
// without a lock and add their bookings with conditional upserts, so
// concurrent calculations only wait for each other on the rows of the days
// they both book. A change of the price list excludes them (see Lock).
package store

import "github.com/fabrika/fabrika/platform/sqldb"

// Store reads and writes mes-calc's tables.
type Store struct {
	db *sqldb.DB
}

// New returns a store over db.
func New(db *sqldb.DB) *Store { return &Store{db: db} }

// DB is the database the store reads outside transactions.
func (s *Store) DB() *sqldb.DB { return s.db }
