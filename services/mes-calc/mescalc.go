// Package mescalc is the MES calculation service: it owns the price list and
// the production rules, prices, routes and schedules every new order against
// the current load of the workstations, and publishes order.priced (or
// order.needs_review). It serves no people directly: its only routes are the
// admin JSON API under /pricing/, reached on the internal network with an
// admin identity token. See docs/mes-calc.md.
package mescalc

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/mes-calc/internal/calc"
	"github.com/fabrika/fabrika/services/mes-calc/internal/store"
)

// Config is mes-calc's configuration.
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
}

// Service is a running mes-calc.
type Service struct {
	h       *host.Host
	cfg     Config
	cache   atomic.Pointer[contracts.PriceListV1]
	metrics *metrics
}

// Subscription names (consumers "mes-calc-<name>").
const (
	SubOrders = "orders"
)

// New builds mes-calc on its host: it seeds and publishes the first price
// list when the database has none, and subscribes to order.placed and
// order.cancelled.
func New(ctx context.Context, h *host.Host, cfg Config) (*Service, error) {
	if cfg.Seed == nil {
		cfg.Seed = contracts.DemoPriceList
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HorizonDays <= 0 {
		cfg.HorizonDays = calc.DefaultHorizonDays
	}
	m, err := newMetrics(h.Metrics)
	if err != nil {
		return nil, fmt.Errorf("mes-calc: %w", err)
	}
	s := &Service{h: h, cfg: cfg, metrics: m}
	if err := s.seed(ctx); err != nil {
		return nil, fmt.Errorf("mes-calc: %w", err)
	}
	h.Inbox.Subscribe(SubOrders, map[string]inbox.Handler{
		contracts.Subject(contracts.OrderPlaced):    inbox.JSON(s.onPlaced),
		contracts.Subject(contracts.OrderCancelled): inbox.JSON(s.onCancelled),
	})
	s.adminRoutes()
	return s, nil
}

// Handler returns nil: mes-calc serves no application routes; its price
// administration is on the host's admin listener.
func (s *Service) Handler() http.Handler { return nil }

// Background returns nil: mes-calc's work is driven by its inbox.
func (s *Service) Background() []func(context.Context) error { return nil }

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// seed writes and publishes version 1 when the database has no price list.
func (s *Service) seed(ctx context.Context) error {
	return s.h.DB.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		_, found, err := store.Lock(ctx, tx)
		if err != nil || found {
			return err
		}
		pl := s.cfg.Seed(s.now())
		pl.Version = 1
		if pl.PublishedAt.IsZero() {
			pl.PublishedAt = s.now()
		}
		pl.PublishedAt = pl.PublishedAt.UTC().Truncate(time.Microsecond)
		if err := pl.Validate(); err != nil {
			return fmt.Errorf("seed price list: %w", err)
		}
		if err := store.SavePriceList(ctx, tx, pl, "seed"); err != nil {
			return err // another instance seeding at the same moment: this one fails and restarts
		}
		if err := s.publish(ctx, tx, pl); err != nil {
			return err
		}
		tx.AfterCommit(func() { s.remember(pl) })
		s.h.Log.InfoContext(ctx, "price list seeded and published", "version", pl.Version)
		return nil
	})
}

func (s *Service) publish(ctx context.Context, tx *sqldb.Tx, pl contracts.PriceListV1) error {
	msg, err := outbox.NewMessage(contracts.Subject(contracts.PriceListPublished), "pricelist", pl)
	if err != nil {
		return err
	}
	return s.h.Outbox.Enqueue(ctx, tx, msg)
}

// priceList returns the list of the version the caller locked, from the
// cache when it is that version.
func (s *Service) priceList(ctx context.Context, tx *sqldb.Tx, version int64) (contracts.PriceListV1, error) {
	if c := s.cache.Load(); c != nil && c.Version == version {
		return *c, nil
	}
	pl, err := store.LoadPriceList(ctx, tx)
	if err != nil {
		return pl, err
	}
	tx.AfterCommit(func() { s.remember(pl) })
	return pl, nil
}

// remember keeps pl as the cached list unless a newer one is there.
func (s *Service) remember(pl contracts.PriceListV1) {
	for {
		c := s.cache.Load()
		if c != nil && c.Version >= pl.Version {
			return
		}
		if s.cache.CompareAndSwap(c, &pl) {
			s.metrics.version.Set(float64(pl.Version))
			return
		}
	}
}
