package app

import (
	"math"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/services/mes-operator/internal/production"
	"github.com/fabrika/fabrika/services/mes-operator/internal/store"
)

func subject(eventType string) string { return contracts.Subject(eventType) }

// OperationView is an operation as the API and the pages show it.
type OperationView struct {
	ID             string     `json:"id"`
	OrderID        string     `json:"order_id"`
	OrderNumber    string     `json:"order_number,omitempty"`
	LineNo         int        `json:"line_no"`
	Seq            int        `json:"seq"`
	Operation      string     `json:"operation"`
	Workstation    string     `json:"workstation"`
	PlannedMinutes float64    `json:"planned_minutes"`
	State          string     `json:"state"`
	GoodQty        int        `json:"good_qty"`
	ScrapQty       int        `json:"scrap_qty"`
	ScrapReason    string     `json:"scrap_reason,omitempty"`
	PauseReason    string     `json:"pause_reason,omitempty"`
	Operator       string     `json:"operator,omitempty"`
	WorkedMinutes  float64    `json:"worked_minutes"`
	StartedAt      *time.Time `json:"started_at,omitempty"`
	FinishedAt     *time.Time `json:"finished_at,omitempty"`
	ShipDate       string     `json:"ship_date,omitempty"`
	Rush           bool       `json:"rush"`
	// What to make: the line's product, options and ordered quantity
	// (absent for orders confirmed without their lines).
	Product  string            `json:"product,omitempty"`
	Options  map[string]string `json:"options,omitempty"`
	Quantity int               `json:"quantity,omitempty"`
}

func (v *OperationView) withLine(l store.Line) {
	v.Product, v.Options, v.Quantity = l.Product, l.Options, l.Quantity
}

// LineView is one line of an order: what to make.
type LineView struct {
	LineNo   int               `json:"line_no"`
	Product  string            `json:"product"`
	Options  map[string]string `json:"options"`
	Quantity int               `json:"quantity"`
}

// NoteView is a manager's note on an order.
type NoteView struct {
	Body string    `json:"body"`
	By   string    `json:"by"`
	At   time.Time `json:"at"`
}

// OrderView is an order as the API and the pages show it.
type OrderView struct {
	OrderID        string          `json:"order_id"`
	Number         string          `json:"number"`
	Channel        string          `json:"channel,omitempty"`
	ShipDate       string          `json:"ship_date"`
	Rush           bool            `json:"rush"`
	Status         string          `json:"status"`
	OnHold         bool            `json:"on_hold"`
	HoldReason     string          `json:"hold_reason,omitempty"`
	CancelReason   string          `json:"cancel_reason,omitempty"`
	Carrier        string          `json:"carrier,omitempty"`
	TrackingNumber string          `json:"tracking_number,omitempty"`
	ShippedBy      string          `json:"shipped_by,omitempty"`
	ProducedAt     *time.Time      `json:"produced_at,omitempty"`
	ShippedAt      *time.Time      `json:"shipped_at,omitempty"`
	Operations     []OperationView `json:"operations,omitempty"`
	Lines          []LineView      `json:"lines,omitempty"`
	Notes          []NoteView      `json:"notes,omitempty"`
}

// ActionResult is the answer to an operator action, stored with its event
// id and replayed on a retry.
type ActionResult struct {
	EventID   string         `json:"event_id"`
	Action    string         `json:"action"`
	Operation *OperationView `json:"operation,omitempty"`
	Order     OrderView      `json:"order"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func operationView(op production.Operation, number, shipDate string, rush bool) OperationView {
	return OperationView{
		ID: op.ID, OrderID: op.OrderID, OrderNumber: number, LineNo: op.LineNo, Seq: op.Seq, Operation: op.Name,
		Workstation: op.Workstation, PlannedMinutes: op.PlannedMinutes, State: string(op.State), GoodQty: op.GoodQty,
		ScrapQty: op.ScrapQty, ScrapReason: op.ScrapReason, PauseReason: op.PauseReason, Operator: op.Operator,
		WorkedMinutes: math.Round(op.Worked.Minutes()*100) / 100, StartedAt: timePtr(op.StartedAt), FinishedAt: timePtr(op.FinishedAt),
		ShipDate: shipDate, Rush: rush,
	}
}

func orderView(o production.Order, ops []production.Operation) OrderView {
	v := OrderView{
		OrderID: o.ID, Number: o.Number, Channel: o.Channel, ShipDate: o.ShipDate, Rush: o.Rush, Status: string(o.Status),
		OnHold: o.OnHold, HoldReason: o.HoldReason, CancelReason: o.CancelReason, Carrier: o.Carrier, TrackingNumber: o.TrackingNumber,
		ShippedBy: o.ShippedBy, ProducedAt: timePtr(o.ProducedAt), ShippedAt: timePtr(o.ShippedAt),
	}
	for _, op := range ops {
		v.Operations = append(v.Operations, operationView(op, o.Number, o.ShipDate, o.Rush))
	}
	return v
}
