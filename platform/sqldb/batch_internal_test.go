package sqldb

import "testing"

func TestRenumber(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		query  string
		offset int
		want   string
	}{
		{`UPDATE t SET a = $1 WHERE id = $2`, 0, `UPDATE t SET a = $1 WHERE id = $2`},
		{`UPDATE t SET a = $1 WHERE id = $12`, 3, `UPDATE t SET a = $4 WHERE id = $15`},
		{`INSERT INTO t VALUES ($1, 'a $1 b', "$2", 'it''s $3', $3)`, 10, `INSERT INTO t VALUES ($11, 'a $1 b', "$2", 'it''s $3', $13)`},
		{`SELECT '$1`, 1, `SELECT '$1`},
		{`SELECT $ $a $9`, 1, `SELECT $ $a $10`},
	} {
		if got := renumber(tc.query, tc.offset); got != tc.want {
			t.Errorf("renumber(%q, %d) = %q, want %q", tc.query, tc.offset, got, tc.want)
		}
	}
}
