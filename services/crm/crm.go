// Package crm is Fabrika's customer relationship service: it keeps its own
// copy of every order and customer from the platform's events (through its
// inbox), serves the managers' orders page from a read model built for it,
// the order and customer cards and the stuck orders, and takes the managers'
// actions (confirm, hold, resume, cancel, assign, note, compensate), each
// written with its outbox message in one transaction. See docs/crm.md.
package crm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/crm/internal/app"
	"github.com/fabrika/fabrika/services/crm/internal/web"
	"github.com/fabrika/fabrika/services/crm/migrations"
)

// Migrations are the CRM's tables, for host.Config.Migrations.
var Migrations = migrations.FS

// Config is the CRM's own configuration.
type Config struct {
	// Identity verifies the gateway's staff tokens (required). Every route
	// is for managers and admins.
	Identity *identity.Verifier
	// StuckAfter maps a status to how long an order may stay in it before it
	// shows on the stuck orders page; nil takes DefaultStuckAfter. A status
	// missing from the map is never stuck.
	StuckAfter map[string]time.Duration
	// CacheSize is how many orders list pages are cached in process (default
	// 2000; negative disables the page cache, the status counters are still
	// read once per write).
	CacheSize int
	// CacheTTL bounds how long a cached page is served (default 5s). Every
	// write invalidates the pages of every replica at once over the broker
	// (host.Caches); the TTL is the bound only while the broker is away.
	CacheTTL time.Duration
	// Concurrency is how many requests the CRM serves at once (default
	// httpx.DefaultLimit, twice the cores; negative: no limit). The others
	// wait in line, in arrival order, up to QueueWait (default 5s) and are
	// then answered 503. Its reads are short and CPU-bound: in line, each
	// runs nearly alone, and the time a request spends in the CRM, its wait
	// included, is steadier at the same throughput (docs/crm.md).
	Concurrency int
	QueueWait   time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultStuckAfter are the default stuck thresholds.
func DefaultStuckAfter() map[string]time.Duration {
	return map[string]time.Duration{
		contracts.StatusPlaced:       15 * time.Minute,
		contracts.StatusNeedsReview:  24 * time.Hour,
		contracts.StatusPriced:       24 * time.Hour,
		contracts.StatusConfirmed:    48 * time.Hour,
		contracts.StatusOnHold:       72 * time.Hour,
		contracts.StatusInProduction: 7 * 24 * time.Hour,
		contracts.StatusProduced:     48 * time.Hour,
	}
}

func (c *Config) validate() error {
	if c.Identity == nil {
		return errors.New("crm: Identity (the gateway's public key verifier) is required")
	}
	if c.StuckAfter == nil {
		c.StuckAfter = DefaultStuckAfter()
	}
	for s, d := range c.StuckAfter {
		if _, ok := contracts.StatusRank(s); !ok || d <= 0 {
			return fmt.Errorf("crm: stuck threshold %q=%s: a known status and a positive duration are required", s, d)
		}
	}
	if c.QueueWait < 0 {
		return errors.New("crm: QueueWait cannot be negative")
	}
	if c.CacheTTL < 0 {
		return errors.New("crm: CacheTTL cannot be negative")
	}
	return nil
}

// Service is a running CRM.
type Service struct {
	app     *app.App
	handler http.Handler
	log     *slog.Logger
}

// New builds the CRM on its host and subscribes to the order events, the
// staff accounts and the price lists' names.
func New(ctx context.Context, h *host.Host, cfg Config) (*Service, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if h.DB.Engine() == sqldb.Postgres {
		// The search picks its plan from the tokens' statistics; the default
		// sample misses how often common words occur. (PostgreSQL only, hence
		// not in the shared migration.)
		if _, err := h.DB.ExecContext(ctx, `ALTER TABLE crm_order_tokens ALTER COLUMN token SET STATISTICS 1000`); err != nil {
			return nil, fmt.Errorf("crm: tokens statistics: %w", err)
		}
	}
	a := app.New(h.DB, h.Outbox, app.Options{CacheSize: cfg.CacheSize, CacheTTL: cfg.CacheTTL, Caches: h.Caches, Stuck: cfg.StuckAfter, Now: cfg.Now})
	if err := h.Metrics.Register(a.StuckCollector(h.Log)); err != nil {
		return nil, fmt.Errorf("crm: stuck orders metric: %w", err)
	}
	h.Inbox.Subscribe("orders", a.Handlers())
	h.HandleOrderTrace(a.Trace)
	h.Inbox.Subscribe("reference", a.ReferenceHandlers())
	return &Service{app: a, handler: Admit(web.New(a, cfg.Identity, h.Log), cfg.Concurrency, cfg.QueueWait), log: h.Log}, nil
}

// PostgresSettings are the run-time parameters of every connection of the
// CRM's pool on PostgreSQL (docs/crm.md, "PostgreSQL settings"); the
// database's own defaults stay as they are:
//   - plan_cache_mode: its list and search statements are prepared once
//     per connection and their strategy is chosen in Go (which word drives
//     a search, which index a filter walks), so a generic plan serves them
//     all; with the default, PostgreSQL planned most of them again on every
//     execution, which cost more than running them (a search by order
//     number: 0.56 -> 0.11 ms of PostgreSQL CPU).
//   - max_parallel_workers_per_gather: its queries are short, and parallel
//     plans only add work when many run at once.
func PostgresSettings() map[string]string {
	return map[string]string{
		"plan_cache_mode":                 "force_generic_plan",
		"max_parallel_workers_per_gather": "0",
	}
}

// DBOptions are the options of the CRM's database pool
// (host.Config.DBOptions): PostgresSettings on every connection.
func DBOptions() []sqldb.Option {
	return []sqldb.Option{sqldb.WithSettings(PostgresSettings())}
}

// DefaultQueueWait is how long a request waits for its turn by default.
const DefaultQueueWait = 5 * time.Second

// Admit wraps the CRM's routes in its admission line (Config.Concurrency
// and QueueWait); the benchmark measures the routes through it too.
func Admit(h http.Handler, concurrency int, wait time.Duration) http.Handler {
	if concurrency < 0 {
		return h
	}
	if wait <= 0 {
		wait = DefaultQueueWait
	}
	return httpx.Limit(concurrency, wait, h)
}

// Handler serves /crm/... (pages) and /crm/api/v1/... (JSON).
func (s *Service) Handler() http.Handler { return s.handler }

// Background folds the counters' and the customers' changes every second
// (the rest of the CRM's work runs in the host's inbox).
func (s *Service) Background() []func(context.Context) error {
	return []func(context.Context) error{host.Every(time.Second, s.log, "fold the order counters' and customers' changes", func(ctx context.Context) error {
		_, err := s.app.FoldCounters(ctx)
		return err
	})}
}
