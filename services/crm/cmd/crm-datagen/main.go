// Command crm-datagen fills a CRM database with customers and orders for
// benchmarks and demos, through the CRM's own tables (orders, lines, the
// orders list read model, search tokens, counters, timeline):
//
//	crm-datagen -dsn postgres://postgres@127.0.0.1:5432/crm_bench?sslmode=disable -customers 100000 -orders 1000000 -seed 1
//
// Distributions: orders per customer Zipf-like (a few customers order a
// lot), 80% shop / 20% API, placed over the last two years, older orders
// mostly shipped, totals log-normal around 250 EUR, a dozen managers. Rows
// are written with multi-row INSERTs by a few concurrent workers. The same
// seed gives the same data.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/crm/internal/listquery"
	"github.com/fabrika/fabrika/services/crm/migrations"
)

func main() {
	var c config
	flag.StringVar(&c.dsn, "dsn", os.Getenv("FABRIKA_DSN"), "CRM database DSN (postgres://... or a SQLite path)")
	flag.IntVar(&c.customers, "customers", 100_000, "number of customers")
	flag.IntVar(&c.orders, "orders", 1_000_000, "number of orders")
	flag.Uint64Var(&c.seed, "seed", 1, "random seed")
	flag.IntVar(&c.workers, "workers", 4, "concurrent writers")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "crm-datagen:", err)
		os.Exit(1)
	}
}

type config struct {
	dsn               string
	customers, orders int
	seed              uint64
	workers           int
}

var (
	firstNames = strings.Fields("Anna Ben Clara David Emma Felix Greta Hugo Ida Jonas Klara Leon Mia Noah Olivia Paul Quinn Rosa Sam Tara Uwe Vera Will Xenia Yusuf Zoe Amir Bianca Carlos Dana Elif Finn Gina Hans Ines Jan Kim Lena Marco Nina Oskar Pia Rafael Sofia Tom Ulla Viktor Wanda")
	lastNames  = strings.Fields("Smith Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch Richter Klein Wolf Schröder Neumann Schwarz Braun Zimmermann Krüger Hartmann Lange Werner Krause Lehmann Köhler Maier Huber Kaiser Fuchs Peters Lang Scholz Möller Weiß Jung Hahn Vogel Friedrich Keller Günther Frank Berger Winkler Roth Beck Lorenz Baumann Franke Albrecht Schuster Simon Ludwig Böhm Winter Kraus Martin Schumacher Krämer Vogt Stein Jäger Otto Sommer Groß Seidel Heinrich Brandt Haas Schreiber Graf Schulte Dietrich Ziegler Kuhn Kühn Pohl Engel Horn Busch Bergmann Thomas Voigt Sauer Arnold Wolff Pfeiffer")
	companyA   = strings.Fields("Acme Nordic Alpine Rhein Baltic Vector Orbit Delta Falcon Granite Helix Iron Juniper Kestrel Lumen Meridian Nova Pioneer Quantum Summit Titan Unity Vertex Zenith")
	companyB   = strings.Fields("Industries Metalworks Engineering Robotics Systems Fabrication Automotive Aerospace Tools Machines Dynamics Solutions")
	domains    = strings.Fields("example.com mail.test post.example web.test inbox.example")
	managers   = strings.Fields("mia.keller jonas.weber lena.fischer paul.braun sofia.wolf tom.richter ida.lang noah.berger klara.roth finn.haas zoe.arnold amir.vogt")
	products   = strings.Fields("plate bracket flange panel gasket")
)

type customer struct {
	id, name, email, company, phone string
	orders, spent                   int64
}

