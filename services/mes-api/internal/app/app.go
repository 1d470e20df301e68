// Package app holds mes-api's use cases: API clients and keys, quotes,
// idempotent order placement, cancellation requests, webhook endpoints and
// deliveries, and the event handlers that keep the clients' orders up to
// date. It returns *Error for what the caller did wrong; the HTTP layer maps
// them to statuses in one place.
package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/cachebus"
	"github.com/fabrika/fabrika/platform/netguard"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/secretbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/mes-api/internal/store"
)

// Kind classifies an *Error.
type Kind int

// Kinds of errors.
const (
	KindBadRequest      Kind = iota + 1 // 400
	KindUnauthenticated                 // 401
	KindForbidden                       // 403
	KindNotFound                        // 404
	KindConflict                        // 409
	KindInvalid                         // 422
	KindUnavailable                     // 503
)

// Error is a failure the caller can act on.
type Error struct {
	Kind   Kind
	Msg    string
	Fields map[string]string
}

func (e *Error) Error() string { return e.Msg }

func fail(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

func invalid(msg string, fields map[string]string) *Error {
	return &Error{Kind: KindInvalid, Msg: msg, Fields: fields}
}

// notFound turns store.ErrNotFound into a 404 naming what was looked for.
func notFound(err error, what string) error {
	if errors.Is(err, store.ErrNotFound) {
		return fail(KindNotFound, "%s not found", what)
	}
	return err
}

// Enqueuer writes a message in the caller's transaction; the host's outbox
// implements it.
type Enqueuer interface {
	Enqueue(ctx context.Context, tx *sqldb.Tx, msg outbox.Message) error
}

// Config tunes the use cases.
type Config struct {
	// Webhooks decides which endpoint addresses are accepted at
	// registration (the delivery worker checks again at every dial).
	Webhooks netguard.Guard
	// DefaultRatePerMinute is a new key's rate limit when none is given.
	DefaultRatePerMinute int
	// IdempotencyLease is the lease of an in-flight Idempotency-Key's claim,
	// renewed every third of it while its request runs: a retry gets 409
	// while the claim lives and takes it over within this long after its
	// request died (default 5s).
	IdempotencyLease time.Duration
	// WebhookRetryFor is how long a delivery is retried before it fails.
	WebhookRetryFor time.Duration
	// Secrets seals webhook signing secrets at rest (FABRIKA_SECRET_KEY).
	// Without it no webhook endpoint can be created, and New refuses a
	// database that holds some.
	Secrets *secretbox.Box
	// Resolver checks webhook host names at registration (nil: none).
	Resolver netguard.Resolver
	// PriceListTTL is how long a replica quotes from its copy of the price
	// list before it reads the stored one again (default 5s). The message
	// that brings a new list reaches one replica (they share a durable
	// consumer); the others find it in the database within this time.
	PriceListTTL time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Caches tells every mes-api replica that a new price list was stored
	// (host.Caches); nil: this process only.
	Caches Caches
}

// Caches fans cache invalidations out to every mes-api replica;
// *cachebus.Bus is one.
type Caches interface {
	Register(cache string, drop func(key string))
	Invalidate(cache, key string)
}

// cachePriceList is the price list's name on the bus: an invalidation
// reads it from the database at once, rather than within PriceListTTL.
const cachePriceList = "pricelist"

// App is mes-api's use cases over its database.
type App struct {
	db     *sqldb.DB
	store  *store.Store
	outbox Enqueuer
	cfg    Config
	prices atomic.Pointer[contracts.PriceListV1]
	// pricesRead is when the price list was last read from the database
	// (Unix ns, 0: never); pricesLoad lets one request at a time read it.
	pricesRead atomic.Int64
	pricesLoad sync.Mutex
	// Wake is called after a commit that enqueued webhook deliveries.
	Wake func()
}

// New builds the use cases and loads the stored price list.
func New(ctx context.Context, db *sqldb.DB, ob Enqueuer, cfg Config) (*App, error) {
	if cfg.DefaultRatePerMinute <= 0 {
		cfg.DefaultRatePerMinute = 600
	}
	if cfg.IdempotencyLease <= 0 {
		cfg.IdempotencyLease = 5 * time.Second
	}
	if cfg.PriceListTTL <= 0 {
		cfg.PriceListTTL = 5 * time.Second
	}
	if cfg.WebhookRetryFor <= 0 {
		cfg.WebhookRetryFor = 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Caches == nil {
		cfg.Caches = cachebus.Local()
	}
	a := &App{db: db, store: store.New(db), outbox: ob, cfg: cfg, Wake: func() {}}
	if err := a.readPriceList(ctx); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	cfg.Caches.Register(cachePriceList, func(string) {
		// A replica that cannot read it now reads it again within
		// PriceListTTL.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.readPriceList(ctx)
	})
	return a, nil
}

// readPriceList reads the stored price list and keeps it unless a newer one
// is already in memory.
func (a *App) readPriceList(ctx context.Context) error {
	pl, err := a.store.LoadPriceList(ctx, a.db)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	a.pricesRead.Store(a.now().UnixNano())
	if err != nil {
		return err
	}
	a.keepPriceList(&pl)
	return nil
}

// keepPriceList keeps p unless the one in memory is as new.
func (a *App) keepPriceList(p *contracts.PriceListV1) {
	for {
		cur := a.prices.Load()
		if cur != nil && cur.Version >= p.Version {
			return
		}
		if a.prices.CompareAndSwap(cur, p) {
			return
		}
	}
}

func (a *App) now() time.Time { return a.cfg.Now().UTC() }

// PriceList returns the price list quotes come from, if one came: the copy
// in memory, read again from the database when it is older than
// PriceListTTL. While the database does not answer, the copy in memory is
// used; without one, the error is returned.
func (a *App) PriceList(ctx context.Context) (contracts.PriceListV1, bool, error) {
	if a.now().Sub(time.Unix(0, a.pricesRead.Load())) >= a.cfg.PriceListTTL {
		a.pricesLoad.Lock()
		var err error
		if a.now().Sub(time.Unix(0, a.pricesRead.Load())) >= a.cfg.PriceListTTL {
			err = a.readPriceList(ctx)
		}
		a.pricesLoad.Unlock()
		if err != nil && !errors.Is(err, store.ErrNotFound) && a.prices.Load() == nil {
			return contracts.PriceListV1{}, false, err
		}
	}
	p := a.prices.Load()
	if p == nil {
		return contracts.PriceListV1{}, false, nil
	}
	return *p, true, nil
}
