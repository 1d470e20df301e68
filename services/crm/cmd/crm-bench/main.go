// Command crm-bench measures the CRM's orders list on a database filled by
// crm-datagen: the server time (handler in process: identity check, query,
// JSON) of the first page of each single filter, of page 1,000 of the
// unfiltered list (reached by a seek on its cursor), and of searches, with
// many concurrent readers and the page cache off; and, in the same run, the
// query a CRM sharing the shop's database would run (OFFSET pagination and
// COUNT(*) over orders joined to customers), as a ratio.
//
//	crm-bench -dsn postgres://postgres@127.0.0.1:5432/crm_bench?sslmode=disable -readers 32
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"encoding/json"

	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/crm/internal/app"
	"github.com/fabrika/fabrika/services/crm/internal/listquery"
	"github.com/fabrika/fabrika/services/crm/internal/store"
	"github.com/fabrika/fabrika/services/crm/internal/web"
)

type config struct {
	dsn                     string
	readers, requests       int
	naiveRequests, deepPage int
	naiveIndex, explain     bool
	serialPlans             bool
}

func main() {
	var c config
	flag.StringVar(&c.dsn, "dsn", os.Getenv("FABRIKA_DSN"), "CRM database filled by crm-datagen")
	flag.IntVar(&c.readers, "readers", 32, "concurrent readers")
	flag.IntVar(&c.requests, "requests", 1000, "requests per scenario")
	flag.IntVar(&c.naiveRequests, "naive-requests", 64, "requests per naive scenario")
	flag.IntVar(&c.deepPage, "page", 1000, "the deep page to measure (50 orders a page)")
	flag.BoolVar(&c.naiveIndex, "naive-index", true, "give the naive schema indexes on crm_orders (placed_at) and (status, placed_at)")
	flag.BoolVar(&c.explain, "explain", false, "print the query plans")
	flag.BoolVar(&c.serialPlans, "serial-plans", true, "add max_parallel_workers_per_gather=0 to a PostgreSQL DSN (the setting recommended for the CRM: parallel plans only add work under many concurrent short queries)")
	flag.Parse()
	if err := run(context.Background(), c); err != nil {
		fmt.Fprintln(os.Stderr, "crm-bench:", err)
		os.Exit(1)
	}
}

type result struct {
	name          string
	n             int
	p50, p99, max time.Duration
}

func stats(name string, d []time.Duration) result {
	slices.Sort(d)
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(float64(len(d))*p))] }
	return result{name: name, n: len(d), p50: q(0.50), p99: q(0.99), max: d[len(d)-1]}
}

// measure runs fn n times over the readers and returns the durations.
func measure(readers, n int, fn func(i int) (time.Duration, error)) ([]time.Duration, error) {
	out := make([]time.Duration, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	next := make(chan int)
	go func() {
		for i := range n {
			next <- i
		}
		close(next)
	}()
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				d, err := fn(i)
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
				out[i] = d
			}
		}()
	}
	wg.Wait()
	return out, firstErr
}

