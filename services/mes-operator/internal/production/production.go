package production

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"
)

// State is where an operation stands.
type State string

// States of an operation. Waiting operations become ready one after the
// other along their line; cancelled ones were stopped by a cancellation.
const (
	Waiting   State = "waiting"
	Ready     State = "ready"
	Running   State = "running"
	Paused    State = "paused"
	Done      State = "done"
	Cancelled State = "cancelled"
)

// Open tells whether the operation still has work to do.
func (s State) Open() bool { return s == Waiting || s == Ready || s == Running || s == Paused }

// Operation is one step of an order line's routing on a workstation.
type Operation struct {
	ID             string
	OrderID        string
	LineNo         int
	Seq            int
	Name           string // the operation code, e.g. "laser_cut"
	Workstation    string
	PlannedMinutes float64
	State          State
	GoodQty        int
	ScrapQty       int
	ScrapReason    string
	PauseReason    string
	Operator       string // name of who acted last
	StartedAt      time.Time
	RunningSince   time.Time // zero unless running
	Worked         time.Duration
	FinishedAt     time.Time
	Version        int // bumped on every change; stores update conditionally on it
	// Quantity is the ordered quantity of the operation's line (0 when the
	// order came without its lines); not stored with the operation.
	Quantity int
}

// Step is one step of a routing as the CRM sends it.
type Step struct {
	LineNo         int
	Seq            int
	Name           string
	Workstation    string
	PlannedMinutes float64
}

// Plan turns a routing into operations: the first operation of each line is
// ready, the others wait. The routing must name each step's operation and
// workstation, with a positive sequence number unique within its line.
func Plan(orderID string, routing []Step) ([]Operation, error) {
	if len(routing) == 0 {
		return nil, invalid("routing", "the routing is empty")
	}
	type key struct{ line, seq int }
	seen := make(map[key]bool, len(routing))
	ops := make([]Operation, 0, len(routing))
	for _, s := range routing {
		switch {
		case s.Seq <= 0 || s.LineNo < 0:
			return nil, invalid("routing", "line %d step %d: line and sequence numbers must be positive", s.LineNo, s.Seq)
		case strings.TrimSpace(s.Name) == "" || strings.TrimSpace(s.Workstation) == "":
			return nil, invalid("routing", "line %d step %d: operation and workstation are required", s.LineNo, s.Seq)
		case s.PlannedMinutes < 0 || math.IsNaN(s.PlannedMinutes) || math.IsInf(s.PlannedMinutes, 0):
			return nil, invalid("routing", "line %d step %d: planned minutes must be a non-negative number", s.LineNo, s.Seq)
		case seen[key{s.LineNo, s.Seq}]:
			return nil, invalid("routing", "line %d step %d appears twice", s.LineNo, s.Seq)
		}
		seen[key{s.LineNo, s.Seq}] = true
		ops = append(ops, Operation{OrderID: orderID, LineNo: s.LineNo, Seq: s.Seq, Name: s.Name,
			Workstation: s.Workstation, PlannedMinutes: s.PlannedMinutes, State: Waiting})
	}
	slices.SortFunc(ops, func(a, b Operation) int {
		return cmp.Or(cmp.Compare(a.LineNo, b.LineNo), cmp.Compare(a.Seq, b.Seq))
	})
	for i := range ops {
		if i == 0 || ops[i-1].LineNo != ops[i].LineNo {
			ops[i].State = Ready
		}
	}
	return ops, nil
}

// OrderStatus is where an order stands on the shop floor.
type OrderStatus string

// Order statuses. Unconfirmed is an order known only from a hold or a
// cancellation that arrived before its confirmation.
const (
	Unconfirmed     OrderStatus = "unconfirmed"
	Confirmed       OrderStatus = "confirmed"
	InProduction    OrderStatus = "in_production"
	Produced        OrderStatus = "produced"
	Shipped         OrderStatus = "shipped"
	OrderCancelled  OrderStatus = "cancelled"
	reasonOrderHold             = "order on hold"
)

