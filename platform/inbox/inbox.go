// Package inbox is the receiver side of reliable messaging: a durable
// JetStream pull consumer per subscription, and for each message one database
// transaction that records its id and runs the handler, so that a message is
// processed once however often it is delivered. A handler error rolls the
// transaction back and the message is redelivered with a growing delay; a
// message that can never succeed is dead-lettered with its reason. See
// docs/messaging.md.
package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/fabrika/fabrika/platform/backoff"
	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/sqldb"
)

// Message is a delivered message as a handler sees it.
type Message struct {
	ID         string // the producer's message id (Nats-Msg-Id)
	Subject    string
	Key        string // the aggregate, e.g. the order id
	Payload    []byte
	Headers    map[string]string
	Deliveries int       // 1 on the first delivery
	Published  time.Time // when the stream stored it
	Received   time.Time // when this instance took it from the broker
}

// eventWorker marks, in a message's span, when a worker took it.
const eventWorker = "inbox worker took it"

// fetched is a message taken from the broker, on its way to a worker.
type fetched struct {
	m   jetstream.Msg
	key string // Fabrika-Key
	at  time.Time
	id  uint64 // the queue's number for it
}

// Handler processes a message inside tx, the transaction that also records
// the message as processed. It must have no effect outside tx except through
// tx.AfterCommit.
type Handler func(ctx context.Context, tx *sqldb.Tx, msg Message) error

// ErrPermanent marks an error that retrying cannot fix: the message is
// dead-lettered at once.
var ErrPermanent = errors.New("permanent failure")

// Permanent wraps err so that the message is dead-lettered at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrPermanent, err)
}

// Validator is a payload that checks its own contract.
type Validator interface{ Validate() error }

// JSON adapts a typed handler: the payload is decoded into T and validated;
// a payload that does not decode or validate is a permanent failure.
func JSON[T Validator](fn func(ctx context.Context, tx *sqldb.Tx, msg Message, payload T) error) Handler {
	return func(ctx context.Context, tx *sqldb.Tx, msg Message) error {
		var v T
		if err := json.Unmarshal(msg.Payload, &v); err != nil {
			return Permanent(fmt.Errorf("decode %s: %w", msg.Subject, err))
		}
		if err := v.Validate(); err != nil {
			return Permanent(fmt.Errorf("validate %s: %w", msg.Subject, err))
		}
		return fn(ctx, tx, msg, v)
	}
}

// Config tunes the consumers. The zero value of a field takes its default.
type Config struct {
	// Service names the consumers: "<service>-<subscription>".
	Service string
	// Stream is the JetStream stream to consume (default "FABRIKA").
	Stream string
	// MaxDeliveries before a failing message is dead-lettered (default 10).
	MaxDeliveries int
	// BaseDelay and MaxDelay bound the growing delay before a redelivery
	// (default 1s and 1m).
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// AckWait is how long the broker waits for an ack, or word that the
	// message is in progress, before it redelivers it (default 5s). The
	// inbox tells the broker that every message it holds is in progress
	// every AckWait/3, however long it holds it (queued behind a backlog,
	// in a long transaction, through a database outage), so AckWait bounds
	// only how long the messages of an instance that died wait for another
	// one: with 30 s, orders delivered to a killed process waited 30 s
	// before anyone priced them.
	AckWait time.Duration
	// Retention is how long processed message ids are kept (default 7 days);
	// it must exceed the stream's duplicate window and maximum age.
	Retention time.Duration
	// Workers per subscription (default 4); a worker that holds a message
	// of a key takes the key's next messages, so their order is kept.
	Workers int
	// BatchSize bounds how many waiting messages a worker processes in one
	// transaction, each in a savepoint of its own (default 64).
	BatchSize int
	// Heartbeat is how often the broker shows an idle pull that it is alive
	// (default 5s, 500ms to 15s). After two missed ones (a stalled node, a
	// consumer leader that moved) the inbox pulls again.
	Heartbeat time.Duration
}