func run(ctx context.Context, c config) error {
	dsn := c.dsn
	if c.serialPlans && strings.HasPrefix(dsn, "postgres") {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		dsn += sep + "max_parallel_workers_per_gather=0"
	}
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(c.readers)
	db.SetMaxIdleConns(c.readers)
	var orders int64
	if err := db.QueryRowContext(ctx, `SELECT n FROM crm_counters WHERE name = 'all'`).Scan(&orders); err != nil {
		return fmt.Errorf("no CRM data (run crm-datagen): %w", err)
	}
	loadStart := loadavg()
	pub, priv, _ := identity.GenerateKey()
	signer := identity.NewSigner(priv)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	uncached := web.New(app.New(db, nil, app.Options{CacheSize: -1}), identity.NewVerifier(pub), log)
	cached := web.New(app.New(db, nil, app.Options{}), identity.NewVerifier(pub), log)

	get := func(h http.Handler, path string) (time.Duration, []byte, error) {
		tok, _ := signer.Sign(identity.Identity{Subject: "bench", Name: "bench", Role: identity.RoleManager}, time.Now())
		req := httptest.NewRequest("GET", path, nil).WithContext(ctx)
		req.Header.Set(identity.Header, tok)
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, req)
		d := time.Since(start)
		if rec.Code != 200 {
			return d, nil, fmt.Errorf("%s: %d %s", path, rec.Code, rec.Body.String())
		}
		return d, rec.Body.Bytes(), nil
	}

	// Sample values that exist in the data.
	var manager, customer, email, lastName, number string
	if err := db.QueryRowContext(ctx, `SELECT manager FROM crm_order_list WHERE manager <> '' LIMIT 1`).Scan(&manager); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, `SELECT id FROM crm_customers ORDER BY order_count DESC LIMIT 1`).Scan(&customer); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, `SELECT customer_email, customer_name, number FROM crm_order_list WHERE order_id >= 'o-00500000' ORDER BY order_id LIMIT 1`).Scan(&email, &lastName, &number); err != nil {
		return err
	}
	lastName = lastName[strings.LastIndex(lastName, " ")+1:]
	emailPrefix := email[:strings.IndexByte(email, '@')]
	to := time.Now().UTC()
	from := to.AddDate(0, 0, -30)

	// The deep page: walk the cursors once (not measured).
	deep := ""
	walkStart := time.Now()
	for p := 1; p < c.deepPage; p++ {
		_, body, err := get(uncached, "/crm/api/v1/orders?"+url.Values{"cursor": {deep}}.Encode())
		if err != nil {
			return err
		}
		var page struct {
			Next string `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return err
		}
		deep = page.Next
		if p == 1 {
			deep = page.Next
		}
	}
	walk := time.Since(walkStart)

	scenarios := []struct{ name, query string }{
		{"first page, no filter", ""},
		{"status=placed", "status=placed"},
		{"status=in_production", "status=in_production"},
		{"status=shipped", "status=shipped"},
		{"channel=api", "channel=api"},
		{"manager=" + manager, "manager=" + url.QueryEscape(manager)},
		{"customer (the heaviest)", "customer=" + url.QueryEscape(customer)},
		{"date range (last 30 days)", "from=" + from.Format(time.DateOnly) + "&to=" + to.Format(time.DateOnly)},
		{"sort=total", "sort=total"},
		{"sort=total&dir=asc", "sort=total&dir=asc"},
		{fmt.Sprintf("page %d, no filter", c.deepPage), "cursor=" + deep},
		{"search e-mail " + emailPrefix, "q=" + url.QueryEscape(emailPrefix)},
		{"search last name " + lastName, "q=" + url.QueryEscape(lastName)},
		{"search order number " + number, "q=" + url.QueryEscape(number)},
		{"search name + status", "q=" + url.QueryEscape(lastName) + "&status=shipped"},
	}
	if c.explain {
		for _, s := range scenarios {
			v, _ := url.ParseQuery(s.query)
			q, err := listquery.Parse(v)
			if err != nil {
				return err
			}
			drive, err := store.DrivingWord(ctx, db, q.Words)
			if err != nil {
				return err
			}
			sqlText, args := store.ListSQL(q, drive)
			rows, err := db.QueryContext(ctx, "EXPLAIN ANALYZE "+sqlText, args...)
			if err != nil {
				return err
			}
			fmt.Println("==", s.name)
			for rows.Next() {
				var line string
				_ = rows.Scan(&line)
				fmt.Println(line)
			}
			rows.Close()
		}
	}
	// Warm up: every scenario once on every connection of the pool.
	for _, s := range scenarios {
		path := "/crm/api/v1/orders?" + s.query
		if _, err := measure(c.readers, c.readers, func(int) (time.Duration, error) {
			d, _, err := get(uncached, path)
			return d, err
		}); err != nil {
			return err
		}
	}
	var results, single []result
	for _, s := range scenarios {
		path := "/crm/api/v1/orders?" + s.query
		d, err := measure(c.readers, c.requests, func(int) (time.Duration, error) {
			d, _, err := get(uncached, path)
			return d, err
		})
		if err != nil {
			return err
		}
		results = append(results, stats(s.name, d))
		d, err = measure(1, max(20, c.requests/10), func(int) (time.Duration, error) {
			d, _, err := get(uncached, path)
			return d, err
		})
		if err != nil {
			return err
		}
		single = append(single, stats(s.name, d))
	}
	d, err := measure(c.readers, c.requests, func(int) (time.Duration, error) {
		d, _, err := get(cached, "/crm/api/v1/orders?status=priced")
		return d, err
	})
	if err != nil {
		return err
	}
	cachedRes := stats("status=priced, page cache on", d)

	// The naive shared-database CRM.
	if c.naiveIndex {
		for _, ddl := range []string{`CREATE INDEX IF NOT EXISTS bench_naive_orders_placed ON crm_orders (placed_at)`,
			`CREATE INDEX IF NOT EXISTS bench_naive_orders_status ON crm_orders (status, placed_at)`} {
			if _, err := db.ExecContext(ctx, ddl); err != nil {
				return err
			}
		}
	}
	const naiveSelect = `SELECT o.id, o.number, o.channel, o.status, o.placed_at, o.total, o.currency, o.manager, c.id, c.name, c.email, c.company
		FROM crm_orders o JOIN crm_customers c ON c.id = o.customer_id`
	const naiveCount = `SELECT COUNT(*) FROM crm_orders o JOIN crm_customers c ON c.id = o.customer_id`
	like := "%" + strings.ToLower(lastName) + "%"
	naive := []struct {
		name, where string
		args        []any
		offset      int
		ours        string
	}{
		{"first page, no filter", "", nil, 0, "first page, no filter"},
		{"status=in_production", " WHERE o.status = $1", []any{"in_production"}, 0, "status=in_production"},
		{fmt.Sprintf("page %d, no filter", c.deepPage), "", nil, (c.deepPage - 1) * 50, fmt.Sprintf("page %d, no filter", c.deepPage)},
		{"search last name " + lastName, " WHERE lower(c.name) LIKE $1 OR lower(c.email) LIKE $1 OR lower(c.company) LIKE $1 OR lower(o.number) LIKE $1",
			[]any{like}, 0, "search last name " + lastName},
	}
	type ratio struct {
		r     result
		ours  result
		ratio float64
	}
	var ratios []ratio
	for _, n := range naive {
		listSQL := naiveSelect + n.where + fmt.Sprintf(" ORDER BY o.placed_at DESC, o.id DESC LIMIT 50 OFFSET %d", n.offset)
		countSQL := naiveCount + n.where
		if c.explain {
			for _, s := range []string{listSQL, countSQL} {
				rows, err := db.QueryContext(ctx, "EXPLAIN ANALYZE "+s, n.args...)
				if err != nil {
					return err
				}
				fmt.Println("== naive", n.name)
				for rows.Next() {
					var line string
					_ = rows.Scan(&line)
					fmt.Println(line)
				}
				rows.Close()
			}
		}
		d, err := measure(c.readers, c.naiveRequests, func(int) (time.Duration, error) {
			start := time.Now()
			rows, err := db.QueryContext(ctx, listSQL, n.args...)
			if err != nil {
				return 0, err
			}
			for rows.Next() {
			}
			rows.Close()
			var total int64
			if err := db.QueryRowContext(ctx, countSQL, n.args...).Scan(&total); err != nil {
				return 0, err
			}
			return time.Since(start), rows.Err()
		})
		if err != nil {
			return err
		}
		r := stats(n.name, d)
		var ours result
		for _, x := range results {
			if x.name == n.ours {
				ours = x
			}
		}
		ratios = append(ratios, ratio{r: r, ours: ours, ratio: float64(r.p99) / float64(ours.p99)})
	}

	loadEnd := loadavg()
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }
	fmt.Printf("CRM orders list: %d orders, %d readers, %d requests per scenario, page cache off (server time in process)\n", orders, c.readers, c.requests)
	fmt.Printf("load average (1 min) at start %s, at end %s\n\n", loadStart, loadEnd)
	fmt.Printf("| scenario | p50 ms | p99 ms | max ms | 1 reader p50 ms | 1 reader p99 ms |\n")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	worst := time.Duration(0)
	for i, r := range results {
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", r.name, ms(r.p50), ms(r.p99), ms(r.max), ms(single[i].p50), ms(single[i].p99))
		worst = max(worst, r.p99)
	}
	fmt.Printf("| %s | %s | %s | %s | | |\n", cachedRes.name, ms(cachedRes.p50), ms(cachedRes.p99), ms(cachedRes.max))
	fmt.Printf("\nworst p99: %s ms (target < 20 ms); walking %d pages of cursors once took %s\n\n", ms(worst), c.deepPage-1, walk.Round(time.Millisecond))
	fmt.Printf("Naive shared-database query (list with OFFSET + COUNT(*) over orders JOIN customers), %d requests each:\n\n", c.naiveRequests)
	fmt.Println("| scenario | naive p50 ms | naive p99 ms | read model p99 ms | ratio (p99) |")
	fmt.Println("|---|---:|---:|---:|---:|")
	for _, r := range ratios {
		fmt.Printf("| %s | %s | %s | %s | %.0fx |\n", r.r.name, ms(r.r.p50), ms(r.r.p99), ms(r.ours.p99), r.ratio)
	}
	return nil
}

// loadavg is the machine's 1-minute load average, to read the figures by.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(b))[0]
}
