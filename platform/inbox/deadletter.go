package inbox

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"go.opentelemetry.io/otel/trace"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/telemetry"
)

// DeadLetter is a message a consumer gave up on.
type DeadLetter struct {
	ID         string            `json:"id"`
	Consumer   string            `json:"consumer"`
	MsgID      string            `json:"msg_id"`
	Subject    string            `json:"subject"`
	Key        string            `json:"key"`
	Payload    string            `json:"payload"` // as received, or "base64:..." when not UTF-8 text
	Headers    map[string]string `json:"headers"`
	Reason     string            `json:"reason"`
	Deliveries int               `json:"deliveries"`
	CreatedAt  time.Time         `json:"created_at"`
	Status     string            `json:"status"`   // open | replayed | discarded
	TraceID    string            `json:"trace_id"` // from the message's trace context
}

// ErrNotFound is returned for a dead letter that does not exist or is not
// open.
var ErrNotFound = errors.New("inbox: no such open dead letter")

const base64Prefix = "base64:"

func (in *Inbox) deadLetter(ctx context.Context, consumer string, msg Message, reason error) error {
	payload := encodePayload(msg.Payload)
	hb, _ := json.Marshal(msg.Headers)
	id := uuid.NewString()
	if msg.ID == "" {
		msg.ID = id
	}
	_, err := in.db.ExecContext(ctx, `INSERT INTO dead_letter (id, consumer, msg_id, subject, msg_key, payload, headers, reason, deliveries, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		id, consumer, sanitize(msg.ID), sanitize(msg.Subject), sanitize(msg.Key), payload, sanitize(string(hb)), sanitize(reason.Error()), msg.Deliveries, time.Now().UnixMicro())
	if err != nil {
		return fmt.Errorf("store dead letter: %w", err)
	}
	in.metrics.deadLetters.WithLabelValues(consumer).Inc()
	in.log.ErrorContext(ctx, "inbox dead-lettered a message; needs a person",
		"consumer", consumer, "message_id", msg.ID, "subject", msg.Subject, "key", msg.Key,
		"deliveries", msg.Deliveries, "reason", reason.Error(), "dead_letter_id", id)
	return nil
}

// encodePayload stores a payload as text: as is when it is UTF-8 without NUL
// (PostgreSQL TEXT cannot hold NUL), else base64 behind a prefix. A text
// payload that itself starts with the prefix is encoded too, so that
// decodePayload gives back exactly what arrived.
func encodePayload(p []byte) string {
	s := string(p)
	if utf8.Valid(p) && !strings.ContainsRune(s, 0) && !strings.HasPrefix(s, base64Prefix) {
		return s
	}
	return base64Prefix + base64.StdEncoding.EncodeToString(p)
}

func decodePayload(s string) ([]byte, error) {
	if b64, ok := strings.CutPrefix(s, base64Prefix); ok {
		return base64.StdEncoding.DecodeString(b64)
	}
	return []byte(s), nil
}

func sanitize(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "?")
}

// DeadLetters returns up to limit dead letters with the status ("open",
// "replayed", "discarded" or "" for all), newest first.
func (in *Inbox) DeadLetters(ctx context.Context, status string, limit int) ([]DeadLetter, error) {
	return ListDeadLetters(ctx, in.db, status, limit)
}

// ListDeadLetters is DeadLetters without a running inbox, for commands.
func ListDeadLetters(ctx context.Context, db *sqldb.DB, status string, limit int) ([]DeadLetter, error) {
	if limit <= 0 || limit > 10000 {
		limit = 100
	}
	rs, err := db.QueryContext(ctx, `SELECT id, consumer, msg_id, subject, msg_key, payload, headers, reason, deliveries, created_at, status
		FROM dead_letter WHERE ($1 = '' OR status = $1) ORDER BY created_at DESC, id LIMIT $2`, status, limit)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	return scanDeadLetters(rs)
}

// scanDeadLetters reads the rows of a query of dead_letter's columns id,
// consumer, msg_id, subject, msg_key, payload, headers, reason, deliveries,
// created_at and status, in that order.
func scanDeadLetters(rs *sql.Rows) ([]DeadLetter, error) {
	defer rs.Close()
	out := []DeadLetter{} // an empty list is [], not null, in JSON
	for rs.Next() {
		var d DeadLetter
		var headers string
		var created int64
		if err := rs.Scan(&d.ID, &d.Consumer, &d.MsgID, &d.Subject, &d.Key, &d.Payload, &headers, &d.Reason, &d.Deliveries, &created, &d.Status); err != nil {
			return nil, err
		}
		_ = json.Unmarshal([]byte(headers), &d.Headers)
		d.CreatedAt, d.TraceID = sqldb.FromMicros(created), telemetry.TraceIDOf(d.Headers)
		out = append(out, d)
	}
	return out, rs.Err()
}

// Replay runs an open dead letter through its handler again, now, in the
// same kind of transaction as a delivery: the inbox record, the handler and
// the dead letter's new status commit together. If the message was processed
// meanwhile the dead letter is only closed.
func (in *Inbox) Replay(ctx context.Context, id string) error {
	d, err := in.openDeadLetter(ctx, id)
	if err != nil {
		return err
	}
	h, err := in.handlerFor(d.Consumer, d.Subject)
	if err != nil {
		return err
	}
	payload, err := decodePayload(d.Payload)
	if err != nil {
		return fmt.Errorf("replay %s: payload: %w", id, err)
	}
	msg := Message{ID: d.MsgID, Subject: d.Subject, Key: d.Key, Payload: payload, Headers: d.Headers, Deliveries: d.Deliveries + 1}
	err = in.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		if _, err := deliverTx(ctx, tx, d.Consumer, h, msg); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE dead_letter SET status = 'replayed', resolved_at = $1 WHERE id = $2`, time.Now().UnixMicro(), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("replay %s: %w", id, err)
	}
	in.log.InfoContext(ctx, "dead letter replayed", "dead_letter_id", id, "message_id", d.MsgID, "subject", d.Subject)
	return nil
}