func (c *Config) validate() error {
	if c.Service == "" {
		return errors.New("service name is required")
	}
	if c.Stream == "" {
		c.Stream = "FABRIKA"
	}
	if c.MaxDeliveries == 0 {
		c.MaxDeliveries = 10
	}
	if c.BaseDelay == 0 {
		c.BaseDelay = time.Second
	}
	if c.MaxDelay == 0 {
		c.MaxDelay = time.Minute
	}
	if c.AckWait == 0 {
		c.AckWait = 5 * time.Second
	}
	if c.Retention == 0 {
		c.Retention = 7 * 24 * time.Hour
	}
	if c.Workers == 0 {
		c.Workers = 4
	}
	if c.BatchSize == 0 {
		c.BatchSize = 64
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = 5 * time.Second
	}
	if c.Heartbeat < 500*time.Millisecond || c.Heartbeat > pullExpiry/2 {
		return fmt.Errorf("heartbeat %v: it must be within 500ms and %v", c.Heartbeat, pullExpiry/2)
	}
	if c.MaxDeliveries < 1 || c.BaseDelay < 0 || c.MaxDelay < c.BaseDelay || c.AckWait <= 0 || c.Retention <= 0 || c.Workers < 1 || c.BatchSize < 1 {
		return errors.New("max deliveries >= 1, workers >= 1, positive delays with max >= base, positive ack wait and retention are required")
	}
	return nil
}

type subscription struct {
	name     string
	handlers map[string]Handler
	opt      SubscriptionOptions
}

// SubscriptionOptions tune one subscription; a zero field keeps the
// Config's value.
type SubscriptionOptions struct {
	// Workers of this subscription (Config.Workers).
	Workers int
	// BatchSize of this subscription (Config.BatchSize). 1 runs every
	// message in a transaction of its own: for handlers whose busiest rows
	// should stay locked only until their own commit, not a batch's.
	BatchSize int
	// Skip, when set, picks the messages the service has nothing to do
	// with (another channel's orders): they are acked at once, with no
	// transaction and no inbox record, so the service's history of their
	// key does not list them. It must depend on the message alone, so that
	// a redelivery is skipped too.
	Skip func(Message) bool
}

// Inbox consumes a service's subscriptions.
type Inbox struct {
	db      *sqldb.DB
	js      jetstream.JetStream
	cfg     Config
	log     *slog.Logger
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	metrics *metrics

	mu    sync.Mutex
	subs  []subscription
	watch dbWatch
}

// New builds an inbox. Subscribe, then Run.
func New(db *sqldb.DB, js jetstream.JetStream, cfg Config, log *slog.Logger, reg prometheus.Registerer, tp trace.TracerProvider) (*Inbox, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("inbox config: %w", err)
	}
	in := &Inbox{
		db: db, js: js, cfg: cfg, log: log,
		tracer: tp.Tracer("github.com/fabrika/fabrika/platform/inbox"),
		prop:   propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
	m, err := newMetrics(reg, newOpenDeadLetters(in), newConsumerLag(in))
	if err != nil {
		return nil, err
	}
	in.metrics = m
	in.watch.in = in
	return in, nil
}

// Subscribe adds a durable consumer named "<service>-<name>" for the
// subjects that are the keys of handlers (exact subjects: a message is
// dispatched by its exact subject). A message on any other subject, which
// only reaches an instance whose consumer was widened by a newer instance,
// is redelivered and finally dead-lettered. Call before Run.
func (in *Inbox) Subscribe(name string, handlers map[string]Handler) {
	in.SubscribeWith(name, handlers, SubscriptionOptions{})
}

// SubscribeWith is Subscribe with this subscription's own workers or batch
// size.
func (in *Inbox) SubscribeWith(name string, handlers map[string]Handler, opt SubscriptionOptions) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.subs = append(in.subs, subscription{name: name, handlers: handlers, opt: opt})
	in.metrics.start(in.ConsumerName(name))
}

// consumers lists the durable consumer names of the subscriptions.
func (in *Inbox) consumers() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	names := make([]string, len(in.subs))
	for i, s := range in.subs {
		names[i] = in.ConsumerName(s.name)
	}
	return names
}

