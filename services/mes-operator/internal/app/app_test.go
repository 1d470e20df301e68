package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/identity"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
	"github.com/fabrika/fabrika/services/mes-operator/internal/app"
	"github.com/fabrika/fabrika/services/mes-operator/internal/production"
	"github.com/fabrika/fabrika/services/mes-operator/migrations"
)

type env struct {
	t   testing.TB
	ctx context.Context
	db  *sqldb.DB
	app *app.App
}

func newEnv(t testing.TB) *env {
	t.Helper()
	db := testenv.DB(t, migrations.FS)
	ob := testenv.Outbox(t, db)
	a, err := app.New(db, ob, app.Config{ShippingWorkstation: "shipping", Metrics: prometheus.NewRegistry()}, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: context.Background(), db: db, app: a}
}

var (
	ana   = identity.Identity{Subject: "u-ana", Name: "ana", Role: identity.RoleOperator, Workstations: []string{"laser1", "bend1"}}
	boris = identity.Identity{Subject: "u-boris", Name: "boris", Role: identity.RoleOperator, Workstations: []string{"paint1"}}
	t0    = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
)

// deliver runs an inbox handler in a transaction as the inbox does.
func (e *env) deliver(fn func(ctx context.Context, tx *sqldb.Tx) error) error {
	return e.db.InTx(e.ctx, fn)
}

func confirmed(id, shipDate string, rush bool) contracts.OrderConfirmedV1 {
	return contracts.OrderConfirmedV1{OrderID: id, Number: "F-" + id, Channel: contracts.ChannelShop, ShipDate: shipDate, Rush: rush,
		Routing: []contracts.RoutingStep{
			{LineNo: 1, Seq: 1, Operation: "laser_cut", Workstation: "laser1", PlannedMinutes: 12.5},
			{LineNo: 1, Seq: 2, Operation: "bend", Workstation: "bend1", PlannedMinutes: 8},
		}, By: "mgr", At: t0}
}

func (e *env) confirm(p contracts.OrderConfirmedV1) {
	e.t.Helper()
	if err := e.deliver(func(ctx context.Context, tx *sqldb.Tx) error { return e.app.Confirmed(ctx, tx, p) }); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) status(id string, hold bool, reason string, at time.Time) {
	e.t.Helper()
	p := contracts.OrderStatusChangedV1{OrderID: id, Reason: reason, At: at}
	if err := e.deliver(func(ctx context.Context, tx *sqldb.Tx) error { return e.app.Held(ctx, tx, p, hold) }); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) cancel(id string, at time.Time) {
	e.t.Helper()
	p := contracts.OrderStatusChangedV1{OrderID: id, Reason: "customer asked", At: at}
	if err := e.deliver(func(ctx context.Context, tx *sqldb.Tx) error { return e.app.Cancelled(ctx, tx, p) }); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) queue(who identity.Identity, ws string) []app.OperationView {
	e.t.Helper()
	q, err := e.app.WorkstationQueue(e.ctx, who, ws)
	if err != nil {
		e.t.Fatal(err)
	}
	return q.Items
}

func (e *env) opID(orderID string, seq int) string {
	e.t.Helper()
	o, err := e.app.Order(e.ctx, ana, orderID)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, op := range o.Operations {
		if op.Seq == seq {
			return op.ID
		}
	}
	e.t.Fatalf("order %s has no step %d", orderID, seq)
	return ""
}

// order confirms order id (not rush, to ship on 2026-03-05) and returns the
// ids of its two operations.
func (e *env) order(id string) (cut, bend string) {
	e.t.Helper()
	e.confirm(confirmed(id, "2026-03-05", false))
	return e.opID(id, 1), e.opID(id, 2)
}

// started is order with its first operation, cut, started by ana.
func (e *env) started(id string) (cut, bend string) {
	e.t.Helper()
	cut, bend = e.order(id)
	e.mustAct(ana, cut, production.ActStart, production.ActionInput{})
	return cut, bend
}