// Deliver processes msg with h as a delivery from the broker is processed,
// in one transaction: the inbox record of consumer and, unless msg was
// processed before, the handler's effect. It tells whether msg was a
// duplicate. Tests of a service's handlers deliver with it.
func Deliver(ctx context.Context, db *sqldb.DB, consumer string, h Handler, msg Message) (dup bool, err error) {
	err = db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		dup, err = deliverTx(ctx, tx, consumer, h, msg)
		return err
	})
	return dup, err
}

// deliverTx records msg as processed by consumer and runs h, in tx, unless
// it was processed before.
func deliverTx(ctx context.Context, tx *sqldb.Tx, consumer string, h Handler, msg Message) (dup bool, err error) {
	if dup, err := record(ctx, tx, consumer, msg); err != nil || dup {
		return dup, err
	}
	return false, h(ctx, tx, msg)
}

// record writes msg's inbox record for consumer in tx, with its key, its
// trace (the span of ctx, or the message's trace context) and the delivery
// that processed it. It tells whether the record was there already.
func record(ctx context.Context, tx *sqldb.Tx, consumer string, msg Message) (dup bool, err error) {
	traceID := ""
	if sc := trace.SpanContextFromContext(ctx); sc.TraceID().IsValid() {
		traceID = sc.TraceID().String()
	} else {
		traceID = telemetry.TraceIDOf(msg.Headers)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO inbox (consumer, msg_id, subject, processed_at, msg_key, trace_id, deliveries)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (consumer, msg_id) DO NOTHING`,
		consumer, msg.ID, msg.Subject, time.Now().UnixMicro(), sanitize(msg.Key), traceID, msg.Deliveries)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n != 1, nil
}

// Discard closes an open dead letter without processing it.
func (in *Inbox) Discard(ctx context.Context, id string) error {
	return DiscardDeadLetter(ctx, in.db, id)
}

// DiscardDeadLetter is Discard without a running inbox, for commands.
func DiscardDeadLetter(ctx context.Context, db *sqldb.DB, id string) error {
	res, err := db.ExecContext(ctx, `UPDATE dead_letter SET status = 'discarded', resolved_at = $1 WHERE id = $2 AND status = 'open'`, time.Now().UnixMicro(), id)
	if err != nil {
		return fmt.Errorf("discard %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("discard %s: %w", id, ErrNotFound)
	}
	return nil
}

func (in *Inbox) openDeadLetter(ctx context.Context, id string) (DeadLetter, error) {
	var d DeadLetter
	var headers string
	err := in.db.QueryRowContext(ctx, `SELECT id, consumer, msg_id, subject, msg_key, payload, headers, deliveries FROM dead_letter
		WHERE id = $1 AND status = 'open'`, id).Scan(&d.ID, &d.Consumer, &d.MsgID, &d.Subject, &d.Key, &d.Payload, &headers, &d.Deliveries)
	if err != nil {
		return d, fmt.Errorf("replay %s: %w", id, ErrNotFound)
	}
	_ = json.Unmarshal([]byte(headers), &d.Headers)
	return d, nil
}

func (in *Inbox) handlerFor(consumer, subject string) (Handler, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, s := range in.subs {
		if in.ConsumerName(s.name) == consumer {
			if h, ok := s.handlers[subject]; ok {
				return h, nil
			}
		}
	}
	return nil, fmt.Errorf("replay: no handler for %s on %s", subject, consumer)
}
