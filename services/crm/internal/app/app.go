// Package app holds the CRM's use cases: applying the platform's order
// events to the CRM's tables (events.go), the manager actions written with
// their outbox message in one transaction (actions.go), and the queries
// behind the pages with their cache (queries.go).
package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/fabrika/fabrika/platform/cachebus"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/crm/internal/store"
)

// Enqueuer writes a message in the caller's transaction; *outbox.Outbox is one.
type Enqueuer interface {
	Enqueue(ctx context.Context, tx *sqldb.Tx, msg outbox.Message) error
}

// Caches fans cache invalidations out to every CRM replica;
// *cachebus.Bus is one.
type Caches interface {
	Register(cache string, drop func(key string))
	Invalidate(cache, key string)
}

// App is the CRM's use cases over its database.
type App struct {
	db         *sqldb.DB
	store      *store.Store
	out        Enqueuer
	cache      *pageCache
	caches     Caches
	thresholds map[string]time.Duration
	now        func() time.Time
}

// Options configure an App.
type Options struct {
	// CacheSize is how many list pages the cache keeps; negative disables
	// it (the counters are still kept until the next write).
	CacheSize int
	// CacheTTL bounds how long a page is served from the cache while
	// another replica's invalidations cannot reach this one (broker away).
	CacheTTL time.Duration
	// Caches carries every write's invalidation to the other replicas
	// (host.Caches); nil: this process only.
	Caches Caches
	// Stuck maps a status to how long an order may stay in it.
	Stuck map[string]time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// New builds the use cases.
func New(db *sqldb.DB, out Enqueuer, opt Options) *App {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Caches == nil {
		opt.Caches = cachebus.Local()
	}
	a := &App{db: db, store: store.New(db), out: out, cache: newPageCache(opt.CacheSize, opt.CacheTTL, opt.Now), caches: opt.Caches,
		thresholds: opt.Stuck, now: opt.Now}
	a.caches.Register(cachePages, a.dropPages)
	a.caches.Register(cacheCustomers, func(key string) { a.store.ForgetCustomerTokens(strings.Fields(key)) })
	return a
}

// cachePages is the page cache's name on the bus: a key is a pageChange in
// JSON, "" drops every page.
const cachePages = "pages"

// orderChanged drops, in every replica once tx commits, the cached pages
// that a change of one order's list row may have changed.
func (a *App) orderChanged(tx *sqldb.Tx, ch pageChange) {
	key, err := json.Marshal(ch)
	if err != nil {
		key = nil // cannot happen (strings and numbers); then every page goes
	}
	tx.AfterCommit(func() { a.caches.Invalidate(cachePages, string(key)) })
}

// dropPages applies an invalidation of the page cache from the bus.
func (a *App) dropPages(key string) {
	var ch pageChange
	if key == "" || json.Unmarshal([]byte(key), &ch) != nil || ch.OrderID == "" {
		a.cache.invalidate()
		return
	}
	a.cache.changed(&ch)
}

// cacheCustomers is the search's sets of customers on the bus: a key is
// the tokens customers gained, space-separated; "" drops every set.
const cacheCustomers = "customers"

// customersGained drops, in every replica once tx commits, the search's
// sets of customers that customers gaining tokens may change.
func (a *App) customersGained(tx *sqldb.Tx, tokens []string) {
	if len(tokens) > 0 {
		key := strings.Join(tokens, " ")
		tx.AfterCommit(func() { a.caches.Invalidate(cacheCustomers, key) })
	}
}

func money(amount int64, currency string) string {
	sign := ""
	if amount < 0 {
		sign, amount = "-", -amount
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, amount/100, amount%100, currency)
}
