package mesapi_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
	mesapi "github.com/fabrika/fabrika/services/mes-api"
	"github.com/fabrika/fabrika/services/mes-api/internal/store"
)

// TestIdempotencyClaimFenced is issue 16 point 12: a request that died
// mid-request (its claim is never renewed) blocks its key only for the
// claim's short lease, and a request that outlives its claim can neither
// commit a second order nor release the claim that took over.
func TestIdempotencyClaimFenced(t *testing.T) {
	t.Parallel()
	cfg := fastWebhooks()
	cfg.IdempotencyLease = 500 * time.Millisecond
	e := start(t, cfg, true)
	cr, err := mesapi.CreateClient(e.ctx, e.h.DB, "Fence GmbH", "", nil, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	body := orderBody(4)
	hdr := map[string]string{"Idempotency-Key": "crash"}

	// A request claimed the key and its process died (kill -9): nobody
	// renews the claim.
	now := time.Now()
	dead := store.Idempotency{ClientID: cr.ClientID, Key: "crash", RequestHash: sha(body), LockedUntil: now.Add(cfg.IdempotencyLease),
		CreatedAt: now, Token: "dead-request"}
	if ok, err := store.New(e.h.DB).ClaimIdempotency(e.ctx, e.h.DB, dead); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if r := e.do("POST", "/v1/orders", cr.Key, hdr, body); r.status != http.StatusConflict || r.header.Get("Retry-After") == "" {
		t.Fatalf("retry while the claim lives: %d %s", r.status, r.body)
	}
	var created response
	e.eventually("a retry takes the dead claim over", func() bool {
		created = e.do("POST", "/v1/orders", cr.Key, hdr, body)
		return created.status == http.StatusCreated
	})
	var o struct{ ID string }
	created.json(t, &o)

	// The dead request wakes up (a long GC pause, a partition) and tries to
	// commit its order: the fence refuses, its transaction rolls back.
	err = e.h.DB.InTx(e.ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE api_order SET reference = 'the dead request was here' WHERE id = $1`, o.ID); err != nil {
			return err
		}
		return store.New(e.h.DB).CompleteIdempotency(ctx, tx, cr.ClientID, "crash", dead.Token, http.StatusCreated, []byte(`{"id":"other"}`))
	})
	if !errors.Is(err, store.ErrClaimLost) {
		t.Fatalf("the dead request completed the key: %v", err)
	}
	if err := store.New(e.h.DB).RenewIdempotency(e.ctx, e.h.DB, cr.ClientID, "crash", dead.Token, time.Now().Add(time.Hour)); !errors.Is(err, store.ErrClaimLost) {
		t.Fatalf("the dead request renewed the key: %v", err)
	}
	if err := store.New(e.h.DB).ReleaseIdempotency(e.ctx, e.h.DB, cr.ClientID, "crash", dead.Token); err != nil {
		t.Fatal(err)
	}
	rec, err := store.New(e.h.DB).GetIdempotency(e.ctx, e.h.DB, cr.ClientID, "crash")
	if err != nil || rec.State != store.IdemDone {
		t.Fatalf("the dead request's release touched the key: %+v %v", rec, err)
	}
	if r := e.do("POST", "/v1/orders", cr.Key, hdr, body); r.status != http.StatusCreated || string(r.body) != string(created.body) {
		t.Fatalf("replay: %d %s", r.status, r.body)
	}
	var n int
	if err := e.h.DB.QueryRowContext(e.ctx, `SELECT COUNT(*) FROM api_order WHERE client_id = $1`, cr.ClientID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d orders from one key: %v", n, err)
	}
	var ref string
	if err := e.h.DB.QueryRowContext(e.ctx, `SELECT reference FROM api_order WHERE id = $1`, o.ID).Scan(&ref); err != nil || ref == "the dead request was here" {
		t.Fatalf("the fenced transaction committed: %q %v", ref, err)
	}

	// Two claims at the store: the second takes over only an expired lease,
	// and then only its token completes.
	a := store.Idempotency{ClientID: cr.ClientID, Key: "k2", RequestHash: "h", LockedUntil: time.Now().Add(time.Hour), CreatedAt: time.Now(), Token: "a"}
	if ok, err := store.New(e.h.DB).ClaimIdempotency(e.ctx, e.h.DB, a); err != nil || !ok {
		t.Fatal(ok, err)
	}
	b := a
	b.Token, b.CreatedAt = "b", time.Now()
	if ok, err := store.New(e.h.DB).ClaimIdempotency(e.ctx, e.h.DB, b); err != nil || ok {
		t.Fatalf("took over a live claim: %v %v", ok, err)
	}
	if err := store.New(e.h.DB).RenewIdempotency(e.ctx, e.h.DB, cr.ClientID, "k2", "a", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if ok, err := store.New(e.h.DB).ClaimIdempotency(e.ctx, e.h.DB, b); err != nil || !ok {
		t.Fatalf("did not take over an expired claim: %v %v", ok, err)
	}
	if err := store.New(e.h.DB).CompleteIdempotency(e.ctx, e.h.DB, cr.ClientID, "k2", "a", 201, nil); !errors.Is(err, store.ErrClaimLost) {
		t.Fatalf("old token completed: %v", err)
	}
	if err := store.New(e.h.DB).CompleteIdempotency(e.ctx, e.h.DB, cr.ClientID, "k2", "b", 201, []byte("{}")); err != nil {
		t.Fatalf("new token: %v", err)
	}
}
