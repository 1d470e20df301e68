package sqldb_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

var thingMigrations = fstest.MapFS{"00001_thing.sql": {Data: []byte(`-- +goose Up
CREATE TABLE thing (id TEXT PRIMARY KEY, n BIGINT NOT NULL);
-- +goose Down
DROP TABLE thing;
`)}}

func openDB(t *testing.T, e sqldb.Engine) *sqldb.DB {
	t.Helper()
	return testenv.DBOn(t, e, thingMigrations)
}

func count(t *testing.T, db *sqldb.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM thing`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOpen(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx := context.Background()
		db := openDB(t, e)
		if db.Engine() != e {
			t.Fatalf("engine %s, want %s", db.Engine(), e)
		}
		// The platform's tables come with every database, and migrating twice
		// is a no-op.
		if err := db.Migrate(ctx, thingMigrations); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		for _, table := range []string{"outbox", "inbox", "dead_letter", "thing"} {
			if _, err := db.ExecContext(ctx, `SELECT COUNT(*) FROM `+table); err != nil {
				t.Errorf("table %s: %v", table, err)
			}
		}
	})
}

func TestOpenSQLiteDSNForms(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	for _, dsn := range []string{
		filepath.Join(dir, "plain", "a.db"),
		"sqlite:" + filepath.Join(dir, "prefixed", "b.db"),
		"file:" + filepath.Join(dir, "file", "c.db") + "?mode=rwc",
	} {
		db, err := sqldb.Open(ctx, dsn)
		if err != nil {
			t.Fatalf("open %q: %v", dsn, err)
		}
		var fk, busy int
		var mode string
		if err := db.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if fk != 1 || mode != "wal" || busy < 1000 {
			t.Errorf("%q: foreign_keys=%d journal_mode=%s busy_timeout=%d", dsn, fk, mode, busy)
		}
		db.Close()
	}
	if _, err := sqldb.Open(ctx, "sqlite:"); err == nil {
		t.Error("empty sqlite path opened")
	}
}

func TestOpenPostgresUnreachable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := sqldb.Open(ctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err == nil {
		t.Fatal("open of an unreachable PostgreSQL succeeded")
	}
}

func TestInTx(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		errBoom := errors.New("boom")
		tests := []struct {
			name       string
			fn         func(ctx context.Context, tx *sqldb.Tx) error
			panics     bool
			wantErr    error
			wantRows   int
			wantAfters int32
		}{
			{name: "commit", fn: insert("a", nil), wantRows: 1, wantAfters: 1},
			{name: "error rolls back", fn: insert("b", errBoom), wantErr: errBoom},
			{name: "panic rolls back and re-panics", fn: func(ctx context.Context, tx *sqldb.Tx) error {
				_ = insert("c", nil)(ctx, tx)
				panic("handler bug")
			}, panics: true},
			{name: "unique violation rolls back everything", fn: func(ctx context.Context, tx *sqldb.Tx) error {
				if err := insert("d", nil)(ctx, tx); err != nil {
					return err
				}
				_, err := tx.ExecContext(ctx, `INSERT INTO thing (id, n) VALUES ('d', 2)`)
				return err
			}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				db := openDB(t, e)
				var afters atomic.Int32
				run := func() (err error) {
					defer func() {
						if p := recover(); p != nil {
							if !tc.panics {
								t.Fatalf("unexpected panic %v", p)
							}
							err = errors.New("panicked")
						}
					}()
					return db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
						tx.AfterCommit(func() { afters.Add(1) })
						if tx.Engine() != db.Engine() {
							t.Errorf("tx engine %s, db %s", tx.Engine(), db.Engine())
						}
						return tc.fn(ctx, tx)
					})
				}
				err := run()
				switch {
				case tc.panics && (err == nil || err.Error() != "panicked"):
					t.Fatalf("want a re-panic, got %v", err)
				case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				case tc.wantRows == 1 && err != nil:
					t.Fatalf("err %v", err)
				case tc.wantRows == 0 && err == nil:
					t.Fatal("no error")
				}
				if got := count(t, db); got != tc.wantRows {
					t.Errorf("%d rows after InTx, want %d", got, tc.wantRows)
				}
				if got := afters.Load(); got != tc.wantAfters {
					t.Errorf("AfterCommit ran %d times, want %d", got, tc.wantAfters)
				}
				// The pool is healthy afterwards: no connection was left in a
				// transaction.
				if err := db.InTx(ctx, insert("after", nil)); err != nil {
					t.Fatalf("next transaction: %v", err)
				}
			})
		}
	})
}

func insert(id string, ret error) func(ctx context.Context, tx *sqldb.Tx) error {
	return func(ctx context.Context, tx *sqldb.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO thing (id, n) VALUES ($1, $2)`, id, 1); err != nil {
			return err
		}
		return ret
	}
}

func TestInTxConcurrentWriters(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx := context.Background()
		db := openDB(t, e)
		if _, err := db.ExecContext(ctx, `INSERT INTO thing (id, n) VALUES ('counter', 0)`); err != nil {
			t.Fatal(err)
		}
		const writers, each = 8, 25
		errs := make(chan error, writers)
		for range writers {
			go func() {
				var err error
				for range each {
					if err = db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
						_, err := tx.ExecContext(ctx, `UPDATE thing SET n = n + 1 WHERE id = 'counter'`)
						return err
					}); err != nil {
						break
					}
				}
				errs <- err
			}()
		}
		for range writers {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT n FROM thing WHERE id = 'counter'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != writers*each {
			t.Fatalf("counter %d, want %d", n, writers*each)
		}
	})
}

