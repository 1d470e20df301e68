package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/shop"
	shopmigrations "github.com/fabrika/fabrika/services/shop/migrations"
)

// shopService is the shop on the database dsn: sign-ups sign in at once
// (the development and load-test setting; no e-mail round trip).
func shopService(dsn string, hc httpConfig) service {
	return service{name: "shop", dsn: dsn, migrations: shopmigrations.FS,
		build: func(ctx context.Context, h *host.Host, v *identity.Verifier, dir string) (measured, error) {
			svc, err := shop.New(ctx, h, shop.Config{Identity: v, SignUpSignsIn: true, OrdersCacheTTL: hc.shopCache, MailDir: filepath.Join(dir, "mail")})
			if err != nil {
				return nil, err
			}
			return svc, nil
		}}
}

func customerEmail(i int) string { return fmt.Sprintf("pagebench%03d@example.com", i) }

// runShop measures the shop's "my orders" through the gateway: one customer
// signed in per session, each with hc.shopMine orders among hc.shopOrders,
// first and next pages and a status filter, while order events change the
// sessions' orders.
func runShop(ctx context.Context, hc httpConfig, db *sqldb.DB, dsn string) error {
	if db.Engine() != sqldb.Postgres {
		return fmt.Errorf("-shop-dsn: the shop's data are generated on PostgreSQL only")
	}
	loadStart := loadavg()
	st, err := startStack(ctx, hc, shopService(dsn, hc))
	if err != nil {
		return err
	}
	defer st.stop()
	sessions := make([]session, hc.sessions)
	ids := make([]string, hc.sessions)
	for i := range sessions {
		sessions[i] = session{Client: st.client(i)}
		var exists int
		err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM customer WHERE email = $1`, customerEmail(i)).Scan(&exists)
		if err == nil && exists == 0 {
			sessions[i].bearer, err = sessions[i].SignUpCustomer(ctx, customerEmail(i), fmt.Sprintf("Bench Customer %d", i), benchPassword, hc.mailDir)
		} else if err == nil {
			sessions[i].bearer, err = sessions[i].SignInCustomer(ctx, customerEmail(i), benchPassword)
		}
		if err == nil {
			err = db.QueryRowContext(ctx, `SELECT id FROM customer WHERE email = $1`, customerEmail(i)).Scan(&ids[i])
		}
		if err != nil {
			return err
		}
	}
	if err := fillShop(ctx, db, hc, ids); err != nil {
		return err
	}
	var total int64
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders`).Scan(&total); err != nil {
		return err
	}

	// Each session's pages: the first page and the next ones by cursor,
	// and the first page of its shipped orders.
	kinds := []struct{ name, query string }{{"shop my orders", "limit=20"}, {"shop my orders status=shipped", "limit=20&status=shipped"}}
	var sets []scenario
	for _, k := range kinds {
		if hc.only != nil && !hc.only.MatchString(k.name) {
			continue
		}
		sc := scenario{name: k.name}
		for _, s := range sessions {
			paths, err := follow(ctx, s, "/shop/api/v1/orders?", k.query, k.name, hc.pages)
			if err != nil {
				return err
			}
			sc.paths = append(sc.paths, paths)
		}
		st.times.take(k.name)
		sets = append(sets, sc)
	}
	if len(sets) == 0 {
		return nil
	}

	// Events of the sessions' orders during the reads (the CRM and the MES
	// moving them along): each changes an order and drops its customer's
	// cached pages.
	changing, err := column(ctx, db, `SELECT id FROM orders WHERE customer_id = ANY($1) ORDER BY md5(id) LIMIT 5000`, ids)
	if err != nil {
		return err
	}
	kindsOfChange := []string{contracts.OrderInProduction, contracts.OrderProduced, contracts.OrderOnHold, contracts.OrderResumed}
	sent, stopEvents := events(ctx, st.producer, hc.eventRate, func(i int, now time.Time) (outbox.Message, error) {
		id := changing[rand.IntN(len(changing))]
		return outbox.NewMessage(contracts.Subject(kindsOfChange[i%len(kindsOfChange)]), id, contracts.OrderStatusChangedV1{OrderID: id, At: now})
	})
	evStart := time.Now()
	figs := measure(ctx, hc, st, sessions, sets)
	stopEvents()
	evRate := float64(sent.Load()) / time.Since(evStart).Seconds()

	cache := "the service's default (5 s)"
	if hc.gateway != "" {
		cache = "the service's own"
	} else if hc.shopCache < 0 {
		cache = "off"
	} else if hc.shopCache > 0 {
		cache = hc.shopCache.String()
	}
	fmt.Printf("\nShop \"my orders\" over HTTP through the gateway: %d orders, %d customers signed in (a session each, each from its own address) with %d orders each, %.0f requests/s per scenario for %.0f s (open loop, each request at its due time), order events at %.1f/s through the shop's inbox during the reads\n",
		total, hc.sessions, hc.shopMine, hc.rate, hc.seconds, evRate)
	fmt.Printf("%s\nload average (1 min) at start %s, at end %s; page cache TTL %s\n\n", hc.where(), loadStart, loadavg(), cache)
	printTable(figs, 10*time.Millisecond)
	return nil
}