// ConsumerName is the durable consumer name of a subscription.
func (in *Inbox) ConsumerName(sub string) string { return in.cfg.Service + "-" + sub }

// Run creates or updates the consumers and processes messages until ctx is
// cancelled; then it stops fetching and lets the messages in hand finish.
// It also prunes processed ids older than the retention every hour.
func (in *Inbox) Run(ctx context.Context) error {
	in.mu.Lock()
	subs := append([]subscription(nil), in.subs...)
	in.mu.Unlock()
	consumers := make([]jetstream.Consumer, len(subs))
	for i, s := range subs {
		c, err := in.ensureConsumer(ctx, s)
		if err != nil {
			return err
		}
		consumers[i] = c
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(subs))
	for i, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := in.consume(ctx, consumers[i], s); err != nil {
				errs <- err
			}
		}()
	}
	wg.Add(1)
	go func() { defer wg.Done(); in.pruneLoop(ctx) }()
	wg.Wait()
	close(errs)
	return errors.Join(collect(errs)...)
}

func collect(ch <-chan error) []error {
	var out []error
	for e := range ch {
		out = append(out, e)
	}
	return out
}

// declareTimeout bounds one declaration of a consumer. A JetStream cluster
// that is electing the consumer's leader (all its nodes started again)
// never answers a declaration asked meanwhile: waiting the client's 5 s
// default for it kept an inbox from running for seconds after the leader
// was there; the caller declares again instead.
const declareTimeout = time.Second

func (in *Inbox) ensureConsumer(ctx context.Context, s subscription) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, declareTimeout)
	defer cancel()
	subjects := make([]string, 0, len(s.handlers))
	for subj := range s.handlers {
		subjects = append(subjects, subj)
	}
	slices.Sort(subjects)
	cfg := jetstream.ConsumerConfig{
		Durable:        in.ConsumerName(s.name),
		Description:    "fabrika " + in.cfg.Service + " inbox " + s.name,
		AckPolicy:      jetstream.AckExplicitPolicy,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckWait:        in.cfg.AckWait,
		MaxDeliver:     -1, // the inbox dead-letters by itself, with the reason
		MaxAckPending:  4096,
		FilterSubjects: subjects,
	}
	if len(subjects) == 1 {
		cfg.FilterSubject, cfg.FilterSubjects = subjects[0], nil
	}
	c, err := in.js.CreateOrUpdateConsumer(ctx, in.cfg.Stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", cfg.Durable, err)
	}
	return c, nil
}

// consume fetches messages and hands them to the workers (see keyQueue).
// When the fetch stops for another reason than ctx (the consumer was
// deleted, for example by an operator or a broker that lost its store), the
// consumer is declared again and fetching resumes: a subscription must never
// go quiet while the service runs.
func (in *Inbox) consume(ctx context.Context, c jetstream.Consumer, s subscription) error {
	workers, batchSize := in.cfg.Workers, in.cfg.BatchSize
	if s.opt.Workers > 0 {
		workers = s.opt.Workers
	}
	if s.opt.BatchSize > 0 {
		batchSize = s.opt.BatchSize
	}
	q := newKeyQueue()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { in.work(ctx, s, q, batchSize) })
	}
	workersDone := make(chan struct{})
	progress := make(chan struct{})
	go func() { defer close(progress); in.keepInProgress(workersDone, q) }()
	defer func() {
		q.close()
		wg.Wait()
		close(workersDone)
		<-progress
		// What came for a key after its worker stopped taking its messages.
		for _, f := range q.rest() {
			_ = f.m.Nak()
		}
	}()
	retry := in.cfg.BaseDelay
	for {
		err := in.fetch(ctx, c, s, q)
		if ctx.Err() != nil || errors.Is(err, jetstream.ErrConnectionClosed) {
			return nil
		}
		in.log.ErrorContext(ctx, "inbox fetch stopped; declaring the consumer again", "consumer", in.ConsumerName(s.name), "error", err, "retry_in", retry.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retry):
		}
		retry = min(max(2*retry, 100*time.Millisecond), in.cfg.MaxDelay)
		if nc, err := in.ensureConsumer(ctx, s); err == nil {
			c, retry = nc, in.cfg.BaseDelay
		} else if ctx.Err() == nil {
			in.log.WarnContext(ctx, "inbox consumer not declared yet", "consumer", in.ConsumerName(s.name), "error", err)
		}
	}
}

