// Command pagebench measures the pages as a user waits for them: over HTTP
// through the gateway (the service and the gateway serve on loopback
// sockets in this process, each on its host with the host's middleware),
// from many sessions signed in at the gateway, each from its own client
// address (X-Forwarded-For from loopback, which the gateway trusts as it
// trusts the ingress), over many pages and values, while order events
// arrive through the service's inbox. Each scenario runs as an open loop at
// a fixed rate (each request sent at its due time, its latency counted from it: the
// client-side p99 is the headline, the service's own time beside it), then
// as a closed loop over the sessions (its throughput is the capacity).
//
// With -gateway the same scenarios run against a running gateway (the
// local cluster, two replicas of each service behind its ingress; see
// docs/BENCHMARKS.md, section crm):
//
//	pagebench -gateway http://127.0.0.1:21000 -gateway-dsn '.../pages_gateway' -nats nats://127.0.0.1:21400 \
//	  -dsn '.../pages_crm' -shop-dsn '.../pages_shop'
//
// The CRM's orders list and searches (-dsn: a database filled by
// crm-datagen) and the shop's "my orders" (-shop-dsn: a PostgreSQL
// database; its customers sign up and their orders are generated on the
// first run):
//
//	pagebench -dsn 'postgres://postgres@127.0.0.1:5432/crm_bench2?sslmode=disable' \
//	  -shop-dsn 'postgres://postgres@127.0.0.1:5432/shop_bench?sslmode=disable' -sessions 64 -rate 250 -seconds 10
//
// services/crm/cmd/crm-bench measures the handler in process (server time,
// CPU per request, the naive shared-database query).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/fabrika/fabrika/platform/sqldb"
)

func main() {
	var hc httpConfig
	var dsn, shopDSN, only string
	flag.StringVar(&dsn, "dsn", os.Getenv("FABRIKA_DSN"), "CRM database filled by crm-datagen (empty: no CRM scenarios)")
	flag.StringVar(&shopDSN, "shop-dsn", "", "shop database on PostgreSQL, filled on the first run (empty: no shop scenarios)")
	flag.IntVar(&hc.shopOrders, "shop-orders", 1_000_000, "orders in the shop's database")
	flag.IntVar(&hc.shopMine, "shop-mine", 2_000, "orders of each signed-in shop customer")
	flag.DurationVar(&hc.shopCache, "shop-cache-ttl", 0, "the shop's \"my orders\" page cache TTL (0: its default; negative: off)")
	flag.IntVar(&hc.sessions, "sessions", 64, "sessions signed in at the gateway, staff or shop customers (also the closed loop's clients)")
	flag.Float64Var(&hc.rate, "rate", 250, "requests/s of each scenario's open loop")
	flag.Float64Var(&hc.seconds, "seconds", 10, "length of each scenario's open loop")
	flag.Float64Var(&hc.eventRate, "events", 20, "order events/s sent to the CRM's inbox during the reads (0: none)")
	flag.IntVar(&hc.pages, "pages", 5, "pages of each value (the first and the next ones, by cursor)")
	flag.IntVar(&hc.samples, "samples", 50, "values of each search and of the customer and manager filters")
	flag.Uint64Var(&hc.seed, "seed", 1, "seed of the sampled values (the same seed, the same values)")
	flag.IntVar(&hc.rareTogether, "rare-together", 10, "companies of the \"search company, rare together\" scenario: the costliest of the data whose words are each common and rare together, the same every run (0: none)")
	flag.IntVar(&hc.closedN, "closed-requests", 2000, "requests of each scenario's closed loop over the sessions (capacity; 0: none)")
	flag.IntVar(&hc.cacheSize, "cache-size", 0, "the CRM's page cache size (0: its default; -1: off)")
	flag.IntVar(&hc.concurrency, "concurrency", 0, "the CRM's FABRIKA_CRM_CONCURRENCY (0: its default)")
	flag.StringVar(&only, "only", "", "run only the scenarios whose name matches this regular expression")
	flag.StringVar(&hc.gateway, "gateway", "", "an external gateway's URL (the local cluster's ingress) instead of the service and the gateway in process; -dsn and -shop-dsn are then the databases its services use")
	flag.StringVar(&hc.gatewayDSN, "gateway-dsn", "", "with -gateway: the gateway's database (the bench's staff accounts are created there)")
	flag.StringVar(&hc.nats, "nats", "", "with -gateway: the broker the services consume (order events during the reads; empty: none)")
	flag.StringVar(&hc.mailDir, "mail-dir", "", "with -gateway: the shop's mail folder (sign-up confirmations), for customers not signed up yet")
	flag.Parse()
	err := run(dsn, shopDSN, only, hc)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pagebench:", err)
		os.Exit(1)
	}
}

func run(dsn, shopDSN, only string, hc httpConfig) error {
	if dsn == "" && shopDSN == "" {
		return fmt.Errorf("-dsn (a CRM database filled by crm-datagen) or -shop-dsn is required")
	}
	if hc.sessions < 1 || hc.rate <= 0 || hc.seconds <= 0 || hc.pages < 1 || hc.samples < 1 || hc.eventRate < 0 {
		return fmt.Errorf("-sessions, -rate, -seconds, -pages and -samples must be positive, -events at least 0")
	}
	if only != "" {
		re, err := regexp.Compile(only)
		if err != nil {
			return fmt.Errorf("-only: %w", err)
		}
		hc.only = re
	}
	ctx := context.Background()
	for _, b := range []struct {
		dsn string
		run func(context.Context, httpConfig, *sqldb.DB, string) error
	}{{dsn, runCRM}, {shopDSN, runShop}} {
		if b.dsn == "" {
			continue
		}
		db, err := sqldb.Open(ctx, b.dsn)
		if err != nil {
			return err
		}
		err = b.run(ctx, hc, db, b.dsn)
		db.Close()
		if err != nil {
			return err
		}
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