func makeCustomer(seed uint64, i int) customer {
	r := rand.New(rand.NewPCG(seed, uint64(i)<<1|1))
	f, l := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
	c := customer{id: fmt.Sprintf("cust-%07d", i), name: f + " " + l, phone: fmt.Sprintf("+49 30 %07d", r.IntN(10_000_000))}
	c.email = strings.ToLower(fmt.Sprintf("%s.%s%d@%s", f, asciiFold(l), i, domains[r.IntN(len(domains))]))
	if r.IntN(5) == 0 {
		c.company = companyA[r.IntN(len(companyA))] + " " + companyB[r.IntN(len(companyB))] + " " + strconv.Itoa(i%97)
	}
	return c
}

func asciiFold(s string) string {
	return strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "ß", "ss", "Ä", "Ae", "Ö", "Oe", "Ü", "Ue").Replace(s)
}

type genOrder struct {
	id, number, channel, status, heldFrom, manager, currency, routing string
	customer                                                          int
	placedAt, statusSince                                             time.Time
	total, quoted, counted                                            int64
	lines                                                             int
}

// makeOrder builds order i deterministically; orders are spread over two
// years in number order.
func makeOrder(c config, i int, now time.Time, zipf func(r *rand.Rand) int) genOrder {
	r := rand.New(rand.NewPCG(c.seed, uint64(i)<<1))
	span := 730 * 24 * time.Hour
	start := now.Add(-span)
	placed := start.Add(time.Duration(float64(span) * (float64(i) + r.Float64()) / float64(c.orders))).Truncate(time.Microsecond)
	o := genOrder{id: fmt.Sprintf("o-%08d-%04x", i, r.IntN(1<<16)), number: fmt.Sprintf("FAB-%d-%07d", placed.Year(), i+1),
		customer: zipf(r), placedAt: placed, currency: "EUR", lines: 1 + r.IntN(2)}
	o.channel = contracts.ChannelShop
	if r.IntN(5) == 0 {
		o.channel = contracts.ChannelAPI
	}
	total := int64(math.Exp(r.NormFloat64()*1.0 + math.Log(25000)))
	o.quoted, o.total = max(total, 500), max(total, 500)
	age := now.Sub(placed)
	o.status = pickStatus(r, age)
	if o.status != contracts.StatusPlaced && o.status != contracts.StatusNeedsReview {
		o.total = o.quoted + o.quoted*int64(r.IntN(11)-5)/100
		o.routing = `[{"line_no":1,"seq":1,"operation":"cut","workstation":"LASER1","planned_minutes":12}]`
	}
	if o.status != contracts.StatusCancelled {
		o.counted = o.total
	}
	if o.status == contracts.StatusOnHold {
		o.heldFrom = contracts.StatusConfirmed
	}
	if o.status != contracts.StatusPlaced && r.IntN(10) < 7 {
		o.manager = managers[r.IntN(len(managers))]
	}
	maxIn := min(age, 20*24*time.Hour)
	o.statusSince = placed.Add(time.Duration(r.Float64() * float64(maxIn))).Truncate(time.Microsecond)
	if o.status == contracts.StatusPlaced {
		o.statusSince = placed
	}
	return o
}

func pickStatus(r *rand.Rand, age time.Duration) string {
	p := r.IntN(100)
	if age > 30*24*time.Hour {
		switch {
		case p < 86:
			return contracts.StatusShipped
		case p < 96:
			return contracts.StatusCancelled
		case p < 98:
			return contracts.StatusProduced
		default:
			return contracts.StatusOnHold
		}
	}
	switch {
	case p < 8:
		return contracts.StatusPlaced
	case p < 11:
		return contracts.StatusNeedsReview
	case p < 25:
		return contracts.StatusPriced
	case p < 40:
		return contracts.StatusConfirmed
	case p < 43:
		return contracts.StatusOnHold
	case p < 63:
		return contracts.StatusInProduction
	case p < 73:
		return contracts.StatusProduced
	case p < 93:
		return contracts.StatusShipped
	default:
		return contracts.StatusCancelled
	}
}