// work is one worker of a subscription: it runs batches of what is ready,
// first the messages of the keys it holds, until the queue is closed.
func (in *Inbox) work(ctx context.Context, s subscription, q *keyQueue, batchSize int) {
	var mine []fetched // next messages of the keys this worker holds, in order
	for {
		if len(mine) == 0 {
			f, ok := q.take()
			if !ok {
				return
			}
			mine = append(mine, f)
		}
		if ctx.Err() != nil {
			// Stopping: what the worker has not started goes back to the
			// broker at once, for another instance, rather than holding the
			// stop until a backlog is worked off (a CRM replica behind by a
			// few hundred messages did not stop within 30 s of SIGTERM in a
			// rolling update). Any order of delivery converges
			// (docs/messaging.md).
			for _, f := range mine {
				_ = f.m.Nak()
			}
			mine = q.done(mine, nil)
			continue
		}
		// Take what else is already waiting, without waiting for more.
		n := min(len(mine), batchSize)
		batch := append([]fetched(nil), mine[:n]...)
		mine = mine[n:]
		batch = q.takeWaiting(batch, batchSize)
		in.process(ctx, s, batch)
		mine = q.done(batch, mine)
	}
}

// keyQueue hands a subscription's messages to its workers: a message goes
// to whichever worker is free, unless a worker holds a message of its key;
// then it waits for that worker, which takes it after the ones before it.
// One key's messages thus run one after another, in order, and no message
// waits behind another key's. (With a worker per hash of the key, a message
// waited for every message of the keys that hashed with it, though other
// workers were idle: in relaybench on R3 at 1,000 msg/s that wait was the
// receiver's largest share, p50 16 of 28 ms commit-to-handled, loaded.)
//
// The queue takes every message the broker delivers at once: none waits in
// the client library's buffer, where the inbox could not tell the broker
// that it is in progress (keepInProgress). What it holds is bounded by the
// consumer's MaxAckPending.
type keyQueue struct {
	mu     sync.Mutex
	wake   *sync.Cond // ready grew or the queue closed
	ready  []fetched  // messages of keys no worker held when they came, in order
	closed bool
	held   map[string][]fetched // keys a worker holds -> their messages that came meanwhile
	taken  map[uint64]fetched   // every message from put until done or rest
	next   uint64
}

func newKeyQueue() *keyQueue {
	q := &keyQueue{held: map[string][]fetched{}, taken: map[uint64]fetched{}}
	q.wake = sync.NewCond(&q.mu)
	return q
}

// put queues a fetched message; it never waits.
func (q *keyQueue) put(f fetched) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.next++
	f.id = q.next
	q.taken[f.id] = f
	if next, ok := q.held[f.key]; ok {
		q.held[f.key] = append(next, f)
		return
	}
	q.held[f.key] = nil
	q.ready = append(q.ready, f)
	q.wake.Signal()
}

// take waits for a ready message; false once the queue is closed and
// empty.
func (q *keyQueue) take() (fetched, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.ready) == 0 && !q.closed {
		q.wake.Wait()
	}
	if len(q.ready) == 0 {
		return fetched{}, false
	}
	f := q.ready[0]
	q.ready[0] = fetched{}
	q.ready = q.ready[1:]
	return f, true
}

// takeWaiting adds to batch the ready messages, up to size in all, without
// waiting for more.
func (q *keyQueue) takeWaiting(batch []fetched, size int) []fetched {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(max(size-len(batch), 0), len(q.ready))
	batch = append(batch, q.ready[:n]...)
	clear(q.ready[:n])
	q.ready = q.ready[n:]
	return batch
}

