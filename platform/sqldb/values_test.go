package sqldb_test

import (
	"context"
	"testing"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

func TestValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rows, cols int
		want       string
	}{
		{1, 1, "($1)"},
		{1, 3, "($1, $2, $3)"},
		{2, 3, "($1, $2, $3), ($4, $5, $6)"},
		{3, 2, "($1, $2), ($3, $4), ($5, $6)"},
		{0, 2, ""},
	} {
		if got := sqldb.Values(tc.rows, tc.cols); got != tc.want {
			t.Errorf("Values(%d, %d) = %q, want %q", tc.rows, tc.cols, got, tc.want)
		}
	}
}

// TestValuesInsertsRows: the list is a valid multi-row INSERT on each engine.
func TestValuesInsertsRows(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		db := openDB(t, e)
		if _, err := db.ExecContext(context.Background(), `INSERT INTO thing (id, n) VALUES `+sqldb.Values(3, 2),
			"a", 1, "b", 2, "c", 3); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db); n != 3 {
			t.Errorf("%d rows, want 3", n)
		}
	})
}
