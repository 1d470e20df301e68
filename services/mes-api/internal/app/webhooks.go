package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/fabrika/fabrika/platform/secretbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/text"
	"github.com/fabrika/fabrika/services/mes-api/internal/store"
	"github.com/fabrika/fabrika/services/mes-api/internal/webhook"
)

// MaxEndpoints bounds a client's webhook endpoints.
const MaxEndpoints = 20

// CreateEndpoint registers a webhook endpoint; its secret is returned once.
func (a *App) CreateEndpoint(ctx context.Context, clientID, rawURL string, events []string, description string) (store.Endpoint, error) {
	if a.cfg.Secrets == nil {
		return store.Endpoint{}, fail(KindUnavailable, "webhooks are disabled on this server: it has no key to keep their secrets (FABRIKA_SECRET_KEY)")
	}
	fields := map[string]string{}
	u, err := webhook.ValidateURL(strings.TrimSpace(rawURL))
	if err != nil {
		fields["url"] = err.Error()
	} else if err := a.cfg.Webhooks.CheckHost(ctx, a.cfg.Resolver, u.Hostname()); err != nil {
		// A courtesy: the delivery worker's dialer is what refuses.
		fields["url"] = "refused: the host must be a public address (not loopback, private, link-local or internal) that resolves"
	}
	var evs []string
	for _, e := range events {
		if !slices.Contains(WebhookEvents(), e) {
			fields["events"] = "unknown event " + e + "; known: " + strings.Join(WebhookEvents(), ", ")
			break
		}
		if !slices.Contains(evs, e) {
			evs = append(evs, e)
		}
	}
	if evs == nil {
		evs = []string{}
	}
	description = strings.TrimSpace(description)
	if err := (text.Field{Max: 200}).Check(description); err != nil {
		fields["description"] = err.Error()
	}
	if len(fields) > 0 {
		return store.Endpoint{}, invalid("the webhook endpoint is not valid", fields)
	}
	secret, err := webhook.NewSecret()
	if err != nil {
		return store.Endpoint{}, err
	}
	e := store.Endpoint{ID: store.NewID(), ClientID: clientID, URL: u.String(), Secret: secret, Events: evs,
		Description: description, CreatedAt: a.now()}
	stored := e
	if stored.Secret, err = a.cfg.Secrets.Seal([]byte(secret), []byte(e.ID)); err != nil {
		return store.Endpoint{}, err
	}
	err = a.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		eps, err := a.store.ListEndpoints(ctx, tx, clientID)
		if err != nil {
			return err
		}
		if len(eps) >= MaxEndpoints {
			return fail(KindConflict, "a client may have at most %d webhook endpoints", MaxEndpoints)
		}
		return a.store.InsertEndpoint(ctx, tx, stored)
	})
	return e, err
}

// SealSecrets seals the plain webhook secrets of a database from before
// encryption at rest, and tells how many it sealed. Without a key it refuses
// a database that holds any secret: they could not be kept or used.
func (a *App) SealSecrets(ctx context.Context) (int, error) {
	secrets, err := a.store.EndpointSecrets(ctx, a.db)
	if err != nil {
		return 0, err
	}
	if a.cfg.Secrets == nil {
		if len(secrets) > 0 {
			return 0, fmt.Errorf("the database holds %d webhook endpoints but no FABRIKA_SECRET_KEY is set to keep their secrets", len(secrets))
		}
		return 0, nil
	}
	n := 0
	for _, s := range secrets {
		if secretbox.IsSealed(s.Secret) {
			if _, err := a.cfg.Secrets.Open(s.Secret, []byte(s.ID)); err != nil {
				return n, fmt.Errorf("webhook endpoint %s: %w", s.ID, err)
			}
			continue
		}
		sealed, err := a.cfg.Secrets.Seal([]byte(s.Secret), []byte(s.ID))
		if err != nil {
			return n, err
		}
		if err := a.store.ReplaceEndpointSecret(ctx, a.db, s.ID, s.Secret, sealed); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// ListEndpoints lists a client's endpoints without their secrets.
func (a *App) ListEndpoints(ctx context.Context, clientID string) ([]store.Endpoint, error) {
	eps, err := a.store.ListEndpoints(ctx, a.db, clientID)
	for i := range eps {
		eps[i].Secret = ""
	}
	if eps == nil {
		eps = []store.Endpoint{}
	}
	return eps, err
}

// DeleteEndpoint deletes a client's endpoint.
func (a *App) DeleteEndpoint(ctx context.Context, clientID, id string) error {
	return notFound(a.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		return a.store.DeleteEndpoint(ctx, tx, clientID, id, a.now())
	}), "webhook endpoint")
}

// ListDeliveries is an endpoint's delivery log, newest first.
func (a *App) ListDeliveries(ctx context.Context, clientID, endpointID, cursor string, limit int) (Page[store.Delivery], error) {
	if _, err := a.store.GetEndpoint(ctx, a.db, clientID, endpointID); err != nil {
		return Page[store.Delivery]{}, notFound(err, "webhook endpoint")
	}
	before, err := decodeCursor(cursor)
	if err != nil {
		return Page[store.Delivery]{}, err
	}
	n, err := pageSize(limit)
	if err != nil {
		return Page[store.Delivery]{}, err
	}
	ds, err := a.store.ListDeliveries(ctx, a.db, endpointID, before, n+1)
	if err != nil {
		return Page[store.Delivery]{}, err
	}
	p := Page[store.Delivery]{Data: ds}
	if len(ds) > n {
		p.Data = ds[:n]
		p.NextCursor = encodeCursor(ds[n-1].ID)
	}
	if p.Data == nil {
		p.Data = []store.Delivery{}
	}
	return p, nil
}

// ReplayDelivery sends a delivery's message again as a new delivery with the
// same webhook-id, so that a receiver that did get it can recognise it.
func (a *App) ReplayDelivery(ctx context.Context, clientID, id string) (store.Delivery, error) {
	var d store.Delivery
	err := a.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		orig, err := a.store.GetDelivery(ctx, tx, clientID, id)
		if err != nil {
			return notFound(err, "webhook delivery")
		}
		if _, err := a.store.GetEndpoint(ctx, tx, clientID, orig.EndpointID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fail(KindConflict, "the webhook endpoint of this delivery was deleted")
			}
			return err
		}
		now := a.now()
		d = store.Delivery{ID: store.NewID(), MsgID: orig.MsgID, EndpointID: orig.EndpointID, ClientID: clientID, OrderID: orig.OrderID,
			EventType: orig.EventType, Payload: orig.Payload, Status: store.DeliveryPending, NextAttemptAt: now, ReplayOf: orig.ID,
			CreatedAt: now, UpdatedAt: now, GiveUpAt: now.Add(a.cfg.WebhookRetryFor)}
		if err := a.store.InsertDelivery(ctx, tx, d); err != nil {
			return err
		}
		tx.AfterCommit(a.Wake)
		return nil
	})
	return d, err
}