// Order is the shop floor's copy of a confirmed order.
type Order struct {
	ID             string
	Number         string
	Channel        string
	ShipDate       string // YYYY-MM-DD, the due date
	Rush           bool
	Status         OrderStatus
	OnHold         bool
	HoldReason     string
	HoldAt         time.Time // time of the hold or resume event last applied
	CancelReason   string
	Carrier        string
	TrackingNumber string
	ShippedBy      string
	ConfirmedAt    time.Time
	ProducedAt     time.Time
	ShippedAt      time.Time
	CancelledAt    time.Time
	Version        int
}

// Operator is who acts.
type Operator struct {
	Subject string
	Name    string
}

// Effect says what an action caused beyond the operation itself, so that the
// caller emits the matching events.
type Effect struct {
	OrderStarted  bool        // the first operation of the order started
	Finished      bool        // the operation was finished
	Readied       []Operation // operations that became ready
	OrderProduced bool        // the last operation of the order was finished
}

// Apply performs an operator's action on op, an operation of ord; ops are
// all the operations of ord (op among them) and are updated in place, as
// are op and ord. Nothing is changed when an error is returned.
func Apply(ord *Order, ops []Operation, opID string, a Action, who Operator, now time.Time) (Effect, error) {
	i := slices.IndexFunc(ops, func(o Operation) bool { return o.ID == opID })
	if i < 0 {
		return Effect{}, NotFound("operation %s not found", opID)
	}
	op := ops[i]
	if err := ord.workable(); err != nil {
		return Effect{}, err
	}
	var eff Effect
	switch a.kind {
	case ActStart:
		switch op.State {
		case Ready:
		case Waiting:
			return Effect{}, conflict("operation %d of line %d cannot start before the previous operation of the line is finished", op.Seq, op.LineNo)
		default:
			return Effect{}, stateConflict(op, "start")
		}
		op.State, op.RunningSince, op.PauseReason = Running, now, ""
		if op.StartedAt.IsZero() {
			op.StartedAt = now
		}
		if ord.Status == Confirmed {
			ord.Status = InProduction
			eff.OrderStarted = true
		}
	case ActPause:
		if op.State != Running {
			return Effect{}, stateConflict(op, "pause")
		}
		op.stop(now)
		op.State, op.PauseReason = Paused, a.reason
	case ActResume:
		if op.State != Paused {
			return Effect{}, stateConflict(op, "resume")
		}
		op.State, op.RunningSince, op.PauseReason = Running, now, ""
	case ActRecord:
		if op.State != Running && op.State != Paused {
			return Effect{}, stateConflict(op, "record quantities on")
		}
		op.record(a)
	case ActFinish:
		if op.State != Running {
			return Effect{}, stateConflict(op, "finish")
		}
		op.record(a)
		// Every ordered part is accounted for: good, or scrapped with a
		// reason (NewAction requires one for any scrap).
		if op.Quantity > 0 && op.GoodQty+op.ScrapQty < op.Quantity {
			return Effect{}, invalid("good_qty", "only %d of %d parts are counted (%d good, %d scrap): enter the good parts, and the scrapped ones with a reason, before finishing",
				op.GoodQty+op.ScrapQty, op.Quantity, op.GoodQty, op.ScrapQty)
		}
		op.stop(now)
		op.State, op.FinishedAt = Done, now
		eff.Finished = true
	default:
		return Effect{}, invalid("action", "unknown action %q", a.kind)
	}
	op.Operator = who.Name
	op.Version++
	ops[i] = op
	if eff.Finished {
		eff.Readied = readyNext(ops, op)
		if allDone(ops) {
			ord.Status, ord.ProducedAt = Produced, now
			eff.OrderProduced = true
		}
	}
	if eff.OrderStarted || eff.OrderProduced {
		ord.Version++
	}
	return eff, nil
}

// workable refuses work on an order that is held, cancelled or already out
// of production.
func (o *Order) workable() error {
	switch {
	case o.Status == OrderCancelled:
		return conflict("order %s is cancelled", o.label())
	case o.OnHold:
		return conflict("order %s is on hold: %s", o.label(), cmp.Or(o.HoldReason, "wait until it is resumed"))
	case o.Status == Unconfirmed:
		return conflict("order %s is not confirmed", o.label())
	}
	return nil
}

