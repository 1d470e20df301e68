package testenv

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// MigratedOver is what a migration finds on a service's existing data: a
// fresh database on engine e migrated with the migrations of fsys named
// before next, the rows of inserts written, and then the rest of fsys's
// migrations (next and after) run over them.
func MigratedOver(t testing.TB, e sqldb.Engine, fsys fs.FS, next string, inserts ...string) *sqldb.DB {
	t.Helper()
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		t.Fatalf("testenv: migrations: %v", err)
	}
	earlier := fstest.MapFS{}
	for _, name := range names {
		if name >= next {
			continue
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatalf("testenv: migration %s: %v", name, err)
		}
		earlier[name] = &fstest.MapFile{Data: b}
	}
	db := DBOn(t, e, earlier)
	ctx := context.Background()
	for _, q := range inserts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("testenv: rows before %s: %v", next, err)
		}
	}
	if err := db.Migrate(ctx, fsys); err != nil {
		t.Fatalf("testenv: migrate over the rows: %v", err)
	}
	return db
}
