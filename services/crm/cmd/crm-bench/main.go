// Command crm-bench measures the CRM's orders list on a database filled by
// crm-datagen: the server time (handler in process: identity check, query,
// JSON) of the first page of each single filter, of page 1,000 of the
// unfiltered list (reached by a seek on its cursor), and of searches; and, in
// the same run, the query a CRM sharing the shop's database would run (OFFSET
// pagination and COUNT(*) over orders joined to customers), as a ratio.
//
// Two load models, each with the page cache off (every request reads the
// database) and on (every request after the first is a hit):
//
//   - closed loop: -readers clients send -requests requests back to back.
//     Its throughput is the capacity (requests/s); its latency is mostly
//     queueing once the clients outnumber the cores (latency = clients /
//     throughput).
//
//   - fixed rate (open loop): the same clients share a schedule of R
//     requests/s, request i due at start + i/R; latency is measured from the
//     due time, so a request that starts late because every client was busy
//     counts its wait (no coordinated omission). R comes from -rate, or from
//     -sweep as percentages of the scenario's closed-loop capacity.
//
//     crm-bench -dsn 'postgres://postgres@127.0.0.1:5432/crm_bench2?sslmode=disable' -readers 32 -rate 250,500,1000
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fabrika/fabrika/platform/cputime"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/crm"
	"github.com/fabrika/fabrika/services/crm/internal/app"
	"github.com/fabrika/fabrika/services/crm/internal/listquery"
	"github.com/fabrika/fabrika/services/crm/internal/store"
	"github.com/fabrika/fabrika/services/crm/internal/web"
)

type config struct {
	dsn                     string
	readers, requests       int
	pool, concurrency       int
	single                  int
	naiveRequests, deepPage int
	naiveIndex, explain     bool
	settings                bool
	closed                  bool
	rates, sweep            []float64
	rateSeconds             float64
	cache                   string
	only                    *regexp.Regexp
	cpuProfile              string
	searches                []string
	rareTogether            int
}

func main() {
	var c config
	var rates, sweep, only, searches string
	flag.StringVar(&c.dsn, "dsn", os.Getenv("FABRIKA_DSN"), "CRM database filled by crm-datagen")
	flag.IntVar(&c.concurrency, "concurrency", 0, "requests the CRM serves at once, as its FABRIKA_CRM_CONCURRENCY (0: its default, twice the cores; -1: no limit)")
	flag.IntVar(&c.pool, "pool", 0, "database connections (0: the service's default, 10, or the DSN's fabrika_max_conns)")
	flag.IntVar(&c.readers, "readers", 32, "concurrent readers (closed loop) and clients sharing the schedule (fixed rate)")
	flag.IntVar(&c.requests, "requests", 1000, "requests per scenario in the closed loop")
	flag.IntVar(&c.single, "single", 200, "requests per scenario with one reader (its latency and the CPU per request)")
	flag.IntVar(&c.naiveRequests, "naive-requests", 64, "requests per naive scenario (0: skip the naive queries)")
	flag.IntVar(&c.deepPage, "page", 1000, "the deep page to measure (50 orders a page)")
	flag.BoolVar(&c.naiveIndex, "naive-index", true, "give the naive schema indexes on crm_orders (placed_at) and (status, placed_at)")
	flag.BoolVar(&c.explain, "explain", false, "print the query plans (EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL)")
	flag.BoolVar(&c.settings, "settings", true, "run with the CRM's PostgreSQL settings (crm.PostgresSettings, which the service sets on each connection)")
	flag.BoolVar(&c.closed, "closed", true, "run the closed loop")
	flag.StringVar(&rates, "rate", "", "fixed rates in requests/s, comma separated (e.g. 250,500,1000); overrides -sweep")
	flag.StringVar(&sweep, "sweep", "25,50,75", "fixed rates as percentages of each scenario's closed-loop capacity (needs -closed); empty: no fixed-rate run")
	flag.Float64Var(&c.rateSeconds, "rate-seconds", 2, "length of each fixed-rate run (at least 100 requests)")
	flag.StringVar(&c.cache, "cache", "both", "page cache: off (database path), on (hits) or both")
	flag.StringVar(&only, "only", "", "run only the scenarios whose name matches this regular expression")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured runs (not the naive queries) to this file")
	flag.IntVar(&c.rareTogether, "rare-together", 0, "more search scenarios: this many of the data's companies whose three words are each common and rare together, the costliest first (crm.RareTogether)")
	flag.StringVar(&searches, "search", "", "more search scenarios, comma separated (\"baltic industries 6,anna\"), each named \"search <words>\"")
	flag.Parse()
	var err error
	if c.rates, err = floats(rates); err == nil {
		c.sweep, err = floats(sweep)
	}
	if err == nil && only != "" {
		c.only, err = regexp.Compile(only)
	}
	for _, q := range strings.Split(searches, ",") {
		if q = strings.TrimSpace(q); q != "" {
			c.searches = append(c.searches, q)
		}
	}
	if err == nil && c.cache != "off" && c.cache != "on" && c.cache != "both" {
		err = fmt.Errorf("-cache must be off, on or both, not %q", c.cache)
	}
	if err == nil && (c.readers < 1 || c.requests < 1 || c.single < 1 || c.pool < 0) {
		err = fmt.Errorf("-readers, -requests and -single must be at least 1, -pool at least 0")
	}
	if err == nil && len(c.rates) == 0 && len(c.sweep) > 0 && !c.closed {
		err = fmt.Errorf("-sweep needs the closed loop's capacity: give -rate or keep -closed")
	}
	if err == nil {
		err = run(context.Background(), c)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "crm-bench:", err)
		os.Exit(1)
	}
}

