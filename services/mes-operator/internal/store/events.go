package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// AppliedEvent is an operator action applied once, with the answer given.
type AppliedEvent struct {
	EventID     string
	Action      string
	Target      string
	Actor       string
	Fingerprint string
	Status      int
	Response    []byte
	CreatedAt   time.Time
}

// GetEvent returns an applied event; ErrNotFound when the id is new.
func (s *Store) GetEvent(ctx context.Context, q sqldb.Querier, id string) (AppliedEvent, error) {
	e := AppliedEvent{EventID: id}
	var resp string
	var created int64
	err := q.QueryRowContext(ctx, `SELECT action, target, actor, fingerprint, status, response, created_at
		FROM operator_events WHERE event_id = $1`, id).Scan(&e.Action, &e.Target, &e.Actor, &e.Fingerprint, &e.Status, &resp, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return e, ErrNotFound
	}
	if err != nil {
		return e, fmt.Errorf("get operator event %s: %w", id, err)
	}
	e.Response, e.CreatedAt = []byte(resp), sqldb.FromMicros(created)
	return e, nil
}

// InsertEvent records an applied event. A concurrent request with the same
// id makes it fail with a unique violation (sqldb.IsUniqueViolation).
func (s *Store) InsertEvent(ctx context.Context, q sqldb.Querier, e AppliedEvent) error {
	var w Writes
	w.InsertEvent(e)
	return s.Write(ctx, q, &w)
}

// InsertEvent adds the record of an applied event; an id recorded already
// makes the writes fail with a unique violation.
func (w *Writes) InsertEvent(e AppliedEvent) {
	w.add("operator event "+e.EventID, `INSERT INTO operator_events (event_id, action, target, actor, fingerprint, status, response, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		e.EventID, e.Action, e.Target, e.Actor, e.Fingerprint, e.Status, string(e.Response), sqldb.Micros(e.CreatedAt))
}

// PruneEvents deletes applied events older than before and returns how many.
func (s *Store) PruneEvents(ctx context.Context, q sqldb.Querier, before time.Time) (int64, error) {
	res, err := q.ExecContext(ctx, `DELETE FROM operator_events WHERE created_at < $1`, sqldb.Micros(before))
	if err != nil {
		return 0, fmt.Errorf("prune operator events: %w", err)
	}
	return res.RowsAffected()
}
