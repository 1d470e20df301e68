package inboxtest

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
)

// Story is the life of one order as its producers tell it, each event a
// minute after the one before, valid by the contracts: consumers take the
// events they subscribe to.
type Story struct {
	Placed                     contracts.OrderPlacedV1
	Priced                     contracts.OrderPricedV1
	Confirmed                  contracts.OrderConfirmedV1
	OnHold, Resumed            contracts.OrderStatusChangedV1
	InProduction, Produced     contracts.OrderStatusChangedV1
	Finished                   []contracts.OperationFinishedV1
	Shipped                    contracts.OrderShippedV1
	CancelRequested, Cancelled contracts.OrderStatusChangedV1
}

// OrderStory returns the story of order id placed through channel at t0:
// a bracket (laser cut, bent) priced from the demo price list.
func OrderStory(id, channel string, t0 time.Time) Story {
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	line := contracts.LineItem{LineNo: 1, Product: "laser_cut_sheet", Quantity: 10, Lead: contracts.LeadStandard, Options: map[string]string{
		contracts.OptMaterial: "steel_s235", contracts.OptWidth: "200", contracts.OptHeight: "100", contracts.OptThickness: "2"}}
	routing := []contracts.RoutingStep{
		{LineNo: 1, Seq: 1, Operation: "laser_cut", Workstation: "laser1", PlannedMinutes: 12.5},
		{LineNo: 1, Seq: 2, Operation: "bend", Workstation: "bend1", PlannedMinutes: 8},
	}
	status := func(m int, reason string) contracts.OrderStatusChangedV1 {
		return contracts.OrderStatusChangedV1{OrderID: id, Channel: channel, Reason: reason, By: "u-mgr", At: at(m)}
	}
	s := Story{
		Placed: contracts.OrderPlacedV1{OrderID: id, Number: "F-" + id, Channel: channel, Currency: "EUR", QuotedTotal: 4200,
			PriceListVersion: 1, Customer: contracts.Customer{ID: "c-" + id, Name: "Ada Lovelace", Email: "ada@example.com"},
			Lines:    []contracts.LineItem{line},
			Delivery: contracts.Address{Line1: "1 Main St", City: "Ghent", PostalCode: "9000", Country: "BE"}, PlacedAt: at(0)},
		Priced: contracts.OrderPricedV1{OrderID: id, Channel: channel, Currency: "EUR", Total: 4300, PriceListVersion: 1,
			Lines:   []contracts.PricedLine{{LineNo: 1, Quantity: 10, UnitPrice: 430, Total: 4300}},
			Routing: routing, LeadDays: 5, ShipDate: at(0).AddDate(0, 0, 7).Format(time.DateOnly), PricedAt: at(1)},
		Confirmed: contracts.OrderConfirmedV1{OrderID: id, Number: "F-" + id, Channel: channel, Routing: routing,
			ShipDate: at(0).AddDate(0, 0, 7).Format(time.DateOnly), By: "u-mgr", At: at(2)},
		OnHold:          status(3, "waiting for the customer's drawing"),
		Resumed:         status(4, ""),
		InProduction:    status(5, ""),
		Produced:        status(8, ""),
		Shipped:         contracts.OrderShippedV1{OrderID: id, Channel: channel, Carrier: "DHL", TrackingNumber: "JD0001", By: "u-ship", At: at(9)},
		CancelRequested: status(3, "ordered twice"),
		Cancelled:       status(4, "ordered twice"),
	}
	for i, r := range routing {
		s.Finished = append(s.Finished, contracts.OperationFinishedV1{OrderID: id, LineNo: r.LineNo, Seq: r.Seq, Operation: r.Operation,
			Workstation: r.Workstation, GoodQty: 10, Operator: "u-ana", At: at(6 + i)})
	}
	return s
}

// StatusHistories are the histories of the story's order after its
// pricing, for the consumers that follow its status (the shop, mes-api):
// through to shipping, held and resumed, cancelled after its confirmation
// and while on hold.
func (s Story) StatusHistories() map[string][]Event {
	priced, confirmed := E(contracts.OrderPriced, s.Priced), E(contracts.OrderConfirmed, s.Confirmed)
	return map[string][]Event{
		"priced to shipped": {priced, confirmed, E(contracts.OrderInProduction, s.InProduction),
			E(contracts.OrderProduced, s.Produced), E(contracts.OrderShipped, s.Shipped)},
		"held and resumed":    {priced, confirmed, E(contracts.OrderOnHold, s.OnHold), E(contracts.OrderResumed, s.Resumed)},
		"cancelled":           {priced, confirmed, E(contracts.OrderCancelled, s.Cancelled)},
		"held then cancelled": {priced, E(contracts.OrderOnHold, s.OnHold), E(contracts.OrderCancelled, s.Cancelled)},
	}
}

// E is an Event of the contracts' event type et.
func E(et string, payload any) Event { return Event{Subject: contracts.Subject(et), Payload: payload} }

// Rows renders what query returns, one line per row, for a State.
func Rows(t *testing.T, db *sqldb.DB, query string, args ...any) string {
	t.Helper()
	rs, err := db.Query(query, args...)
	if err != nil {
		t.Fatalf("state: %v", err)
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for rs.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatalf("state: %v", err)
		}
		for i, c := range cols {
			fmt.Fprintf(&b, "%s=%s ", c, vals[i].String)
		}
		b.WriteByte('\n')
	}
	if err := rs.Err(); err != nil {
		t.Fatalf("state: %v", err)
	}
	return b.String()
}

// Message is a message of event type et with id "<key>-setup", for a
// consumer's setup.
func Message(t *testing.T, key, et string, payload any) inbox.Message {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return inbox.Message{ID: key + "-setup", Subject: contracts.Subject(et), Key: key, Payload: b, Headers: map[string]string{}, Deliveries: 1}
}
