package testenv

import (
	"context"
	"testing"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// StatementCounter counts the statements PostgreSQL runs in one database,
// with pg_stat_statements: how a test holds the code to a number of round
// trips.
type StatementCounter struct {
	t  testing.TB
	db *sqldb.DB
}

// thisDatabase is the oid of the connection's database, for
// pg_stat_statements' dbid.
const thisDatabase = `(SELECT oid FROM pg_database WHERE datname = current_database())`

// Statements starts counting the statements of db, a PostgreSQL database,
// from zero. It skips the test where the server does not load
// pg_stat_statements (shared_preload_libraries), as Reset and Count do
// when the extension cannot be read: CI's PostgreSQL suite fails on any
// skip, and .ci/postgres.sh loads the extension.
func Statements(t testing.TB, db *sqldb.DB) *StatementCounter {
	t.Helper()
	if db.Engine() != sqldb.Postgres {
		t.Fatal("testenv.Statements: PostgreSQL only")
	}
	if _, err := db.ExecContext(context.Background(), `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		t.Skipf("no pg_stat_statements: %v", err)
	}
	s := &StatementCounter{t: t, db: db}
	s.Reset()
	return s
}

// Reset counts from zero again.
func (s *StatementCounter) Reset() {
	s.t.Helper()
	if _, err := s.db.ExecContext(context.Background(), `SELECT pg_stat_statements_reset(0, `+thisDatabase+`, 0)`); err != nil {
		s.t.Skipf("no pg_stat_statements: %v", err)
	}
}

// Count is the number of statements the database ran since the last
// reset (begin and commit included), the counter's own left out.
func (s *StatementCounter) Count() int {
	s.t.Helper()
	var n int
	if err := s.db.QueryRowContext(context.Background(), `SELECT COALESCE(SUM(calls), 0) FROM pg_stat_statements
		WHERE dbid = `+thisDatabase+` AND query NOT LIKE '%pg_stat_statements%'`).Scan(&n); err != nil {
		s.t.Skipf("no pg_stat_statements: %v", err)
	}
	return n
}