func run(ctx context.Context, c config) error {
	if c.dsn == "" || c.customers < 1 || c.orders < 1 || c.workers < 1 {
		return errors.New("-dsn, positive -customers, -orders and -workers are required")
	}
	db, err := sqldb.Open(ctx, c.dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx, migrations.FS); err != nil {
		return err
	}
	var existing int64
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM crm_orders`).Scan(&existing); err != nil {
		return err
	}
	if existing > 0 {
		return fmt.Errorf("the database holds %d orders already; use an empty one", existing)
	}
	var indexes []string
	if db.Engine() == sqldb.Postgres {
		if indexes, err = dropIndexes(ctx, db); err != nil {
			return err
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	// A permutation makes the heavy customers random ones; s and v flatten
	// the Zipf curve so that the top customer has some hundred orders.
	perm := rand.New(rand.NewPCG(c.seed, 7)).Perm(c.customers)
	zipf := func(r *rand.Rand) int {
		z := rand.NewZipf(r, 1.3, 40, uint64(c.customers-1))
		return perm[z.Uint64()]
	}
	start := time.Now()

	// Pass 1: what each customer will have ordered (orders and total spent).
	custs := make([]customer, c.customers)
	for i := range custs {
		custs[i] = makeCustomer(c.seed, i)
	}
	for i := range c.orders {
		o := makeOrder(c, i, now, zipf)
		custs[o.customer].orders++
		custs[o.customer].spent += o.counted
	}
	batch := 1000
	if db.Engine() == sqldb.SQLite {
		batch = 200
	}
	var rows [][]any
	for i, cu := range custs {
		kind := "person"
		if cu.company != "" {
			kind = "company"
		}
		created := sqldb.Micros(now.Add(-731 * 24 * time.Hour))
		rows = append(rows, []any{cu.id, kind, cu.name, cu.email, cu.company, cu.phone, cu.orders, cu.spent, "EUR", created, created})
		if len(rows) == batch || i == len(custs)-1 {
			if err := insert(ctx, db, nil, "crm_customers", "id, kind, name, email, company, phone, order_count, total_spent, currency, created_at, updated_at", rows); err != nil {
				return err
			}
			rows = rows[:0]
		}
	}
	fmt.Printf("%d customers in %s\n", c.customers, time.Since(start).Round(time.Millisecond))

	// Pass 2: the orders, by concurrent workers over ranges of numbers.
	counters := map[string]int64{}
	var mu sync.Mutex
	var done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, c.workers)
	chunks := make(chan int, c.workers)
	go func() {
		defer close(chunks)
		for lo := 0; lo < c.orders; lo += batch {
			select {
			case chunks <- lo:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range c.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := map[string]int64{}
			for lo := range chunks {
				hi := min(lo+batch, c.orders)
				if err := writeOrders(ctx, db, c, custs, lo, hi, now, zipf, local); err != nil {
					errs <- err
					return
				}
				if n := done.Add(int64(hi - lo)); n%100_000 < int64(batch) {
					fmt.Printf("%d orders, %s\n", n, time.Since(start).Round(time.Second))
				}
			}
			mu.Lock()
			for k, v := range local {
				counters[k] += v
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err = db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		for k, v := range counters {
			if _, err := tx.ExecContext(ctx, `INSERT INTO crm_counters (name, n) VALUES ($1, $2)
				ON CONFLICT (name) DO UPDATE SET n = crm_counters.n + excluded.n`, k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The customers' tokens (store.PlanCustomers), from the orders' tokens
	// once they are all written.
	if _, err := db.ExecContext(ctx, `INSERT INTO crm_customer_tokens (token, customer_id)
		SELECT DISTINCT t.token, l.customer_id FROM crm_order_tokens t JOIN crm_order_list l ON l.order_id = t.order_id`); err != nil {
		return fmt.Errorf("customer tokens: %w", err)
	}
	if err := createIndexes(ctx, db, indexes); err != nil {
		return err
	}
	analyze := `ANALYZE`
	if db.Engine() == sqldb.Postgres {
		// As the CRM does at start: statistics fit for the search's choice
		// of plan; VACUUM sets the visibility map for index-only scans.
		if _, err := db.ExecContext(ctx, `ALTER TABLE crm_order_tokens ALTER COLUMN token SET STATISTICS 1000`); err != nil {
			return err
		}
		analyze = `VACUUM ANALYZE`
	}
	if _, err := db.ExecContext(ctx, analyze); err != nil {
		return err
	}
	fmt.Printf("%d orders for %d customers in %s\n", c.orders, c.customers, time.Since(start).Round(time.Second))
	return nil
}

// writeOrders writes orders [lo, hi) and their rows in every table in one
// transaction.
func writeOrders(ctx context.Context, db *sqldb.DB, c config, custs []customer, lo, hi int, now time.Time,
	zipf func(r *rand.Rand) int, counters map[string]int64) error {
	var orders, lines, list, tokens, timeline [][]any
	delivery, _ := json.Marshal(contracts.Address{Line1: "Hauptstraße 1", City: "Berlin", PostalCode: "10115", Country: "DE"})
	for i := lo; i < hi; i++ {
		o := makeOrder(c, i, now, zipf)
		cu := custs[o.customer]
		routing := o.routing
		if routing == "" {
			routing = "[]"
		}
		priced, calc := 0, int64(0)
		if o.routing != "" {
			priced, calc = 1, 7
		}
		orders = append(orders, []any{o.id, o.number, o.channel, cu.id, o.status, o.heldFrom, sqldb.Micros(o.statusSince), 3, o.currency,
			o.quoted, o.total, o.counted, priced, int64(7), calc, routing, "", 5, 0, o.manager, string(delivery), "", 0, "", "", "",
			sqldb.Micros(o.placedAt), sqldb.Micros(o.statusSince)})
		per := o.quoted / int64(o.lines)
		for l := 1; l <= o.lines; l++ {
			lines = append(lines, []any{o.id, l, products[(i+l)%len(products)], `{"material":"steel"}`, 1 + i%20, "standard", per, per})
		}
		list = append(list, []any{o.id, o.number, o.channel, o.status, sqldb.Micros(o.statusSince), sqldb.Micros(o.placedAt), o.total,
			o.currency, o.manager, cu.id, cu.name, cu.email, cu.company, listquery.SearchText(o.number, cu.name, cu.email, cu.company)})
		for _, t := range listquery.Tokens(o.number, cu.name, cu.email, cu.company) {
			tokens = append(tokens, []any{t, o.id, listquery.Head(t), sqldb.Micros(o.placedAt)})
		}
		timeline = append(timeline, []any{o.id, "gen-" + o.id + "-placed", contracts.OrderPlaced, "shop", sqldb.Micros(o.placedAt),
			sqldb.Micros(o.placedAt), cu.name, "Order " + o.number + " placed"})
		if o.status != contracts.StatusPlaced {
			timeline = append(timeline, []any{o.id, "gen-" + o.id + "-status", "status", "crm-datagen", sqldb.Micros(o.statusSince),
				sqldb.Micros(o.statusSince), "", "Reached " + o.status})
		}
		counters["all"]++
		counters["status:"+o.status]++
		counters["channel:"+o.channel]++
	}
	tables := []table{
		{"crm_orders", `id, number, channel, customer_id, status, held_from, status_since, version, currency, quoted_total, total,
			counted_total, priced, price_list_version, calc_version, routing, ship_date, lead_days, rush, manager, delivery, review_reason,
			cancel_requested, cancel_reason, carrier, tracking_number, placed_at, updated_at`, orders},
		{"crm_order_lines", "order_id, line_no, product, options, quantity, lead, unit_price, total", lines},
		{"crm_order_list", `order_id, number, channel, status, status_since, placed_at, total, currency, manager,
			customer_id, customer_name, customer_email, customer_company, search`, list},
		{"crm_order_tokens", "token, order_id, head, placed_at", tokens},
		{"crm_timeline", "order_id, message_id, event_type, source, at, recorded_at, by_name, summary", timeline},
	}
	if db.Engine() == sqldb.Postgres {
		return copyTables(ctx, db, tables)
	}
	return db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		for _, t := range tables {
			if err := insert(ctx, db, tx, t.name, t.cols, t.rows); err != nil {
				return err
			}
		}
		return nil
	})
}

type table struct {
	name, cols string
	rows       [][]any
}

// bulkTables are the tables whose secondary indexes are dropped during the
// load on PostgreSQL and built again after it (the definitions are read from
// the catalogue, so they stay the migration's).
var bulkTables = []string{"crm_orders", "crm_order_lines", "crm_order_list", "crm_order_tokens", "crm_customer_tokens", "crm_timeline"}

func dropIndexes(ctx context.Context, db *sqldb.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()
		AND tablename = ANY($1) AND indexname NOT IN (SELECT conname FROM pg_constraint)`, bulkTables)
	if err != nil {
		return nil, fmt.Errorf("list indexes: %w", err)
	}
	defer rows.Close()
	var names, defs []string
	for rows.Next() {
		var n, d string
		if err := rows.Scan(&n, &d); err != nil {
			return nil, err
		}
		names, defs = append(names, n), append(defs, d)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, err := db.ExecContext(ctx, `DROP INDEX `+pgx.Identifier{n}.Sanitize()); err != nil {
			return nil, fmt.Errorf("drop index %s: %w", n, err)
		}
	}
	return defs, nil
}

