package store

import (
	"context"
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
	LockedUntil    time.Time
	CreatedAt      time.Time
}

// GetIdempotency reads a key's record.
func GetIdempotency(ctx context.Context, q Querier, clientID, key string) (Idempotency, error) {
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

// ClaimIdempotency records a key as in flight until lockedUntil; it tells
// whether the claim was made (false: the key exists already). A claim
// whose lock expired (its request died) is taken over when it has the same
// request hash.
func ClaimIdempotency(ctx context.Context, q Querier, r Idempotency) (bool, error) {
	res, err := q.ExecContext(ctx, `INSERT INTO idempotency_key (client_id, idem_key, request_hash, state, locked_until, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (client_id, idem_key) DO UPDATE SET locked_until = excluded.locked_until
		WHERE idempotency_key.state = $4 AND idempotency_key.request_hash = excluded.request_hash
		  AND idempotency_key.locked_until < $6`,
		r.ClientID, r.Key, r.RequestHash, IdemInFlight, sqldb.Micros(r.LockedUntil), sqldb.Micros(r.CreatedAt))
	if err != nil {
		return false, fmt.Errorf("claim idempotency key: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// CompleteIdempotency stores the answer of a claimed key.
func CompleteIdempotency(ctx context.Context, q Querier, clientID, key string, status int, body []byte) error {
	_, err := q.ExecContext(ctx, `UPDATE idempotency_key SET state = $3, response_status = $4, response_body = $5, locked_until = 0
		WHERE client_id = $1 AND idem_key = $2`, clientID, key, IdemDone, status, string(body))
	if err != nil {
		return fmt.Errorf("complete idempotency key: %w", err)
	}
	return nil
}

// ReleaseIdempotency forgets a claim whose request failed without an answer
// worth replaying, so that the client can retry with the same key.
func ReleaseIdempotency(ctx context.Context, q Querier, clientID, key string) error {
	_, err := q.ExecContext(ctx, `DELETE FROM idempotency_key WHERE client_id = $1 AND idem_key = $2 AND state = $3`,
		clientID, key, IdemInFlight)
	if err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// PruneIdempotency deletes finished keys older than before.
func PruneIdempotency(ctx context.Context, q Querier, before time.Time) (int64, error) {
	res, err := q.ExecContext(ctx, `DELETE FROM idempotency_key WHERE state = $1 AND created_at < $2`, IdemDone, sqldb.Micros(before))
	if err != nil {
		return 0, fmt.Errorf("prune idempotency keys: %w", err)
	}
	return res.RowsAffected()
}
