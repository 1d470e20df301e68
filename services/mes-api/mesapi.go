// Package mesapi is the B2B API of Fabrika's MES: companies with API keys
// get quotes from mes-api's own copy of the price list, place orders
// idempotently (order.placed, channel "api"), follow their orders' statuses,
// request cancellations and receive signed webhooks for every status change.
// It never calculates a binding price and holds only its clients' orders,
// fed by the platform's events.
package mesapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/netguard"
	"github.com/fabrika/fabrika/platform/orderevent"
	"github.com/fabrika/fabrika/platform/ordertrace"
	"github.com/fabrika/fabrika/platform/ratelimit"
	"github.com/fabrika/fabrika/platform/secretbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/mes-api/internal/app"
	"github.com/fabrika/fabrika/services/mes-api/internal/delivery"
	"github.com/fabrika/fabrika/services/mes-api/internal/store"
	"github.com/fabrika/fabrika/services/mes-api/internal/web"
)

// Config is mes-api's own configuration.
type Config struct {
	// Identity verifies the gateway's staff tokens; the admin routes
	// (/clients...) need role admin. Required.
	Identity *identity.Verifier
	// Webhooks decides which addresses webhook deliveries may connect to.
	// The zero value refuses every address that is not public, on every
	// connection after DNS resolution (and, as a courtesy, at registration).
	// AllowPrivate is for development only (FABRIKA_ALLOW_PRIVATE_WEBHOOKS).
	Webhooks netguard.Guard
	// Secrets seals webhook signing secrets at rest (a key from
	// FABRIKA_SECRET_KEY). Without it mes-api refuses to create webhook
	// endpoints, and refuses to start on a database that holds some.
	Secrets *secretbox.Box
	// DefaultRatePerMinute is a new key's rate limit when the admin gives
	// none (default 600).
	DefaultRatePerMinute int
	// IdempotencyLease is the lease of an in-flight Idempotency-Key, renewed
	// while its request runs; a retry takes over a dead request's key within
	// it (default 5s).
	IdempotencyLease time.Duration
	// IdempotencyRetention is how long finished Idempotency-Keys are kept
	// and replayed (default 24h).
	IdempotencyRetention time.Duration
	// Webhook tunes the delivery worker; RetryFor is how long a delivery is
	// retried before it is marked failed (default 24h).
	Webhook  delivery.Config
	RetryFor time.Duration
}

// Service is a running mes-api.
type Service struct {
	h      *host.Host
	cfg    Config
	app    *app.App
	api    *web.Handler
	worker *delivery.Worker
}

// New builds mes-api on a host: its use cases, its subscriptions (the price
// list and the order status events) and its webhook worker.
func New(ctx context.Context, h *host.Host, cfg Config) (*Service, error) {
	if cfg.Identity == nil {
		return nil, errors.New("mes-api: an identity verifier is required")
	}
	if cfg.IdempotencyRetention <= 0 {
		cfg.IdempotencyRetention = 24 * time.Hour
	}
	acfg := app.Config{Webhooks: cfg.Webhooks, Secrets: cfg.Secrets, Resolver: net.DefaultResolver, DefaultRatePerMinute: cfg.DefaultRatePerMinute,
		IdempotencyLease: cfg.IdempotencyLease, WebhookRetryFor: cfg.RetryFor, Caches: h.Caches}
	a, err := app.New(ctx, h.DB, h.Outbox, acfg)
	if err != nil {
		return nil, fmt.Errorf("mes-api: %w", err)
	}
	wcfg := cfg.Webhook
	wcfg.Guard = cfg.Webhooks
	wcfg.Secrets = cfg.Secrets
	sealed, err := a.SealSecrets(ctx)
	if err != nil {
		return nil, fmt.Errorf("mes-api: %w", err)
	}
	if sealed > 0 {
		h.Log.InfoContext(ctx, "webhook secrets sealed at rest", "endpoints", sealed)
	}
	w := delivery.New(h.DB, wcfg, h.Log)
	a.Wake = w.Wake
	// 10 invalid keys from an address are free, then each costs a wait that
	// doubles from 1 s to 1 min.
	badKeys := ratelimit.NewThrottle(ratelimit.Backoff{Free: 10, Base: time.Second, Max: time.Minute}, 0, nil)
	limiter := ratelimit.New(ratelimit.PerMinute(60), 0, nil) // each key is limited at its own rate (AllowRate)
	s := &Service{h: h, cfg: cfg, app: a, worker: w, api: web.New(a, limiter, badKeys, cfg.Identity, h.Log)}
	h.Inbox.Subscribe("pricelist", a.PriceListHandlers())
	h.Inbox.SubscribeWith("orders", a.Handlers(), inbox.SubscriptionOptions{Skip: orderevent.OtherChannel(contracts.ChannelAPI)})
	h.HandleOrderTrace(func(ctx context.Context, ref string) (ordertrace.Summary, bool, error) {
		return store.New(h.DB).Trace(ctx, h.DB, ref)
	})
	return s, nil
}

