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

// StepStarted records that a step started; events may come in any order,
// so a start never erases a finish.
func (w *Writes) StepStarted(orderID string, step Step) {
	w.b.Add(`INSERT INTO crm_floor (order_id, line_no, seq, operation, workstation, started_by, started_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (order_id, line_no, seq) DO UPDATE SET started_by = excluded.started_by, started_at = excluded.started_at`,
		orderID, step.LineNo, step.Seq, step.Operation, step.Workstation, step.StartedBy, sqldb.Micros(step.StartedAt))
}

// StepFinished records that a step finished.
func (w *Writes) StepFinished(orderID string, step Step) {
	w.b.Add(`INSERT INTO crm_floor (order_id, line_no, seq, operation, workstation, finished_by, finished_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (order_id, line_no, seq) DO UPDATE SET finished_by = excluded.finished_by, finished_at = excluded.finished_at`,
		orderID, step.LineNo, step.Seq, step.Operation, step.Workstation, step.FinishedBy, sqldb.Micros(step.FinishedAt))
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