func action(t testing.TB, k production.ActionKind, in production.ActionInput) production.Action {
	t.Helper()
	if in.EventID == "" {
		in.EventID = uuid.NewString()
	}
	a, err := production.NewAction(k, in)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (e *env) act(who identity.Identity, opID string, k production.ActionKind, in production.ActionInput) (app.Result, error) {
	return e.app.Act(e.ctx, who, opID, action(e.t, k, in))
}

func (e *env) mustAct(who identity.Identity, opID string, k production.ActionKind, in production.ActionInput) app.Result {
	e.t.Helper()
	r, err := e.act(who, opID, k, in)
	if err != nil {
		e.t.Fatalf("%s %s: %v", k, opID, err)
	}
	return r
}

type sent struct {
	Subject, Key string
	Payload      map[string]any
}

func (e *env) outbox() []sent {
	e.t.Helper()
	rows, err := e.db.QueryContext(e.ctx, `SELECT subject, msg_key, payload FROM outbox ORDER BY created_at, id`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []sent
	for rows.Next() {
		var s sent
		var p string
		if err := rows.Scan(&s.Subject, &s.Key, &p); err != nil {
			e.t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(p), &s.Payload); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// written is what the actions have written so far: outbox messages and
// event ids.
type written struct{ messages, eventIDs int }

func (e *env) written() written {
	e.t.Helper()
	return written{messages: len(e.outbox()), eventIDs: e.count("operator_events")}
}

// wroteNothing fails the test when what (the actions since before) enqueued
// a message or recorded an event id.
func (e *env) wroteNothing(what string, before written) {
	e.t.Helper()
	now := e.written()
	if n := now.messages - before.messages; n != 0 {
		e.t.Errorf("%s enqueued %d messages", what, n)
	}
	if n := now.eventIDs - before.eventIDs; n != 0 {
		e.t.Errorf("%s recorded %d event ids", what, n)
	}
}

func (e *env) count(table string) int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRowContext(e.ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestQueuePriorityOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.confirm(confirmed("a", "2026-03-10", false))
	e.confirm(confirmed("b", "2026-03-05", false))
	e.confirm(confirmed("c", "2026-03-05", true))
	e.confirm(confirmed("d", "", true))
	e.confirm(confirmed("held", "2026-03-01", true))
	e.status("held", true, "payment", t0.Add(time.Minute))
	e.confirm(confirmed("gone", "2026-03-01", true))
	e.cancel("gone", t0.Add(time.Minute))

	var got []string
	for _, op := range e.queue(ana, "laser1") {
		got = append(got, op.OrderID+"/"+op.State)
	}
	want := []string{"c/ready", "b/ready", "a/ready", "d/ready"}
	if len(got) != len(want) {
		t.Fatalf("queue = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("queue = %v, want %v", got, want)
		}
	}
	// The bending queue lists the waiting steps in the same order.
	if q := e.queue(ana, "bend1"); len(q) != 4 || q[0].State != "waiting" || q[0].OrderID != "c" {
		t.Fatalf("bend queue %+v", q)
	}
	if _, err := e.app.WorkstationQueue(e.ctx, ana, "nowhere"); !errors.Is(err, production.ErrNotFound) {
		t.Fatalf("unknown workstation: %v", err)
	}
	if _, err := e.app.WorkstationQueue(e.ctx, boris, "laser1"); !errors.Is(err, production.ErrForbidden) {
		t.Fatalf("other operator's workstation: %v", err)
	}
	// An operator's own workstation with no work yet is an empty queue.
	if q := e.queue(boris, "paint1"); len(q) != 0 {
		t.Fatalf("paint queue %+v", q)
	}
}

func TestOutOfOrderAndDuplicateEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	// Cancelled before confirmed: remembered, never revived; its operations
	// are recorded cancelled, as when the confirmation comes first.
	e.cancel("x", t0)
	e.confirm(confirmed("x", "2026-03-05", false))
	e.confirm(confirmed("x", "2026-03-05", false))
	o, err := e.app.Order(e.ctx, identity.Identity{Subject: "u-adm", Role: identity.RoleAdmin}, "x")
	if err != nil || o.Status != "cancelled" || len(o.Operations) != 2 || o.Number != "F-x" {
		t.Fatalf("order x = %+v, %v", o, err)
	}
	for _, op := range o.Operations {
		if op.State != "cancelled" {
			t.Fatalf("operation of a cancelled order is %s", op.State)
		}
	}

	// Confirmed twice: planned once.
	e.confirm(confirmed("y", "2026-03-05", false))
	e.confirm(confirmed("y", "2026-03-05", false))
	if n := e.count("operations"); n != 4 {
		t.Fatalf("%d operations after a duplicate confirmation", n)
	}

	// Held before confirmed: planned but out of the queue until resumed; a
	// stale hold delivered after the resume does not hold it again.
	e.status("z", true, "credit check", t0)
	e.confirm(confirmed("z", "2026-03-01", false))
	if q := e.queue(ana, "laser1"); len(q) != 1 || q[0].OrderID != "y" {
		t.Fatalf("held order in the queue: %+v", q)
	}
	e.status("z", false, "", t0.Add(2*time.Minute))
	e.status("z", true, "credit check", t0.Add(time.Minute))
	if q := e.queue(ana, "laser1"); len(q) != 2 || q[0].OrderID != "z" {
		t.Fatalf("resumed order not first in the queue: %+v", q)
	}
}

func TestFullFlowEmitsEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.confirm(confirmed("o1", "2026-03-05", true))
	cut, bend := e.opID("o1", 1), e.opID("o1", 2)

	e.mustAct(ana, cut, production.ActStart, production.ActionInput{})
	e.mustAct(ana, cut, production.ActPause, production.ActionInput{Reason: "tool change"})
	e.mustAct(ana, cut, production.ActResume, production.ActionInput{})
	e.mustAct(ana, cut, production.ActRecord, production.ActionInput{GoodQty: 4})
	e.mustAct(ana, cut, production.ActFinish, production.ActionInput{GoodQty: 6, ScrapQty: 1, ScrapReason: "burr"})
	if q := e.queue(ana, "bend1"); len(q) != 1 || q[0].State != "ready" {
		t.Fatalf("bend after cut finished: %+v", q)
	}
	e.mustAct(ana, bend, production.ActStart, production.ActionInput{})
	r := e.mustAct(ana, bend, production.ActFinish, production.ActionInput{GoodQty: 10})
	var res app.ActionResult
	if err := json.Unmarshal(r.Body, &res); err != nil || res.Order.Status != "produced" || res.Operation.State != "done" {
		t.Fatalf("finish answer %s: %v", r.Body, err)
	}
	s, err := production.NewShipment(uuid.NewString(), "DHL", "JD0001")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.Ship(e.ctx, ana, "o1", s); err != nil {
		t.Fatal(err)
	}

	got := e.outbox()
	want := []string{contracts.OrderInProduction, contracts.OperationStarted, contracts.OperationFinished, contracts.OperationStarted,
		contracts.OperationFinished, contracts.OrderProduced, contracts.OrderShipped}
	if len(got) != len(want) {
		t.Fatalf("outbox has %d messages: %+v", len(got), got)
	}
	for i, w := range want {
		if got[i].Subject != contracts.Subject(w) || got[i].Key != "o1" || got[i].Payload["order_id"] != "o1" {
			t.Errorf("message %d = %s key %s, want %s", i, got[i].Subject, got[i].Key, w)
		}
	}
	if f := got[2].Payload; f["good_qty"] != 10.0 || f["scrap_qty"] != 1.0 || f["scrap_reason"] != "burr" || f["operator"] != "ana" || f["workstation"] != "laser1" {
		t.Errorf("operation.finished payload %+v", f)
	}
	if s := got[6].Payload; s["carrier"] != "DHL" || s["tracking_number"] != "JD0001" {
		t.Errorf("order.shipped payload %+v", s)
	}
}

func TestEventIDAppliedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cut, _ := e.started("o1")

	id := uuid.NewString()
	rec := production.ActionInput{EventID: id, GoodQty: 5}
	first := e.mustAct(ana, cut, production.ActRecord, rec)
	again := e.mustAct(ana, cut, production.ActRecord, rec)
	if !again.Replayed || first.Replayed || string(again.Body) != string(first.Body) || again.Status != first.Status {
		t.Fatalf("retry: first %+v, again %+v", first, again)
	}
	if op, _ := e.app.Operation(e.ctx, ana, cut); op.GoodQty != 5 {
		t.Fatalf("good quantity %d after a retried record of 5", op.GoodQty)
	}
	// The same id for another action is refused and changes nothing.
	_, err := e.act(ana, cut, production.ActRecord, production.ActionInput{EventID: id, GoodQty: 6})
	if e2, ok := production.AsError(err); !ok || e2.Kind != production.KindInvalid || e2.Field != "event_id" {
		t.Fatalf("reused id: %v", err)
	}
	_, err = e.act(ana, cut, production.ActPause, production.ActionInput{EventID: id, Reason: "x"})
	if !errors.Is(err, production.ErrInvalid) {
		t.Fatalf("reused id for pause: %v", err)
	}

	// Many concurrent retries of one finish: applied once, all get the same
	// answer, one operation.finished.
	fin := production.ActionInput{EventID: uuid.NewString(), GoodQty: 1}
	var wg sync.WaitGroup
	results := make([]app.Result, 8)
	errs := make([]error, len(results))
	start := make(chan struct{})
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = e.act(ana, cut, production.ActFinish, fin)
		}()
	}
	close(start)
	wg.Wait()
	for i := range results {
		if errs[i] != nil {
			t.Fatalf("concurrent retry %d: %v", i, errs[i])
		}
		if string(results[i].Body) != string(results[0].Body) {
			t.Fatalf("concurrent retries got different answers")
		}
	}
	if op, _ := e.app.Operation(e.ctx, ana, cut); op.GoodQty != 6 || op.State != "done" {
		t.Fatalf("after concurrent finishes: %+v", op)
	}
	n := 0
	for _, m := range e.outbox() {
		if m.Subject == contracts.Subject(contracts.OperationFinished) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d operation.finished messages", n)
	}
}

