// Package store keeps the gateway's own data in SQL that runs unchanged on
// SQLite and PostgreSQL: staff accounts (accounts.go), their sessions
// (sessions.go), the audit log (audit.go) and the workstations known from
// the price list (workstations.go).
package store

import (
	"errors"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// Errors.
var (
	ErrNotFound   = errors.New("not found")
	ErrLoginTaken = errors.New("login already taken")
)

// Store is the gateway's database.
type Store struct{ db *sqldb.DB }

// New returns a store on db (migrated with the gateway's migrations).
func New(db *sqldb.DB) *Store { return &Store{db: db} }
