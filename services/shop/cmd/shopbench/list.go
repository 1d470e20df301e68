package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/services/shop"
	"github.com/fabrika/fabrika/services/shop/internal/order"
)

// list loads a database of c.totalOrders orders, c.mine of them the
// measured customer's, and reads "my orders" with concurrent readers.
func (b *bench) list(ctx context.Context) error {
	c := b.cfg
	token, me, err := b.signUp(1 << 30)
	if err != nil {
		return err
	}
	var existing, most int
	var top string
	if err := b.h.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders`).Scan(&existing); err != nil {
		return err
	}
	_ = b.h.DB.QueryRowContext(ctx, `SELECT customer_id, COUNT(*) FROM orders GROUP BY customer_id ORDER BY 2 DESC LIMIT 1`).Scan(&top, &most)
	start := time.Now()
	if existing >= c.totalOrders && most >= c.mine {
		// Reuse the loaded database: read as the customer who has the orders.
		me = top
		if _, err := b.h.DB.ExecContext(ctx, `INSERT INTO customer (id, email, name, password_hash, created_at)
			VALUES ($1, $2, 'Bench', 'x', 1) ON CONFLICT DO NOTHING`, me, me+"@example.com"); err != nil {
			return err
		}
		if _, err := b.h.DB.ExecContext(ctx, `UPDATE session SET customer_id = $1 WHERE token_hash = $2`, me, tokenHash(token)); err != nil {
			return err
		}
	} else if err := b.generate(ctx, me, c.totalOrders-existing, c.mine); err != nil {
		return err
	}
	// VACUUM as autovacuum would on a table that settled: it also marks the
	// pages all-visible, which index-only scans need.
	if _, err := b.h.DB.ExecContext(ctx, `VACUUM ANALYZE orders`); err != nil {
		return err
	}
	var total int
	if err := b.h.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders`).Scan(&total); err != nil {
		return err
	}
	fmt.Printf("\n## my orders\nloaded %d orders (%d of the measured customer) in %s\n", total, c.mine, time.Since(start).Round(time.Second))

	var deep order.Cursor
	if err := b.h.DB.QueryRowContext(ctx, `SELECT placed_at, id FROM orders WHERE customer_id = $1
		ORDER BY placed_at DESC, id DESC OFFSET $2 LIMIT 1`, me, c.deepOffset).Scan(&deep.PlacedAt, &deep.ID); err != nil {
		return fmt.Errorf("deep cursor: %w", err)
	}
	b.explain(ctx, me, deep)
	pages := []struct{ name, query string }{
		{"first page", fmt.Sprintf("limit=%d", c.pageSize)},
		{fmt.Sprintf("deep page (after %d)", c.deepOffset), fmt.Sprintf("limit=%d&cursor=%s", c.pageSize, deep.Encode())},
		{"first page, status=shipped", fmt.Sprintf("limit=%d&status=shipped", c.pageSize)},
	}
	for _, cached := range c.pageCache {
		cfg, label := shop.Config{OrdersCacheTTL: -1}, "off"
		if cached {
			cfg, label = shop.Config{}, "on (every reader reads the same page: all hits but the first after each expiry)"
		}
		// Each variant on a fresh instance: empty caches, the same database.
		if err := b.stopShop(); err != nil {
			return err
		}
		if err := b.startShop(ctx, cfg); err != nil {
			return err
		}
		fmt.Printf("\n### page cache %s\n", label)
		for _, p := range pages {
			call := func(w, i int) error {
				code, out, err := b.call("GET", "/shop/api/v1/orders?"+p.query, token, nil, nil)
				if err != nil || code != 200 || !strings.Contains(string(out), `"number"`) {
					return fmt.Errorf("list: %d %.200s %v", code, out, err)
				}
				return nil
			}
			r, err := b.closed(c.clients, c.duration, true, func(w, i int) (time.Duration, error) {
				t0 := time.Now()
				err := call(w, i)
				return time.Since(t0), err
			})
			if err != nil {
				return err
			}
			cs := summarise(r.lat, r.elapsed)
			fmt.Printf("%-28s closed loop, %d readers: client %s\n", p.name, c.clients, cs)
			fmt.Printf("%-28s                        server %s | %s\n", "", summarise(r.server, r.elapsed), r.cpu.perOp(cs.n))
			for _, rt := range c.rates {
				perSec := rt.Of(cs.perSec)
				r, err := b.paced(c.clients, perSec, c.duration, true, call)
				if err != nil {
					return err
				}
				fmt.Printf("%-28s fixed %6.0f/s: %s\n", "", perSec, pacedLine(r))
			}
		}
	}
	return nil
}

