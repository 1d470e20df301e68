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
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/mes-calc/internal/app"
	"github.com/fabrika/fabrika/services/mes-calc/internal/web"
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
	// Serial makes calculations run one at a time, as before they booked
	// the load optimistically; only for the benchmark's ratio.
	Serial bool
}

// Service is a running mes-calc.
type Service struct {
	app *app.App
}

// Subscription names (consumers "mes-calc-<name>").
const (
	SubOrders = "orders"
)

// New builds mes-calc on its host: it seeds and publishes the first price
// list when the database has none, subscribes to order.placed and
// order.cancelled, and registers the price administration on the admin
// listener.
func New(ctx context.Context, h *host.Host, cfg Config) (*Service, error) {
	a, err := app.New(ctx, h.DB, h.Outbox, app.Config{Seed: cfg.Seed, Now: cfg.Now, HorizonDays: cfg.HorizonDays,
		Metrics: h.Metrics, Serial: cfg.Serial}, h.Log)
	if err != nil {
		return nil, fmt.Errorf("mes-calc: %w", err)
	}
	h.Inbox.SubscribeWith(SubOrders, a.Subscriptions(), subscription(h.DB.Engine(), cfg.Serial))
	web.New(a, h.Log).AdminRoutes(h.HandleAdmin)
	h.HandleOrderTrace(a.Trace)
	return &Service{app: a}, nil
}

// Handler returns nil: mes-calc serves no application routes; its price
// administration is on the host's admin listener.
func (s *Service) Handler() http.Handler { return nil }

// Background returns nil: mes-calc's work is driven by its inbox.
func (s *Service) Background() []func(context.Context) error { return nil }

// calcWorkers is how many orders mes-calc calculates at once on
// PostgreSQL: fewer than the connections of its pool (10 by default), which
// its outbox relay and admin API share.
const calcWorkers = 8

// subscription is how the inbox runs the orders: on PostgreSQL calcWorkers
// at once, each in a transaction of its own, since a batch would keep the
// rows of the days it booked locked until its one commit and so make the
// other workers wait (docs/mes-calc.md, Throughput). On SQLite, where
// writers take turns anyway, and in the serial variant, the inbox's
// batches.
func subscription(engine sqldb.Engine, serial bool) inbox.SubscriptionOptions {
	if engine != sqldb.Postgres || serial {
		return inbox.SubscriptionOptions{}
	}
	return inbox.SubscriptionOptions{Workers: calcWorkers, BatchSize: 1}
}