// createIndexes builds the dropped indexes again, two at a time.
func createIndexes(ctx context.Context, db *sqldb.DB, defs []string) error {
	start := time.Now()
	sem := make(chan struct{}, 2)
	errs := make(chan error, len(defs))
	var wg sync.WaitGroup
	for _, d := range defs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conn, err := db.Conn(ctx)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			if _, err := conn.ExecContext(ctx, `SET maintenance_work_mem = '256MB'`); err != nil {
				errs <- err
				return
			}
			if _, err := conn.ExecContext(ctx, d); err != nil {
				errs <- fmt.Errorf("%s: %w", d, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if len(defs) > 0 {
		fmt.Printf("%d indexes built in %s\n", len(defs), time.Since(start).Round(time.Second))
	}
	return nil
}

// copyTables writes the tables of a batch in one transaction with
// PostgreSQL's COPY, many times faster than INSERT for bulk data.
func copyTables(ctx context.Context, db *sqldb.DB, tables []table) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(ctx) }()
		for _, t := range tables {
			cols := strings.Split(t.cols, ",")
			for i := range cols {
				cols[i] = strings.TrimSpace(cols[i])
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, cols, pgx.CopyFromRows(t.rows)); err != nil {
				return fmt.Errorf("copy into %s: %w", t.name, err)
			}
		}
		return tx.Commit(ctx)
	})
}

// insert writes rows with multi-row INSERTs of at most 30,000 parameters.
func insert(ctx context.Context, db *sqldb.DB, tx *sqldb.Tx, table, cols string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	per := len(rows[0])
	step := max(1, 30000/per)
	if db.Engine() == sqldb.SQLite {
		step = max(1, 1000/per) // the SQLite driver binds $N parameters by a linear lookup
	}
	for lo := 0; lo < len(rows); lo += step {
		part := rows[lo:min(lo+step, len(rows))]
		query := "INSERT INTO " + table + " (" + cols + ") VALUES " + sqldb.Values(len(part), per)
		args := make([]any, 0, len(part)*per)
		for _, r := range part {
			args = append(args, r...)
		}
		var err error
		if tx != nil {
			_, err = tx.ExecContext(ctx, query, args...)
		} else {
			_, err = db.ExecContext(ctx, query, args...)
		}
		if err != nil {
			return fmt.Errorf("insert into %s: %w", table, err)
		}
	}
	return nil
}
