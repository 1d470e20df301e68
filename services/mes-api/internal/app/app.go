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
	"sync/atomic"
	"time"

	"github.com/fabrika/fabrika/contracts"
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
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// App is mes-api's use cases over its database.
type App struct {
	db     *sqldb.DB
	store  *store.Store
	outbox Enqueuer
	cfg    Config
	prices atomic.Pointer[contracts.PriceListV1]
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
	if cfg.WebhookRetryFor <= 0 {
		cfg.WebhookRetryFor = 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &App{db: db, store: store.New(db), outbox: ob, cfg: cfg, Wake: func() {}}
	pl, err := a.store.LoadPriceList(ctx, db)
	switch {
	case err == nil:
		a.prices.Store(&pl)
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	return a, nil
}

func (a *App) now() time.Time { return a.cfg.Now().UTC() }

// PriceList returns the price list quotes come from, if one came.
func (a *App) PriceList() (contracts.PriceListV1, bool) {
	p := a.prices.Load()
	if p == nil {
		return contracts.PriceListV1{}, false
	}
	return *p, true
}
