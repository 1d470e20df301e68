package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/crm"
	"github.com/fabrika/fabrika/services/gateway"
)

// httpConfig is the bench's configuration.
type httpConfig struct {
	sessions     int
	rate         float64
	seconds      float64
	eventRate    float64
	pages        int
	samples      int
	closedN      int
	cacheSize    int
	concurrency  int
	only         *regexp.Regexp
	shopOrders   int
	shopMine     int
	shopCache    time.Duration
	rareTogether int
	seed         uint64
	// An external gateway (the local cluster) instead of the service and
	// the gateway in process: its URL, its database and the broker.
	gateway, gatewayDSN, nats string
	mailDir                   string
}

// crmService is the CRM on the database dsn.
func crmService(dsn string, hc httpConfig) service {
	return service{name: "crm", dsn: dsn, migrations: crm.Migrations, dbOptions: crm.DBOptions(),
		build: func(ctx context.Context, h *host.Host, v *identity.Verifier, _ string) (measured, error) {
			svc, err := crm.New(ctx, h, crm.Config{Identity: v, CacheSize: hc.cacheSize, Concurrency: hc.concurrency})
			if err != nil {
				return nil, err
			}
			return svc, nil
		}}
}

const benchPassword = "quiet lantern 7 harbour"

func staffLogin(i int) string { return fmt.Sprintf("bench%03d", i) }

