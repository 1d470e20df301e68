// Package store is the CRM's SQL, one file per aggregate: customers, orders
// with their lines, the timeline, notes, compensations, parked events and
// the orders page's read model with its counters. The same statements run
// on SQLite and PostgreSQL.
package store

import "github.com/fabrika/fabrika/platform/sqldb"

// Store reads and writes the CRM's tables. Its methods take the
// transaction (or the database) they run on where the caller decides what
// is atomic.
type Store struct {
	db        *sqldb.DB
	words     *wordCounts   // the search words' counts, for a few seconds
	customers *customerSets // the customers of a search's words, until one of them gains a token
}

// New returns a store over db (migrated with the service's migrations).
func New(db *sqldb.DB) *Store {
	return &Store{db: db, words: newWordCounts(4096), customers: newCustomerSets(1024)}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
