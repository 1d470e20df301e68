package store

import (
	"context"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// Event is one entry of an order's timeline.
type Event struct {
	OrderID    string    `json:"-"`
	MessageID  string    `json:"message_id"`
	Type       string    `json:"type"`
	Source     string    `json:"source"`
	At         time.Time `json:"at"`
	RecordedAt time.Time `json:"recorded_at"`
	By         string    `json:"by,omitempty"`
	Summary    string    `json:"summary"`
}

// AddEvent records a timeline entry; an entry of that message for that
// order recorded already stays as it is.
func (w *Writes) AddEvent(e Event) {
	w.b.Add(`INSERT INTO crm_timeline (order_id, message_id, event_type, source, at, recorded_at, by_name, summary)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (order_id, message_id) DO NOTHING`,
		e.OrderID, e.MessageID, e.Type, e.Source, sqldb.Micros(e.At), sqldb.Micros(e.RecordedAt), e.By, e.Summary)
}

// AddEvent records a timeline entry on its own.
func (s *Store) AddEvent(ctx context.Context, q sqldb.Querier, e Event) error {
	return s.write(ctx, q, func(w *Writes) { w.AddEvent(e) })
}

// Timeline returns an order's events, oldest first.
func (s *Store) Timeline(ctx context.Context, q sqldb.Querier, orderID string) ([]Event, error) {
	rows, err := q.QueryContext(ctx, `SELECT message_id, event_type, source, at, recorded_at, by_name, summary
		FROM crm_timeline WHERE order_id = $1 ORDER BY at, recorded_at, message_id`, orderID)
	if err != nil {
		return nil, fmt.Errorf("timeline %s: %w", orderID, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e := Event{OrderID: orderID}
		var at, rec int64
		if err := rows.Scan(&e.MessageID, &e.Type, &e.Source, &at, &rec, &e.By, &e.Summary); err != nil {
			return nil, fmt.Errorf("timeline %s: %w", orderID, err)
		}
		e.At, e.RecordedAt = sqldb.FromMicros(at), sqldb.FromMicros(rec)
		out = append(out, e)
	}
	return out, rows.Err()
}
