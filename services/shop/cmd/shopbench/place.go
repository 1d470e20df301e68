package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/sqldb"
)

// place measures POST /shop/api/v1/orders with concurrent clients, then a
// raw loop writing the same rows into copies of the tables (so the outbox
// relay does not touch them) with the same concurrency.
func (b *bench) place(ctx context.Context) error {
	c := b.cfg
	tokens := make([]string, c.clients)
	for i := range tokens {
		t, _, err := b.signUp(i)
		if err != nil {
			return err
		}
		tokens[i] = t
	}
	body := orderJSON(c.lines)
	// The raw loop: the same INSERTs and one commit per order, nothing else,
	// into tables with the same indexes and the same foreign key of the
	// lines to their order (LIKE does not copy foreign keys).
	for _, t := range []string{"orders", "order_line", "outbox"} {
		if _, err := b.h.DB.ExecContext(ctx, fmt.Sprintf(`CREATE TABLE raw_%s (LIKE %s INCLUDING ALL)`, t, t)); err != nil {
			return fmt.Errorf("raw table %s: %w", t, err)
		}
	}
	if _, err := b.h.DB.ExecContext(ctx, `ALTER TABLE raw_order_line ADD FOREIGN KEY (order_id) REFERENCES raw_orders (id)`); err != nil {
		return fmt.Errorf("raw lines' foreign key: %w", err)
	}
	db, err := sqldb.Open(ctx, b.dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	payload := rawPayload(c.lines)
	contact := `{"name":"Bench Buyer","email":"bench@example.com","phone":"+49 30 123456"}`
	delivery := `{"line1":"Hauptstrasse 1","city":"Berlin","postal_code":"10115","country":"DE"}`
	opts := `{"finish":"powder_coat","height_mm":"100","material":"steel_s235","thickness_mm":"2","width_mm":"200"}`
	var lineSQL strings.Builder
	lineSQL.WriteString(`INSERT INTO raw_order_line (order_id, line_no, product, options, quantity, lead, unit_price, total, lead_days) VALUES `)
	for i := range c.lines {
		if i > 0 {
			lineSQL.WriteString(", ")
		}
		fmt.Fprintf(&lineSQL, "($1, %d, 'laser_cut_sheet', $2, %d, 'standard', 1234, %d, 10)", i+1, 10+i, 1234*(10+i))
	}
	rawOrder := func(w, i int) (time.Duration, error) {
		start := time.Now()
		id := uuid.Must(uuid.NewV7()).String()
		now := time.Now().UnixMicro()
		err := db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO raw_orders (id, number, customer_id, idempotency_key, request_hash, status, currency,
				quoted_total, price_list_version, line_count, contact, delivery, placed_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, 'placed', 'EUR', 99999, 1, $6, $7, $8, $9, $9)`,
				id, "R-"+id, fmt.Sprintf("raw-customer-%d", w), id, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
				c.lines, contact, delivery, now); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, lineSQL.String(), id, opts); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO raw_outbox (id, subject, msg_key, payload, headers, created_at) VALUES ($1, $2, $3, $4, '{}', $5)`,
				uuid.Must(uuid.NewV7()).String(), "fabrika.order.placed", id, payload, now)
			return err
		})
		return time.Since(start), err
	}
	round := 0
	call := func(w, i int) error {
		code, out, err := b.call("POST", "/shop/api/v1/orders", tokens[w], body, map[string]string{"Idempotency-Key": fmt.Sprintf("r%d-w%d-%d", round, w, i)})
		if err != nil || code != 201 {
			return fmt.Errorf("place: %d %s %v", code, out, err)
		}
		return nil
	}
	httpOrder := func(w, i int) (time.Duration, error) {
		start := time.Now()
		err := call(w, i)
		return time.Since(start), err
	}
	// The machine's load changes over time: alternate the two loops in
	// rounds so that both see the same conditions, and compare per round.
	commits := func() int64 {
		var n int64
		_ = b.h.DB.QueryRowContext(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&n)
		return n
	}
	drained := func() (time.Duration, error) {
		start := time.Now()
		for {
			var n int
			if err := b.h.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox`).Scan(&n); err != nil {
				return 0, err
			}
			if n == 0 {
				return time.Since(start), nil
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// With autovacuum off (as on the project's shared server) the rows the
	// relay updates and deletes stay in the outbox and every later claim
	// walks them: VACUUM before each phase, untimed, as autovacuum would.
	var autovacuum string
	_ = b.h.DB.QueryRowContext(ctx, `SHOW autovacuum`).Scan(&autovacuum)
	vacuum := func() error {
		if autovacuum == "on" {
			return nil
		}
		_, err := b.h.DB.ExecContext(ctx, `VACUUM ANALYZE outbox, raw_outbox, orders, raw_orders, order_line, raw_order_line`)
		return err
	}
	if autovacuum != "on" {
		fmt.Printf("autovacuum is %q on this server: the tables are vacuumed (untimed) before each phase\n", autovacuum)
	}
	relay0 := b.relayStats(ctx)
	var httpCommits, rawCommits int64
	var all, raw result
	var drain time.Duration
	var ratios []float64
	per := c.duration / time.Duration(c.rounds)
	fmt.Printf("\n## place orders (%d lines each, %d clients, %d rounds of %s + %s)\n", c.lines, c.clients, c.rounds, per, per)
	for round = 0; round < c.rounds; round++ {
		if err := vacuum(); err != nil {
			return err
		}
		c0 := commits()
		h, err := b.closed(c.clients, per, true, httpOrder)
		if err != nil {
			return err
		}
		d, err := drained()
		if err != nil {
			return err
		}
		drain = max(drain, d)
		if err := vacuum(); err != nil {
			return err
		}
		time.Sleep(1500 * time.Millisecond) // let the backends flush their statistics
		c1 := commits()
		r, err := b.closed(c.clients, per, false, rawOrder)
		if err != nil {
			return fmt.Errorf("raw loop: %w", err)
		}
		time.Sleep(1500 * time.Millisecond)
		c2 := commits()
		httpCommits, rawCommits = httpCommits+c1-c0, rawCommits+c2-c1
		hs, rs := summarise(append([]time.Duration(nil), h.lat...), h.elapsed), summarise(append([]time.Duration(nil), r.lat...), r.elapsed)
		ratios = append(ratios, hs.perSec/rs.perSec)
		fmt.Printf("round %d: HTTP %6.0f/s  raw %6.0f/s  ratio %3.0f%%   HTTP %s | raw %s\n", round+1, hs.perSec, rs.perSec, 100*hs.perSec/rs.perSec,
			h.cpu.perOp(hs.n), r.cpu.perOp(rs.n))
		all.add(h)
		raw.add(r)
	}
	httpStats := summarise(all.lat, all.elapsed)
	httpTotal, rawTotal := orderCount(ctx, b, "orders"), orderCount(ctx, b, "raw_orders")
	serverStats := summarise(all.server, all.elapsed)
	rawStats := summarise(raw.lat, raw.elapsed)
	fmt.Printf("HTTP API (client)  %s\n", httpStats)
	fmt.Printf("HTTP API (server)  %s\n", serverStats)
	fmt.Printf("raw insert+commit  %s\n", rawStats)
	fmt.Printf("ratio HTTP/raw     median of rounds %.0f%% (all rounds together %.0f%%)\n", 100*median(ratios), 100*httpStats.perSec/rawStats.perSec)
	fmt.Printf("CPU per order      HTTP: %s\n                   raw:  %s\n", all.cpu.perOp(httpStats.n), raw.cpu.perOp(rawStats.n))
	if all.cpu.pg >= 0 && raw.cpu.pg >= 0 && httpStats.n > 0 && rawStats.n > 0 {
		// What the throughput ratio would be if CPU were the only limit and
		// each loop had the machine to itself: on a shared machine the
		// scheduler gives the raw loop's ten backends a larger share than
		// the shop's one process, so this ratio moves less with the load.
		h := (all.cpu.proc + all.cpu.pg).Seconds() / float64(httpStats.n)
		r := (raw.cpu.proc + raw.cpu.pg).Seconds() / float64(rawStats.n)
		fmt.Printf("CPU ratio          raw CPU per order / HTTP CPU per order = %.0f%%\n", 100*r/h)
	}
	fmt.Printf("database commits per order (warm-up, drain, reads included): HTTP phases %.2f, raw phases %.2f\n",
		float64(httpCommits)/float64(max(httpTotal, 1)), float64(rawCommits)/float64(max(rawTotal, 1)))
	fmt.Printf("outbox drained at most %s after an HTTP phase ended\n", drain.Round(time.Millisecond))
	fmt.Printf("relay's work on the outbox per order placed: %s\n", b.relayStats(ctx).minus(relay0).perOrder(httpTotal))
	// Fixed rate: the latency of an order at a given load rather than at
	// saturation.
	for _, rt := range c.rates {
		perSec := rt.Of(httpStats.perSec)
		round++
		if err := vacuum(); err != nil {
			return err
		}
		r, err := b.paced(c.clients, perSec, per, true, call)
		if err != nil {
			return err
		}
		if _, err := drained(); err != nil {
			return err
		}
		fmt.Printf("fixed %6.0f/s      %s\n", perSec, pacedLine(r))
	}
	return nil
}

// add appends the measurements of another phase.
func (r *result) add(o result) {
	r.lat, r.server = append(r.lat, o.lat...), append(r.server, o.server...)
	r.elapsed += o.elapsed
	r.behind += o.behind
	r.cpu.proc += o.cpu.proc
	if o.cpu.pg < 0 || r.cpu.pg < 0 {
		r.cpu.pg = -1
	} else {
		r.cpu.pg += o.cpu.pg
	}
}

// pacedLine reports a fixed-rate phase: latency from the due time, the
// shop's own time, CPU per operation.
func pacedLine(r result) string {
	s := summarise(r.lat, r.elapsed)
	sv := summarise(r.server, r.elapsed)
	out := fmt.Sprintf("done %6.0f/s  from due: p50 %6.2f ms  p99 %7.2f ms  max %7.2f ms | server p50 %5.2f ms  p99 %6.2f ms | %s",
		s.perSec, ms(s.p50), ms(s.p99), ms(s.max), ms(sv.p50), ms(sv.p99), r.cpu.perOp(s.n))
	if r.behind > 0 {
		out += fmt.Sprintf(" | %d never started (overloaded)", r.behind)
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// relayCounts are PostgreSQL's counters of the outbox table and its indexes.
type relayCounts struct {
	updated, deleted, indexRead int64
}

func (b *bench) relayStats(ctx context.Context) relayCounts {
	var r relayCounts
	_ = b.h.DB.QueryRowContext(ctx, `SELECT t.n_tup_upd, t.n_tup_del, COALESCE(SUM(i.idx_tup_read), 0)
		FROM pg_stat_user_tables t LEFT JOIN pg_stat_user_indexes i ON i.relid = t.relid
		WHERE t.relname = 'outbox' GROUP BY t.n_tup_upd, t.n_tup_del`).Scan(&r.updated, &r.deleted, &r.indexRead)
	return r
}

func (r relayCounts) minus(o relayCounts) relayCounts {
	return relayCounts{r.updated - o.updated, r.deleted - o.deleted, r.indexRead - o.indexRead}
}

func (r relayCounts) perOrder(n int64) string {
	d := float64(max(n, 1))
	return fmt.Sprintf("%.2f rows updated (claims), %.2f deleted, %.1f index entries read (the raw loop's outbox rows are never claimed nor deleted)",
		float64(r.updated)/d, float64(r.deleted)/d, float64(r.indexRead)/d)
}

func orderCount(ctx context.Context, b *bench, table string) int64 {
	var n int64
	_ = b.h.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n)
	return n
}

func rawPayload(lines int) string {
	p := contracts.OrderPlacedV1{OrderID: uuid.NewString(), Number: "S-2026-000001", Channel: "shop",
		Customer: contracts.Customer{ID: uuid.NewString(), Name: "Bench Buyer", Email: "bench@example.com", Phone: "+49 30 123456"},
		Delivery: contracts.Address{Line1: "Hauptstrasse 1", City: "Berlin", PostalCode: "10115", Country: "DE"},
		Currency: "EUR", QuotedTotal: 99999, PriceListVersion: 1, PlacedAt: time.Now()}
	for i := range lines {
		p.Lines = append(p.Lines, contracts.LineItem{LineNo: i + 1, Product: "laser_cut_sheet", Quantity: 10 + i, Lead: "standard",
			Options:   map[string]string{"material": "steel_s235", "width_mm": "200", "height_mm": "100", "thickness_mm": "2", "finish": "powder_coat"},
			UnitPrice: 1234, Total: 12340})
	}
	b, _ := json.Marshal(p)
	return string(b)
}
