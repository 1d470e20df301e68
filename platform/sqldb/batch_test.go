package sqldb_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

var batchMigrations = fstest.MapFS{"00001_parent.sql": {Data: []byte(`-- +goose Up
CREATE TABLE parent (id TEXT PRIMARY KEY, n BIGINT NOT NULL, note TEXT NOT NULL DEFAULT '');
CREATE TABLE child (parent_id TEXT NOT NULL REFERENCES parent (id), seq INTEGER NOT NULL, PRIMARY KEY (parent_id, seq));
-- +goose Down
DROP TABLE child;
DROP TABLE parent;
`)}}

// A batch's writes take effect in order and count their rows each, on both
// engines; in a transaction, a failing one undoes the others.
func TestBatch(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		db := testenv.DBOn(t, e, batchMigrations)
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, `INSERT INTO parent (id, n) VALUES ('p0', 1)`); err != nil {
			t.Fatal(err)
		}
		var b sqldb.Batch
		b.Add(`INSERT INTO parent (id, n) VALUES ($1, $2)`, "p1", 10)
		b.Add(`INSERT INTO child (parent_id, seq) VALUES ($1, $2), ($1, $3)`, "p1", 1, 2)
		b.Add(`UPDATE parent SET n = n + $2, note = '$1 ''$2'' "$3"' WHERE id = $1`, "p0", 5)
		b.Add(`INSERT INTO parent (id, n) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, "p0", 99)
		i := b.Add(`DELETE FROM child WHERE parent_id = $1`, "nobody")
		if b.Len() != 5 || i != 4 {
			t.Fatalf("Len %d, last index %d", b.Len(), i)
		}
		var counts []int64
		err := db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) (err error) {
			counts, err = b.Exec(ctx, tx)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := []int64{1, 2, 1, 0, 0}; !slices.Equal(counts, want) {
			t.Errorf("counts %v, want %v", counts, want)
		}
		if b.Len() != 0 {
			t.Errorf("a batch is empty after Exec, has %d", b.Len())
		}
		var n, children int64
		var note string
		if err := db.QueryRowContext(ctx, `SELECT n, note, (SELECT COUNT(*) FROM child) FROM parent WHERE id = 'p0'`).Scan(&n, &note, &children); err != nil {
			t.Fatal(err)
		}
		if n != 6 || note != `$1 '$2' "$3"` || children != 2 {
			t.Errorf("p0 n %d note %q, %d children; want 6, %q, 2", n, note, children, `$1 '$2' "$3"`)
		}

		// A failing write (a child of no parent) undoes the transaction:
		// the others are not kept.
		b.Add(`UPDATE parent SET n = 0 WHERE id = $1`, "p1")
		b.Add(`INSERT INTO child (parent_id, seq) VALUES ($1, $2)`, "missing", 1)
		err = db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
			_, err := b.Exec(ctx, tx)
			return err
		})
		if err == nil {
			t.Fatal("a child of no parent was written")
		}
		if err := db.QueryRowContext(ctx, `SELECT n FROM parent WHERE id = 'p1'`).Scan(&n); err != nil || n != 10 {
			t.Errorf("p1 n %d (%v), want 10: the failed batch's update was kept", n, err)
		}

		// No writes: nothing to run.
		if counts, err := b.Exec(ctx, db); err != nil || len(counts) != 0 {
			t.Errorf("empty batch: %v, %v", counts, err)
		}
	})
}

// A batch that fails inside a savepoint (on PostgreSQL: a pipeline the
// server stopped at its failing write) names that write and keeps its
// cause; rolling back to the savepoint undoes the writes before it, and the
// transaction goes on.
func TestBatchFailsInSavepoint(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		db := testenv.DBOn(t, e, batchMigrations)
		ctx := context.Background()
		err := db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO parent (id, n) VALUES ('kept', 1)`); err != nil {
				return err
			}
			serr := tx.Savepoint(ctx, func() error {
				var b sqldb.Batch
				b.Add(`INSERT INTO parent (id, n) VALUES ($1, $2)`, "undone", 2)
				b.Add(`INSERT INTO parent (id, n) VALUES ($1, $2)`, "kept", 3)
				b.Add(`INSERT INTO parent (id, n) VALUES ($1, $2)`, "never", 4)
				_, err := b.Exec(ctx, tx)
				return err
			})
			if !sqldb.IsUniqueViolation(serr) || !strings.Contains(serr.Error(), "write 2 of 3") {
				t.Errorf("the batch's error: %v; want write 2 of 3, a unique violation", serr)
			}
			var b sqldb.Batch
			b.Add(`INSERT INTO parent (id, n) VALUES ($1, $2)`, "after", 5)
			b.Add(`INSERT INTO child (parent_id, seq) VALUES ($1, $2)`, "after", 1)
			_, err := b.Exec(ctx, tx)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		rows, err := db.QueryContext(ctx, `SELECT id FROM parent ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		if want := []string{"after", "kept"}; !slices.Equal(ids, want) {
			t.Errorf("parents %v, want %v", ids, want)
		}
	})
}

// BenchmarkBatch: a batch of 4 writes in a transaction as InTx runs it
// (pipelined on PostgreSQL) and, beside it, the same writes one after
// another (the transaction's *sql.Tx). On SQLite both are one after
// another.
func BenchmarkBatch(b *testing.B) {
	for _, e := range testenv.Engines() {
		db := testenv.DBOn(b, e, batchMigrations)
		ctx := context.Background()
		for _, mode := range []string{"batch", "one-by-one"} {
			b.Run(string(e)+"/"+mode, func(b *testing.B) {
				run, n := time.Now().UnixNano(), 0
				for b.Loop() {
					n++
					err := db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
						id := fmt.Sprintf("%s-%d-%d", mode, run, n)
						var w sqldb.Batch
						w.Add(`INSERT INTO parent (id, n) VALUES ($1, $2)`, id, n)
						w.Add(`INSERT INTO child (parent_id, seq) VALUES ($1, 1)`, id)
						w.Add(`INSERT INTO child (parent_id, seq) VALUES ($1, 2)`, id)
						w.Add(`UPDATE parent SET n = n + 1 WHERE id = $1`, id)
						var q sqldb.Querier = tx
						if mode == "one-by-one" {
							q = tx.Tx
						}
						_, err := w.Exec(ctx, q)
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
