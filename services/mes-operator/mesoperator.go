// Package mesoperator is the shop-floor part of the MES: it receives
// confirmed orders with their routing, keeps the production queue of every
// workstation, and lets operators start, pause, resume and finish
// operations, record good and scrapped parts, and ship produced orders, from
// tablet pages under /mes/ and a JSON API under /mes/api/v1/. It never
// calculates prices or lead times; it learns everything from events and
// announces every step through the outbox (order.in_production,
// operation.finished, order.produced, order.shipped). See
// docs/mes-operator.md.
package mesoperator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/ordertrace"
	"github.com/fabrika/fabrika/services/mes-operator/internal/app"
	"github.com/fabrika/fabrika/services/mes-operator/internal/store"
	"github.com/fabrika/fabrika/services/mes-operator/internal/web"
)

// Name is the service's name (host.Config.Service, consumer names).
const Name = "mes-operator"

// Config is mes-operator's own configuration.
type Config struct {
	// Identity verifies the gateway-signed staff token; required. Every
	// route needs the operator or admin role.
	Identity *identity.Verifier
	// ShippingWorkstation is the code of the dispatch bench (default
	// "shipping"): operators bound to it may ship any produced order;
	// operators bound to a workstation of an order's routing may ship that
	// order too.
	ShippingWorkstation string
	// LoginURL is where a browser without a staff identity is sent (default
	// "/staff/login", the gateway's sign-in page; "-" to answer 401).
	LoginURL string
	// EventRetention is how long applied operator event ids are kept to
	// recognise retries (default 30 days).
	EventRetention time.Duration
	// QueueLimit caps the operations listed for one workstation (default 200).
	QueueLimit int
	// Now returns the current time (default time.Now); for tests.
	Now func() time.Time
}

func (c *Config) validate() error {
	if c.Identity == nil {
		return errors.New("mes-operator: Identity (the gateway's public key verifier) is required")
	}
	if c.ShippingWorkstation == "" {
		c.ShippingWorkstation = "shipping"
	}
	switch c.LoginURL {
	case "":
		c.LoginURL = "/staff/login"
	case "-":
		c.LoginURL = ""
	}
	if c.EventRetention == 0 {
		c.EventRetention = 30 * 24 * time.Hour
	}
	if c.EventRetention < time.Hour {
		return errors.New("mes-operator: EventRetention must be at least an hour")
	}
	return nil
}

// Service is a running mes-operator.
type Service struct {
	h   *host.Host
	cfg Config
	app *app.App
	web *web.Handler
}

// New builds the service on a host opened with Migrations and subscribes to
// order.confirmed, order.cancelled, order.on_hold, order.resumed and
// pricelist.published.
func New(ctx context.Context, h *host.Host, cfg Config) (*Service, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a, err := app.New(h.DB, h.Outbox, app.Config{ShippingWorkstation: cfg.ShippingWorkstation, QueueLimit: cfg.QueueLimit,
		Now: cfg.Now, Metrics: h.Metrics}, h.Log)
	if err != nil {
		return nil, fmt.Errorf("mes-operator: %w", err)
	}
	wh, err := web.New(a, cfg.Identity, h.Log, cfg.LoginURL)
	if err != nil {
		return nil, fmt.Errorf("mes-operator: %w", err)
	}
	h.Inbox.Subscribe("orders", a.Subscriptions())
	h.HandleOrderTrace(func(ctx context.Context, ref string) (ordertrace.Summary, bool, error) {
		return store.New(h.DB).Trace(ctx, h.DB, ref)
	})
	return &Service{h: h, cfg: cfg, app: a, web: wh}, nil
}

// Handler serves the pages under /mes/ and the API under /mes/api/v1/.
func (s *Service) Handler() http.Handler { return s.web.Routes() }

// Background prunes applied operator event ids older than the retention.
func (s *Service) Background() []func(context.Context) error {
	return []func(context.Context) error{host.Every(time.Hour, s.h.Log, "prune operator events", func(ctx context.Context) error {
		n, err := s.app.PruneEvents(ctx, s.cfg.EventRetention)
		if n > 0 {
			s.h.Log.InfoContext(ctx, "pruned operator events", "count", n)
		}
		return err
	})}
}