// Handler returns mes-api's routes: /v1/... for API clients and /clients...
// for admins.
func (s *Service) Handler() http.Handler { return s.api.Handler() }

// Background returns the webhook delivery worker and the housekeeping loop.
func (s *Service) Background() []func(context.Context) error {
	return []func(context.Context) error{s.worker.Run, host.Every(10*time.Minute, s.h.Log, "prune idempotency keys", func(ctx context.Context) error {
		_, err := store.New(s.h.DB).PruneIdempotency(ctx, s.h.DB, time.Now().Add(-s.cfg.IdempotencyRetention))
		return err
	})}
}

// Credentials are what an admin hands to a new client: Key is shown once.
type Credentials struct {
	ClientID string   `json:"client_id"`
	Name     string   `json:"name"`
	KeyID    string   `json:"key_id"`
	Prefix   string   `json:"prefix"`
	Key      string   `json:"key"`
	Scopes   []string `json:"scopes"`
	Rate     int      `json:"rate_limit_per_minute"`
}

// CreateClient records a client with one key, for a command such as
// `fabrika api-client create`; db must hold mes-api's migrations. scopes nil
// gives every scope; ratePerMinute 0 gives 600.
func CreateClient(ctx context.Context, db *sqldb.DB, name, email string, scopes []string, ratePerMinute int) (Credentials, error) {
	if scopes == nil {
		scopes = []string{"orders:read", "orders:write", "webhooks:manage"}
	}
	if ratePerMinute == 0 {
		ratePerMinute = 600
	}
	var cr Credentials
	err := db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		now := time.Now()
		c, err := app.CreateClientTx(ctx, store.New(db), tx, name, email, now)
		if err != nil {
			return err
		}
		k, err := app.CreateKeyTx(ctx, store.New(db), tx, c.ID, scopes, ratePerMinute, now)
		if err != nil {
			return err
		}
		cr = Credentials{ClientID: c.ID, Name: c.Name, KeyID: k.ID, Prefix: k.Prefix, Key: k.Plain, Scopes: k.Scopes, Rate: k.RatePerMinute}
		return nil
	})
	if err != nil {
		return Credentials{}, fmt.Errorf("create API client: %w", err)
	}
	return cr, nil
}

// KeyInfo is what an admin sees of a key: never the key itself.
type KeyInfo struct {
	ID         string    `json:"id"`
	Prefix     string    `json:"prefix"`
	Scopes     []string  `json:"scopes"`
	Rate       int       `json:"rate_limit_per_minute"`
	CreatedAt  time.Time `json:"created_at"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
}

// ClientInfo is a client with its keys, for `fabrika apiclient list`.
type ClientInfo struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Keys      []KeyInfo `json:"keys"`
}

// ListClients lists every client with its keys' scopes and last use.
func ListClients(ctx context.Context, db *sqldb.DB) ([]ClientInfo, error) {
	cs, err := store.New(db).ListClients(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("list API clients: %w", err)
	}
	out := []ClientInfo{}
	for _, c := range cs {
		ci := ClientInfo{ID: c.ID, Name: c.Name, Email: c.Email, CreatedAt: c.CreatedAt, RevokedAt: c.RevokedAt, Keys: []KeyInfo{}}
		for _, k := range c.Keys {
			ci.Keys = append(ci.Keys, KeyInfo{ID: k.ID, Prefix: k.Prefix, Scopes: k.Scopes, Rate: k.RatePerMinute,
				CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt, LastUsedAt: k.LastUsedAt})
		}
		out = append(out, ci)
	}
	return out, nil
}

// RevokeKey revokes a key by its id.
func RevokeKey(ctx context.Context, db *sqldb.DB, keyID string) error {
	clientID, err := store.New(db).KeyClient(ctx, db, keyID)
	if err != nil {
		return fmt.Errorf("revoke key: %w", err)
	}
	if err := store.New(db).RevokeKey(ctx, db, clientID, keyID, time.Now()); err != nil {
		return fmt.Errorf("revoke key: %w", err)
	}
	return nil
}

// RollKey replaces a key with a new one of the same scopes and rate and
// revokes the old one; the new key is shown once.
func RollKey(ctx context.Context, db *sqldb.DB, keyID string) (Credentials, error) {
	clientID, err := store.New(db).KeyClient(ctx, db, keyID)
	if err != nil {
		return Credentials{}, fmt.Errorf("roll key: %w", err)
	}
	k, err := app.RollKey(ctx, db, keyID, time.Now())
	if err != nil {
		return Credentials{}, fmt.Errorf("roll key: %w", err)
	}
	c, err := store.New(db).GetClient(ctx, db, clientID)
	if err != nil {
		return Credentials{}, fmt.Errorf("roll key: %w", err)
	}
	return Credentials{ClientID: clientID, Name: c.Name, KeyID: k.ID, Prefix: k.Prefix, Key: k.Plain, Scopes: k.Scopes, Rate: k.RatePerMinute}, nil
}