// close wakes the workers for good: they take what is ready, then stop.
func (q *keyQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.wake.Broadcast()
}

// done is called by a worker that finished batch and still holds mine: it
// returns mine with the messages that came meanwhile for the batch's keys
// after it, and gives up the keys that have nothing left.
func (q *keyQueue) done(batch, mine []fetched) []fetched {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, f := range batch {
		delete(q.taken, f.id)
		mine = append(mine, q.held[f.key]...)
		q.held[f.key] = nil
	}
	left := make(map[string]bool, len(mine))
	for _, f := range mine {
		left[f.key] = true
	}
	for _, f := range batch {
		if !left[f.key] {
			delete(q.held, f.key)
		}
	}
	return mine
}

// rest empties the queue of what no worker took, once they all stopped.
func (q *keyQueue) rest() []fetched {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []fetched
	for k, fs := range q.held {
		out = append(out, fs...)
		delete(q.held, k)
	}
	clear(q.taken)
	return out
}

// takenBefore lists the messages the queue has held since before t.
func (q *keyQueue) takenBefore(t time.Time) []jetstream.Msg {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []jetstream.Msg
	for _, f := range q.taken {
		if f.at.Before(t) {
			out = append(out, f.m)
		}
	}
	return out
}

// keepInProgress tells the broker, every AckWait/3 until stop, that each
// message the queue has held for longer than that is in progress, so that
// it is not redelivered while this instance still holds it: waiting behind
// a backlog, in a long transaction, or through a database outage. Only the
// messages of an instance that is gone are redelivered after AckWait. (A
// word of progress that crosses the message's NAK restarts its delay at
// AckWait: harmless, and rare.)
func (in *Inbox) keepInProgress(stop <-chan struct{}, q *keyQueue) {
	every := max(in.cfg.AckWait/3, time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			for _, m := range q.takenBefore(now.Add(-every)) {
				_ = m.InProgress()
			}
		}
	}
}

// pullExpiry is how long one pull request waits at the broker.
const pullExpiry = 30 * time.Second

// fetch runs one message iterator until ctx ends (nil) or it fails.
func (in *Inbox) fetch(ctx context.Context, c jetstream.Consumer, s subscription, q *keyQueue) error {
	it, err := c.Messages(jetstream.PullMaxMessages(256), jetstream.PullExpiry(pullExpiry), jetstream.PullHeartbeat(in.cfg.Heartbeat))
	if err != nil {
		return fmt.Errorf("consume %s: %w", in.ConsumerName(s.name), err)
	}
	stop := context.AfterFunc(ctx, it.Drain)
	defer stop()
	defer it.Stop()
	for {
		m, err := it.Next()
		if errors.Is(err, jetstream.ErrNoHeartbeat) {
			// Not the end of the iterator (nats.go jetstream/pull.go): it
			// forgets what it had asked for and pulls again. What the broker
			// sent before the stall still arrives on it; stopping it here
			// left those messages unacknowledged for the whole AckWait.
			in.log.WarnContext(ctx, "inbox: the broker missed its heartbeats; pulling again", "consumer", in.ConsumerName(s.name), "error", err)
			continue
		}
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) && ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) && !errors.Is(err, jetstream.ErrConnectionClosed) {
				err = fmt.Errorf("%w (the consumer may have been deleted)", err)
			}
			return err
		}
		q.put(fetched{m: m, key: m.Headers().Get("Fabrika-Key"), at: time.Now()})
	}
}

// delivery is one message of a batch on its way through process.
type delivery struct {
	m       jetstream.Msg
	msg     Message
	ctx     context.Context
	span    trace.Span
	handler Handler
	err     error // why it was not processed; nil when processed
	dup     bool  // processed before: acknowledged and skipped
}

