// Package outbox is the sender side of reliable messaging: a message is
// written in the business transaction (Enqueue) and a relay publishes it to
// JetStream once the transaction commits, retrying until the broker
// acknowledges it, then deletes it. See docs/messaging.md.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/telemetry"
)

// Message is one message to publish.
type Message struct {
	ID        string            // UUIDv7; also the JetStream Nats-Msg-Id
	Subject   string            // e.g. "fabrika.order.placed"
	Key       string            // the aggregate, e.g. the order id; order is kept per key
	Payload   json.RawMessage   // JSON
	Headers   map[string]string // trace context is added by Enqueue
	CreatedAt time.Time
	// Trace, when set, is the aggregate (e.g. the order id) whose trace the
	// message joins (telemetry.StartInTrace): a request that acts on an
	// order sends its message in the order's trace, linked to the request's.
	// Empty, the message continues ctx's trace.
	Trace string
}

// NewMessage builds a message with a fresh UUIDv7 id and payload marshalled
// to JSON.
func NewMessage(subject, key string, payload any) (Message, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Message{}, fmt.Errorf("new message id: %w", err)
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return Message{}, fmt.Errorf("marshal %s payload: %w", subject, err)
	}
	return Message{ID: id.String(), Subject: subject, Key: key, Payload: b, CreatedAt: time.Now().UTC()}, nil
}

// Header names set on every published message.
const (
	HeaderMsgID   = "Nats-Msg-Id"
	HeaderKey     = "Fabrika-Key"
	HeaderCreated = "Fabrika-Created" // RFC 3339 with nanoseconds
)

// Publisher publishes to JetStream; jetstream.JetStream implements it.
// (declared here, where it is used)

// Outbox enqueues messages and relays them to the broker.
type Outbox struct {
	db      *sqldb.DB
	pub     Publisher
	cfg     Config
	log     *slog.Logger
	prop    propagation.TextMapPropagator
	tracer  trace.Tracer
	metrics *metrics
	// owner is this relay's lease token, "<instance>#<uuid>": the instance
	// name outlives a restart (Config.Instance), the uuid tells this
	// process's leases from those of the instance's earlier processes.
	owner   string
	q       queries
	wake    chan struct{}
	fast    *fastLane
	deleted atomic.Int64 // rows the relay deleted, for the vacuum loop
	now     func() time.Time
	sweeps  atomic.Int64 // sweeps done, for tests that wait for one
	// dbFailedAt is when a statement of the relay first failed since the
	// database last answered (Unix nanoseconds; 0: none), see recover.go.
	dbFailedAt atomic.Int64
	holding    holdSet // messages claimed or in the fast lane, not yet recorded
}

// New builds an outbox over a service's database. Run must be called for the
// relay to publish anything.
func New(db *sqldb.DB, pub Publisher, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Outbox, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("outbox config: %w", err)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Outbox{
		db: db, pub: pub, cfg: cfg, log: log, metrics: m,
		prop:   telemetry.Propagator(),
		tracer: tracerProvider(cfg.TracerProvider).Tracer("github.com/fabrika/fabrika/platform/outbox"),
		owner:  cfg.Instance + "#" + uuid.NewString(),
		q:      newQueries(db.Engine()),
		wake:   make(chan struct{}, 1),
		fast:   newFastLane(4 * cfg.MaxInFlight),
		now:    time.Now,
	}, nil
}

// ErrInvalidMessage is returned by Enqueue for a message without subject or
// payload.
var ErrInvalidMessage = errors.New("outbox: invalid message")