// TestRetryGetsTheFirstAnswer: an event id is looked up only when the
// action fails (on the id's key, or on the state the first try left), so
// every way a retry or a reuse can go must still answer as the first try
// did, or refuse the reuse, and write nothing.
func TestRetryGetsTheFirstAnswer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cut, bend := e.order("o1")
	cara := identity.Identity{Subject: "u-cara", Name: "cara", Role: identity.RoleOperator, Workstations: []string{"laser1", "bend1"}}
	started := production.ActionInput{EventID: uuid.NewString()}
	first := e.mustAct(ana, cut, production.ActStart, started)
	e.mustAct(ana, cut, production.ActFinish, production.ActionInput{})
	refused := production.ActionInput{EventID: uuid.NewString(), Reason: "jam"}
	if _, err := e.act(ana, bend, production.ActPause, refused); !errors.Is(err, production.ErrConflict) {
		t.Fatalf("pause of a ready operation: %v", err)
	}
	e.mustAct(ana, bend, production.ActStart, production.ActionInput{})
	before := e.written()

	tests := []struct {
		name     string
		who      identity.Identity
		op       string
		kind     production.ActionKind
		in       production.ActionInput
		want     error // nil: answered
		replayed bool
	}{
		{"a start retried after its operation was finished", ana, cut, production.ActStart, started, nil, true},
		{"the id reused for an action refused on its own", ana, cut, production.ActResume, production.ActionInput{EventID: started.EventID}, production.ErrInvalid, false},
		{"the id reused by another operator", cara, cut, production.ActStart, started, production.ErrInvalid, false},
		{"the id sent by an operator of another workstation", boris, cut, production.ActStart, started, production.ErrForbidden, false},
		{"the id sent for an unknown operation", ana, "no-such-op", production.ActStart, started, production.ErrNotFound, false},
	}
	for _, tt := range tests {
		res, err := e.act(tt.who, tt.op, tt.kind, tt.in)
		switch {
		case tt.want != nil && !errors.Is(err, tt.want):
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		case tt.want == nil && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want == nil && (res.Replayed != tt.replayed || string(res.Body) != string(first.Body) || res.Workstation != "laser1"):
			t.Errorf("%s: %+v, want the first answer %s replayed", tt.name, res, first.Body)
		}
	}
	e.wroteNothing("retries", before)
	// A refused first try was not stored: its retry is evaluated again.
	if res := e.mustAct(ana, bend, production.ActPause, refused); res.Replayed {
		t.Errorf("a retry after a refusal was replayed: %+v", res)
	}
}

func TestBadActionsWriteNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cut, bend := e.started("o1")
	e.mustAct(ana, cut, production.ActFinish, production.ActionInput{})
	before := e.written()

	ship, err := production.NewShipment(uuid.NewString(), "UPS", "1Z")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"finish twice", func() error {
			_, err := e.act(ana, cut, production.ActFinish, production.ActionInput{})
			return err
		}, production.ErrConflict},
		{"finish what is not running", func() error {
			_, err := e.act(ana, bend, production.ActFinish, production.ActionInput{})
			return err
		}, production.ErrConflict},
		{"pause what is not running", func() error {
			_, err := e.act(ana, bend, production.ActPause, production.ActionInput{Reason: "x"})
			return err
		}, production.ErrConflict},
		{"ship before produced", func() error { _, err := e.app.Ship(e.ctx, ana, "o1", ship); return err }, production.ErrConflict},
		{"other workstation", func() error {
			_, err := e.act(boris, bend, production.ActStart, production.ActionInput{})
			return err
		}, production.ErrForbidden},
		{"ship by a stranger", func() error { _, err := e.app.Ship(e.ctx, boris, "o1", ship); return err }, production.ErrForbidden},
		{"unknown operation", func() error {
			_, err := e.act(ana, "no-such-op", production.ActStart, production.ActionInput{})
			return err
		}, production.ErrNotFound},
		{"unknown order", func() error { _, err := e.app.Ship(e.ctx, ana, "no-such-order", ship); return err }, production.ErrNotFound},
	}
	for _, tt := range tests {
		if err := tt.do(); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	e.wroteNothing("refused actions", before)
}

