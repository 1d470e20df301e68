// Package sqldb opens a service's database from a DSN, SQLite by default and
// PostgreSQL when the DSN says so, applies its embedded migrations and runs
// transactions. Services write one set of SQL for both engines: placeholders
// are $1, $2...; times are BIGINT Unix microseconds (see Micros); booleans are
// INTEGER 0/1; JSON is TEXT; money is BIGINT minor units.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Engine is the database engine behind a DB.
type Engine string

// Engines.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// Querier is a database or a transaction: what a store's function runs on
// when the caller decides whether it is part of a transaction.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

var (
	_ Querier = (*DB)(nil)
	_ Querier = (*Tx)(nil)
)

// DB is a service's database.
type DB struct {
	*sql.DB
	engine Engine
	dsn    string
	// writer admits one InTx at a time on SQLite. SQLite has one writer
	// anyway; queueing here instead of in its busy handler (which sleeps and
	// polls) keeps concurrent writers of a process fast and fair.
	writer chan struct{}
}

// sqliteBusyTimeout is how long a writer waits for the database.
const sqliteBusyTimeout = 10 * time.Second

// Engine tells which engine the DB runs on.
func (db *DB) Engine() Engine { return db.engine }

// ForUpdate is the clause that ends a SELECT of rows the transaction is
// about to update (not their keys), so that the read takes their row locks:
// " FOR NO KEY UPDATE" on PostgreSQL, the lock such an UPDATE takes (it
// waits for the same transactions as the update would, and lets others
// insert rows that refer to the locked ones); nothing on SQLite, which has
// no such clause and whose write transactions hold the whole database from
// their start (InTx's are immediate). One statement instead of a locking
// no-op UPDATE and a read.
func (e Engine) ForUpdate() string {
	if e == Postgres {
		return " FOR NO KEY UPDATE"
	}
	return ""
}

// Option tunes Open.
type Option func(*options)

type options struct {
	settings map[string]string
}

// WithSettings gives every PostgreSQL connection of the pool these run-time
// parameters (e.g. plan_cache_mode), sent in its start-up message (pgx
// ConnConfig.RuntimeParams): they hold for the connection only, never
// change the database's defaults and cost no round trip. SQLite ignores
// them.
func WithSettings(settings map[string]string) Option {
	return func(o *options) { o.settings = settings }
}

// Open opens the database a DSN names: "postgres://..." or "postgresql://..."
// for PostgreSQL; "sqlite:PATH", "file:PATH" or a plain path for SQLite. For
// SQLite the directory is created, and WAL, a busy timeout, foreign keys and
// immediate transactions are switched on. A PostgreSQL DSN may carry
// fabrika_max_conns=N, the size of the connection pool (default 10: six
// services share a server whose default max_connections is 100).
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	var db *DB
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		u, err := url.Parse(dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres: DSN: %w", err)
		}
		q := u.Query()
		maxConns := 10
		if v := q.Get("fabrika_max_conns"); v != "" {
			if maxConns, err = strconv.Atoi(v); err != nil || maxConns < 1 {
				return nil, fmt.Errorf("open postgres: fabrika_max_conns must be a positive integer, got %q", v)
			}
			q.Del("fabrika_max_conns")
			u.RawQuery = q.Encode()
		}
		cc, err := pgx.ParseConfig(u.String())
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		for k, v := range o.settings {
			cc.RuntimeParams[k] = v
		}
		sdb := stdlib.OpenDB(*cc)
		sdb.SetMaxOpenConns(maxConns)
		sdb.SetMaxIdleConns(maxConns)
		sdb.SetConnMaxIdleTime(5 * time.Minute)
		db = &DB{DB: sdb, engine: Postgres, dsn: dsn}
	default:
		path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "file:")
		if path == "" {
			return nil, errors.New("open sqlite: empty path")
		}
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		// The file holds password hashes and personal data: its owner's only
		// (SQLite gives its -wal and -shm files the same mode).
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		if err := errors.Join(f.Chmod(0o600), f.Close()); err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		q := url.Values{}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()))
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "foreign_keys(ON)")
		q.Set("_txlock", "immediate")
		q.Set("_time_format", "sqlite")
		sdb, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
		if err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		// One writer at a time is SQLite's rule; a few connections let readers
		// run beside it under WAL.
		sdb.SetMaxOpenConns(8)
		sdb.SetMaxIdleConns(8)
		db = &DB{DB: sdb, engine: SQLite, dsn: path, writer: make(chan struct{}, 1)}
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s database: %w", db.engine, err)
	}
	return db, nil
}

// Tx is a transaction opened by InTx. Work that must happen only once the
// transaction is durable (waking the outbox relay, invalidating a cache) is
// registered with AfterCommit.
type Tx struct {
	*sql.Tx
	conn        *sql.Conn // the connection it runs on (PostgreSQL): Batch pipelines on it
	engine      Engine
	mu          sync.Mutex
	afterCommit []func()
	savepoints  int
}

// Engine tells which engine the transaction runs on.
func (tx *Tx) Engine() Engine { return tx.engine }

// AfterCommit registers fn to run after a successful commit.
func (tx *Tx) AfterCommit(fn func()) {
	tx.mu.Lock()
	tx.afterCommit = append(tx.afterCommit, fn)
	tx.mu.Unlock()
}

