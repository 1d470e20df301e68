// Package app holds the shop's use cases: the catalogue and quotes from the
// local copy of the price list, customer accounts, the cart, placing orders
// idempotently with their order.placed message in one transaction, "my
// orders", cancellation requests, and the handlers of the events that fill
// an order's timeline.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fabrika/fabrika/platform/cachebus"
	"github.com/fabrika/fabrika/platform/mail"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/password"
	"github.com/fabrika/fabrika/platform/ratelimit"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/shop/internal/orderpage"
	"github.com/fabrika/fabrika/services/shop/internal/store"
)

// Config tunes the use cases; zero fields take their defaults.
type Config struct {
	SessionTTL  time.Duration // default 14 days
	CacheTTL    time.Duration // catalogue cache lifetime, default 1 minute
	NumberBlock int64         // order numbers reserved at once, default 50
	// AttemptsPerIP limits the requests of a client address that hash a
	// password (sign-in, sign-up, password change and reset; each costs a
	// 19 MiB argon2id hash), default 30 per 15 minutes.
	AttemptsPerIP ratelimit.Rate
	// SignUpsPerIP limits sign-ups per client address, default 10 an hour.
	SignUpsPerIP ratelimit.Rate
	// SignIn throttles failed sign-ins with growing delays by account and
	// by address (ratelimit.SignInConfig's defaults).
	SignIn           ratelimit.SignInConfig
	LimiterMaxKeys   int             // accounts and addresses tracked, default 100000
	SessionCacheTTL  time.Duration   // how long a seen session is trusted without the database, default 5s; negative disables
	SessionCacheSize int             // sessions kept in memory, default 10000
	OrdersCacheTTL   time.Duration   // how long a rendered "my orders" page is kept, default 5s; negative disables
	OrdersCacheBytes int             // bytes of "my orders" pages kept, all customers together, default 32 MiB
	Password         password.Params // argon2id cost, default password.Default
	// Mail delivers the account e-mails (confirmation, password reset).
	Mail Mailer
	// PublicURL is the shop's address in links sent by e-mail
	// ("https://shop.example.com"); empty, the links are paths.
	PublicURL string
	// SignUpSignsIn is for development and load tests only: a new account
	// is signed in at once and a taken e-mail address is told so, which
	// tells anyone which addresses have accounts. Off (the default),
	// sign-up answers the same whether or not the address has an account
	// and the customer confirms it from an e-mail.
	SignUpSignsIn bool
	TokenTTL      time.Duration // lifetime of e-mailed links, default 1 hour
	// Caches carries cache invalidations to every shop replica
	// (host.Caches); nil: this process only. The TTLs above bound how stale
	// a replica may be only while the broker is away.
	Caches           Caches
	Now              func() time.Time // default time.Now
	MaxLinesPerOrder int              // fixed at 50 by the contract; informative
}

