// Package app holds mes-operator's use cases: planning confirmed orders
// into workstation queues, following holds and cancellations, and the
// operators' actions on operations and orders, each applied once per client
// event id and announced through the outbox in the same transaction.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/services/mes-operator/internal/production"
	"github.com/fabrika/fabrika/services/mes-operator/internal/store"
)

// Enqueuer writes a message to the outbox in the caller's transaction.
type Enqueuer interface {
	Enqueue(ctx context.Context, tx *sqldb.Tx, msg outbox.Message) error
}

// Config tunes the use cases.
type Config struct {
	// ShippingWorkstation is the workstation code of the dispatch bench:
	// operators bound to it may ship any produced order. Operators bound to
	// a workstation of an order's routing may ship that order too.
	ShippingWorkstation string
	// QueueLimit caps the operations listed for one workstation (default 200).
	QueueLimit int
	// Now returns the current time (default time.Now); tests may fix it.
	Now func() time.Time
	// Metrics is where the action counters are registered (nil: nowhere).
	Metrics prometheus.Registerer
}

// App runs the use cases.
type App struct {
	db      *sqldb.DB
	store   *store.Store
	out     Enqueuer
	cfg     Config
	log     *slog.Logger
	metrics *metrics
}

// New builds the use cases over the service's database and outbox.
func New(db *sqldb.DB, out Enqueuer, cfg Config, log *slog.Logger) (*App, error) {
	if cfg.QueueLimit <= 0 {
		cfg.QueueLimit = 200
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	return &App{db: db, store: store.New(db), out: out, cfg: cfg, log: log, metrics: m}, nil
}

func (a *App) now() time.Time { return a.cfg.Now().UTC() }

func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// lookup turns a store's not-found into the domain's.
func lookup(err error, format string, args ...any) error {
	if errors.Is(err, store.ErrNotFound) {
		return production.NotFound(format, args...)
	}
	return err
}

// stale turns a concurrent change into a conflict the operator can act on.
func stale(err error) error {
	if errors.Is(err, store.ErrStale) {
		return production.Conflict("someone else changed this at the same moment; reload and try again")
	}
	return err
}

// saveChanged adds the writes of the order and of the operations whose
// versions moved.
func saveChanged(w *store.Writes, ord production.Order, ordPrev int, ops []production.Operation, prev map[string]int, now time.Time) {
	if ord.Version != ordPrev {
		w.UpdateOrder(ord, ordPrev, now)
	}
	for _, op := range ops {
		if p := prev[op.ID]; op.Version != p {
			w.UpdateOperation(op, p, now)
		}
	}
}

func versions(ops []production.Operation) map[string]int {
	m := make(map[string]int, len(ops))
	for _, op := range ops {
		m[op.ID] = op.Version
	}
	return m
}

func (a *App) enqueue(ctx context.Context, tx *sqldb.Tx, eventType, key string, payload interface{ Validate() error }) error {
	if err := payload.Validate(); err != nil {
		return fmt.Errorf("build %s: %w", eventType, err)
	}
	msg, err := outbox.NewMessage(subject(eventType), key, payload)
	if err != nil {
		return err
	}
	msg.Trace = key // the order
	return a.out.Enqueue(ctx, tx, msg)
}

// Workstations returns the workstations the actor may use: every known one
// for an admin, an operator's own otherwise.
func (a *App) Workstations(ctx context.Context, actor identity.Identity) ([]store.Workstation, error) {
	all, err := a.store.Workstations(ctx, a.db)
	if err != nil {
		return nil, err
	}
	if actor.Role == identity.RoleAdmin {
		return all, nil
	}
	out := make([]store.Workstation, 0, len(actor.Workstations))
	for _, code := range actor.Workstations {
		w := store.Workstation{Code: code, Name: code}
		if i := slices.IndexFunc(all, func(x store.Workstation) bool { return x.Code == code }); i >= 0 {
			w = all[i]
		}
		out = append(out, w)
	}
	return out, nil
}

// Queue is a workstation's open operations in priority order.
type Queue struct {
	Workstation store.Workstation `json:"-"`
	Items       []OperationView   `json:"operations"`
}

// WorkstationQueue returns the queue of a workstation the actor may use.
// A workstation nobody has heard of is not found.
func (a *App) WorkstationQueue(ctx context.Context, actor identity.Identity, code string) (Queue, error) {
	w, err := a.store.GetWorkstation(ctx, a.db, code)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Queue{}, err
	}
	if !known {
		if !slices.Contains(actor.Workstations, code) {
			return Queue{}, production.NotFound("unknown workstation %q", code)
		}
		w = store.Workstation{Code: code, Name: code}
	}
	if !actor.CanUseWorkstation(code) {
		return Queue{}, production.Forbidden("you are not assigned to workstation %s", code)
	}
	items, err := a.store.Queue(ctx, a.db, code, a.cfg.QueueLimit)
	if err != nil {
		return Queue{}, err
	}
	q := Queue{Workstation: w, Items: make([]OperationView, 0, len(items))}
	for _, it := range items {
		v := operationView(it.Operation, it.OrderNumber, it.ShipDate, it.Rush)
		v.withLine(it.Line)
		q.Items = append(q.Items, v)
	}
	return q, nil
}