func floats(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, v)
	}
	return out, nil
}

type result struct {
	name          string
	n             int
	p50, p99, max time.Duration
	perSecond     float64 // requests completed per second of the run
}

func stats(name string, d []time.Duration, elapsed time.Duration) result {
	slices.Sort(d)
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(float64(len(d))*p))] }
	return result{name: name, n: len(d), p50: q(0.50), p99: q(0.99), max: d[len(d)-1], perSecond: float64(len(d)) / elapsed.Seconds()}
}

// closedLoop runs fn n times over the readers, each starting its next
// request when its last one ends, and returns the durations.
func closedLoop(readers, n int, fn func() (time.Duration, error)) ([]time.Duration, time.Duration, error) {
	out := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	start := time.Now()
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				d, err := fn()
				if err != nil {
					once.Do(func() { firstErr = err })
				}
				out[i] = d
			}
		}()
	}
	wg.Wait()
	return out, time.Since(start), firstErr
}

// fixedRate runs n requests due at start + i/rate over the readers and
// returns each one's latency from its due time: a request that starts late
// because every reader was busy counts its wait.
func fixedRate(readers, n int, rate float64, fn func() (time.Duration, error)) ([]time.Duration, time.Duration, error) {
	out := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	start := time.Now().Add(time.Millisecond)
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
				if wait := time.Until(due); wait > 0 {
					time.Sleep(wait)
				}
				if _, err := fn(); err != nil {
					once.Do(func() { firstErr = err })
				}
				out[i] = time.Since(due)
			}
		}()
	}
	wg.Wait()
	return out, time.Since(start), firstErr
}

type scenario struct{ name, query string }

// measured is one scenario's figures with one cache setting.
type measured struct {
	closed, single result
	rates          []result // one per fixed rate, in order
	cpu            cpuCost  // CPU per request of the single reader
}

