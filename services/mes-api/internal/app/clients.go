package app

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/text"
	"github.com/fabrika/fabrika/services/mes-api/internal/apikey"
	"github.com/fabrika/fabrika/services/mes-api/internal/store"
)

// MaxRatePerMinute bounds a key's rate limit.
const MaxRatePerMinute = 100_000

// NewKey is a key just made: Plain is shown once.
type NewKey struct {
	store.Key
	Plain string `json:"key"`
}

// CreateClient records a company.
func (a *App) CreateClient(ctx context.Context, name, email string) (store.Client, error) {
	var c store.Client
	err := a.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		var err error
		c, err = CreateClientTx(ctx, a.store, tx, name, email, a.now())
		return err
	})
	return c, err
}

// CreateClientTx records a company in the caller's transaction.
func CreateClientTx(ctx context.Context, st *store.Store, q sqldb.Querier, name, email string, now time.Time) (store.Client, error) {
	name, email = strings.TrimSpace(name), strings.TrimSpace(email)
	fields := map[string]string{}
	if err := (text.Field{Max: 200, Required: true}).Check(name); err != nil {
		fields["name"] = err.Error()
	}
	if email != "" && (!strings.Contains(email, "@") || len(email) > 254 || text.Clean(email) != nil || strings.ContainsAny(email, " \t\n")) {
		fields["email"] = "must be an e-mail address"
	}
	if len(fields) > 0 {
		return store.Client{}, invalid("the client is not valid", fields)
	}
	c := store.Client{ID: store.NewID(), Name: name, Email: email, CreatedAt: now.UTC()}
	return c, st.InsertClient(ctx, q, c)
}

// CreateKey makes a key for a client.
func (a *App) CreateKey(ctx context.Context, clientID string, scopes []string, ratePerMinute int) (NewKey, error) {
	var k NewKey
	err := a.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		c, err := a.store.GetClient(ctx, tx, clientID)
		if err != nil {
			return notFound(err, "client")
		}
		if !c.RevokedAt.IsZero() {
			return fail(KindConflict, "the client is revoked")
		}
		if ratePerMinute == 0 {
			ratePerMinute = a.cfg.DefaultRatePerMinute
		}
		k, err = CreateKeyTx(ctx, a.store, tx, clientID, scopes, ratePerMinute, a.now())
		return err
	})
	return k, err
}

// CreateKeyTx makes a key for a client in the caller's transaction.
func CreateKeyTx(ctx context.Context, st *store.Store, q sqldb.Querier, clientID string, scopes []string, ratePerMinute int, now time.Time) (NewKey, error) {
	fields := map[string]string{}
	sc, err := apikey.NormalizeScopes(scopes)
	if err != nil {
		fields["scopes"] = err.Error()
	}
	if ratePerMinute < 1 || ratePerMinute > MaxRatePerMinute {
		fields["rate_limit_per_minute"] = "must be between 1 and 100000"
	}
	if len(fields) > 0 {
		return NewKey{}, invalid("the key is not valid", fields)
	}
	gen, err := apikey.Generate()
	if err != nil {
		return NewKey{}, err
	}
	k := store.Key{ID: store.NewID(), ClientID: clientID, Prefix: gen.Prefix, Scopes: sc, RatePerMinute: ratePerMinute, CreatedAt: now.UTC()}
	if err := st.InsertKey(ctx, q, k, gen.Hash); err != nil {
		return NewKey{}, err
	}
	return NewKey{Key: k, Plain: gen.Plain}, nil
}

// RevokeKey revokes one key of a client.
func (a *App) RevokeKey(ctx context.Context, clientID, keyID string) error {
	return notFound(a.store.RevokeKey(ctx, a.db, clientID, keyID, a.now()), "key")
}

// RevokeClient revokes a client and all its keys.
func (a *App) RevokeClient(ctx context.Context, clientID string) error {
	return notFound(a.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		return a.store.RevokeClient(ctx, tx, clientID, a.now())
	}), "client")
}

// GetClient reads a client with its keys (never their secrets).
func (a *App) GetClient(ctx context.Context, id string) (store.Client, error) {
	c, err := a.store.GetClient(ctx, a.db, id)
	return c, notFound(err, "client")
}

// ListClients lists every client.
func (a *App) ListClients(ctx context.Context) ([]store.Client, error) {
	return a.store.ListClients(ctx, a.db)
}

// ErrBadKey is returned by Authenticate for a key that is unknown, malformed
// or revoked; the caller says no more than that.
var ErrBadKey = errors.New("the API key is not valid")

// Authenticate finds who a presented key belongs to.
func (a *App) Authenticate(ctx context.Context, plain string) (store.Principal, error) {
	if !apikey.Plausible(plain) {
		return store.Principal{}, ErrBadKey
	}
	p, err := a.store.KeyByHash(ctx, a.db, apikey.Hash(plain))
	if errors.Is(err, store.ErrNotFound) || err == nil && p.Revoked {
		return store.Principal{}, ErrBadKey
	}
	if now := a.now(); err == nil && now.Sub(p.Key.LastUsedAt) > time.Minute {
		err = a.store.TouchKey(ctx, a.db, p.Key.ID, now, now.Add(-time.Minute))
	}
	return p, err
}

// RollKey replaces a live key of a client with a new one (RollKey below).
func (a *App) RollKey(ctx context.Context, clientID, keyID string) (NewKey, error) {
	owner, err := a.store.KeyClient(ctx, a.db, keyID)
	if err != nil {
		return NewKey{}, notFound(err, "key")
	}
	if owner != clientID {
		return NewKey{}, fail(KindNotFound, "key not found")
	}
	return RollKey(ctx, a.db, keyID, a.now())
}

// RollKey replaces a live key with a new one of the same scopes and rate,
// revoking the old one in the same transaction; the new key is shown once.
func RollKey(ctx context.Context, db *sqldb.DB, keyID string, now time.Time) (NewKey, error) {
	st := store.New(db)
	var k NewKey
	err := db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		clientID, err := st.KeyClient(ctx, tx, keyID)
		if err != nil {
			return notFound(err, "key")
		}
		c, err := st.GetClient(ctx, tx, clientID)
		if err != nil {
			return err
		}
		for _, old := range c.Keys {
			if old.ID != keyID {
				continue
			}
			if !old.RevokedAt.IsZero() || !c.RevokedAt.IsZero() {
				return fail(KindConflict, "the key is revoked; make a new one instead")
			}
			if k, err = CreateKeyTx(ctx, st, tx, clientID, old.Scopes, old.RatePerMinute, now); err != nil {
				return err
			}
			return st.RevokeKey(ctx, tx, clientID, keyID, now)
		}
		return fail(KindNotFound, "key not found")
	})
	return k, err
}