func TestIsUniqueViolation(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx := context.Background()
		db := openDB(t, e)
		if _, err := db.ExecContext(ctx, `INSERT INTO thing (id, n) VALUES ('x', 1)`); err != nil {
			t.Fatal(err)
		}
		_, dup := db.ExecContext(ctx, `INSERT INTO thing (id, n) VALUES ('x', 2)`)
		_, other := db.ExecContext(ctx, `INSERT INTO thing (id, n) VALUES ('y', NULL)`)
		tests := []struct {
			name string
			err  error
			want bool
		}{
			{"primary key", dup, true},
			{"wrapped", errors.Join(errors.New("ctx"), dup), true},
			{"not null", other, false},
			{"nil", nil, false},
			{"plain", errors.New("UNIQUE constraint failed"), false},
		}
		for _, tc := range tests {
			if tc.err == nil && tc.name != "nil" {
				t.Fatalf("%s: the statement did not fail", tc.name)
			}
			if got := sqldb.IsUniqueViolation(tc.err); got != tc.want {
				t.Errorf("%s: IsUniqueViolation(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
			}
		}
	})
}

func TestMicros(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 30, 0, 123456789, time.FixedZone("x", 3600))
	got := sqldb.FromMicros(sqldb.Micros(now))
	if !got.Equal(now.Truncate(time.Microsecond)) || got.Location() != time.UTC {
		t.Errorf("round trip %v -> %v", now, got)
	}
	if sqldb.Micros(time.Time{}) != 0 || !sqldb.FromMicros(0).IsZero() {
		t.Error("zero time must map to 0 and back")
	}
}

func TestSavepoint(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx := context.Background()
		db := openDB(t, e)
		var afters []string
		errBad := errors.New("bad message")
		err := db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
			for _, id := range []string{"a", "b", "dup", "c"} {
				err := tx.Savepoint(ctx, func() error {
					tx.AfterCommit(func() { afters = append(afters, id) })
					if err := insert(id, nil)(ctx, tx); err != nil {
						return err
					}
					switch id {
					case "b":
						return errBad
					case "dup": // a failing statement: PostgreSQL aborts the transaction unless rolled back to the savepoint
						_, err := tx.ExecContext(ctx, `INSERT INTO thing (id, n) VALUES ('a', 1)`)
						return err
					}
					return nil
				})
				if errors.Is(err, sqldb.ErrSavepoint) {
					return err
				}
				if (id == "b") != errors.Is(err, errBad) || (id == "dup") != sqldb.IsUniqueViolation(err) {
					t.Errorf("savepoint %s: %v", id, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if ids := thingIDs(t, db); fmt.Sprint(ids) != "[a c]" || fmt.Sprint(afters) != "[a c]" {
			t.Fatalf("committed %v, after-commit ran for %v; want [a c] for both", ids, afters)
		}
	})
}

// thingIDs returns the ids in table thing, in order.
func thingIDs(t *testing.T, db *sqldb.DB) []string {
	t.Helper()
	rs, err := db.QueryContext(context.Background(), `SELECT id FROM thing ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var ids []string
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func TestRetry(t *testing.T) {
	t.Parallel()
	errAgain, errBad := errors.New("again"), errors.New("bad")
	errStatement := errors.New("a failing statement") // PostgreSQL aborts the transaction unless rolled back
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		for _, tc := range []struct {
			name     string
			fails    []error // what attempt n returns (nil past the end)
			attempts int
			want     error
			wantRuns int
			wantRows string // committed, with what ran after the commit
		}{
			{"first time", nil, 3, nil, 1, "[x1]"},
			{"after two retries", []error{errAgain, errAgain}, 3, nil, 3, "[x3]"},
			{"retries used up", []error{errAgain, errAgain, errAgain}, 3, errAgain, 3, "[]"},
			{"an error not retried", []error{errAgain, errBad}, 3, errBad, 2, "[]"},
			{"a failing statement", []error{errStatement}, 3, errStatement, 1, "[]"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				db := openDB(t, e)
				var afters []string
				err := db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
					runs, err := tx.Retry(ctx, tc.attempts, func(err error) bool { return errors.Is(err, errAgain) }, func(n int) error {
						id := fmt.Sprint("x", n)
						tx.AfterCommit(func() { afters = append(afters, id) })
						if err := insert(id, nil)(ctx, tx); err != nil {
							return err
						}
						switch {
						case n > len(tc.fails):
							return nil
						case tc.fails[n-1] == errStatement:
							return insert(id, nil)(ctx, tx) // the same id again
						}
						return tc.fails[n-1]
					})
					ok := errors.Is(err, tc.want)
					if tc.want == errStatement {
						ok = sqldb.IsUniqueViolation(err)
					}
					if runs != tc.wantRuns || !ok || (tc.want == nil) != (err == nil) {
						t.Errorf("Retry ran %d times and returned %v, want %d and %v", runs, err, tc.wantRuns, tc.want)
					}
					// The transaction goes on whatever fn did.
					return insert("after", nil)(ctx, tx)
				})
				if err != nil {
					t.Fatal(err)
				}
				ids := slices.DeleteFunc(thingIDs(t, db), func(id string) bool { return id == "after" })
				if fmt.Sprint(ids) != tc.wantRows || fmt.Sprint(afters) != tc.wantRows {
					t.Errorf("committed %v, after-commit ran for %v; want %s for both", ids, afters, tc.wantRows)
				}
			})
		}
	})
}
