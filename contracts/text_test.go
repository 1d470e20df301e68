package contracts_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/text"
)

func placed() contracts.OrderPlacedV1 {
	return contracts.OrderPlacedV1{OrderID: "o1", Number: "API-1", Channel: contracts.ChannelAPI,
		Customer: contracts.Customer{ID: "c1", Name: "Jörg Müller", Email: "j@example.com"},
		Lines:    []contracts.LineItem{{LineNo: 1, Product: "laser_cut_sheet", Options: map[string]string{"material": "steel_s235"}, Quantity: 1}},
		Delivery: contracts.Address{Line1: "Hauptstr. 1", City: "Berlin", PostalCode: "10115", Country: "DE"}, PlacedAt: time.Now()}
}

// TestPoisonedTextRefused: a NUL, a control or a bidi override anywhere in a
// message makes Validate fail with ErrInvalid (inbox.JSON dead-letters it at
// once), naming the field but not echoing the value.
func TestPoisonedTextRefused(t *testing.T) {
	t.Parallel()
	if err := placed().Validate(); err != nil {
		t.Fatalf("clean order: %v", err)
	}
	for name, tc := range map[string]struct {
		mut   func(*contracts.OrderPlacedV1)
		field string
	}{
		"NUL in name":        {func(m *contracts.OrderPlacedV1) { m.Customer.Name = "Evil\x00Corp" }, "customer.name"},
		"bidi in street":     {func(m *contracts.OrderPlacedV1) { m.Delivery.Line1 = "Main \u202e1" }, "delivery.line1"},
		"escape in option":   {func(m *contracts.OrderPlacedV1) { m.Lines[0].Options["material"] = "\x1b[2J" }, "lines[0].options.material"},
		"C1 in option key":   {func(m *contracts.OrderPlacedV1) { m.Lines[0].Options["a\u0085"] = "x" }, "lines[0].options"},
		"NUL in number":      {func(m *contracts.OrderPlacedV1) { m.Number = "A\x00" }, "number"},
		"invalid UTF-8 city": {func(m *contracts.OrderPlacedV1) { m.Delivery.City = "\xff" }, "delivery.city"},
	} {
		m := placed()
		m.Lines[0].Options = map[string]string{"material": "steel_s235"}
		tc.mut(&m)
		err := m.Validate()
		if !errors.Is(err, contracts.ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v, want ErrInvalid naming %s", name, err, tc.field)
		}
		if err != nil && text.Clean(err.Error()) != nil {
			t.Errorf("%s: the reason itself holds poison: %q", name, err)
		}
	}
	// Notes keep their newlines and tabs.
	note := contracts.OrderNoteAddedV1{OrderID: "o1", Note: "line 1\n\tline 2", At: time.Now()}
	if err := note.Validate(); err != nil {
		t.Fatalf("note with newlines: %v", err)
	}
	// Every message type is checked, whatever its fields.
	now := time.Now()
	for _, m := range []interface{ Validate() error }{
		contracts.OrderPricedV1{OrderID: "o\x00", ShipDate: "2026-01-01", PricedAt: now, Lines: []contracts.PricedLine{{}}, Routing: []contracts.RoutingStep{{}}, Total: 1},
		contracts.OrderNeedsReviewV1{OrderID: "o", Reason: "r\u2066", At: now},
		contracts.OrderStatusChangedV1{OrderID: "o", Reason: "\x00", At: now},
		contracts.OrderConfirmedV1{OrderID: "o", By: "\x07", At: now, Routing: []contracts.RoutingStep{{}}},
		contracts.OrderAssignedV1{OrderID: "o", Manager: "m\x00", At: now},
		contracts.OrderNoteAddedV1{OrderID: "o", Note: "\x00", At: now},
		contracts.OperationFinishedV1{OrderID: "o", Operation: "cut", ScrapReason: "\x00", At: now},
		contracts.OrderShippedV1{OrderID: "o", Carrier: "c", TrackingNumber: "1\u202e", At: now},
		contracts.CompensationGrantedV1{CompensationID: "c", CustomerID: "c", Reason: "r\x00", Kind: "voucher", Amount: 1, At: now},
	} {
		if err := m.Validate(); !errors.Is(err, contracts.ErrInvalid) {
			t.Errorf("%T: %v, want ErrInvalid", m, err)
		}
	}
	pl := contracts.DemoPriceList(now)
	pl.Products[0].Name = "Sheet\x00"
	if err := pl.Validate(); !errors.Is(err, contracts.ErrInvalid) {
		t.Errorf("price list: %v", err)
	}
}

// FuzzDecodeOrderPlaced decodes arbitrary payloads as a consumer does: a
// payload that decodes and validates holds no poisoned string anywhere.
func FuzzDecodeOrderPlaced(f *testing.F) {
	good, _ := json.Marshal(placed())
	f.Add(good)
	f.Add([]byte(strings.Replace(string(good), "Jörg", `J\u0000rg`, 1)))
	f.Add([]byte(strings.Replace(string(good), "Berlin", `Ber\u202elin`, 1)))
	f.Add([]byte(`{"order_id":"o","number":"n","channel":"api","customer":{"id":"c"},"lines":[{"product":"p","quantity":1,"options":{"\u0085":"x"}}],"placed_at":"2026-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		var m contracts.OrderPlacedV1
		if json.Unmarshal(payload, &m) != nil || m.Validate() != nil {
			return
		}
		var check func(v reflect.Value)
		check = func(v reflect.Value) {
			switch v.Kind() {
			case reflect.String:
				if err := text.Clean(v.String()); err != nil {
					t.Fatalf("accepted %q: %v", v.String(), err)
				}
			case reflect.Struct:
				for i := range v.NumField() {
					check(v.Field(i))
				}
			case reflect.Slice:
				for i := range v.Len() {
					check(v.Index(i))
				}
			case reflect.Map:
				for _, k := range v.MapKeys() {
					check(k)
					check(v.MapIndex(k))
				}
			}
		}
		check(reflect.ValueOf(m))
	})
}