func run(ctx context.Context, c config) error {
	var opts []sqldb.Option
	if c.settings {
		opts = crm.DBOptions()
	}
	db, err := sqldb.Open(ctx, c.dsn, opts...)
	if err != nil {
		return err
	}
	defer db.Close()
	if c.pool > 0 {
		db.SetMaxOpenConns(c.pool)
		db.SetMaxIdleConns(c.pool)
	}
	var orders int64
	if err := db.QueryRowContext(ctx, `SELECT n FROM crm_counters WHERE name = 'all'`).Scan(&orders); err != nil {
		return fmt.Errorf("no CRM data (run crm-datagen): %w", err)
	}
	loadStart := loadavg()
	pub, priv, _ := identity.GenerateKey()
	signer := identity.NewSigner(priv)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The routes as the service serves them: through its admission line.
	uncached := crm.Admit(web.New(app.New(db, nil, app.Options{CacheSize: -1}), identity.NewVerifier("crm", pub), log), c.concurrency, 0)
	cached := crm.Admit(web.New(app.New(db, nil, app.Options{}), identity.NewVerifier("crm", pub), log), c.concurrency, 0)

	// The gateway signs a token per request; signing is the client's work,
	// so a token serves many requests here (it is verified on every one)
	// and is renewed well before it expires.
	tokens := &tokenSource{signer: signer}
	get := func(h http.Handler, path string) (time.Duration, []byte, error) {
		tok, err := tokens.token()
		if err != nil {
			return 0, nil, err
		}
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

	// Sample values that exist in the data, from crm-datagen's order in the
	// middle (o-00500000 of a million).
	middle := fmt.Sprintf("o-%08d", orders/2)
	var manager, customer, email, lastName, number, company string
	if err := db.QueryRowContext(ctx, `SELECT manager FROM crm_order_list WHERE manager <> '' LIMIT 1`).Scan(&manager); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, `SELECT id FROM crm_customers ORDER BY order_count DESC LIMIT 1`).Scan(&customer); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, `SELECT customer_email, customer_name, number FROM crm_order_list WHERE order_id >= $1 ORDER BY order_id LIMIT 1`, middle).Scan(&email, &lastName, &number); err != nil {
		return err
	}
	if err := db.QueryRowContext(ctx, `SELECT customer_company FROM crm_order_list WHERE order_id >= $1 AND customer_company <> '' ORDER BY order_id LIMIT 1`, middle).Scan(&company); err != nil {
		return err
	}
	lastName = lastName[strings.LastIndex(lastName, " ")+1:]
	emailPrefix := email[:strings.IndexByte(email, '@')]
	fullCompany := company
	if f := strings.Fields(company); len(f) > 2 {
		company = f[0] + " " + f[1] // "Acme Industries" of "Acme Industries 17": two common words, a rarer pair
	}
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
	}
	walk := time.Since(walkStart)

	all := []scenario{
		{"first page, no filter", ""},
		{"status=placed", "status=placed"},
		{"status=in_production", "status=in_production"},
		{"status=shipped", "status=shipped"},
		{"channel=shop", "channel=shop"},
		{"channel=api", "channel=api"},
		{"manager=" + manager, "manager=" + url.QueryEscape(manager)},
		{"customer (the heaviest)", "customer=" + url.QueryEscape(customer)},
		{"date range (last 30 days)", "from=" + from.Format(time.DateOnly) + "&to=" + to.Format(time.DateOnly)},
		{"sort=total", "sort=total"},
		{"sort=total&dir=asc", "sort=total&dir=asc"},
		{fmt.Sprintf("page %d, no filter", c.deepPage), "cursor=" + deep},
		{"search order number " + number, "q=" + url.QueryEscape(number)},
		{"search e-mail " + emailPrefix, "q=" + url.QueryEscape(emailPrefix)},
		{"search last name " + lastName, "q=" + url.QueryEscape(lastName)},
		{"search company " + company, "q=" + url.QueryEscape(company)},
		{"search company " + fullCompany, "q=" + url.QueryEscape(fullCompany)},
		{"search last name + status=shipped", "q=" + url.QueryEscape(lastName) + "&status=shipped"},
	}
	rare, err := crm.RareTogether(ctx, db, c.rareTogether)
	if err != nil {
		return err
	}
	for _, q := range rare {
		all = append(all, scenario{"search rare together " + q, "q=" + url.QueryEscape(q)})
	}
	for _, q := range c.searches {
		all = append(all, scenario{"search " + q, "q=" + url.QueryEscape(q)})
	}
	var scenarios []scenario
	for _, s := range all {
		if c.only == nil || c.only.MatchString(s.name) {
			scenarios = append(scenarios, s)
		}
	}
	if c.explain {
		if err := explain(ctx, db, scenarios); err != nil {
			return err
		}
	}
	// Warm up: every scenario once on every connection of the pool.
	for _, s := range scenarios {
		path := "/crm/api/v1/orders?" + s.query
		if _, _, err := closedLoop(c.readers, c.readers, func() (time.Duration, error) {
			d, _, err := get(uncached, path)
			return d, err
		}); err != nil {
			return err
		}
	}

	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	cpu := &cpuMeter{db: db}
	type mode struct {
		label string
		h     http.Handler
	}
	var modes []mode
	if c.cache != "on" {
		modes = append(modes, mode{"page cache off (every request reads the database)", uncached})
	}
	if c.cache != "off" {
		modes = append(modes, mode{"page cache on (hits: the page was read once before)", cached})
	}
	figures := make([][]measured, len(modes))
	for mi, m := range modes {
		figures[mi] = make([]measured, len(scenarios))
		for si, s := range scenarios {
			path := "/crm/api/v1/orders?" + s.query
			req := func() (time.Duration, error) {
				d, _, err := get(m.h, path)
				return d, err
			}
			if _, err := req(); err != nil { // fills the cache when it is on
				return err
			}
			f := &figures[mi][si]
			var capacity float64
			if c.closed {
				d, el, err := closedLoop(c.readers, c.requests, req)
				if err != nil {
					return err
				}
				f.closed = stats(s.name, d, el)
				capacity = f.closed.perSecond
				before, err := cpu.read(ctx)
				if err != nil {
					return err
				}
				d, el, err = closedLoop(1, c.single, req)
				if err != nil {
					return err
				}
				f.single = stats(s.name, d, el)
				after, err := cpu.read(ctx)
				if err != nil {
					return err
				}
				f.cpu = after.sub(before, len(d))
			}
			for _, rate := range ratesFor(c, capacity) {
				n := max(100, int(rate*c.rateSeconds))
				d, el, err := fixedRate(c.readers, n, rate, req)
				if err != nil {
					return err
				}
				r := stats(s.name, d, el)
				r.name = strconv.Itoa(int(rate + 0.5))
				f.rates = append(f.rates, r)
			}
		}
	}
	if c.cpuProfile != "" {
		pprof.StopCPUProfile()
	}

	ratios, err := naive(ctx, c, db, lastName, scenarios, figures, len(modes) > 0 && strings.HasPrefix(modes[0].label, "page cache off"))
	if err != nil {
		return err
	}

	loadEnd := loadavg()
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }
	fmt.Printf("CRM orders list: %d orders, %d readers, server time in process (identity check, query, JSON)\n", orders, c.readers)
	fmt.Printf("load average (1 min) at start %s, at end %s; walking %d pages of cursors once took %s\n", loadStart, loadEnd, c.deepPage-1, walk.Round(time.Millisecond))
	for mi, m := range modes {
		fmt.Printf("\n### %s\n", m.label)
		if c.closed {
			fmt.Printf("\nClosed loop: %d readers back to back, %d requests per scenario; then 1 reader, %d requests, and the CPU time it took per request in this process (handler and client) and in PostgreSQL.\n\n", c.readers, c.requests, c.single)
			fmt.Println("| scenario | req/s | p50 ms | p99 ms | max ms | 1 reader p50 ms | 1 reader p99 ms | CPU ms/req: bench / PostgreSQL |")
			fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|")
			worst := time.Duration(0)
			for _, f := range figures[mi] {
				r := f.closed
				fmt.Printf("| %s | %.0f | %s | %s | %s | %s | %s | %s |\n", r.name, r.perSecond, ms(r.p50), ms(r.p99), ms(r.max), ms(f.single.p50), ms(f.single.p99), f.cpu)
				worst = max(worst, r.p99)
			}
			fmt.Printf("\nworst closed-loop p99: %s ms\n", ms(worst))
		}
		if len(figures[mi]) > 0 && len(figures[mi][0].rates) > 0 {
			fmt.Printf("\nFixed rate: %d clients share a schedule of R requests/s for %.0f s (at least 100 requests); latency from each request's due time, p50 / p99 ms (achieved req/s).\n\n", c.readers, c.rateSeconds)
			head, line := "| scenario |", "|---|"
			for i, r := range figures[mi][0].rates {
				if len(c.rates) > 0 {
					head += " " + r.name + "/s |"
				} else {
					head += fmt.Sprintf(" %.0f%% of capacity |", c.sweep[i])
				}
				line += "---:|"
			}
			fmt.Println(head)
			fmt.Println(line)
			for si, f := range figures[mi] {
				row := "| " + scenarios[si].name + " |"
				for _, r := range f.rates {
					if len(c.rates) > 0 {
						row += fmt.Sprintf(" %s / %s (%.0f) |", ms(r.p50), ms(r.p99), r.perSecond)
					} else {
						row += fmt.Sprintf(" %s / %s at %s/s |", ms(r.p50), ms(r.p99), r.name)
					}
				}
				fmt.Println(row)
			}
		}
	}
	if len(ratios) > 0 {
		fmt.Printf("\nNaive shared-database query (list with OFFSET + COUNT(*) over orders JOIN customers), %d requests each over %d readers, against the read model's closed-loop p99 (page cache off):\n\n", c.naiveRequests, c.readers)
		fmt.Println("| scenario | naive p50 ms | naive p99 ms | read model p99 ms | ratio (p99) |")
		fmt.Println("|---|---:|---:|---:|---:|")
		for _, r := range ratios {
			fmt.Printf("| %s | %s | %s | %s | %.0fx |\n", r.r.name, ms(r.r.p50), ms(r.r.p99), ms(r.ours.p99), r.ratio)
		}
	}
	return nil
}

