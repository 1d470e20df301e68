package sqldb_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// Replicas that start together migrate one database at the same moment:
// on PostgreSQL they take turns under an advisory lock, and every one of
// them starts.
func TestConcurrentMigrationsOnPostgres(t *testing.T) {
	t.Parallel()
	if !testenv.PostgresConfigured() {
		t.Skip("the migration lock is PostgreSQL's; SQLite replicas do not share a database file across hosts")
	}
	ctx := context.Background()
	const rounds, replicas = 3, 6
	for round := range rounds {
		dsn := testenv.DSNOn(t, sqldb.Postgres)
		var wg sync.WaitGroup
		errs := make(chan error, replicas)
		for i := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db, err := sqldb.Open(ctx, dsn)
				if err != nil {
					errs <- err
					return
				}
				defer db.Close()
				if err := db.Migrate(ctx, thingMigrations); err != nil {
					errs <- fmt.Errorf("round %d, replica %d: %w", round, i, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
}

// The platform migration that orders the outbox by a database sequence
// numbers the messages already waiting in their old order (created_at,
// then id), and a message written after it comes after all of them.
func TestOutboxSeqMigrationKeepsWaitingOrder(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx := context.Background()
		db, err := sqldb.Open(ctx, testenv.DSNOn(t, e))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.MigratePlatformTo(ctx, 2); err != nil {
			t.Fatal(err)
		}
		// Inserted in another order than their creation.
		for _, r := range []struct {
			id      string
			created int64
		}{{"m3", 300}, {"m1", 100}, {"m2b", 200}, {"m2a", 200}} {
			if _, err := db.ExecContext(ctx, `INSERT INTO outbox (id, subject, msg_key, payload, headers, created_at)
				VALUES ($1, 'fabrika.x', 'k', '{}', '{}', $2)`, r.id, r.created); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Migrate(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO outbox (id, subject, msg_key, payload, headers, created_at)
			VALUES ('m4', 'fabrika.x', 'k', '{}', '{}', 50)`); err != nil {
			t.Fatal(err)
		}
		rows, err := db.QueryContext(ctx, `SELECT id FROM outbox ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			got = append(got, id)
		}
		if want := []string{"m1", "m2a", "m2b", "m3", "m4"}; !slices.Equal(got, want) {
			t.Fatalf("order by seq %v, want %v", got, want)
		}
	})
}
