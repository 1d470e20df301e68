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
	"unicode/utf8"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/crm/internal/listquery"
	"github.com/fabrika/fabrika/services/crm/internal/store"
	"github.com/fabrika/fabrika/services/crm/migrations"
)

// Every plan of a search (driven by the rarest word, checked while the list
// is read in order, or the words' matches intersected) gives the pages a
// plain reading of the rule gives: every word is the prefix of a token of
// the order's number, customer name, e-mail or company. On each engine.
func TestSearchPlansAgree(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		searchPlansAgree(t, testenv.DBOn(t, e, migrations.FS))
	})
}

// searchRows writes 60 orders of five customers' names, some with
// companies, and returns them.
func searchRows(t *testing.T, db *sqldb.DB) []store.ListRow {
	t.Helper()
	st := store.New(db)
	names := []string{"Anna Otto", "Otto Berg", "Ottilie Stein", "Bob Ottersen", "Anna Müller"}
	companies := []string{"", "Acme Industries 42", "Acme Tools 7", "Berg Industries 42", ""}
	var all []store.ListRow
	err := db.InTx(context.Background(), func(ctx context.Context, tx *sqldb.Tx) error {
		for i := range 60 {
			r := store.ListRow{OrderID: fmt.Sprintf("o%03d", i), Number: fmt.Sprintf("FAB-%04d", i), Channel: "shop", Status: []string{"placed", "shipped"}[i%2],
				PlacedAt: time.Unix(int64(1_700_000_000+i%7*3600), 0), Total: int64(i * 37 % 11), Currency: "EUR", CustomerID: fmt.Sprintf("c%d", i%5),
				CustomerName: names[i%len(names)], CustomerEmail: fmt.Sprintf("%s%d@example.com", strings.ReplaceAll(strings.ToLower(names[i%len(names)]), " ", "."), i%9),
				CustomerCompany: companies[i%4]}
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
	return all
}

func searchPlansAgree(t *testing.T, db *sqldb.DB) {
	st := store.New(db)
	ctx := context.Background()
	all := searchRows(t, db)
	plans := []struct {
		name string
		lim  store.Options
		want string // the plan that gives a full page or the last one, "" for any
	}{
		{"drive", store.Options{Selective: 1 << 30, WalkRows: 1 << 20, Intersect: 1 << 20, Probe: 1 << 20}, store.PlanDrive},
		{"drive, intersect", store.Options{Selective: 1 << 30, WalkRows: 1 << 20, Intersect: 1 << 20, Probe: 0}, store.PlanDrive},
		{"walk", store.Options{Selective: 0, WalkRows: 1 << 20, Intersect: 1 << 20}, store.PlanWalk},
		{"intersect", store.Options{Selective: 0, WalkRows: 2, Intersect: 1 << 20}, store.PlanIntersect},
		{"scan", store.Options{Selective: 0, WalkRows: 2, Intersect: 0}, store.PlanScan},
		{"token", store.Options{Selective: 60, WalkRows: 1 << 20, Intersect: 1 << 20, Probe: 1 << 20, Token: 1 << 20}, ""},
		{"token, few entries", store.Options{Selective: 0, WalkRows: 2, Intersect: 1 << 20, Token: 3}, ""},
		{"default", store.DefaultOptions(), ""},
	}
	tokenPlans := map[string][]string{} // query: plans of the first page with the token options
	for _, raw := range []string{"q=ott", "q=otto", "q=anna+ott", "q=ott&sort=total", "q=ott&sort=total&dir=asc", "q=berg&dir=asc",
		"q=zzz", "q=acme+industries", "q=ind+acme&status=shipped", "q=fab-0042", "q=fab0042", "q=x4&sort=total",
		"q=anna.otto3", "q=otto.berg", "q=ott&status=shipped", "q=otto&dir=asc&status=placed", "q=mü", "q=mül", "q=müller+anna", "q=42", "q=acme+industries+42", "q=42+acme&status=placed", "q=acme+industries+42&sort=total&dir=asc"} {
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
				if p.name == "token" && q.After == nil {
					tokenPlans[raw] = ran
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
		if raw == "q=acme+industries+42" && len(want) == 0 {
			t.Fatalf("q=acme+industries+42 found no orders")
		}
	}
	// A word whose matches are one token ("42", "acme", "anna": an
	// e-mail's customer, a company's number) is read in date order from
	// that token's index.
	for _, raw := range []string{"q=42", "q=acme+industries+42", "q=42+acme&status=placed", "q=anna+ott"} {
		if ran := tokenPlans[raw]; !slices.Equal(ran, []string{store.PlanToken}) {
			t.Errorf("%s: ran %v with the token options, want [%s]", raw, ran, store.PlanToken)
		}
	}
}

// planOf is the plan that ends a search of q forced towards want that
// returned n rows.
func planOf(want string, q listquery.Query, n int) string {
	last := n <= q.Limit // a walk that did not fill the page goes on
	switch {
	case want != "" && want != store.PlanDrive && len(q.Words) == 1 && q.Sort == listquery.SortDate && utf8.RuneCountInString(q.Words[0]) >= listquery.HeadLength:
		return store.PlanHead // one common word in date order comes from its head's index
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

// A search with a rare word reads the orders list only by key: the ids of
// its matches come from the token index first, so no planner can take the
// few matches for many and read the whole list in its order to find them
// (a search by e-mail prefix took 4-5 s so on a million orders).
func TestRareSearchReadsListByKey(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		db := testenv.DBOn(t, e, migrations.FS)
		searchRows(t, db)
		st := store.New(db)
		for _, raw := range []string{"q=anna.otto3", "q=acme+industries+42", "q=fab-0042&status=placed"} {
			v, _ := url.ParseQuery(raw)
			q, err := listquery.Parse(v)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := st.Plan(context.Background(), db, q)
			if err != nil {
				t.Fatal(err)
			}
			read := 0
			for _, s := range plan {
				if !strings.Contains(s.SQL, "FROM crm_order_list") {
					continue
				}
				read++
				if s.Plan != store.PlanDrive+", by id" || strings.Contains(s.SQL, "SELECT order_id FROM") {
					t.Errorf("%s: the list is read by %s:\n%s", raw, s.Plan, s.SQL)
				}
			}
			if read != 1 {
				t.Errorf("%s: %d statements read the list, want 1: %+v", raw, read, plan)
			}
		}
	})
}

// TestCounters: two transactions that move the same counter do not wait
// for each other (every order event moves "all" or a status's counter:
// locking those rows until each commit made the CRM's inbox workers wait
// for each other and deadlocked their batches), and the counts include
// the changes before and after they are folded. The first part on
// PostgreSQL only: SQLite has one writer at a time whatever the rows.
func TestCounters(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, engine sqldb.Engine) {
		db := testenv.DBOn(t, engine, migrations.FS)
		st := store.New(db)
		ctx := context.Background()
		add := func(q sqldb.Querier, name string, d int64) {
			t.Helper()
			if err := st.AddCounter(ctx, q, name, d); err != nil {
				t.Fatal(err)
			}
		}
		check := func(when string, want map[string]int64) {
			t.Helper()
			got, err := st.Counts(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			for name, n := range want {
				if got[name] != n {
					t.Errorf("%s: %s = %d, want %d (all: %v)", when, name, got[name], n, got)
				}
			}
		}
		if engine == sqldb.Postgres {
			open, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			add(open, "status:placed", 1)
			wait, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = db.InTx(wait, func(ctx context.Context, tx *sqldb.Tx) error { return st.AddCounter(ctx, tx, "status:placed", 1) })
			cancel()
			if err != nil {
				t.Errorf("a transaction moving a counter waited for another that moved it and is still open: %v", err)
			}
			if err := open.Commit(); err != nil {
				t.Fatal(err)
			}
		} else {
			add(db, "status:placed", 1)
			add(db, "status:placed", 1)
		}
		add(db, "all", 5)
		add(db, "all", -2)
		check("before the fold", map[string]int64{"status:placed": 2, "all": 3})
		if n, err := st.FoldCounters(ctx); err != nil || n != 4 {
			t.Fatalf("fold: %d changes, %v; want 4", n, err)
		}
		check("after the fold", map[string]int64{"status:placed": 2, "all": 3})
		add(db, "all", 1)
		check("a change after the fold", map[string]int64{"status:placed": 2, "all": 4})
		if n, err := st.FoldCounters(ctx); err != nil || n != 1 {
			t.Fatalf("second fold: %d changes, %v; want 1", n, err)
		}
		check("after the second fold", map[string]int64{"status:placed": 2, "all": 4})
	})
}
