package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// Idempotency states.
const (
	IdemInFlight = "in_flight"
	IdemDone     = "done"
)

// Idempotency is a recorded Idempotency-Key of a client.
type Idempotency struct {
	ClientID       string
	Key            string
	RequestHash    string
	State          string
	ResponseStatus int
	ResponseBody   []byte
	LockedUntil    time.Time // the claim's lease: renewed while its request runs
	CreatedAt      time.Time
	// Token fences a claim: only the request holding it may complete or
	// release the key.
	Token string
}

// ErrClaimLost is returned when a request's claim was taken over by another
// (its lease expired): it must not complete the key.
var ErrClaimLost = errors.New("the Idempotency-Key claim was taken over by another request")

// GetIdempotency reads a key's record.
func (s *Store) GetIdempotency(ctx context.Context, q sqldb.Querier, clientID, key string) (Idempotency, error) {
	r := Idempotency{ClientID: clientID, Key: key}
	var body string
	var locked, created int64
	err := q.QueryRowContext(ctx, `SELECT request_hash, state, response_status, response_body, locked_until, created_at
		FROM idempotency_key WHERE client_id = $1 AND idem_key = $2`, clientID, key).
		Scan(&r.RequestHash, &r.State, &r.ResponseStatus, &body, &locked, &created)
	if err != nil {
		return Idempotency{}, fmt.Errorf("idempotency key: %w", notFound(err))
	}
	r.ResponseBody = []byte(body)
	r.LockedUntil, r.CreatedAt = sqldb.FromMicros(locked), sqldb.FromMicros(created)
	return r, nil
}

// ClaimIdempotency records a key as in flight with r.Token until
// r.LockedUntil; it tells whether the claim was made (false: the key exists
// already). A claim whose lease expired (its request died) is taken over
// when it has the same request hash: it gets the new token, so the old
// request can neither complete nor release it.
func (s *Store) ClaimIdempotency(ctx context.Context, q sqldb.Querier, r Idempotency) (bool, error) {
	if r.Token == "" {
		return false, errors.New("claim idempotency key: a token is required")
	}
	res, err := q.ExecContext(ctx, `INSERT INTO idempotency_key (client_id, idem_key, request_hash, state, locked_until, created_at, claim_token)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (client_id, idem_key) DO UPDATE SET locked_until = excluded.locked_until, claim_token = excluded.claim_token
		WHERE idempotency_key.state = $4 AND idempotency_key.request_hash = excluded.request_hash
		  AND idempotency_key.locked_until < $6`,
		r.ClientID, r.Key, r.RequestHash, IdemInFlight, sqldb.Micros(r.LockedUntil), sqldb.Micros(r.CreatedAt), r.Token)
	if err != nil {
		return false, fmt.Errorf("claim idempotency key: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// CompleteIdempotency stores the answer of a key claimed with token, in the
// transaction that makes what the answer says: if the claim is no longer
// this token's, it returns ErrClaimLost and the caller rolls back.
func (s *Store) CompleteIdempotency(ctx context.Context, q sqldb.Querier, clientID, key, token string, status int, body []byte) error {
	res, err := q.ExecContext(ctx, `UPDATE idempotency_key SET state = $3, response_status = $4, response_body = $5, locked_until = 0
		WHERE client_id = $1 AND idem_key = $2 AND state = $6 AND claim_token = $7`, clientID, key, IdemDone, status, string(body), IdemInFlight, token)
	if err != nil {
		return fmt.Errorf("complete idempotency key: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("complete idempotency key: %w", ErrClaimLost)
	}
	return nil
}

// RenewIdempotency extends a claim's lease while its request runs; it
// returns ErrClaimLost when the claim is no longer token's.
func (s *Store) RenewIdempotency(ctx context.Context, q sqldb.Querier, clientID, key, token string, until time.Time) error {
	res, err := q.ExecContext(ctx, `UPDATE idempotency_key SET locked_until = $4
		WHERE client_id = $1 AND idem_key = $2 AND claim_token = $3 AND state = $5`, clientID, key, token, sqldb.Micros(until), IdemInFlight)
	if err != nil {
		return fmt.Errorf("renew idempotency key: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("renew idempotency key: %w", ErrClaimLost)
	}
	return nil
}

// ReleaseIdempotency forgets the claim held with token, whose request failed
// without an answer worth replaying, so that the client can retry with the
// same key. Another request's claim is left alone.
func (s *Store) ReleaseIdempotency(ctx context.Context, q sqldb.Querier, clientID, key, token string) error {
	_, err := q.ExecContext(ctx, `DELETE FROM idempotency_key WHERE client_id = $1 AND idem_key = $2 AND state = $3 AND claim_token = $4`,
		clientID, key, IdemInFlight, token)
	if err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// PruneIdempotency deletes finished keys older than before.
func (s *Store) PruneIdempotency(ctx context.Context, q sqldb.Querier, before time.Time) (int64, error) {
	res, err := q.ExecContext(ctx, `DELETE FROM idempotency_key WHERE state = $1 AND created_at < $2`, IdemDone, sqldb.Micros(before))
	if err != nil {
		return 0, fmt.Errorf("prune idempotency keys: %w", err)
	}
	return res.RowsAffected()
}
