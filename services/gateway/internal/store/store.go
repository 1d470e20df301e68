// Package store keeps the gateway's own data in SQL that runs unchanged on
// SQLite and PostgreSQL: staff accounts (accounts.go), their sessions
// (sessions.go), the audit log (audit.go) and the workstations known from
// the price list (workstations.go).
package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// Errors.
var (
	ErrNotFound   = errors.New("not found")
	ErrLoginTaken = errors.New("login already taken")
)

// Store is the gateway's database.
type Store struct {
	db      *sqldb.DB
	changed ChangeHook
}

// ChangeHook is told, in the transaction that makes it, of every account
// created or changed (role, workstations, disabled), with the account as
// it then is: the gateway announces it (staff.changed) through its outbox.
type ChangeHook func(ctx context.Context, tx *sqldb.Tx, a Account) error

// New returns a store on db (migrated with the gateway's migrations);
// changed may be nil.
func New(db *sqldb.DB, changed ChangeHook) *Store { return &Store{db: db, changed: changed} }

// notify calls the change hook with the account id as tx sees it.
func (s *Store) notify(ctx context.Context, tx *sqldb.Tx, id string) error {
	if s.changed == nil {
		return nil
	}
	a, err := scanAccount(tx.QueryRowContext(ctx, `SELECT `+accountCols+` FROM staff_accounts WHERE id = $1`, id))
	if err != nil {
		return fmt.Errorf("read staff %s: %w", id, err)
	}
	return s.changed(ctx, tx, a)
}
