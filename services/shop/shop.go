// Package shop is Fabrika's web shop: customers browse the catalogue of the
// current price list, get instant quotes from the shop's own copy of it,
// sign up and in, fill a cart, place orders idempotently (the order and its
// order.placed message in one transaction), follow them in "my orders" with
// a timeline fed by the platform's events, and ask for cancellation. Pages
// are served at / and the JSON API under /shop/api/v1 (docs/shop.md).
package shop

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/mail"
	"github.com/fabrika/fabrika/platform/orderevent"
	"github.com/fabrika/fabrika/platform/password"
	"github.com/fabrika/fabrika/platform/ratelimit"
	"github.com/fabrika/fabrika/services/shop/internal/app"
	"github.com/fabrika/fabrika/services/shop/internal/web"
)

// Config is the shop's own configuration; zero fields take their defaults.
type Config struct {
	// CookieSecure marks the session and CSRF cookies Secure. Set it in
	// production (cmd/shop does by default); leave it off only for
	// plain-http local runs, where browsers would not send Secure cookies.
	CookieSecure bool
	// Identity verifies the gateway's identity tokens (audience "shop"):
	// sign-in and sign-up limits count against the client address signed
	// in them. Without it the socket peer is the client.
	Identity *identity.Verifier
	// SessionTTL is how long a sign-in lasts (default 14 days).
	SessionTTL time.Duration
	// AttemptsPerIP limits the requests of a client address that hash a
	// password: sign-in, sign-up, password change and reset (default 30
	// per 15 minutes). SignUpsPerIP limits sign-ups (default 10 an hour).
	AttemptsPerIP ratelimit.Rate
	SignUpsPerIP  ratelimit.Rate
	// SignIn throttles failed sign-ins with growing delays per account,
	// per address and per both (defaults: ratelimit.SignInConfig).
	SignIn ratelimit.SignInConfig
	// LimiterMaxKeys bounds the accounts and addresses the limiter tracks
	// (default 100000).
	LimiterMaxKeys int
	// SessionCacheTTL is how long a session, once read, is trusted from
	// memory (default 5s; negative turns the cache off). A sign-out or a
	// password change evicts at once on every replica (host.Caches); the
	// TTL is the bound while the broker is away. SessionCacheSize bounds
	// the sessions kept (default 10000).
	SessionCacheTTL  time.Duration
	SessionCacheSize int
	// OrdersCacheTTL is how long a rendered page of "my orders" is kept in
	// memory (default 5s; negative turns the cache off). A customer's pages
	// are dropped on every replica as soon as one of the customer's orders
	// changes (placed, an event of its timeline, a cancellation request);
	// while the broker is away, another replica's change shows within the TTL.
	// OrdersCacheBytes bounds the bytes of the pages kept, all customers
	// together (default 32 MiB).
	OrdersCacheTTL   time.Duration
	OrdersCacheBytes int
	// CacheTTL bounds how long the in-process catalogue cache trusts itself
	// without a new price list event (default 1 minute; the event empties it
	// at once on every replica while the broker is up).
	CacheTTL time.Duration
	// OrderNumberBlock is how many order numbers an instance reserves at once
	// (default 20).
	OrderNumberBlock int64
	// MaxBody bounds request bodies (default 64 KiB).
	MaxBody int64
	// PasswordMemoryKiB and PasswordTime tune argon2id (default 19 MiB, 2).
	PasswordMemoryKiB uint32
	PasswordTime      uint32
	// SMTPURL sends the account e-mails through an SMTP server
	// (smtp://user:password@host:587?from=shop@example.com); without it
	// they are written as files to MailDir (development).
	SMTPURL string
	MailDir string
	// PublicURL is the shop's public address, for links in e-mails.
	PublicURL string
	// SignUpSignsIn: development and load tests only (app.Config).
	SignUpSignsIn bool
	// Now replaces the clock in tests.
	Now func() time.Time
}

// Service is the running shop.
type Service struct {
	h    *host.Host
	app  *app.Shop
	http *web.Handler
}

// New builds the shop on its host and subscribes to the price lists and the
// events of its orders. The demo catalogue texts are seeded by the
// migrations; prices arrive with the first pricelist.published.
func New(ctx context.Context, h *host.Host, cfg Config) (*Service, error) {
	sender, err := mail.New(cfg.SMTPURL, cfg.MailDir, h.Log)
	if err != nil {
		return nil, fmt.Errorf("shop: %w", err)
	}
	a, err := app.New(h.DB, h.Outbox, app.Config{
		SessionTTL: cfg.SessionTTL, CacheTTL: cfg.CacheTTL, NumberBlock: cfg.OrderNumberBlock,
		AttemptsPerIP: cfg.AttemptsPerIP, SignUpsPerIP: cfg.SignUpsPerIP, SignIn: cfg.SignIn,
		LimiterMaxKeys: cfg.LimiterMaxKeys, Now: cfg.Now,
		SessionCacheTTL: cfg.SessionCacheTTL, SessionCacheSize: cfg.SessionCacheSize,
		OrdersCacheTTL: cfg.OrdersCacheTTL, OrdersCacheBytes: cfg.OrdersCacheBytes,
		Caches: h.Caches, Password: passwordParams(cfg), Mail: sender, PublicURL: cfg.PublicURL, SignUpSignsIn: cfg.SignUpSignsIn,
	}, h.Log, h.Metrics)
	if err != nil {
		return nil, fmt.Errorf("shop: %w", err)
	}
	wh, err := web.New(a, web.Config{CookieSecure: cfg.CookieSecure, Identity: cfg.Identity, MaxBody: cfg.MaxBody}, h.Log)
	if err != nil {
		return nil, fmt.Errorf("shop: %w", err)
	}
	h.Inbox.Subscribe("pricelist", a.PriceListHandlers())
	h.Inbox.SubscribeWith("orders", a.Handlers(), inbox.SubscriptionOptions{Skip: orderevent.OtherChannel(contracts.ChannelShop)})
	h.HandleOrderTrace(a.Trace)
	return &Service{h: h, app: a, http: wh}, nil
}

func passwordParams(cfg Config) password.Params {
	p := password.Default
	if cfg.PasswordMemoryKiB != 0 {
		p.Memory = cfg.PasswordMemoryKiB
	}
	if cfg.PasswordTime != 0 {
		p.Time = cfg.PasswordTime
	}
	return p
}

// Handler serves the pages at / and the JSON API under /shop/api/v1.
func (s *Service) Handler() http.Handler { return s.http }

// Background sweeps expired sessions.
func (s *Service) Background() []func(context.Context) error {
	return []func(context.Context) error{host.Every(time.Hour, s.h.Log, "sweep sessions", s.app.SweepSessions)}
}