// ratesFor returns the fixed rates of a scenario: -rate, or -sweep applied
// to its closed-loop capacity.
func ratesFor(c config, capacity float64) []float64 {
	if len(c.rates) > 0 {
		return c.rates
	}
	if capacity == 0 {
		return nil
	}
	out := make([]float64, len(c.sweep))
	for i, p := range c.sweep {
		out[i] = max(1, capacity*p/100)
	}
	return out
}

// explain prints each scenario's plan with its buffers (PostgreSQL) or its
// query plan (SQLite). On PostgreSQL each statement is prepared and
// explained as EXPLAIN EXECUTE on one connection with the pool's settings,
// so the plan shown is the one the service runs (plan_cache_mode =
// force_generic_plan: a generic plan, chosen without the values); an
// EXPLAIN with parameters would show a plan made for the values.
func explain(ctx context.Context, db *sqldb.DB, scenarios []scenario) error {
	for _, s := range scenarios {
		v, _ := url.ParseQuery(s.query)
		q, err := listquery.Parse(v)
		if err != nil {
			return err
		}
		plan, err := store.New(db).Plan(ctx, db, q)
		if err != nil {
			return err
		}
		fmt.Println("==", s.name)
		for _, st := range plan {
			fmt.Println("-- plan:", st.Plan)
			if err := printPlan(ctx, db, st.SQL, st.Args); err != nil {
				return err
			}
		}
	}
	return nil
}

