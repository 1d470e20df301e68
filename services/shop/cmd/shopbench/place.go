package main

import (
	"context"
	"encoding/json"
	"fmt"
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
	// The raw loop: the same INSERTs and one commit per order, nothing else.
	for _, t := range []string{"orders", "order_line", "outbox"} {
		if _, err := b.h.DB.ExecContext(ctx, fmt.Sprintf(`CREATE TABLE raw_%s (LIKE %s INCLUDING ALL)`, t, t)); err != nil {
			return fmt.Errorf("raw table %s: %w", t, err)
		}
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
	httpOrder := func(w, i int) (time.Duration, error) {
		start := time.Now()
		code, out, err := b.call("POST", "/shop/api/v1/orders", tokens[w], body, map[string]string{"Idempotency-Key": fmt.Sprintf("r%d-w%d-%d", round, w, i)})
		if err != nil || code != 201 {
			return 0, fmt.Errorf("place: %d %s %v", code, out, err)
		}
		return time.Since(start), nil
	}
	// The machine's load changes over time: alternate the two loops in
	// rounds so that both see the same conditions, and compare per round.
	commits := func() int64 {
		var n int64
		_ = b.h.DB.QueryRowContext(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&n)
		return n
	}
	var httpCommits, rawCommits int64
	var lat, serverLat, rawLat []time.Duration
	var elapsed, rawElapsed, drain time.Duration
	per := c.duration / time.Duration(c.rounds)
	fmt.Printf("\n## place orders (%d lines each, %d clients, %d rounds of %s + %s)\n", c.lines, c.clients, c.rounds, per, per)
	for round = 0; round < c.rounds; round++ {
		b.server.take()
		c0 := commits()
		l, el, err := phase(c.clients, c.warmup, per, &b.server.on, httpOrder)
		if err != nil {
			return err
		}
		sl := b.server.take()
		drainStart := time.Now()
		for {
			var n int
			if err := b.h.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox`).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		drain = max(drain, time.Since(drainStart))
		time.Sleep(1500 * time.Millisecond) // let the backends flush their statistics
		c1 := commits()
		rl, rel, err := phase(c.clients, c.warmup, per, nil, rawOrder)
		if err != nil {
			return fmt.Errorf("raw loop: %w", err)
		}
		time.Sleep(1500 * time.Millisecond)
		c2 := commits()
		httpCommits, rawCommits = httpCommits+c1-c0, rawCommits+c2-c1
		h, r := summarise(append([]time.Duration(nil), l...), el), summarise(append([]time.Duration(nil), rl...), rel)
		fmt.Printf("round %d: HTTP %6.0f/s  raw %6.0f/s  ratio %3.0f%%\n", round+1, h.perSec, r.perSec, 100*h.perSec/r.perSec)
		lat, serverLat, rawLat = append(lat, l...), append(serverLat, sl...), append(rawLat, rl...)
		elapsed, rawElapsed = elapsed+el, rawElapsed+rel
	}
	httpStats := summarise(lat, elapsed)
	httpTotal, rawTotal := orderCount(ctx, b, "orders"), orderCount(ctx, b, "raw_orders")
	serverStats := summarise(serverLat, elapsed)
	rawStats := summarise(rawLat, rawElapsed)
	fmt.Printf("HTTP API (client)  %s\n", httpStats)
	fmt.Printf("HTTP API (server)  %s\n", serverStats)
	fmt.Printf("raw insert+commit  %s\n", rawStats)
	fmt.Printf("ratio HTTP/raw     %.0f%%\n", 100*httpStats.perSec/rawStats.perSec)
	fmt.Printf("database commits per order (warm-up, drain, reads included): HTTP phases %.2f, raw phases %.2f\n",
		float64(httpCommits)/float64(max(httpTotal, 1)), float64(rawCommits)/float64(max(rawTotal, 1)))
	fmt.Printf("outbox drained at most %s after an HTTP phase ended\n", drain.Round(time.Millisecond))
	return nil
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
