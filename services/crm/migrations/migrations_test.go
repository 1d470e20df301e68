package migrations_test

import (
	"context"
	"slices"
	"testing"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/crm/migrations"
)

// The search-by-date migration gives the tokens written before it their
// head (the first three characters, as listquery.Head) and their order's
// date, on each engine.
func TestSearchByDateFillsTokens(t *testing.T) {
	t.Parallel()
	inserts := []string{
		`INSERT INTO crm_order_list (order_id, number, channel, status, status_since, placed_at, total, currency, customer_id, customer_name, customer_email, search)
			VALUES ('o1', 'FAB-1', 'shop', 'placed', 5, 1700000000000000, 100, 'EUR', 'c1', 'Jörg Müller', 'j@x.io', ' 1 fab fab1 io j jörg müller x ')`,
		`INSERT INTO crm_order_tokens (token, order_id) VALUES ('müller', 'o1'), ('fab1', 'o1'), ('io', 'o1')`}
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx := context.Background()
		db := testenv.MigratedOver(t, e, migrations.FS, "00005_search_by_date.sql", inserts...)
		rows, err := db.QueryContext(ctx, `SELECT token, head, placed_at FROM crm_order_tokens ORDER BY token`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		want := map[string]string{"fab1": "fab", "io": "io", "müller": "mül"}
		n := 0
		for rows.Next() {
			var token, head string
			var at int64
			if err := rows.Scan(&token, &head, &at); err != nil {
				t.Fatal(err)
			}
			n++
			if head != want[token] || at != 1700000000000000 {
				t.Errorf("token %q: head %q, placed_at %d; want %q, 1700000000000000", token, head, at, want[token])
			}
		}
		if err := rows.Err(); err != nil || n != 3 {
			t.Fatalf("%d tokens, %v", n, err)
		}
	})
}

// The customer-tokens migration gives the customers of the orders written
// before it their orders' tokens, each once, on each engine.
func TestCustomerTokensFilled(t *testing.T) {
	t.Parallel()
	inserts := []string{
		`INSERT INTO crm_order_list (order_id, number, channel, status, status_since, placed_at, total, currency, customer_id, customer_name, customer_email, search)
			VALUES ('o1', 'FAB-1', 'shop', 'placed', 5, 1, 100, 'EUR', 'c1', 'Jörg Müller', 'j@x.io', ' 1 fab fab1 io j jörg müller x '),
			('o2', 'FAB-2', 'shop', 'placed', 5, 2, 100, 'EUR', 'c1', 'Jörg Müller', 'j@x.io', ' 2 fab fab2 io j jörg müller x '),
			('o3', 'FAB-3', 'shop', 'placed', 5, 3, 100, 'EUR', 'c2', 'Ida Lang', 'i@x.io', ' 3 fab fab3 i ida io lang x ')`,
		`INSERT INTO crm_order_tokens (token, order_id) VALUES ('müller', 'o1'), ('fab1', 'o1'), ('io', 'o1'), ('müller', 'o2'), ('fab2', 'o2'), ('io', 'o2'),
			('lang', 'o3'), ('io', 'o3')`}
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx := context.Background()
		db := testenv.MigratedOver(t, e, migrations.FS, "00009_customer_tokens.sql", inserts...)
		rows, err := db.QueryContext(ctx, `SELECT customer_id, token FROM crm_customer_tokens ORDER BY customer_id, token`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var c, token string
			if err := rows.Scan(&c, &token); err != nil {
				t.Fatal(err)
			}
			got = append(got, c+":"+token)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if want := []string{"c1:fab1", "c1:fab2", "c1:io", "c1:müller", "c2:io", "c2:lang"}; !slices.Equal(got, want) {
			t.Errorf("customer tokens %v, want %v", got, want)
		}
	})
}