func printPlan(ctx context.Context, db *sqldb.DB, query string, args []any) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var steps []string
	var cols []any
	if db.Engine() == sqldb.SQLite {
		steps, cols = []string{"EXPLAIN QUERY PLAN " + query}, args
	} else {
		lits := make([]string, len(args))
		for i, a := range args {
			switch a := a.(type) {
			case nil:
				lits[i] = "NULL"
			case string:
				lits[i] = "'" + strings.ReplaceAll(a, "'", "''") + "'"
			default:
				lits[i] = fmt.Sprint(a)
			}
		}
		exec := "EXPLAIN (ANALYZE, BUFFERS) EXECUTE crm_bench_plan"
		if len(lits) > 0 {
			exec += "(" + strings.Join(lits, ", ") + ")"
		}
		steps = []string{"PREPARE crm_bench_plan AS " + query, exec}
		defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), "DEALLOCATE crm_bench_plan") }()
	}
	for i, step := range steps {
		if i < len(steps)-1 {
			if _, err := conn.ExecContext(ctx, step); err != nil {
				return fmt.Errorf("%s: %w", step, err)
			}
			continue
		}
		rows, err := conn.QueryContext(ctx, step, cols...)
		if err != nil {
			return fmt.Errorf("%s: %w", step, err)
		}
		defer rows.Close()
		names, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(names))
			ptrs := make([]any, len(names))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			fmt.Println(fmt.Sprint(vals[len(vals)-1]))
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

type ratio struct {
	r, ours result
	ratio   float64
}

