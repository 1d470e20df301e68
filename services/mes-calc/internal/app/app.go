// Package app holds mes-calc's use cases: seeding and changing the price
// list (each change one new version, published through the outbox in its
// transaction), calculating every placed order against the workstations'
// load, releasing the load of cancelled orders, and the reads behind the
// admin API.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/mes-calc/internal/calc"
	"github.com/fabrika/fabrika/services/mes-calc/internal/store"
)

// Enqueuer writes a message to the outbox in the caller's transaction.
type Enqueuer interface {
	Enqueue(ctx context.Context, tx *sqldb.Tx, msg outbox.Message) error
}

// Config tunes the use cases.
type Config struct {
	// Seed is the price list written and published on the first start
	// (default contracts.DemoPriceList). Its version is forced to 1.
	Seed func(now time.Time) contracts.PriceListV1
	// Now is the clock (default time.Now); calculations and the schedule
	// use its UTC date as today.
	Now func() time.Time
	// HorizonDays bounds how many working days ahead a step may be planned
	// before the order goes to review (default calc.DefaultHorizonDays).
	HorizonDays int
	// Metrics is where mes-calc's counters are registered (nil: nowhere).
	Metrics prometheus.Registerer
	// Serial makes every calculation take the price list's row lock until
	// it commits, so calculations run one at a time as they did before the
	// load was booked optimistically. Only BenchmarkPlacedToPriced sets it,
	// to report the serial variant beside the default in the same run.
	Serial bool
}

// App runs the use cases.
type App struct {
	db      *sqldb.DB
	store   *store.Store
	out     Enqueuer
	cfg     Config
	log     *slog.Logger
	cache   atomic.Pointer[contracts.PriceListV1]
	metrics *metrics
}

// New builds the use cases over the service's database and outbox and
// seeds (and publishes) the first price list when the database has none.
func New(ctx context.Context, db *sqldb.DB, out Enqueuer, cfg Config, log *slog.Logger) (*App, error) {
	if cfg.Seed == nil {
		cfg.Seed = contracts.DemoPriceList
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HorizonDays <= 0 {
		cfg.HorizonDays = calc.DefaultHorizonDays
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	a := &App{db: db, store: store.New(db), out: out, cfg: cfg, log: log, metrics: m}
	if err := a.seed(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// Subscriptions are the handlers of the orders subscription: order.placed
// and order.cancelled.
func (a *App) Subscriptions() map[string]inbox.Handler {
	return map[string]inbox.Handler{
		contracts.Subject(contracts.OrderPlaced):    inbox.JSON(a.OnPlaced),
		contracts.Subject(contracts.OrderCancelled): inbox.JSON(a.OnCancelled),
	}
}

// Now is the service's clock, in UTC.
func (a *App) Now() time.Time { return a.cfg.Now().UTC() }

// seed writes and publishes version 1 when the database has no price list.
func (a *App) seed(ctx context.Context) error {
	return a.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		_, found, err := a.store.Lock(ctx, tx)
		if err != nil || found {
			return err
		}
		pl := a.cfg.Seed(a.Now())
		pl.Version = 1
		if pl.PublishedAt.IsZero() {
			pl.PublishedAt = a.Now()
		}
		pl.PublishedAt = pl.PublishedAt.UTC().Truncate(time.Microsecond)
		if err := pl.Validate(); err != nil {
			return fmt.Errorf("seed price list: %w", err)
		}
		if err := a.store.SavePriceList(ctx, tx, pl, "seed"); err != nil {
			return err // another instance seeding at the same moment: this one fails and restarts
		}
		if err := a.publish(ctx, tx, pl); err != nil {
			return err
		}
		tx.AfterCommit(func() { a.remember(pl) })
		a.log.InfoContext(ctx, "price list seeded and published", "version", pl.Version)
		return nil
	})
}

func (a *App) publish(ctx context.Context, tx *sqldb.Tx, pl contracts.PriceListV1) error {
	msg, err := outbox.NewMessage(contracts.Subject(contracts.PriceListPublished), "pricelist", pl)
	if err != nil {
		return err
	}
	return a.out.Enqueue(ctx, tx, msg)
}

// priceList returns the list of the version the caller locked, from the
// cache when it is that version.
func (a *App) priceList(ctx context.Context, tx *sqldb.Tx, version int64) (contracts.PriceListV1, error) {
	if c := a.cache.Load(); c != nil && c.Version == version {
		return *c, nil
	}
	pl, err := a.store.LoadPriceList(ctx, tx)
	if err != nil {
		return pl, err
	}
	tx.AfterCommit(func() { a.remember(pl) })
	return pl, nil
}

// remember keeps pl as the cached list unless a newer one is there.
func (a *App) remember(pl contracts.PriceListV1) {
	for {
		c := a.cache.Load()
		if c != nil && c.Version >= pl.Version {
			return
		}
		if a.cache.CompareAndSwap(c, &pl) {
			a.metrics.version.Set(float64(pl.Version))
			return
		}
	}
}