// process runs a batch of deliveries that were waiting for one worker: in
// ONE transaction, each message gets its inbox record and its handler inside
// a savepoint of its own, so a failing message is undone alone; after the
// commit the processed ones are acked, the others NAKed with a delay or
// dead-lettered. One commit per batch instead of per message is what lets a
// consumer keep up with a burst; a lone message is a batch of one.
//
// When messages failed because the database does not answer, they are not
// NAKed: the worker holds them until it answers and runs them again (see
// awaitDatabase). The batch runs to its end on a context that ctx's end
// does not cancel; ctx ends only the wait for the database.
func (in *Inbox) process(ctx context.Context, s subscription, batch []fetched) {
	work := context.WithoutCancel(ctx)
	consumer := in.ConsumerName(s.name)
	ds := make([]*delivery, len(batch))
	var todo []*delivery
	for i, m := range batch {
		d := in.prepare(work, consumer, s, m)
		defer d.span.End()
		ds[i] = d
		if d.handler != nil {
			todo = append(todo, d)
		}
	}
	start := time.Now()
	rerun := true
	for {
		in.run(work, consumer, todo)
		held := unfinished(todo)
		if len(held) == 0 || ctx.Err() != nil {
			break
		}
		if in.ping(ctx, time.Second) == nil {
			// The database answers. When the messages failed because it
			// did not, it came back between their run and this question:
			// they run again at once, rather than being NAKed for an
			// outage that is over (once: a failure that keeps looking
			// like an outage while the database answers is the handler's).
			if rerun && slices.ContainsFunc(held, func(d *delivery) bool { return httpx.Unavailable(d.err) }) {
				rerun = false
				continue
			}
			break
		}
		if !in.awaitDatabase(ctx, consumer, held) {
			break
		}
		rerun = true
	}
	for _, d := range ds {
		in.settle(consumer, d, time.Since(start))
	}
}

// run runs the deliveries that have a handler: a lone one in a transaction
// of its own, several in one transaction with a savepoint each.
func (in *Inbox) run(ctx context.Context, consumer string, todo []*delivery) {
	switch len(todo) {
	case 0:
	case 1:
		in.processAlone(ctx, consumer, todo[0])
	default:
		err := in.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
			for _, d := range todo {
				d.dup, d.err = false, nil
				d.err = tx.Savepoint(d.ctx, func() error { return in.handle(d, consumer, tx) })
				if errors.Is(d.err, sqldb.ErrSavepoint) {
					return d.err
				}
				if sqldb.IsRetryable(d.err) {
					return errConcurrent
				}
			}
			return nil
		})
		switch {
		case errors.Is(err, errConcurrent):
			// A deadlock or serialization failure with another worker's
			// transaction: a batch holds the locks of all its messages, so
			// running it again could meet the same cycle. Each message runs
			// in a transaction of its own instead, which InTx retries.
			in.metrics.batchSplits.WithLabelValues(consumer).Inc()
			for _, d := range todo {
				in.processAlone(ctx, consumer, d)
			}
		case err != nil:
			// Nothing of the batch committed: every message goes round again.
			for _, d := range todo {
				if d.err == nil || !errors.Is(d.err, ErrPermanent) {
					d.err = fmt.Errorf("inbox transaction: %w", err)
				}
			}
		}
	}
}

// unfinished returns the deliveries that failed for another reason than
// a permanent one: those a database outage may have failed.
func unfinished(todo []*delivery) []*delivery {
	var held []*delivery
	for _, d := range todo {
		if d.err != nil && !errors.Is(d.err, ErrPermanent) {
			held = append(held, d)
		}
	}
	return held
}

// databaseRetry is how often the inbox asks a database that does not
// answer whether it answers again.
const databaseRetry = 250 * time.Millisecond

// databaseDial bounds one such question once an outage is known. It is
// long on purpose: a server that has just started again, with every
// service's pool reconnecting at once, can take more than a second to open
// a connection, and a ping that gave up after a second abandoned the very
// connection that was about to succeed, again and again (the fault suite's
// PostgreSQL round: workers resumed one by one, up to 6 s after the server
// was back).
const databaseDial = 10 * time.Second