// Order returns an order with its operations.
// An operator reads only orders with a step at one of their workstations
// (or any order when bound to the shipping workstation); admins read all.
func (a *App) Order(ctx context.Context, actor identity.Identity, id string) (OrderView, error) {
	ord, err := a.store.Order(ctx, a.db, id)
	if err != nil {
		return OrderView{}, lookup(err, "order %s not found", id)
	}
	if ord.Status == production.Unconfirmed {
		return OrderView{}, production.NotFound("order %s not found", id)
	}
	ops, err := a.store.OrderOperations(ctx, a.db, id)
	if err != nil {
		return OrderView{}, err
	}
	if !a.mayShip(actor, ops) {
		return OrderView{}, production.Forbidden("order %s has no step at your workstations", ord.Number)
	}
	lines, err := a.store.Lines(ctx, a.db, id)
	if err != nil {
		return OrderView{}, err
	}
	notes, err := a.store.Notes(ctx, a.db, id)
	if err != nil {
		return OrderView{}, err
	}
	v := orderView(ord, ops)
	for i := range v.Operations {
		v.Operations[i].withLine(lines[v.Operations[i].LineNo])
	}
	for _, l := range lines {
		v.Lines = append(v.Lines, LineView{LineNo: l.LineNo, Product: l.Product, Options: l.Options, Quantity: l.Quantity})
	}
	slices.SortFunc(v.Lines, func(a, b LineView) int { return a.LineNo - b.LineNo })
	for _, n := range notes {
		v.Notes = append(v.Notes, NoteView{Body: n.Body, By: n.By, At: n.At})
	}
	return v, nil
}

// Labels returns the names of the price list's codes, for the pages.
func (a *App) Labels(ctx context.Context) (store.Labels, error) { return a.store.AllLabels(ctx, a.db) }

// Operation returns one operation.
// An operator reads only the operations of their workstations.
func (a *App) Operation(ctx context.Context, actor identity.Identity, id string) (OperationView, error) {
	w, err := a.store.WorkOfOperation(ctx, a.db, id)
	if err != nil {
		return OperationView{}, lookup(err, "operation %s not found", id)
	}
	op := w.Operation(id)
	if !actor.CanUseWorkstation(op.Workstation) {
		return OperationView{}, production.Forbidden("you are not assigned to workstation %s", op.Workstation)
	}
	v := operationView(op, w.Order.Number, w.Order.ShipDate, w.Order.Rush)
	v.withLine(w.Lines[op.LineNo])
	return v, nil
}

// PruneEvents forgets applied operator events older than retention; a retry
// later than that is treated as a new action.
func (a *App) PruneEvents(ctx context.Context, retention time.Duration) (int64, error) {
	return a.store.PruneEvents(ctx, a.db, a.now().Add(-retention))
}