// Savepoint runs fn inside a savepoint of tx. When fn returns an error (or
// panics), what it did, including the AfterCommit functions it registered,
// is undone and the transaction can go on; the error is returned (a panic
// goes on up). A success does not release the savepoint: the commit, or
// the release of an enclosing savepoint, ends it (one round trip instead of
// two; a later savepoint nests in it, and rolling back to that one undoes
// only what came after it). An error of the savepoint statements themselves
// is returned wrapped in ErrSavepoint: the transaction is then unusable.
func (tx *Tx) Savepoint(ctx context.Context, fn func() error) (err error) {
	undo, err := tx.savepoint(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			_ = undo()
			panic(p)
		}
	}()
	if err := fn(); err != nil {
		if uerr := undo(); uerr != nil {
			return errors.Join(err, uerr)
		}
		return err
	}
	return nil
}

// Retry runs fn inside one savepoint of tx, again while it fails with an
// error that again accepts, at most attempts times; it returns how many
// times fn ran and its last error. After a failure what fn did, including
// the AfterCommit functions it registered, is undone (its row locks are
// let go too), and the transaction can go on. As with Savepoint, a success
// does not release the savepoint, and each retry rolls back to the same
// one: one round trip an attempt. An error of the savepoint statements
// themselves is wrapped in ErrSavepoint.
func (tx *Tx) Retry(ctx context.Context, attempts int, again func(error) bool, fn func(attempt int) error) (int, error) {
	undo, err := tx.savepoint(ctx)
	if err != nil {
		return 0, err
	}
	for n := 1; ; n++ {
		err := fn(n)
		if err == nil {
			return n, nil
		}
		if uerr := undo(); uerr != nil {
			return n, errors.Join(err, uerr)
		}
		if n >= attempts || !again(err) {
			return n, err
		}
	}
}

// savepoint sets a new savepoint in tx and returns the function that rolls
// back to it, with the AfterCommit functions registered since.
func (tx *Tx) savepoint(ctx context.Context) (undo func() error, err error) {
	tx.mu.Lock()
	tx.savepoints++
	name := fmt.Sprintf("fabrika_sp%d", tx.savepoints)
	mark := len(tx.afterCommit)
	tx.mu.Unlock()
	if _, err := tx.ExecContext(ctx, "SAVEPOINT "+name); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSavepoint, err)
	}
	return func() error {
		tx.mu.Lock()
		tx.afterCommit = tx.afterCommit[:mark]
		tx.mu.Unlock()
		if _, err := tx.ExecContext(context.WithoutCancel(ctx), "ROLLBACK TO SAVEPOINT "+name); err != nil {
			return fmt.Errorf("%w: %w", ErrSavepoint, err)
		}
		return nil
	}, nil
}

// ErrSavepoint marks a failed savepoint statement: the transaction must be
// abandoned.
var ErrSavepoint = errors.New("savepoint failed")

// InTx runs fn in a transaction: committed when fn returns nil, rolled back
// when it returns an error or panics. A serialization failure or deadlock on
// PostgreSQL, or SQLITE_BUSY, is retried a few times, so fn must not have
// effects outside the transaction other than through AfterCommit.
func (db *DB) InTx(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	var err error
	for attempt := range 5 {
		err = db.inTx(ctx, fn)
		if err == nil || !IsRetryable(err) || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
	return err
}

func (db *DB) inTx(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	tx, err := db.runTx(ctx, fn)
	if err != nil {
		return err
	}
	for _, f := range tx.afterCommit {
		f()
	}
	return nil
}

// ErrBusy is returned when a SQLite transaction waited too long for the
// database: another transaction of this process held it.
var ErrBusy = errors.New("sqlite: database busy")

func (db *DB) runTx(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) (_ *Tx, err error) {
	if db.writer != nil {
		t := time.NewTimer(sqliteBusyTimeout)
		select {
		case db.writer <- struct{}{}:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("begin: %w", ctx.Err())
		case <-t.C:
			return nil, fmt.Errorf("begin: %w after %v (a transaction inside a transaction?)", ErrBusy, sqliteBusyTimeout)
		}
		defer func() { <-db.writer }()
	}
	var conn *sql.Conn
	if db.engine == Postgres {
		if conn, err = db.Conn(ctx); err != nil {
			return nil, fmt.Errorf("begin: %w", err)
		}
		defer conn.Close() // back to the pool, after the commit or rollback below
	}
	var stx *sql.Tx
	if conn != nil {
		stx, err = conn.BeginTx(ctx, nil)
	} else {
		stx, err = db.BeginTx(ctx, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{Tx: stx, conn: conn, engine: db.engine}
	defer func() {
		if p := recover(); p != nil {
			_ = stx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = stx.Rollback()
		}
	}()
	if err = fn(ctx, tx); err != nil {
		return nil, err
	}
	if err = stx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return tx, nil
}

// IsRetryable tells whether err is a conflict between concurrent
// transactions that running the transaction again may not meet: a
// serialization failure or deadlock on PostgreSQL, SQLITE_BUSY or
// SQLITE_LOCKED on SQLite. InTx retries these by itself.
func IsRetryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		c := sqErr.Code() & 0xff
		return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
	}
	return false
}

// IsUniqueViolation tells whether err is a unique or primary key violation.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		return sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || sqErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// Micros converts a time to the BIGINT Unix microseconds stored in tables.
func Micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// FromMicros converts stored Unix microseconds back to a UTC time; 0 is the
// zero time.
func FromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}