// awaitDatabase is called when messages of a batch failed and the database
// does not answer a ping: it is down. The worker keeps the failed messages
// instead of NAKing them (they stay in the queue, so keepInProgress tells
// the broker they are in progress and nobody gets them meanwhile), and
// returns true once the database answers, to run them again. An outage
// thus spends no delivery of a message, and what arrived during it is processed as soon
// as the database answers, instead of after a redelivery delay that grew
// with each failed delivery of the outage (1 s, 2 s, 4 s ... up to
// MaxDelay). It returns false when ctx ends (the failed messages are
// NAKed, the broker redelivers them to whichever instance runs).
//
// The workers that wait do not each ask the database: they wait together
// for the inbox's one watch (dbWatch), which lets them all go on the moment
// the database answers.
func (in *Inbox) awaitDatabase(ctx context.Context, consumer string, held []*delivery) bool {
	in.metrics.failures.WithLabelValues(consumer).Add(float64(len(held)))
	in.log.ErrorContext(ctx, "inbox: the database does not answer; holding the messages until it does",
		"consumer", consumer, "messages", len(held), "error", held[0].err)
	select {
	case <-ctx.Done():
		return false
	case <-in.watch.await(ctx):
		in.log.InfoContext(ctx, "inbox: the database answers again; running the held messages", "consumer", consumer, "messages", len(held))
		return true
	}
}

// ping asks the database whether it answers, within limit.
func (in *Inbox) ping(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	return in.db.PingContext(ctx)
}

// dbWatch is the inbox's one question to a database that does not answer:
// however many workers hold messages through an outage, one prober asks
// the database (every databaseRetry, each question allowed databaseDial)
// and wakes them all together when it answers.
type dbWatch struct {
	in *Inbox
	mu sync.Mutex
	up chan struct{} // closed when the database answers; nil while nobody waits
}

// await returns a channel that is closed once the database answers,
// starting the prober if none runs. The prober stops when it has seen an
// answer or when ctx (the consumers' context) ends.
func (w *dbWatch) await(ctx context.Context) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.up == nil {
		w.up = make(chan struct{})
		go w.probe(ctx, w.up)
	}
	return w.up
}