// naive measures the queries of a CRM that reads the shop's tables: the page
// with OFFSET and COUNT(*) over orders joined to customers.
func naive(ctx context.Context, c config, db *sqldb.DB, lastName string, scenarios []scenario, figures [][]measured, uncachedFirst bool) ([]ratio, error) {
	if c.naiveRequests <= 0 || !c.closed || !uncachedFirst {
		return nil, nil
	}
	if c.naiveIndex && db.Engine() == sqldb.Postgres {
		for _, ddl := range []string{`CREATE INDEX IF NOT EXISTS bench_naive_orders_placed ON crm_orders (placed_at)`,
			`CREATE INDEX IF NOT EXISTS bench_naive_orders_status ON crm_orders (status, placed_at)`} {
			if _, err := db.ExecContext(ctx, ddl); err != nil {
				return nil, err
			}
		}
	}
	const naiveSelect = `SELECT o.id, o.number, o.channel, o.status, o.placed_at, o.total, o.currency, o.manager, c.id, c.name, c.email, c.company
		FROM crm_orders o JOIN crm_customers c ON c.id = o.customer_id`
	const naiveCount = `SELECT COUNT(*) FROM crm_orders o JOIN crm_customers c ON c.id = o.customer_id`
	like := "%" + strings.ToLower(lastName) + "%"
	deep := fmt.Sprintf("page %d, no filter", c.deepPage)
	cases := []struct {
		name, where string
		args        []any
		offset      int
		ours        string
	}{
		{"first page, no filter", "", nil, 0, "first page, no filter"},
		{"status=in_production", " WHERE o.status = $1", []any{"in_production"}, 0, "status=in_production"},
		{deep, "", nil, (c.deepPage - 1) * 50, deep},
		{"search last name " + lastName, " WHERE lower(c.name) LIKE $1 OR lower(c.email) LIKE $1 OR lower(c.company) LIKE $1 OR lower(o.number) LIKE $1",
			[]any{like}, 0, "search last name " + lastName},
	}
	var out []ratio
	for _, n := range cases {
		var ours result
		found := false
		for si, s := range scenarios {
			if s.name == n.ours {
				ours, found = figures[0][si].closed, true
			}
		}
		if !found {
			continue
		}
		listSQL := naiveSelect + n.where + fmt.Sprintf(" ORDER BY o.placed_at DESC, o.id DESC LIMIT 50 OFFSET %d", n.offset)
		countSQL := naiveCount + n.where
		if c.explain && db.Engine() == sqldb.Postgres {
			fmt.Println("== naive", n.name)
			for _, s := range []string{listSQL, countSQL} {
				if err := printPlan(ctx, db, s, n.args); err != nil {
					return nil, err
				}
			}
		}
		d, el, err := closedLoop(c.readers, c.naiveRequests, func() (time.Duration, error) {
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
			return nil, err
		}
		r := stats(n.name, d, el)
		out = append(out, ratio{r: r, ours: ours, ratio: float64(r.p99) / float64(ours.p99)})
	}
	return out, nil
}

// cpuMeter reads the CPU time used by this process and by the PostgreSQL
// backends connected to the benchmark's database (from /proc: PostgreSQL
// must run on this machine, and nothing else use the database).
type cpuMeter struct {
	db *sqldb.DB
}

type cpuSample struct {
	self, pg time.Duration
	pgOK     bool
}

// cpuCost is the CPU time per request, "" when unknown.
type cpuCost struct {
	self, pg time.Duration
	pgOK, ok bool
}

func (c cpuCost) String() string {
	if !c.ok {
		return ""
	}
	pg := "-"
	if c.pgOK {
		pg = fmt.Sprintf("%.3f", float64(c.pg.Microseconds())/1000)
	}
	return fmt.Sprintf("%.3f / %s", float64(c.self.Microseconds())/1000, pg)
}

func (s cpuSample) sub(before cpuSample, n int) cpuCost {
	return cpuCost{self: (s.self - before.self) / time.Duration(n), pg: (s.pg - before.pg) / time.Duration(n), pgOK: s.pgOK && before.pgOK, ok: true}
}

func (m *cpuMeter) read(ctx context.Context) (cpuSample, error) {
	var out cpuSample
	out.self = cputime.Process()
	if m.db.Engine() != sqldb.Postgres {
		return out, nil
	}
	rows, err := m.db.QueryContext(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	out.pgOK = true
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			return out, err
		}
		t, err := cputime.OfProcess(pid)
		if err != nil {
			out.pgOK = false
			continue
		}
		out.pg += t
	}
	return out, rows.Err()
}

// tokenSource hands out a staff token for each request, as the gateway
// does (a service accepts a staff token once).
type tokenSource struct {
	signer *identity.Signer
}

func (t *tokenSource) token() (string, error) {
	return t.signer.Sign("crm", identity.Identity{Subject: "bench", Name: "bench", Role: identity.RoleManager}, time.Now())
}

// loadavg is the machine's 1-minute load average, to read the figures by.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(b))[0]
}
