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
	"github.com/fabrika/fabrika/services/crm/internal/listquery"
	"github.com/fabrika/fabrika/services/crm/internal/store"
)

// Every plan of a search (driven by the rarest word, checked while the list
// is read in order, or the words' matches intersected) gives the pages a
// plain reading of the rule gives: every word is the prefix of a token of
// the order's number, customer name, e-mail or company. On each engine.
func TestSearchPlansAgree(t *testing.T) {
	eachStore(t, func(t *testing.T, db *sqldb.DB, _ *store.Store) { searchPlansAgree(t, db) })
}

// searchRows writes 60 orders of five customers' names, some with
// companies, and returns them.
func searchRows(t *testing.T, db *sqldb.DB) []store.ListRow {
	t.Helper()
	names := []string{"Anna Otto", "Otto Berg", "Ottilie Stein", "Bob Ottersen", "Anna Müller"}
	companies := []string{"", "Acme Industries 42", "Acme Tools 7", "Berg Industries 42", ""}
	var all []store.ListRow
	for i := range 60 {
		all = append(all, store.ListRow{OrderID: fmt.Sprintf("o%03d", i), Number: fmt.Sprintf("FAB-%04d", i), Channel: "shop", Status: []string{"placed", "shipped"}[i%2],
			PlacedAt: time.Unix(int64(1_700_000_000+i%7*3600), 0), Total: int64(i * 37 % 11), Currency: "EUR", CustomerID: fmt.Sprintf("c%d", i%5),
			CustomerName: names[i%len(names)], CustomerEmail: fmt.Sprintf("%s%d@example.com", strings.ReplaceAll(strings.ToLower(names[i%len(names)]), " ", "."), i%9),
			CustomerCompany: companies[i%4]})
	}
	insertRows(t, store.New(db), db, all)
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
		{"customers", store.Options{Selective: 0, WalkRows: 2, Intersect: 0, Customers: 1 << 20, CustomerWords: 1 << 20, CustomerRows: 1 << 20}, store.PlanCustomers},
		{"customers, too many", store.Options{Selective: 0, WalkRows: 2, Intersect: 1 << 20, Customers: 1, CustomerWords: 1 << 20, CustomerRows: 1 << 20}, ""},
		{"customers, one narrowing word", store.Options{Selective: 0, WalkRows: 2, Intersect: 1 << 20, Customers: 1 << 20, CustomerWords: 3, CustomerRows: 1 << 20}, ""},
		{"customers, too many orders", store.Options{Selective: 0, WalkRows: 2, Intersect: 1 << 20, Customers: 1 << 20, CustomerWords: 1 << 20, CustomerRows: -1}, ""},
		{"default", store.DefaultOptions(), ""},
	}
	tokenPlans := map[string][]string{} // query: plans of the first page with the token options
	for _, raw := range []string{"q=ott", "q=otto", "q=anna+ott", "q=ott&sort=total", "q=ott&sort=total&dir=asc", "q=berg&dir=asc",
		"q=zzz", "q=acme+industries", "q=ind+acme&status=shipped", "q=fab-0042", "q=fab0042", "q=x4&sort=total",
		"q=anna.otto3", "q=otto.berg", "q=ott&status=shipped", "q=otto&dir=asc&status=placed", "q=mü", "q=mül", "q=müller+anna", "q=42", "q=acme+industries+42", "q=42+acme&status=placed", "q=acme+industries+42&sort=total&dir=asc", "q=example+com", "q=com+fab&status=shipped"} {
		v, _ := url.ParseQuery(raw + "&limit=7")
		q, err := listquery.Parse(v)
		if err != nil {
			t.Fatal(err)
		}
		want := expected(all, q)
		for _, p := range plans {
			got, err := pages(ctx, st, db, q, p.lim, func(q listquery.Query, rows []store.ListRow, ran []string) {
				if p.name == "token" && q.After == nil {
					tokenPlans[raw] = ran
				}
				if want := planOf(p.want, q, len(rows)); want != "" && ran[len(ran)-1] != want {
					t.Fatalf("%s, %s plan: ran %v, want %s last", raw, p.name, ran, want)
				}
			})
			if err != nil {
				t.Fatalf("%s, %s plan: %v", raw, p.name, err)
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
	// e-mail's customer, a company's number), or one and a few others
	// ("otto" and the e-mails' "otto3": an order with both comes once),
	// is read in date order from the tokens' index.
	for _, raw := range []string{"q=42", "q=acme+industries+42", "q=42+acme&status=placed", "q=anna+ott", "q=otto", "q=otto&dir=asc&status=placed"} {
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
	eachStore(t, func(t *testing.T, db *sqldb.DB, st *store.Store) {
		searchRows(t, db)
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
	eachStore(t, func(t *testing.T, db *sqldb.DB, st *store.Store) {
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
		twice(t, db, "a transaction moving a counter", func(ctx context.Context, q sqldb.Querier) error {
			return st.AddCounter(ctx, q, "status:placed", 1)
		})
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

// TestCustomerRowNotWrittenPerOrder: a customer's next order neither
// writes nor locks the customer's row (every B2B order of a client is the
// same customer: two transactions of its orders waited for each other), and
// the customer's figures include the changes before and after they are
// folded. The lock part on PostgreSQL only: SQLite has one writer at a
// time whatever the rows.
func TestCustomerRowNotWrittenPerOrder(t *testing.T) {
	eachStore(t, func(t *testing.T, db *sqldb.DB, st *store.Store) {
		ctx := context.Background()
		acme := store.Customer{ID: "c-acme", Kind: store.KindCompany, Name: "Acme", Email: "buy@acme.test", Company: "Acme GmbH", Currency: "EUR"}
		// order is what order.placed does to its customer.
		order := func(ctx context.Context, q sqldb.Querier, c store.Customer, at time.Time, total int64) error {
			if err := st.UpsertCustomer(ctx, q, c, at); err != nil {
				return err
			}
			return st.AddToCustomer(ctx, q, c.ID, 1, total, c.Currency)
		}
		check := func(when string, c store.Customer, orders, spent int64, updated time.Time) {
			t.Helper()
			got, err := st.GetCustomer(ctx, db, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.OrderCount != orders || got.TotalSpent != spent || got.Currency != "EUR" || got.Name != c.Name || !got.UpdatedAt.Equal(updated) {
				t.Errorf("%s: customer %+v, want %d orders, %d spent, EUR, name %s, updated %s", when, got, orders, spent, c.Name, updated)
			}
			list, err := st.Customers(ctx, db, c.Name, 10)
			if err != nil || len(list) != 1 || list[0] != got {
				t.Errorf("%s: list %+v, %v; want the card's %+v", when, list, err, got)
			}
		}
		if err := order(ctx, db, acme, t0, 100); err != nil {
			t.Fatal(err)
		}
		check("first order", acme, 1, 100, t0)
		version := func() string { // the row's version: PostgreSQL's xmin changes with every write
			if db.Engine() != sqldb.Postgres {
				return ""
			}
			var v string
			if err := db.QueryRowContext(ctx, `SELECT CAST(xmin AS TEXT) FROM crm_customers WHERE id = $1`, acme.ID).Scan(&v); err != nil {
				t.Fatal(err)
			}
			return v
		}
		before := version()
		minutes := 0
		twice(t, db, "a transaction of the customer's order", func(ctx context.Context, q sqldb.Querier) error {
			minutes++
			return order(ctx, q, acme, t0.Add(time.Duration(minutes)*time.Minute), 50/int64(minutes))
		})
		if after := version(); after != before {
			t.Errorf("the customer's row was written by orders that changed none of its data (xmin %s -> %s)", before, after)
		}
		check("three orders, before the fold", acme, 3, 175, t0)
		if n, err := st.FoldCustomers(ctx); err != nil || n != 3 {
			t.Fatalf("fold: %d changes, %v; want 3", n, err)
		}
		check("after the fold", acme, 3, 175, t0)
		if err := st.AddToCustomer(ctx, db, acme.ID, 0, -25, "EUR"); err != nil { // a cancellation
			t.Fatal(err)
		}
		check("a change after the fold", acme, 3, 150, t0)
		moved := acme
		moved.Name, moved.Email = "Acme Steel", "orders@acme.test"
		if err := order(ctx, db, moved, t0.Add(time.Hour), 10); err != nil {
			t.Fatal(err)
		}
		check("new contact data", moved, 4, 160, t0.Add(time.Hour))
		if n, err := st.FoldCustomers(ctx); err != nil || n != 2 {
			t.Fatalf("second fold: %d changes, %v; want 2", n, err)
		}
		check("after the second fold", moved, 4, 160, t0.Add(time.Hour))
	})
}

// twice runs do in two transactions. On PostgreSQL the first is still open
// while the second runs, which must not wait for it; SQLite has one writer
// at a time whatever the rows, so there they run one after the other.
func twice(t *testing.T, db *sqldb.DB, what string, do func(ctx context.Context, q sqldb.Querier) error) {
	t.Helper()
	ctx := context.Background()
	if db.Engine() != sqldb.Postgres {
		for range 2 {
			if err := do(ctx, db); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	open, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := open.Commit(); err != nil {
			t.Fatal(err)
		}
	}()
	if err := do(ctx, open); err != nil {
		t.Fatal(err)
	}
	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.InTx(wait, func(ctx context.Context, tx *sqldb.Tx) error { return do(ctx, tx) }); err != nil {
		t.Errorf("%s waited for another that is still open: %v", what, err)
	}
}

// The words' counts are kept a few seconds; a plan whose completeness rests
// on a count (PlanToken read every entry of a word with few) counts again
// rather than trust a kept one: orders arriving meanwhile push a match out
// of the entries read.
func TestKeptCountsDoNotHideMatches(t *testing.T) {
	eachStore(t, func(t *testing.T, db *sqldb.DB, st *store.Store) {
		ctx := context.Background()
		add := func(from, to int, status string, at int64) {
			t.Helper()
			var rows []store.ListRow
			for i := from; i < to; i++ {
				rows = append(rows, store.ListRow{OrderID: fmt.Sprintf("z%02d", i), Number: fmt.Sprintf("Z-%02d", i), Channel: "shop", Status: status,
					PlacedAt: time.Unix(at+int64(i), 0), Currency: "EUR", CustomerID: "cz", CustomerName: "Zeta Quill", CustomerEmail: "zq@example.com"})
			}
			insertRows(t, st, db, rows)
		}
		opt := store.Options{Selective: 6, WalkRows: 1 << 20, Intersect: 1 << 20, Probe: 0, Token: 4}
		v, _ := url.ParseQuery("q=zeta&status=shipped&limit=2")
		q, err := listquery.Parse(v)
		if err != nil {
			t.Fatal(err)
		}
		add(0, 3, "placed", 1_700_000_000)
		rows, ran, err := st.ListWith(ctx, db, q, opt)
		if err != nil || len(rows) != 0 || !slices.Equal(ran, []string{store.PlanToken}) {
			t.Fatalf("before: %d rows, %v, %v; want none by %s", len(rows), ran, err, store.PlanToken)
		}
		// Five newer orders of the word, and a shipped one older than all:
		// the four entries PlanToken reads are newer than it.
		add(3, 8, "placed", 1_800_000_000)
		add(8, 9, "shipped", 1_600_000_000)
		rows, ran, err = st.ListWith(ctx, db, q, opt)
		if err != nil || len(rows) != 1 || rows[0].OrderID != "z08" {
			t.Fatalf("after: %+v (%v, %v); want z08", rows, ran, err)
		}
		// drive trusts a kept count that the word is rare only as far as
		// the ids it reads: more than counted, and the other plans go on.
		opt.Token = 0
		v, _ = url.ParseQuery("q=quill&limit=2")
		if q, err = listquery.Parse(v); err != nil {
			t.Fatal(err)
		}
		st = store.New(db) // no counts kept
		if _, err := db.ExecContext(ctx, `DELETE FROM crm_order_tokens WHERE order_id > 'z02'`); err != nil {
			t.Fatal(err)
		}
		if rows, ran, err = st.ListWith(ctx, db, q, opt); err != nil || len(rows) != 3 || !slices.Equal(ran, []string{store.PlanDrive}) {
			t.Fatalf("3 orders of quill: %d rows, %v, %v; want 3 by %s", len(rows), ran, err, store.PlanDrive)
		}
		// Its orders z03-z07 get their tokens back: 8, more than
		// Selective; the kept count says 3.
		add(3, 8, "placed", 1_800_000_000) // the rows are there (ON CONFLICT), the tokens come back
		rows, ran, err = st.ListWith(ctx, db, q, opt)
		if err != nil || len(rows) != 3 || rows[0].OrderID != "z07" || rows[1].OrderID != "z06" {
			t.Fatalf("9 orders of quill: %+v (%v, %v); want z07, z06 first", rows, ran, err)
		}
	})
}

// Words each common and rare together: "kestrel", "systems" and "56" each
// in more orders than the options' Selective (three companies with two of
// them each, one customer's orders apiece) and together in five (a fourth
// customer's): the shape of "kestrel systems 56" among a million orders,
// with the thresholds a tenth of the defaults. Every plan gives the pages
// of the rule, and the search finds them through the few customers with
// every word (PlanCustomers) without reading the words' orders.
func TestSearchCommonWordsRareTogether(t *testing.T) {
	eachStore(t, func(t *testing.T, db *sqldb.DB, st *store.Store) {
		ctx := context.Background()
		tenth := store.Options{Selective: store.SelectiveMatches / 10, WalkRows: store.WalkRows / 10, Intersect: store.SelectiveMatches / 10,
			Probe: store.ProbeOrders / 10, Token: store.TokenRows / 10, Customers: store.CandidateCustomers, CustomerWords: store.CustomerMatches}
		customers := []struct {
			id, company string
			orders      int
		}{{"c-ks7", "Kestrel Systems 7", 160}, {"c-kt56", "Kestrel Tools 56", 160}, {"c-hs56", "Helix Systems 56", 160}, {"c-ks56", "Kestrel Systems 56", 5}}
		var all []store.ListRow
		for _, c := range customers {
			for range c.orders {
				i := len(all)
				all = append(all, store.ListRow{OrderID: fmt.Sprintf("o%05d", i), Number: fmt.Sprintf("FAB-%05d", i), Channel: "shop", Status: []string{"placed", "shipped"}[i%2],
					PlacedAt: time.Unix(int64(1_700_000_000+i*7%400*60), 0), Total: int64(i * 37 % 11), Currency: "EUR", CustomerID: c.id,
					CustomerName: "Ida Lang", CustomerEmail: "buyer@" + c.id + ".test", CustomerCompany: c.company})
			}
		}
		insertRows(t, st, db, all)
		withoutCustomers, heavy := tenth, tenth
		withoutCustomers.Customers = 0
		heavy.CustomerRows = -1 // the customers' orders are too many to read
		for _, raw := range []string{"q=kestrel+systems+56", "q=56+systems+kestrel&limit=2", "q=kestrel+systems+56&status=shipped", "q=kestrel+systems+56&sort=total&limit=3",
			"q=kestrel+systems+5", "q=kestrel+systems&limit=3", "q=ida+kestrel+56&limit=2"} {
			v, _ := url.ParseQuery(raw)
			q, err := listquery.Parse(v)
			if err != nil {
				t.Fatal(err)
			}
			want := expected(all, q)
			for _, opt := range []struct {
				name string
				opt  store.Options
			}{{"tenth", tenth}, {"tenth without customers", withoutCustomers}, {"tenth, heavy customers", heavy}, {"default", store.DefaultOptions()}} {
				st := store.New(db) // no counts kept
				got, err := pages(ctx, st, db, q, opt.opt, func(_ listquery.Query, _ []store.ListRow, ran []string) {
					if opt.name == "tenth" && strings.HasPrefix(raw, "q=kestrel+systems+56") && !slices.Equal(ran, []string{store.PlanCustomers}) {
						t.Errorf("%s: ran %v, want [%s]", raw, ran, store.PlanCustomers)
					}
					if opt.name == "tenth, heavy customers" && raw == "q=kestrel+systems+56" && !slices.Equal(ran, []string{store.PlanCustomers, store.PlanIntersect}) {
						t.Errorf("%s, %s: ran %v, want [%s %s]", raw, opt.name, ran, store.PlanCustomers, store.PlanIntersect)
					}
				})
				if err != nil {
					t.Fatalf("%s, %s: %v", raw, opt.name, err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("%s, %s:\n got %v\nwant %v", raw, opt.name, got, want)
				}
			}
			if raw == "q=kestrel+systems+56" && len(want) != 5 {
				t.Fatalf("%s: %d orders, want the 5 of Kestrel Systems 56", raw, len(want))
			}
		}
	})
}

// A customer's next order adds to the customers' tokens only the tokens the
// customer does not have yet (its number's), and two transactions adding
// the same new tokens of a customer (its first orders, in two inbox
// batches) do not wait for each other: PostgreSQL made the second wait for
// the first's commit on a unique key (on SQLite one writer at a time).
func TestCustomerTokensAdded(t *testing.T) {
	eachStore(t, func(t *testing.T, db *sqldb.DB, st *store.Store) {
		ctx := context.Background()
		n := 0
		order := func(ctx context.Context, q sqldb.Querier, company string) error {
			n++
			r := store.ListRow{OrderID: fmt.Sprintf("o%d", n), Number: fmt.Sprintf("FAB-%d", n), Channel: "shop", Status: "placed", Currency: "EUR",
				PlacedAt: time.Unix(int64(1_700_000_000+n), 0), CustomerID: "c1", CustomerName: "Ida Lang", CustomerEmail: "ida@x.io", CustomerCompany: company}
			r.StatusSince = r.PlacedAt
			return st.InsertListRow(ctx, q, r)
		}
		tokens := func() (rows int, distinct []string) {
			t.Helper()
			got, err := db.QueryContext(ctx, `SELECT token FROM crm_customer_tokens WHERE customer_id = 'c1' ORDER BY token`)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			for got.Next() {
				var token string
				if err := got.Scan(&token); err != nil {
					t.Fatal(err)
				}
				rows++
				if !slices.Contains(distinct, token) {
					distinct = append(distinct, token)
				}
			}
			if err := got.Err(); err != nil {
				t.Fatal(err)
			}
			return rows, distinct
		}
		twice(t, db, "a transaction adding a customer's new tokens", func(ctx context.Context, q sqldb.Querier) error { return order(ctx, q, "Acme") })
		before, _ := tokens()
		if err := order(ctx, db, "Acme Tools"); err != nil {
			t.Fatal(err)
		}
		after, distinct := tokens()
		want := []string{"1", "2", "3", "acme", "fab", "fab1", "fab2", "fab3", "ida", "io", "lang", "tools", "x"}
		if !slices.Equal(distinct, want) || after-before != 3 {
			t.Errorf("tokens %v, %d rows added by the third order; want %v, 3 (3, fab3, tools)", distinct, after-before, want)
		}
	})
}

// TestKeptCustomersSeeNewCustomers: the customers PlanCustomers found for a
// search's words are kept (the next search runs no statement for them),
// through writes of tokens that no word is a prefix of, and are dropped
// when a customer may gain one: by this store's own write at once, by
// another replica's when its tokens arrive (ForgetCustomerTokens, the
// cache bus).
func TestKeptCustomersSeeNewCustomers(t *testing.T) {
	eachStore(t, func(t *testing.T, db *sqldb.DB, st *store.Store) {
		ctx := context.Background()
		row := func(id, customer, company string) store.ListRow {
			return store.ListRow{OrderID: id, Number: "N-" + id, Channel: "shop", Status: "placed", PlacedAt: time.Unix(1_700_000_000, 0),
				Currency: "EUR", CustomerID: customer, CustomerName: "Buyer " + customer, CustomerEmail: customer + "@example.com", CustomerCompany: company}
		}
		insertRows(t, st, db, []store.ListRow{row("a1", "ca", "Kestrel Systems 56"), row("b1", "cb", "Kestrel Tools 9")})
		var candidates int
		opt := store.Options{Selective: 0, WalkRows: 2, Intersect: 0, Customers: 1 << 20, CustomerWords: 1 << 20, CustomerRows: 1 << 20,
			Trace: func(s store.Statement) {
				if s.Plan == store.PlanCustomers {
					candidates++
				}
			}}
		v, _ := url.ParseQuery("q=kestrel+systems&limit=10")
		q, err := listquery.Parse(v)
		if err != nil {
			t.Fatal(err)
		}
		search := func(want ...string) {
			t.Helper()
			rows, ran, err := st.ListWith(ctx, db, q, opt)
			if err != nil || !slices.Equal(ran, []string{store.PlanCustomers}) {
				t.Fatalf("search: %v, %v", ran, err)
			}
			var got []string
			for _, r := range rows {
				got = append(got, r.OrderID)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("found %v, want %v", got, want)
			}
		}
		search("a1")
		search("a1")
		insertRows(t, st, db, []store.ListRow{row("e1", "ce", "Osprey Tools 9")}) // no token a word is a prefix of
		search("a1")
		if candidates != 1 {
			t.Fatalf("the customers were read %d times, want once", candidates)
		}
		insertRows(t, st, db, []store.ListRow{row("c1", "cc", "Kestrel Systems 7")}) // this store: at once
		search("a1", "c1")
		other := store.New(db) // another replica
		var w store.Writes
		w.InsertListRow(row("d1", "cd", "Kestrel Systems 8"))
		tokens := w.CustomerTokens()
		if err := db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error { return other.Write(ctx, tx, &w) }); err != nil {
			t.Fatal(err)
		}
		search("a1", "c1") // kept until the other's word arrives
		st.ForgetCustomerTokens(tokens)
		search("a1", "c1", "d1")
		if candidates != 3 {
			t.Fatalf("the customers were read %d times, want 3", candidates)
		}
	})
}