func (w *dbWatch) probe(ctx context.Context, up chan struct{}) {
	defer func() {
		w.mu.Lock()
		if w.up == up {
			w.up = nil
		}
		w.mu.Unlock()
	}()
	t := time.NewTicker(databaseRetry)
	defer t.Stop()
	for {
		if w.in.ping(ctx, databaseDial) == nil {
			close(up)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// errConcurrent abandons a batch that met a conflict with another
// transaction.
var errConcurrent = errors.New("inbox batch: conflict with a concurrent transaction")

// processAlone runs one message in a transaction of its own. It needs no
// savepoint: if it fails, the whole transaction is its own to roll back
// (two round trips fewer for the usual case of a consumer that keeps up),
// and a deadlock or serialization failure is retried by InTx.
func (in *Inbox) processAlone(ctx context.Context, consumer string, d *delivery) {
	d.err = nil
	err := in.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		d.dup = false
		d.err = in.handle(d, consumer, tx)
		return d.err
	})
	if err != nil && d.err == nil {
		d.err = fmt.Errorf("inbox transaction: %w", err)
	}
}

// prepare reads a delivery's message and picks its handler.
func (in *Inbox) prepare(ctx context.Context, consumer string, s subscription, f fetched) *delivery {
	m := f.m
	msg := Message{Subject: m.Subject(), Payload: m.Data(), Headers: map[string]string{}, Deliveries: 1, Received: f.at}
	for k := range m.Headers() {
		msg.Headers[k] = m.Headers().Get(k)
	}
	msg.ID = msg.Headers["Nats-Msg-Id"]
	msg.Key = msg.Headers["Fabrika-Key"]
	meta, err := m.Metadata()
	if err == nil {
		msg.Deliveries = int(meta.NumDelivered)
		msg.Published = meta.Timestamp
	}
	ctx = in.prop.Extract(ctx, propagation.MapCarrier(msg.Headers))
	// The span starts when the message arrived, so that a trace shows the
	// wait for a worker, up to the event, apart from the processing.
	ctx, span := in.tracer.Start(ctx, "inbox "+msg.Subject, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithTimestamp(f.at),
		trace.WithAttributes(attribute.String("messaging.message.id", msg.ID), attribute.String("messaging.destination.name", msg.Subject),
			attribute.String("fabrika.consumer", consumer), attribute.Int("messaging.delivery_count", msg.Deliveries)))
	span.AddEvent(eventWorker)
	d := &delivery{m: m, ctx: ctx, span: span}
	switch h, ok := s.handlers[msg.Subject]; {
	case msg.ID == "":
		if meta != nil {
			msg.ID = fmt.Sprintf("stream-seq-%d", meta.Sequence.Stream)
		}
		d.err = Permanent(errors.New("message has no Nats-Msg-Id header"))
	case s.opt.Skip != nil && s.opt.Skip(msg):
		// Nothing to do: settled as processed, without a transaction.
		in.metrics.skipped.WithLabelValues(consumer).Inc()
	case !ok || h == nil:
		// The consumer's filter is wider than this instance's handlers: a newer
		// instance of the service declared it during a rolling deploy. Another
		// instance may know the subject, so it is redelivered; after
		// MaxDeliveries it is dead-lettered like any failure.
		d.err = fmt.Errorf("no handler for subject %s in this instance", msg.Subject)
	default:
		d.handler = h
	}
	d.msg = msg
	return d
}

// handle records the message and runs its handler inside tx; a panic of the
// handler is an error like any other.
func (in *Inbox) handle(d *delivery, consumer string, tx *sqldb.Tx) (err error) {
	dup, err := record(d.ctx, tx, consumer, d.msg)
	if err != nil {
		return fmt.Errorf("record in inbox: %w", err)
	}
	if dup {
		d.dup = true
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return d.handler(d.ctx, tx, d.msg)
}

// settle acks a processed delivery, or dead-letters or NAKs a failed one.
func (in *Inbox) settle(consumer string, d *delivery, took time.Duration) {
	ctx, msg := d.ctx, d.msg
	log := in.log.With("consumer", consumer, "message_id", msg.ID, "subject", msg.Subject, "key", msg.Key, "delivery", msg.Deliveries)
	if d.err == nil {
		in.metrics.handled(consumer, d.dup, took)
		if err := d.m.Ack(); err != nil {
			log.WarnContext(ctx, "inbox ack failed; the redelivery will be recognised as a duplicate", "error", err)
		}
		return
	}
	d.span.RecordError(d.err)
	if errors.Is(d.err, ErrPermanent) || msg.Deliveries >= in.cfg.MaxDeliveries {
		if err := in.deadLetter(ctx, consumer, msg, d.err); err != nil {
			log.ErrorContext(ctx, "inbox could not store dead letter; will redeliver", "error", err, "reason", d.err)
			_ = d.m.NakWithDelay(in.cfg.MaxDelay)
			return
		}
		_ = d.m.Term()
		return
	}
	in.metrics.failures.WithLabelValues(consumer).Inc()
	delay := in.delay(msg.Deliveries)
	log.WarnContext(ctx, "inbox handler failed; redelivery scheduled", "error", d.err, "retry_in", delay.String())
	_ = d.m.NakWithDelay(delay)
}

func (in *Inbox) delay(deliveries int) time.Duration {
	return backoff.Exponential(deliveries, in.cfg.BaseDelay, in.cfg.MaxDelay)
}

func (in *Inbox) pruneLoop(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if _, err := in.Prune(ctx, time.Now()); err != nil && ctx.Err() == nil {
			in.log.WarnContext(ctx, "inbox prune failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Prune deletes processed ids older than the retention and returns how many.
func (in *Inbox) Prune(ctx context.Context, now time.Time) (int64, error) {
	res, err := in.db.ExecContext(ctx, `DELETE FROM inbox WHERE processed_at < $1`, now.Add(-in.cfg.Retention).UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("prune inbox: %w", err)
	}
	return res.RowsAffected()
}
