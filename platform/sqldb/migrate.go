package sqldb

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var platformMigrations embed.FS

// Migrate applies the platform's migrations (outbox, inbox, dead letters)
// and then the service's, each tracked in its own version table. The same
// SQL runs on both engines, except the platform's Go migrations that say
// otherwise. On PostgreSQL the migrations run under a session advisory lock
// (goose's session locker), so replicas that start together apply them one
// after the other instead of racing.
func (db *DB) Migrate(ctx context.Context, service fs.FS) error {
	plat, err := db.platformProvider()
	if err != nil {
		return fmt.Errorf("platform migrations: %w", err)
	}
	if _, err := plat.Up(ctx); err != nil {
		return fmt.Errorf("platform migrations: %w", err)
	}
	if service != nil {
		p, err := db.provider(service, "fabrika_service_version")
		if err != nil {
			return fmt.Errorf("service migrations: %w", err)
		}
		if _, err := p.Up(ctx); err != nil {
			return fmt.Errorf("service migrations: %w", err)
		}
	}
	return nil
}

func (db *DB) platformProvider() (*goose.Provider, error) {
	plat, err := fs.Sub(platformMigrations, "migrations")
	if err != nil {
		return nil, err
	}
	return db.provider(plat, "fabrika_platform_version", goose.WithGoMigrations(outboxSeqMigration(db.engine)))
}

func (db *DB) provider(fsys fs.FS, table string, opts ...goose.ProviderOption) (*goose.Provider, error) {
	dialect := goose.DialectSQLite3
	if db.engine == Postgres {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID))
		if err != nil {
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	opts = append(opts, goose.WithTableName(table), goose.WithDisableGlobalRegistry(true))
	return goose.NewProvider(dialect, db.DB, fsys, opts...)
}

// migrationLockID is the PostgreSQL advisory lock held while a database is
// migrated (advisory locks are per database).
const migrationLockID = 0x0fab_02

// outboxSeqMigration (platform version 3) orders the outbox by a database
// sequence instead of the writers' clocks: a column seq, given by the
// database at insert, numbers the messages in commit order of the
// transactions that write them when those are serialised (docs/messaging.md,
// "Order per key"). The messages already waiting get numbers in their old
// order (created_at, id). The key and blocker indexes follow seq.
func outboxSeqMigration(e Engine) *goose.Migration {
	stmts := map[Engine][]string{
		// SQLite cannot add an identity column: the table is built anew
		// around an INTEGER PRIMARY KEY AUTOINCREMENT (the rowid, never
		// reused, so also never smaller than a number given before).
		SQLite: {
			`CREATE TABLE outbox_seq (
				seq             INTEGER PRIMARY KEY AUTOINCREMENT,
				id              TEXT NOT NULL UNIQUE,
				subject         TEXT NOT NULL,
				msg_key         TEXT NOT NULL,
				payload         TEXT NOT NULL,
				headers         TEXT NOT NULL,
				created_at      BIGINT NOT NULL,
				attempts        INTEGER NOT NULL DEFAULT 0,
				next_attempt_at BIGINT NOT NULL DEFAULT 0,
				lease_owner     TEXT NOT NULL DEFAULT '',
				lease_until     BIGINT NOT NULL DEFAULT 0,
				status          TEXT NOT NULL DEFAULT 'pending',
				last_error      TEXT NOT NULL DEFAULT '')`,
			`INSERT INTO outbox_seq (id, subject, msg_key, payload, headers, created_at, attempts, next_attempt_at, lease_owner, lease_until, status, last_error)
				SELECT id, subject, msg_key, payload, headers, created_at, attempts, next_attempt_at, lease_owner, lease_until, status, last_error
				FROM outbox ORDER BY created_at, id`,
			`DROP TABLE outbox`,
			`ALTER TABLE outbox_seq RENAME TO outbox`,
		},
		Postgres: {
			`ALTER TABLE outbox ADD COLUMN seq BIGINT`,
			`UPDATE outbox SET seq = n.n FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM outbox) n WHERE outbox.id = n.id`,
			`ALTER TABLE outbox ALTER COLUMN seq SET NOT NULL`,
			`ALTER TABLE outbox ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY`,
			`SELECT setval(pg_get_serial_sequence('outbox', 'seq'), (SELECT COALESCE(MAX(seq), 0) + 1 FROM outbox), false)`,
			`DROP INDEX outbox_due`,
			`DROP INDEX outbox_key`,
			`DROP INDEX outbox_blockers`,
			`CREATE UNIQUE INDEX outbox_seq ON outbox (seq)`,
		},
	}[e]
	stmts = append(stmts,
		`CREATE INDEX outbox_key ON outbox (msg_key, seq)`,
		// The rows that may hold back later messages of their key (see
		// migration 00002); the claim repeats this predicate word for word.
		`CREATE INDEX outbox_blockers ON outbox (msg_key, seq)
			WHERE status <> 'pending' OR next_attempt_at > 0 OR lease_until > 0`)
	return goose.NewGoMigration(3, &goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error {
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("outbox seq: %w", err)
			}
		}
		return nil
	}}, nil)
}

// NowMicros is an SQL expression for the database's current time in Unix
// microseconds, the unit of the BIGINT time columns. Leases and retry times
// are judged by it rather than by each process's clock, which replicas on
// different hosts do not share. (On PostgreSQL the statement's start time;
// SQLite has milliseconds.)
func (e Engine) NowMicros() string {
	if e == Postgres {
		return `CAST(EXTRACT(EPOCH FROM statement_timestamp()) * 1000000 AS BIGINT)`
	}
	return `CAST(unixepoch('subsec') * 1000000 AS INTEGER)`
}
