package store_test

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/crm/internal/listquery"
	"github.com/fabrika/fabrika/services/crm/internal/store"
	"github.com/fabrika/fabrika/services/crm/migrations"
)

// Every plan of a search (driven by the rarest word, checked while the list
// is read in order, or the words' matches intersected) gives the pages a
// plain reading of the rule gives: every word is the prefix of a token of
// the order's number, customer name, e-mail or company.
func TestSearchPlansAgree(t *testing.T) {
	t.Parallel()
	db := testenv.DB(t, migrations.FS)
	st := store.New(db)
	ctx := context.Background()
	names := []string{"Anna Otto", "Otto Berg", "Ottilie Stein", "Bob Ottersen", "Anna Berg"}
	companies := []string{"", "Acme Industries", "Acme Tools", "Berg Industries", ""}
	var all []store.ListRow
	err := db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		for i := range 60 {
			r := store.ListRow{OrderID: fmt.Sprintf("o%03d", i), Number: fmt.Sprintf("FAB-%04d", i), Channel: "shop", Status: []string{"placed", "shipped"}[i%2],
				PlacedAt: time.Unix(int64(1_700_000_000+i%7*3600), 0), Total: int64(i * 37 % 11), Currency: "EUR", CustomerID: "c",
				CustomerName: names[i%len(names)], CustomerEmail: fmt.Sprintf("x%d@example.com", i), CustomerCompany: companies[i%3]}
			r.StatusSince = r.PlacedAt
			all = append(all, r)
			if err := st.InsertListRow(ctx, tx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	plans := []struct {
		name string
		lim  store.Options
		want string // the plan that gives a full page or the last one, "" for any
	}{
		{"drive", store.Options{Selective: 1 << 30, WalkRows: 1 << 20, Intersect: 1 << 20}, store.PlanDrive},
		{"walk", store.Options{Selective: 0, WalkRows: 1 << 20, Intersect: 1 << 20}, store.PlanWalk},
		{"intersect", store.Options{Selective: 0, WalkRows: 2, Intersect: 1 << 20}, store.PlanIntersect},
		{"scan", store.Options{Selective: 0, WalkRows: 2, Intersect: 0}, store.PlanScan},
		{"default", store.DefaultOptions(), ""},
	}
	for _, raw := range []string{"q=ott", "q=otto", "q=anna+ott", "q=ott&sort=total", "q=ott&sort=total&dir=asc", "q=berg&dir=asc",
		"q=zzz", "q=acme+industries", "q=ind+acme&status=shipped", "q=fab-0042", "q=fab0042", "q=x4&sort=total"} {
		v, _ := url.ParseQuery(raw + "&limit=7")
		q, err := listquery.Parse(v)
		if err != nil {
			t.Fatal(err)
		}
		want := expected(all, q)
		for _, p := range plans {
			var got []string
			q := q
			for {
				rows, ran, err := st.ListWith(ctx, db, q, p.lim)
				if err != nil {
					t.Fatalf("%s, %s plan: %v", raw, p.name, err)
				}
				if want := planOf(p.want, q, len(rows)); want != "" && ran[len(ran)-1] != want {
					t.Fatalf("%s, %s plan: ran %v, want %s last", raw, p.name, ran, want)
				}
				for i, r := range rows {
					if i < q.Limit {
						got = append(got, r.OrderID)
					}
				}
				if len(rows) <= q.Limit {
					break
				}
				last := rows[q.Limit-1]
				c := listquery.Cursor{ID: last.OrderID, Value: sqldb.Micros(last.PlacedAt)}
				if q.Sort == listquery.SortTotal {
					c.Value = last.Total
				}
				q.After = &c
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s, %s plan:\n got %v\nwant %v", raw, p.name, got, want)
			}
		}
		if raw == "q=ott" && len(want) != 48 {
			t.Fatalf("q=ott found %d orders, want 48", len(want))
		}
	}
}

// planOf is the plan that ends a search of q forced towards want that
// returned n rows.
func planOf(want string, q listquery.Query, n int) string {
	last := n <= q.Limit // a walk that did not fill the page goes on
	switch {
	case want != "" && want != store.PlanDrive && len(q.Words) == 1:
		return store.PlanScan // one common word is read in order
	case want == store.PlanWalk && last:
		return store.PlanIntersect
	}
	return want
}

// expected applies the search rule and the filters to rows in Go: the
// oracle of TestSearchPlansAgree.
func expected(rows []store.ListRow, q listquery.Query) []string {
	var hits []store.ListRow
	for _, r := range rows {
		if q.Status != "" && r.Status != q.Status {
			continue
		}
		tokens := listquery.Tokens(r.Number, r.CustomerName, r.CustomerEmail, r.CustomerCompany)
		ok := true
		for _, w := range q.Words {
			ok = ok && slices.ContainsFunc(tokens, func(t string) bool { return strings.HasPrefix(t, w) })
		}
		if ok {
			hits = append(hits, r)
		}
	}
	key := func(r store.ListRow) int64 {
		if q.Sort == listquery.SortTotal {
			return r.Total
		}
		return sqldb.Micros(r.PlacedAt)
	}
	slices.SortFunc(hits, func(a, b store.ListRow) int {
		c := cmp.Compare(key(a), key(b))
		if c == 0 {
			c = strings.Compare(a.OrderID, b.OrderID)
		}
		if q.Dir == listquery.Desc {
			c = -c
		}
		return c
	})
	var ids []string
	for _, r := range hits {
		ids = append(ids, r.OrderID)
	}
	return ids
}