func (o *Order) label() string { return cmp.Or(o.Number, o.ID) }

func stateConflict(op Operation, verb string) error {
	switch op.State {
	case Done:
		return conflict("cannot %s operation %s: it is already finished", verb, op.Name)
	case Cancelled:
		return conflict("cannot %s operation %s: it was cancelled", verb, op.Name)
	case Waiting:
		return conflict("cannot %s operation %s: it has not started (the previous operation of the line is not finished)", verb, op.Name)
	default:
		return conflict("cannot %s operation %s: it is %s", verb, op.Name, op.State)
	}
}

func (op *Operation) stop(now time.Time) {
	if !op.RunningSince.IsZero() && now.After(op.RunningSince) {
		op.Worked += now.Sub(op.RunningSince)
	}
	op.RunningSince = time.Time{}
}

func (op *Operation) record(a Action) {
	op.GoodQty += a.good
	op.ScrapQty += a.scrap
	if a.scrapReason != "" {
		if op.ScrapReason != "" {
			op.ScrapReason += "; "
		}
		op.ScrapReason = truncate(op.ScrapReason+a.scrapReason, 1000)
	}
}

// readyNext makes the next waiting operation of done's line ready.
func readyNext(ops []Operation, done Operation) []Operation {
	next := -1
	for i, o := range ops {
		if o.LineNo == done.LineNo && o.Seq > done.Seq && o.State == Waiting && (next < 0 || o.Seq < ops[next].Seq) {
			next = i
		}
	}
	if next < 0 {
		return nil
	}
	ops[next].State = Ready
	ops[next].Version++
	return []Operation{ops[next]}
}

func allDone(ops []Operation) bool {
	for _, o := range ops {
		if o.State != Done {
			return false
		}
	}
	return true
}

// Ship marks a produced order shipped.
func Ship(ord *Order, s Shipment, who Operator, now time.Time) error {
	switch {
	case ord.Status == OrderCancelled:
		return conflict("order %s is cancelled", ord.label())
	case ord.Status == Shipped:
		return conflict("order %s was already shipped with %s %s", ord.label(), ord.Carrier, ord.TrackingNumber)
	case ord.OnHold:
		return conflict("order %s is on hold", ord.label())
	case ord.Status != Produced:
		return conflict("order %s cannot ship before all its operations are finished", ord.label())
	}
	ord.Status, ord.Carrier, ord.TrackingNumber, ord.ShippedBy, ord.ShippedAt = Shipped, s.carrier, s.tracking, who.Name, now
	ord.Version++
	return nil
}

// Cancel stops an order: its open operations are cancelled, a running one
// included. A shipped order has left the plant and is not changed. It
// reports whether anything changed.
func Cancel(ord *Order, ops []Operation, reason string, at time.Time) bool {
	if ord.Status == OrderCancelled || ord.Status == Shipped {
		return false
	}
	ord.Status, ord.CancelReason, ord.CancelledAt = OrderCancelled, reason, at
	ord.Version++
	for i := range ops {
		if ops[i].State.Open() {
			ops[i].stop(at)
			ops[i].State = Cancelled
			ops[i].Version++
		}
	}
	return true
}

// Hold puts the order on hold or resumes it, unless a later hold or resume
// was already applied (events may arrive out of order). While held the
// order leaves the queues; a running operation is paused. It reports
// whether anything changed.
func Hold(ord *Order, ops []Operation, hold bool, reason string, at time.Time) bool {
	if !ord.HoldAt.IsZero() && !at.After(ord.HoldAt) {
		return false
	}
	ord.HoldAt = at
	ord.OnHold = hold
	ord.HoldReason = ""
	if hold {
		ord.HoldReason = reason
	}
	ord.Version++
	if hold {
		for i := range ops {
			if ops[i].State == Running {
				ops[i].stop(at)
				ops[i].State, ops[i].PauseReason = Paused, reasonOrderHold
				ops[i].Version++
			}
		}
	}
	return true
}
