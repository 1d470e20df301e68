package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/services/mes-operator/internal/production"
)

const evID = "0190f3c4-7d2a-7b3e-9f00-1234567890ab"

func TestParseAction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		kind   string
		body   string
		status int // 0 when valid
	}{
		{"start", "start", `{"event_id":"` + evID + `"}`, 0},
		{"finish", "finish", `{"event_id":"` + evID + `","good_qty":5,"scrap_qty":1,"scrap_reason":"crack"}`, 0},
		{"unknown action", "explode", `{"event_id":"` + evID + `"}`, 404},
		{"empty body", "start", ``, 400},
		{"malformed", "start", `{"event_id":`, 400},
		{"unknown field", "start", `{"event_id":"` + evID + `","force":true}`, 400},
		{"two objects", "start", `{"event_id":"` + evID + `"}{}`, 400},
		{"float quantity", "finish", `{"event_id":"` + evID + `","good_qty":1.5}`, 400},
		{"string quantity", "finish", `{"event_id":"` + evID + `","good_qty":"5"}`, 400},
		{"negative", "finish", `{"event_id":"` + evID + `","good_qty":-1}`, 422},
		{"scrap without reason", "record", `{"event_id":"` + evID + `","scrap_qty":2}`, 422},
		{"no event id", "start", `{}`, 422},
		{"pause without reason", "pause", `{"event_id":"` + evID + `"}`, 422},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseAction(tt.kind, []byte(tt.body))
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			p := problemFor(err)
			if p == nil || p.Status != tt.status {
				t.Fatalf("err = %v, want status %d", err, tt.status)
			}
		})
	}
}

func TestParseActionForm(t *testing.T) {
	t.Parallel()
	a, err := ParseActionForm("finish", url.Values{"event_id": {evID}, "good_qty": {" 7 "}, "scrap_qty": {""}})
	if err != nil || a.GoodQty() != 7 || a.ScrapQty() != 0 {
		t.Fatalf("got %+v, %v", a, err)
	}
	_, err = ParseActionForm("finish", url.Values{"event_id": {evID}, "good_qty": {"seven"}})
	if e, ok := production.AsError(err); !ok || e.Field != "good_qty" {
		t.Fatalf("non-numeric quantity: %v", err)
	}
}

// FuzzParseAction checks that no body makes the parser panic, that every
// failure is a client error (400 for malformed JSON, 404 for an unknown
// action, 422 for wrong values), and that every accepted action keeps the
// rules: a UUID event id, quantities within range, a reason for pauses and
// for scrap; and that parsing is deterministic and survives a round trip.
func FuzzParseAction(f *testing.F) {
	for _, s := range []struct{ kind, body string }{
		{"start", `{"event_id":"` + evID + `"}`},
		{"pause", `{"event_id":"` + evID + `","reason":"tool change"}`},
		{"resume", `{"event_id":"` + evID + `"}`},
		{"record", `{"event_id":"` + evID + `","good_qty":3,"scrap_qty":1,"scrap_reason":"crack"}`},
		{"finish", `{"event_id":"` + evID + `","good_qty":1000000}`},
		{"finish", `{"event_id":"` + evID + `","good_qty":-1}`},
		{"finish", `{"event_id":"` + evID + `","good_qty":1e3}`},
		{"start", `{"event_id":null}`},
		{"start", `[]`},
		{"start", `{"event_id":"` + evID + `"} x`},
		{"pause", `{"event_id":"` + evID + `","reason":"\u0000"}`},
		{"ship", `{}`},
	} {
		f.Add(s.kind, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, kind string, body []byte) {
		a, err := ParseAction(kind, body)
		if err != nil {
			var p *httpx.Problem
			if errors.As(err, &p) {
				if p.Status != http.StatusBadRequest {
					t.Fatalf("decode problem with status %d: %v", p.Status, err)
				}
				return
			}
			e, ok := production.AsError(err)
			if !ok || (e.Kind != production.KindInvalid && e.Kind != production.KindNotFound) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		if string(a.Kind()) != kind {
			t.Fatalf("kind %q parsed as %q", kind, a.Kind())
		}
		if _, err := production.ParseEventID(a.EventID()); err != nil || a.EventID() != strings.ToLower(a.EventID()) {
			t.Fatalf("accepted event id %q", a.EventID())
		}
		if a.GoodQty() < 0 || a.ScrapQty() < 0 || a.GoodQty() > production.MaxQuantity || a.ScrapQty() > production.MaxQuantity {
			t.Fatalf("accepted quantities %d/%d", a.GoodQty(), a.ScrapQty())
		}
		if (a.ScrapQty() > 0) != (a.ScrapReason() != "") {
			t.Fatalf("scrap %d with reason %q", a.ScrapQty(), a.ScrapReason())
		}
		if (a.Kind() == production.ActPause) != (a.Reason() != "") {
			t.Fatalf("%s with reason %q", a.Kind(), a.Reason())
		}
		again, err := ParseAction(kind, body)
		if err != nil || again.Fingerprint("op", "u") != a.Fingerprint("op", "u") {
			t.Fatalf("second parse differs: %v", err)
		}
		rt, _ := json.Marshal(actionBody{EventID: a.EventID(), Reason: a.Reason(), GoodQty: a.GoodQty(), ScrapQty: a.ScrapQty(), ScrapReason: a.ScrapReason()})
		back, err := ParseAction(kind, rt)
		if err != nil || back.Fingerprint("op", "u") != a.Fingerprint("op", "u") {
			t.Fatalf("round trip of %s failed: %v", rt, err)
		}
	})
}

// FuzzParseActionForm checks the form parser the pages use: no panic, only
// invalid-input errors, and accepted actions within the rules.
func FuzzParseActionForm(f *testing.F) {
	for _, s := range []struct{ kind, form string }{
		{"start", "event_id=" + evID},
		{"pause", "event_id=" + evID + "&reason=tool+change"},
		{"finish", "event_id=" + evID + "&good_qty=3&scrap_qty=1&scrap_reason=burr"},
		{"record", "event_id=" + evID + "&good_qty=+4+&scrap_qty="},
		{"finish", "event_id=" + evID + "&good_qty=9999999999999999999999"},
		{"finish", "event_id=" + evID + "&good_qty=-2"},
		{"record", "event_id=%zz&good_qty=1"},
	} {
		f.Add(s.kind, s.form)
	}
	f.Fuzz(func(t *testing.T, kind, raw string) {
		form, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		a, err := ParseActionForm(kind, form)
		if err != nil {
			e, ok := production.AsError(err)
			if !ok || (e.Kind != production.KindInvalid && e.Kind != production.KindNotFound) {
				t.Fatalf("unexpected error %T: %v", err, err)
			}
			return
		}
		if a.GoodQty() < 0 || a.ScrapQty() < 0 || a.GoodQty() > production.MaxQuantity || a.ScrapQty() > production.MaxQuantity ||
			(a.ScrapQty() > 0) != (a.ScrapReason() != "") || string(a.Kind()) != kind {
			t.Fatalf("accepted %+v", a)
		}
	})
}
