package testenv

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// WriteWaits runs a write (stmt with args) in a transaction of its own on
// PostgreSQL, with a lock timeout of 100 ms, and rolls it back. It returns
// nil when the write waited for a row lock another transaction holds (lock
// timeout, SQLSTATE 55P03), and an error saying so when it did not: how a
// test proves that a read took the lock of the rows it is about to change
// (sqldb.Engine.ForUpdate). SQLite's write transactions exclude each other
// whole: there is nothing to test.
func WriteWaits(ctx context.Context, db *sqldb.DB, stmt string, args ...any) error {
	if db.Engine() != sqldb.Postgres {
		return errors.New("testenv.WriteWaits: PostgreSQL only")
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '100ms'`); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, stmt, args...)
	if err == nil || !strings.Contains(err.Error(), "55P03") {
		return fmt.Errorf("%s: %v, want a lock timeout (SQLSTATE 55P03): the row is not locked", stmt, err)
	}
	return nil
}