func runCRM(ctx context.Context, hc httpConfig, db *sqldb.DB, dsn string) error {
	loadStart := loadavg()
	var orders int64
	if err := db.QueryRowContext(ctx, `SELECT n FROM crm_counters WHERE name = 'all'`).Scan(&orders); err != nil {
		return fmt.Errorf("no CRM data (run crm-datagen): %w", err)
	}
	// Sample values that exist in the data, spread over it (crm-datagen's
	// order ids are o-<number>-<random>, in date order); the events move
	// recent orders along.
	// The generated orders are numbered from 0 to the last one's number;
	// the counter also counts the orders the bench's events placed.
	var last string
	if err := db.QueryRowContext(ctx, `SELECT MAX(order_id) FROM crm_order_list WHERE order_id >= 'o-' AND order_id < 'o.'`).Scan(&last); err != nil {
		return fmt.Errorf("no orders of crm-datagen's (o-<number>-<random>): %w", err)
	}
	var generated int64
	if _, err := fmt.Sscanf(last, "o-%d-", &generated); err != nil || generated < 1 {
		return fmt.Errorf("the last generated order %q is not of crm-datagen's form o-<number>-<random>", last)
	}
	type sample struct{ email, name, number, company, customer, manager string }
	var samples []sample
	pick := rand.New(rand.NewPCG(hc.seed, 0)) // the same values every run of a seed
	for range hc.samples {
		var s sample
		err := db.QueryRowContext(ctx, `SELECT customer_email, customer_name, number, customer_company, customer_id, manager FROM crm_order_list
			WHERE order_id >= $1 ORDER BY order_id LIMIT 1`, fmt.Sprintf("o-%08d", pick.Int64N(generated+1))).Scan(&s.email, &s.name, &s.number, &s.company, &s.customer, &s.manager)
		if err != nil {
			return fmt.Errorf("sample the orders (crm-datagen's): %w", err)
		}
		samples = append(samples, s)
	}
	orderIDs, err := column(ctx, db, `SELECT order_id FROM crm_order_list WHERE status IN ('confirmed', 'priced') ORDER BY order_id DESC LIMIT $1`, hc.samples*20)
	if err != nil {
		return err
	}
	if len(orderIDs) == 0 {
		return fmt.Errorf("no confirmed or priced orders to move along")
	}
	var customers []string
	values := map[string][]string{}
	for _, s := range samples {
		customers = append(customers, s.customer)
		values["search order number"] = append(values["search order number"], s.number)
		values["search e-mail"] = append(values["search e-mail"], s.email[:strings.IndexByte(s.email, '@')])
		values["search last name"] = append(values["search last name"], s.name[strings.LastIndex(s.name, " ")+1:])
		if f := strings.Fields(s.company); len(f) > 2 {
			values["search company"] = append(values["search company"], f[0]+" "+f[1]+" "+f[2])
		}
		if s.manager != "" {
			values["manager"] = append(values["manager"], "manager="+url.QueryEscape(s.manager))
		}
		values["customer"] = append(values["customer"], "customer="+url.QueryEscape(s.customer))
	}
	// And the costliest companies, the same every run (their words each
	// common, rare together): the figure does not rest on the sample.
	rare, err := crm.RareTogether(ctx, db, hc.rareTogether)
	if err != nil {
		return err
	}
	values["search company, rare together"] = rare
	for _, k := range []string{"search order number", "search e-mail", "search last name", "search company", "search company, rare together"} {
		for i, v := range values[k] {
			values[k][i] = "q=" + url.QueryEscape(v)
		}
	}
	to := time.Now().UTC()
	from := to.AddDate(0, 0, -30)
	single := func(q ...string) []string { return q }
	all := []struct {
		name    string
		queries []string
	}{
		{"no filter", single("")},
		{"status=placed", single("status=placed")},
		{"status=in_production", single("status=in_production")},
		{"status=shipped", single("status=shipped")},
		{"channel=shop", single("channel=shop")},
		{"channel=api", single("channel=api")},
		{"manager", values["manager"]},
		{"customer", values["customer"]},
		{"date range (30 days)", single("from=" + from.Format(time.DateOnly) + "&to=" + to.Format(time.DateOnly))},
		{"sort=total", single("sort=total")},
		{"search order number", values["search order number"]},
		{"search e-mail", values["search e-mail"]},
		{"search last name", values["search last name"]},
		{"search company", values["search company"]},
		{"search company, rare together", values["search company, rare together"]},
	}

	st, err := startStack(ctx, hc, crmService(dsn, hc))
	if err != nil {
		return err
	}
	defer st.stop()
	sessions := make([]session, hc.sessions)
	for i := range sessions {
		if err := gateway.CreateStaff(ctx, st.gwDB, staffLogin(i), benchPassword, identity.RoleManager, nil); err != nil && !staffExists(ctx, st.gwDB, staffLogin(i)) {
			return err
		}
		sessions[i] = session{Client: st.client(i)}
		if err := sessions[i].SignInStaff(ctx, staffLogin(i), benchPassword); err != nil {
			return err
		}
	}
	// Each scenario's pages: every value's first page and its next pages.
	var sets []scenario
	for _, s := range all {
		if hc.only != nil && !hc.only.MatchString(s.name) {
			continue
		}
		if len(s.queries) == 0 {
			continue
		}
		var paths []string
		for _, q := range s.queries {
			p, err := follow(ctx, sessions[0], "/crm/api/v1/orders?", q, s.name, hc.pages)
			if err != nil {
				return err
			}
			paths = append(paths, p...)
		}
		st.times.take(s.name)
		sets = append(sets, scenario{name: s.name, paths: [][]string{paths}})
	}
	if len(sets) == 0 {
		return nil
	}

	// Order events during the reads, in turn a new order placed by an
	// existing customer and an existing order going into production.
	run := time.Now().UnixNano()
	sent, stopEvents := events(ctx, st.producer, hc.eventRate, func(i int, now time.Time) (outbox.Message, error) {
		if i%2 == 1 {
			id := orderIDs[rand.IntN(len(orderIDs))]
			return outbox.NewMessage(contracts.Subject(contracts.OrderInProduction), id, contracts.OrderStatusChangedV1{OrderID: id, At: now})
		}
		id := fmt.Sprintf("bench-%d-%d", run, i)
		// Numbered as the shop numbers its orders (zero-padded): "B-12-5"
		// gave the sampled customers the search tokens "12" and "5", which
		// no shop order's number gives, so that the company searches by
		// such a number found these customers with thousands of orders.
		number := fmt.Sprintf("B-%d-%012d", now.Year(), run%100_000*1_000_000+int64(i))
		return outbox.NewMessage(contracts.Subject(contracts.OrderPlaced), id, contracts.OrderPlacedV1{OrderID: id, Number: number,
			Channel: contracts.ChannelShop, Customer: contracts.Customer{ID: customers[rand.IntN(len(customers))], Name: "Bench Customer", Email: "bench@example.com"},
			Currency: "EUR", QuotedTotal: 1000, PlacedAt: now,
			Lines: []contracts.LineItem{{LineNo: 1, Product: "plate", Quantity: 2, Lead: "standard", UnitPrice: 500, Total: 1000}}})
	})
	evStart := time.Now()
	figs := measure(ctx, hc, st, sessions, sets)
	stopEvents()
	evRate := float64(sent.Load()) / time.Since(evStart).Seconds()

	fmt.Printf("CRM orders list over HTTP through the gateway: %d orders, %d staff sessions signed in at the gateway (each from its own address), %.0f requests/s per scenario for %.0f s (open loop, each request at its due time), order events at %.1f/s through the CRM's inbox during the reads\n",
		orders, hc.sessions, hc.rate, hc.seconds, evRate)
	cache := fmt.Sprintf("page cache size %d (0: the service's default)", hc.cacheSize)
	if hc.gateway != "" {
		cache = "the service's own settings"
	}
	fmt.Printf("%s\nload average (1 min) at start %s, at end %s; %s\n\n", hc.where(), loadStart, loadavg(), cache)
	printTable(figs, 20*time.Millisecond)
	return nil
}

// where says what serves the requests.
func (hc httpConfig) where() string {
	if hc.gateway != "" {
		return "external gateway " + hc.gateway + " (the services' times are not seen from here)"
	}
	return "the service and the gateway in this process, on loopback sockets"
}

// staffExists: an earlier run against the same gateway created the account
// (the bench's password is the same every run).
func staffExists(ctx context.Context, db *sqldb.DB, login string) bool {
	var n int
	err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM staff_accounts WHERE login = $1`, login).Scan(&n)
	return err == nil && n > 0
}
