package inbox

import (
	"context"
	"fmt"
	"time"

	"github.com/fabrika/fabrika/platform/sqldb"
)

// Record is a message a consumer processed, as its inbox recorded it.
type Record struct {
	Consumer    string    `json:"consumer"`
	MsgID       string    `json:"msg_id"`
	Subject     string    `json:"subject"`
	Key         string    `json:"key"`
	TraceID     string    `json:"trace_id"`
	Deliveries  int       `json:"deliveries"` // the delivery that was processed; 1 the first
	ProcessedAt time.Time `json:"processed_at"`
}

// KeyHistory is what a service's inbox knows of one key (an order id): the
// messages it processed and those it dead-lettered, oldest first.
type KeyHistory struct {
	Processed   []Record     `json:"processed"`
	DeadLetters []DeadLetter `json:"dead_letters"`
}

// ByKey returns the inbox records and dead letters of messages with key,
// oldest first, at most limit of each (default and maximum 1000). Records
// are kept for the retention (Config.Retention) only; dead letters until
// they are deleted.
func ByKey(ctx context.Context, db *sqldb.DB, key string, limit int) (KeyHistory, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	h := KeyHistory{Processed: []Record{}}
	rs, err := db.QueryContext(ctx, `SELECT consumer, msg_id, subject, msg_key, trace_id, deliveries, processed_at
		FROM inbox WHERE msg_key = $1 ORDER BY processed_at, consumer, msg_id LIMIT $2`, key, limit)
	if err != nil {
		return h, fmt.Errorf("inbox of key %s: %w", key, err)
	}
	defer rs.Close()
	for rs.Next() {
		var r Record
		var at int64
		if err := rs.Scan(&r.Consumer, &r.MsgID, &r.Subject, &r.Key, &r.TraceID, &r.Deliveries, &at); err != nil {
			return h, fmt.Errorf("inbox of key %s: %w", key, err)
		}
		r.ProcessedAt = sqldb.FromMicros(at)
		h.Processed = append(h.Processed, r)
	}
	if err := rs.Err(); err != nil {
		return h, fmt.Errorf("inbox of key %s: %w", key, err)
	}
	dl, err := db.QueryContext(ctx, `SELECT id, consumer, msg_id, subject, msg_key, payload, headers, reason, deliveries, created_at, status
		FROM dead_letter WHERE msg_key = $1 ORDER BY created_at, id LIMIT $2`, key, limit)
	if err != nil {
		return h, fmt.Errorf("dead letters of key %s: %w", key, err)
	}
	if h.DeadLetters, err = scanDeadLetters(dl); err != nil {
		return h, fmt.Errorf("dead letters of key %s: %w", key, err)
	}
	return h, nil
}
