package store_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/crm/internal/listquery"
	"github.com/fabrika/fabrika/services/crm/internal/store"
	"github.com/fabrika/fabrika/services/crm/migrations"
)

// Both plans of a search (driven by the rarest word, or checked while the
// list is read in order) give the same pages.
func TestSearchPlansAgree(t *testing.T) {
	t.Parallel()
	db := testenv.DB(t, migrations.FS)
	ctx := context.Background()
	names := []string{"Anna Otto", "Otto Berg", "Ottilie Stein", "Bob Ottersen", "Anna Berg"}
	err := db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		for i := range 60 {
			n := names[i%len(names)]
			r := store.ListRow{OrderID: fmt.Sprintf("o%03d", i), Number: fmt.Sprintf("FAB-%04d", i), Channel: "shop", Status: "placed",
				PlacedAt: time.Unix(int64(1_700_000_000+i%7*3600), 0), Total: int64(i * 37 % 11), Currency: "EUR", CustomerID: "c",
				CustomerName: n, CustomerEmail: fmt.Sprintf("x%d@example.com", i)}
			r.StatusSince = r.PlacedAt
			if err := store.InsertListRow(ctx, tx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{"q=ott", "q=otto", "q=anna+ott", "q=ott&sort=total", "q=ott&sort=total&dir=asc", "q=berg&dir=asc", "q=zzz"} {
		v, _ := url.ParseQuery(raw + "&limit=7")
		q, err := listquery.Parse(v)
		if err != nil {
			t.Fatal(err)
		}
		walk := func(drive int) []string {
			var ids []string
			q := q
			for {
				s, args := store.ListSQL(q, drive)
				rows, err := db.QueryContext(ctx, s, args...)
				if err != nil {
					t.Fatal(err)
				}
				var page []string
				var last struct {
					id     string
					placed int64
					total  int64
				}
				for rows.Next() {
					var r store.ListRow
					var since, placed int64
					if err := rows.Scan(&r.OrderID, &r.Number, &r.Channel, &r.Status, &since, &placed, &r.Total, &r.Currency, &r.Manager,
						&r.CustomerID, &r.CustomerName, &r.CustomerEmail, &r.CustomerCompany); err != nil {
						t.Fatal(err)
					}
					page = append(page, r.OrderID)
					last.id, last.placed, last.total = r.OrderID, placed, r.Total
				}
				rows.Close()
				if len(page) <= q.Limit {
					return append(ids, page...)
				}
				ids = append(ids, page[:q.Limit]...)
				// the row after the page was read too; seek from the last shown
				prev := page[q.Limit-1]
				c := listquery.Cursor{ID: prev}
				if err := db.QueryRowContext(ctx, `SELECT placed_at, total FROM crm_order_list WHERE order_id = $1`, prev).Scan(&last.placed, &last.total); err != nil {
					t.Fatal(err)
				}
				c.Value = last.placed
				if q.Sort == listquery.SortTotal {
					c.Value = last.total
				}
				q.After = &c
			}
		}
		scan, driven := walk(-1), walk(0)
		if !slices.Equal(scan, driven) {
			t.Fatalf("%s: scan plan %v, driven plan %v", raw, scan, driven)
		}
		if raw == "q=ott" && len(scan) != 48 {
			t.Fatalf("q=ott found %d orders, want 48", len(scan))
		}
	}
}
