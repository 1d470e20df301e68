// Package store keeps mes-operator's orders, operations, workstations and
// applied operator events in SQL that runs unchanged on SQLite and
// PostgreSQL. Each method of Store takes the transaction (or the database) it runs
// on, so that the use cases decide what is atomic.
package store

import (
	"context"
	"errors"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// Store reads and writes mes-operator's tables. Its methods take the
// transaction (or the database) they run on where the caller decides what
// is atomic.
type Store struct{ db *sqldb.DB }

// New returns a store over db (migrated with the service's migrations).
func New(db *sqldb.DB) *Store { return &Store{db: db} }

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

// maxRowsPerInsert keeps a multi-row INSERT of the widest table (operations,
// 22 columns) well under the engines' limits on parameters.
const maxRowsPerInsert = 500

// insertRows inserts n rows of cols values each, row(i) giving row i's, with
// head (the statement up to its VALUES list) and tail (what follows the
// list): one statement, or one per maxRowsPerInsert rows.
func insertRows(ctx context.Context, q sqldb.Querier, head, tail string, n, cols int, row func(i int) []any) error {
	for start := 0; start < n; start += maxRowsPerInsert {
		end := min(n, start+maxRowsPerInsert)
		args := make([]any, 0, (end-start)*cols)
		for i := start; i < end; i++ {
			args = append(args, row(i)...)
		}
		if _, err := q.ExecContext(ctx, head+sqldb.Values(end-start, cols)+tail, args...); err != nil {
			return err
		}
	}
	return nil
}