func (c *Config) defaults() {
	if c.SessionTTL == 0 {
		c.SessionTTL = 14 * 24 * time.Hour
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = time.Minute
	}
	if c.NumberBlock == 0 {
		c.NumberBlock = 50
	}
	if c.AttemptsPerIP == (ratelimit.Rate{}) {
		c.AttemptsPerIP = ratelimit.Rate{Events: 30, Per: 15 * time.Minute}
	}
	if c.SignUpsPerIP == (ratelimit.Rate{}) {
		c.SignUpsPerIP = ratelimit.Rate{Events: 10, Per: time.Hour}
	}
	if c.SessionCacheTTL == 0 {
		c.SessionCacheTTL = 5 * time.Second
	}
	if c.SessionCacheSize == 0 {
		c.SessionCacheSize = 10000
	}
	if c.OrdersCacheTTL == 0 {
		c.OrdersCacheTTL = 5 * time.Second
	}
	if c.OrdersCacheBytes == 0 {
		c.OrdersCacheBytes = 32 << 20
	}
	if c.LimiterMaxKeys == 0 {
		c.LimiterMaxKeys = 100000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SignIn.Now == nil {
		c.SignIn.Now = c.Now
	}
	if c.SignIn.MaxKeys == 0 {
		c.SignIn.MaxKeys = c.LimiterMaxKeys
	}
	if c.Password == (password.Params{}) {
		c.Password = password.Default
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = time.Hour
	}
}

func (c *Config) validate() error {
	c.defaults()
	if c.SessionTTL < time.Minute || c.CacheTTL <= 0 || c.NumberBlock < 1 || c.AttemptsPerIP.Events < 1 ||
		c.AttemptsPerIP.Per <= 0 || c.SignUpsPerIP.Events < 1 || c.SignUpsPerIP.Per <= 0 || c.LimiterMaxKeys < 1 || c.SessionCacheSize < 1 || c.OrdersCacheBytes < 1 {
		return fmt.Errorf("session TTL >= 1m, positive cache TTL, number block, and rate limits are required")
	}
	return nil
}

// Mailer sends an e-mail; platform/mail implements it.
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

// Enqueuer writes a message in the caller's transaction; the platform's
// outbox implements it.
type Enqueuer interface {
	Enqueue(ctx context.Context, tx *sqldb.Tx, msg outbox.Message) error
}

// Shop is the shop's use cases.
type Shop struct {
	cfg       Config
	db        *sqldb.DB
	st        *store.Store
	out       Enqueuer
	log       *slog.Logger
	now       func() time.Time
	cache     *cache
	numbers   *numbers
	attempts  *ratelimit.Limiter // password hashes per client address
	signUps   *ratelimit.Limiter // sign-ups per client address
	signIn    *ratelimit.SignIn
	mails     *ratelimit.Limiter // e-mails per address, against mail bombing
	throttled *prometheus.CounterVec
	sessions  *sessionCache
	pages     *orderpage.Cache // nil when off
	caches    Caches
	dummyHash string
}

// New builds the use cases over the shop's database.
func New(db *sqldb.DB, out Enqueuer, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Shop, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("shop config: %w", err)
	}
	st := store.New(db)
	c, err := newCache(cfg.CacheTTL, cfg.Now, reg)
	if err != nil {
		return nil, err
	}
	throttled := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fabrika_signin_throttled_total",
		Help: "Failed sign-ins that started or lengthened a delay, by scope (account or address): a guessing attack shows here.",
	}, []string{"scope"})
	for _, scope := range []ratelimit.Scope{ratelimit.ScopeAccount, ratelimit.ScopeAddress} {
		throttled.WithLabelValues(string(scope)) // every series from zero, so increase() sees the first delay
	}
	if reg != nil {
		if err := reg.Register(throttled); err != nil {
			return nil, fmt.Errorf("register sign-in metrics: %w", err)
		}
	}
	dummy, err := password.Hash("not a password anyone has", cfg.Password)
	if err != nil {
		return nil, err
	}
	s := &Shop{
		cfg: cfg, db: db, st: st, out: out, log: log, now: func() time.Time { return cfg.Now().UTC() },
		cache:     c,
		numbers:   &numbers{st: st, block: cfg.NumberBlock},
		attempts:  ratelimit.New(cfg.AttemptsPerIP, cfg.LimiterMaxKeys, cfg.Now),
		signUps:   ratelimit.New(cfg.SignUpsPerIP, cfg.LimiterMaxKeys, cfg.Now),
		signIn:    ratelimit.NewSignIn(cfg.SignIn),
		mails:     ratelimit.New(ratelimit.Rate{Events: 3, Per: time.Hour}, cfg.LimiterMaxKeys, cfg.Now),
		sessions:  newSessionCache(cfg.SessionCacheTTL, cfg.SessionCacheSize),
		pages:     orderpage.New(cfg.OrdersCacheTTL, cfg.OrdersCacheBytes, pagesPerCustomer, cfg.Now),
		dummyHash: dummy,
		throttled: throttled,
		caches:    cfg.Caches,
	}
	if s.caches == nil {
		s.caches = cachebus.Local()
	}
	s.caches.Register(cacheCatalog, func(string) { s.cache.invalidate() })
	s.caches.Register(cacheOrders, func(customer string) {
		if customer == "" {
			s.pages.Purge()
		} else {
			s.pages.Invalidate(customer)
		}
	})
	s.caches.Register(cacheSession, func(hash string) {
		if hash == "" {
			s.sessions.purge()
		} else {
			s.sessions.evict(hash)
		}
	})
	s.caches.Register(cacheCustomer, func(customer string) {
		if customer == "" {
			s.sessions.purge()
		} else {
			s.sessions.evictCustomer(customer)
		}
	})
	return s, nil
}

// Caches fans cache invalidations out to every shop replica;
// *cachebus.Bus is one.
type Caches interface {
	Register(cache string, drop func(key string))
	Invalidate(cache, key string)
}

// The in-process caches by their names on the bus, and what a key names.
const (
	cacheCatalog  = "catalog"  // the price list and catalogue; any key drops it
	cacheOrders   = "orders"   // "my orders" pages; key: customer id
	cacheSession  = "session"  // a session; key: token hash
	cacheCustomer = "customer" // every session of a customer; key: customer id
)

// Store exposes the store, for tests and the benchmark's generator.
func (s *Shop) Store() *store.Store { return s.st }

// SweepSessions deletes the expired sessions (host.Every runs it hourly).
func (s *Shop) SweepSessions(ctx context.Context) error {
	_, err := s.st.DeleteExpiredSessions(ctx, s.now())
	return err
}
