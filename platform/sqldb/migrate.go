package sqldb

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

//go:embed migrations/*.sql
var platformMigrations embed.FS

// Migrate applies the platform's migrations (outbox, inbox, dead letters)
// and then the service's, each tracked in its own version table. The same
// SQL runs on both engines.
func (db *DB) Migrate(ctx context.Context, service fs.FS) error {
	plat, err := fs.Sub(platformMigrations, "migrations")
	if err != nil {
		return err
	}
	if err := db.migrate(ctx, plat, "fabrika_platform_version"); err != nil {
		return fmt.Errorf("platform migrations: %w", err)
	}
	if service != nil {
		if err := db.migrate(ctx, service, "fabrika_service_version"); err != nil {
			return fmt.Errorf("service migrations: %w", err)
		}
	}
	return nil
}

func (db *DB) migrate(ctx context.Context, fsys fs.FS, table string) error {
	dialect := goose.DialectSQLite3
	if db.engine == Postgres {
		dialect = goose.DialectPostgres
	}
	p, err := goose.NewProvider(dialect, db.DB, fsys, goose.WithTableName(table))
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}