// fillShop gives each customer of ids hc.shopMine orders and other
// customers (100 orders each) the rest of hc.shopOrders, generated by the
// database; then VACUUM ANALYZE, as autovacuum does after a bulk load.
func fillShop(ctx context.Context, db *sqldb.DB, hc httpConfig, ids []string) error {
	start := time.Now()
	nonce := time.Now().UnixNano()
	const insert = `INSERT INTO orders (id, number, customer_id, idempotency_key, request_hash, status, currency, quoted_total,
		price_list_version, line_count, contact, delivery, placed_at, updated_at)
		SELECT gen_random_uuid()::text, 'PB-' || $1::text || g, %s, 'k' || $1::text || g, 'h', ($3::text[])[1 + g %% $4], 'EUR', 1000 + (g * 7919) %% 100000,
		1, 1 + g %% 3, '{"name":"Bench","email":"bench@example.com"}', '{"line1":"Hauptstrasse 1","city":"Berlin","postal_code":"10115","country":"DE"}',
		$5 - ((g * 7919 + $6) %% 63072000) * 1000000, $5 - ((g * 7919 + $6) %% 63072000) * 1000000
		FROM generate_series(1::bigint, $7::bigint) g`
	now := time.Now().UnixMicro()
	statuses := contracts.Statuses()
	filled := 0
	for i, id := range ids {
		var have int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders WHERE customer_id = $1`, id).Scan(&have); err != nil {
			return err
		}
		if n := hc.shopMine - have; n > 0 {
			if _, err := db.ExecContext(ctx, fmt.Sprintf(insert, "$2::text"), fmt.Sprintf("pb%d-%d-", nonce, i), id, statuses, len(statuses), now, i, n); err != nil {
				return fmt.Errorf("generate orders: %w", err)
			}
			filled += n
		}
	}
	var have int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM orders`).Scan(&have); err != nil {
		return err
	}
	for chunk := 0; have < hc.shopOrders; chunk++ {
		n := min(100_000, hc.shopOrders-have)
		if _, err := db.ExecContext(ctx, fmt.Sprintf(insert, "$2::text || (g / 100)"), fmt.Sprintf("pb%d-f%d-", nonce, chunk), fmt.Sprintf("pb-filler-%d-%d-", nonce, chunk),
			statuses, len(statuses), now, chunk, n); err != nil {
			return fmt.Errorf("generate orders: %w", err)
		}
		have += n
		filled += n
	}
	if filled == 0 {
		return nil
	}
	if _, err := db.ExecContext(ctx, `VACUUM ANALYZE orders`); err != nil {
		return err
	}
	fmt.Printf("generated %d shop orders in %s\n", filled, time.Since(start).Round(time.Second))
	return nil
}