// Enqueue writes msg in tx, the caller's business transaction, and has the
// relay publish it as soon as tx commits. The trace context of ctx is
// stored in the message's headers.
//
// While the relay runs, the row is written leased to it unless an earlier
// message of the same key is still in the table, and the commit hands the
// message straight to the relay's fast lane (see fast.go). Messages of one
// key keep their order when the transactions that enqueue them are
// serialised, as they are when they change the key's aggregate.
func (o *Outbox) Enqueue(ctx context.Context, tx *sqldb.Tx, msg Message) error {
	if msg.Subject == "" || len(msg.Payload) == 0 || !json.Valid(msg.Payload) {
		return fmt.Errorf("%w: subject and a JSON payload are required", ErrInvalidMessage)
	}
	if msg.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("new message id: %w", err)
		}
		msg.ID = id.String()
	}
	if msg.Key == "" {
		msg.Key = msg.ID
	}
	if msg.CreatedAt.IsZero() {
		msg.CreatedAt = o.now().UTC()
	}
	ctx, span := o.startSpan(ctx, msg)
	defer span.End()
	h := make(map[string]string, len(msg.Headers)+2)
	for k, v := range msg.Headers {
		h[k] = v
	}
	o.prop.Inject(ctx, propagation.MapCarrier(h))
	hb, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("marshal headers: %w", err)
	}
	msg.Headers = h
	if !o.fast.admit() || (o.cfg.Connected != nil && !o.cfg.Connected()) {
		_, err = tx.ExecContext(ctx,
			`INSERT INTO outbox (id, subject, msg_key, payload, headers, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			msg.ID, msg.Subject, msg.Key, string(msg.Payload), string(hb), msg.CreatedAt.UnixMicro())
		if err != nil {
			return fmt.Errorf("enqueue %s %s: %w", msg.Subject, msg.ID, err)
		}
		tx.AfterCommit(o.Wake)
		return nil
	}
	var leased int64
	err = tx.QueryRowContext(ctx, o.q.enqueueLeased, msg.ID, msg.Subject, msg.Key, string(msg.Payload), string(hb),
		msg.CreatedAt.UnixMicro(), o.owner, o.cfg.Lease.Microseconds()).Scan(&leased)
	if err != nil {
		return fmt.Errorf("enqueue %s %s: %w", msg.Subject, msg.ID, err)
	}
	if leased == 0 {
		tx.AfterCommit(o.Wake)
		return nil
	}
	tx.AfterCommit(func() { o.handFast(row{Message: msg}) })
	return nil
}

// startSpan starts the producer span of an enqueued message, the parent of
// its consumers' spans: in the trace of msg.Trace when that is set.
func (o *Outbox) startSpan(ctx context.Context, msg Message) (context.Context, trace.Span) {
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
		attribute.String("messaging.message.id", msg.ID), attribute.String("messaging.destination.name", msg.Subject),
		attribute.String("fabrika.key", msg.Key))}
	name := "outbox " + msg.Subject
	if msg.Trace != "" {
		return telemetry.StartInTrace(ctx, o.tracer, msg.Trace, name, opts...)
	}
	return o.tracer.Start(ctx, name, opts...)
}

// enqueueLeasedSQL writes a message leased to this relay ($7, for $8
// microseconds of database time) when its key has no message in the table,
// and unleased otherwise; it returns the lease. The casts give PostgreSQL
// the parameters' types, which an INSERT ... SELECT does not. NOW_US is the
// database's clock (sqldb.Engine.NowMicros).
const enqueueLeasedSQL = `
INSERT INTO outbox (id, subject, msg_key, payload, headers, created_at, lease_owner, lease_until)
SELECT CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS TEXT), CAST($4 AS TEXT), CAST($5 AS TEXT), CAST($6 AS BIGINT),
  CASE WHEN k.busy THEN '' ELSE CAST($7 AS TEXT) END,
  CASE WHEN k.busy THEN 0 ELSE NOW_US + CAST($8 AS BIGINT) END
FROM (SELECT EXISTS (SELECT 1 FROM outbox WHERE msg_key = CAST($3 AS TEXT)) AS busy) k
RETURNING lease_until`

// Wake asks the relay to run a cycle now rather than at the next tick.
func (o *Outbox) Wake() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}
