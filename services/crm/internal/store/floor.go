package store

import (
	"context"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// Step is one step of an order's routing as the shop floor reported it.
type Step struct {
	LineNo      int       `json:"line_no"`
	Seq         int       `json:"seq"`
	Operation   string    `json:"operation"`
	Workstation string    `json:"workstation"`
	StartedBy   string    `json:"started_by,omitempty"`
	StartedAt   time.Time `json:"started_at"`
	FinishedBy  string    `json:"finished_by,omitempty"`
	FinishedAt  time.Time `json:"finished_at"`
}

// RecordStep records a step that mes-operator started or finished (by
// step.FinishedAt: zero for a start) with its timeline entry e without
// reading the order first: an order has two such
// events per step of its routing, and they change nothing of the order
// itself. Both are written only where the order exists and e's message is
// not in its timeline yet; recorded tells whether they were. Events come in
// any order, so a start never erases a finish.
func (s *Store) RecordStep(ctx context.Context, q sqldb.Querier, step Step, e Event) (recorded bool, err error) {
	by, at, who, when := "started_by", "started_at", step.StartedBy, step.StartedAt
	if !step.FinishedAt.IsZero() {
		by, at, who, when = "finished_by", "finished_at", step.FinishedBy, step.FinishedAt
	}
	var w Writes
	// First: it looks for the timeline entry written next.
	w.b.Add(`INSERT INTO crm_floor (order_id, line_no, seq, operation, workstation, `+by+`, `+at+`)
		SELECT id, CAST($2 AS INTEGER), CAST($3 AS INTEGER), CAST($4 AS TEXT), CAST($5 AS TEXT), CAST($6 AS TEXT), CAST($7 AS BIGINT)
		FROM crm_orders WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM crm_timeline WHERE order_id = $1 AND message_id = $8)
		ON CONFLICT (order_id, line_no, seq) DO UPDATE SET `+by+` = excluded.`+by+`, `+at+` = excluded.`+at,
		e.OrderID, step.LineNo, step.Seq, step.Operation, step.Workstation, who, sqldb.Micros(when), e.MessageID)
	i := w.b.Add(`INSERT INTO crm_timeline (order_id, message_id, event_type, source, at, recorded_at, by_name, summary)
		SELECT id, CAST($2 AS TEXT), CAST($3 AS TEXT), CAST($4 AS TEXT), CAST($5 AS BIGINT), CAST($6 AS BIGINT), CAST($7 AS TEXT), CAST($8 AS TEXT)
		FROM crm_orders WHERE id = $1 ON CONFLICT (order_id, message_id) DO NOTHING`,
		e.OrderID, e.MessageID, e.Type, e.Source, sqldb.Micros(e.At), sqldb.Micros(e.RecordedAt), e.By, e.Summary)
	counts, err := w.b.Exec(ctx, q)
	if err != nil {
		return false, fmt.Errorf("record step %d/%d of %s: %w", step.LineNo, step.Seq, e.OrderID, err)
	}
	return counts[i] == 1, nil
}

// Floor returns the steps the shop floor reported for an order, by line
// and sequence.
func (s *Store) Floor(ctx context.Context, q sqldb.Querier, orderID string) ([]Step, error) {
	rows, err := q.QueryContext(ctx, `SELECT line_no, seq, operation, workstation, started_by, started_at, finished_by, finished_at
		FROM crm_floor WHERE order_id = $1 ORDER BY line_no, seq`, orderID)
	if err != nil {
		return nil, fmt.Errorf("shop floor of %s: %w", orderID, err)
	}
	defer rows.Close()
	out := []Step{}
	for rows.Next() {
		var s Step
		var started, finished int64
		if err := rows.Scan(&s.LineNo, &s.Seq, &s.Operation, &s.Workstation, &s.StartedBy, &started, &s.FinishedBy, &finished); err != nil {
			return nil, fmt.Errorf("scan shop floor step: %w", err)
		}
		s.StartedAt, s.FinishedAt = sqldb.FromMicros(started), sqldb.FromMicros(finished)
		out = append(out, s)
	}
	return out, rows.Err()
}