// explain prints PostgreSQL's plans of the first and the deep page.
func (b *bench) explain(ctx context.Context, me string, deep order.Cursor) {
	for _, q := range []struct {
		name string
		sql  string
		args []any
	}{
		{"first page", `SELECT id, number, status, currency, quoted_total, priced_total, line_count, cancel_requested_at, placed_at FROM orders
			WHERE customer_id = $1 ORDER BY placed_at DESC, id DESC LIMIT 21`, []any{me}},
		{"deep page", `SELECT id, number, status, currency, quoted_total, priced_total, line_count, cancel_requested_at, placed_at FROM orders
			WHERE customer_id = $1 AND (placed_at, id) < ($2, $3) ORDER BY placed_at DESC, id DESC LIMIT 21`, []any{me, deep.PlacedAt, deep.ID}},
	} {
		rows, err := b.h.DB.QueryContext(ctx, `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) `+q.sql, q.args...)
		if err != nil {
			fmt.Printf("explain %s: %v\n", q.name, err)
			continue
		}
		fmt.Printf("plan of the %s:\n", q.name)
		for rows.Next() {
			var line string
			if rows.Scan(&line) == nil {
				fmt.Printf("    %s\n", line)
			}
		}
		rows.Close()
	}
}

func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// generate inserts n orders with multi-row INSERTs from 4 loaders: mine of
// them for the customer me, the rest spread over customers of 100 orders.
func (b *bench) generate(ctx context.Context, me string, n, mine int) error {
	const batch, loaders = 1000, 4
	statuses := contracts.Statuses()
	now := time.Now()
	contact := `{"name":"Generated","email":"gen@example.com"}`
	delivery := `{"line1":"Industriestrasse 5","city":"Hamburg","postal_code":"20095","country":"DE"}`
	jobs := make(chan int)
	errs := make(chan error, loaders)
	var wg sync.WaitGroup
	for range loaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for first := range jobs {
				var q strings.Builder
				q.WriteString(`INSERT INTO orders (id, number, customer_id, idempotency_key, request_hash, status, currency,
					quoted_total, price_list_version, line_count, contact, delivery, placed_at, updated_at) VALUES `)
				args := make([]any, 0, batch*13)
				for i := first; i < min(first+batch, n); i++ {
					customer := me
					if i >= mine {
						customer = fmt.Sprintf("gen-customer-%06d", (i-mine)/100)
					}
					placed := now.Add(-time.Duration(rand.Int64N(int64(2 * 365 * 24 * time.Hour)))).UnixMicro()
					if i > first {
						q.WriteString(", ")
					}
					k := len(args)
					fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, 'h', $%d, 'EUR', $%d, 1, $%d, $%d, $%d, $%d, $%d)",
						k+1, k+2, k+3, k+4, k+5, k+6, k+7, k+8, k+9, k+10, k+10)
					args = append(args, uuid.NewString(), fmt.Sprintf("G-%08d", i), customer, fmt.Sprintf("gen-%d", i),
						statuses[rand.IntN(len(statuses))], rand.Int64N(1_000_000)+1000, 1+rand.IntN(5), contact, delivery, placed)
				}
				if _, err := b.h.DB.ExecContext(ctx, q.String(), args...); err != nil {
					errs <- fmt.Errorf("generate: %w", err)
					return
				}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for first := 0; first < n; first += batch {
			select {
			case jobs <- first:
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	return <-errs
}