func TestCancelStopsRunningWork(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cut, _ := e.started("o1")
	e.cancel("o1", t0.Add(time.Hour))
	o, err := e.app.Order(e.ctx, ana, "o1")
	if err != nil || o.Status != "cancelled" {
		t.Fatalf("order %+v %v", o, err)
	}
	for _, op := range o.Operations {
		if op.State != "cancelled" {
			t.Errorf("op %d is %s", op.Seq, op.State)
		}
	}
	if q := e.queue(ana, "laser1"); len(q) != 0 {
		t.Fatalf("cancelled work in the queue: %+v", q)
	}
	if _, err := e.act(ana, cut, production.ActFinish, production.ActionInput{}); !errors.Is(err, production.ErrConflict) {
		t.Fatalf("finish on a cancelled order: %v", err)
	}
	// A later confirmation does not revive it.
	e.confirm(confirmed("o1", "2026-03-05", false))
	if o, _ := e.app.Order(e.ctx, ana, "o1"); o.Status != "cancelled" {
		t.Fatalf("revived: %s", o.Status)
	}
}

func TestHoldPausesRunningWork(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cut, _ := e.started("o1")
	e.status("o1", true, "customer changes drawing", t0.Add(time.Hour))
	if op, _ := e.app.Operation(e.ctx, ana, cut); op.State != "paused" {
		t.Fatalf("running op on hold is %s", op.State)
	}
	if _, err := e.act(ana, cut, production.ActResume, production.ActionInput{}); !errors.Is(err, production.ErrConflict) {
		t.Fatalf("resume while held: %v", err)
	}
	e.status("o1", false, "", t0.Add(2*time.Hour))
	e.mustAct(ana, cut, production.ActResume, production.ActionInput{})
}

func TestInvalidRoutingIsDeadLettered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := confirmed("bad", "2026-03-05", false)
	p.Routing[1].Workstation = ""
	err := e.deliver(func(ctx context.Context, tx *sqldb.Tx) error { return e.app.Confirmed(ctx, tx, p) })
	if !errors.Is(err, inbox.ErrPermanent) {
		t.Fatalf("invalid routing: %v, want a permanent failure", err)
	}
	if n := e.count("orders"); n != 0 {
		t.Fatalf("%d orders written", n)
	}
}
