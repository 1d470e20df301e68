package order

import (
	"errors"
	"strings"
	"testing"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/text"
)

const valid = `{"lines":[{"product":"laser_cut_sheet","options":{"material":"steel_s235","width_mm":"200"},"quantity":3}],
 "delivery":{"line1":"Hauptstrasse 1","city":"Berlin","postal_code":"10115","country":"de"},
 "contact":{"name":"Ada","email":"Ada@Example.com"}}`

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		malformed  bool
		field      string
	}{
		{"valid", valid, false, ""},
		{"not JSON", `lines`, true, ""},
		{"array", `[]`, true, ""},
		{"unknown field", strings.Replace(valid, `"lines"`, `"price":1,"lines"`, 1), true, ""},
		{"trailing", valid + `{}`, true, ""},
		{"quantity string", strings.Replace(valid, `"quantity":3`, `"quantity":"3"`, 1), true, ""},
		{"no lines", strings.Replace(valid, `"lines":[`, `"lines":[],"x":[`, 1), true, ""},
		{"zero quantity", strings.Replace(valid, `"quantity":3`, `"quantity":0`, 1), false, "lines[0].quantity"},
		{"bad lead", strings.Replace(valid, `"quantity":3`, `"quantity":3,"lead":"asap"`, 1), false, "lines[0].lead"},
		{"unknown option", strings.Replace(valid, `"material"`, `"colour":"red","material"`, 1), false, "lines[0].options.colour"},
		{"no product", strings.Replace(valid, `"laser_cut_sheet"`, `" "`, 1), false, "lines[0].product"},
		{"bad country", strings.Replace(valid, `"de"`, `"deu"`, 1), false, "delivery.country"},
		{"no city", strings.Replace(valid, `"Berlin"`, `""`, 1), false, "delivery.city"},
		{"bad email", strings.Replace(valid, `Ada@Example.com`, `ada@`, 1), false, "contact.email"},
		{"no contact name", strings.Replace(valid, `"name":"Ada"`, `"name":""`, 1), false, "contact.name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse([]byte(tc.body))
			var fe text.FieldErrors
			switch {
			case tc.malformed:
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("want malformed, got %v", err)
				}
			case tc.field != "":
				if !errors.As(err, &fe) || fe[tc.field] == "" {
					t.Fatalf("want an error on %s, got %v", tc.field, err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if r.Contact.Email != "ada@example.com" || r.Delivery.Country != "DE" || r.Lines[0].Lead != contracts.LeadStandard {
					t.Fatalf("not normalised: %+v", r)
				}
			}
		})
	}
}

// The hash is stored with each order (request_hash): a retry with the same
// Idempotency-Key after an upgrade must hash as the release that placed
// the order did. The value is the one earlier releases computed.
func TestHashIsStable(t *testing.T) {
	t.Parallel()
	r, err := Parse([]byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Hash(), "afccbb0c9c306d0bd0b6d7d8afdd73e24d82b8698a243bc7ee8f3c2460ae6d31"; got != want {
		t.Fatalf("hash %s, want %s as before", got, want)
	}
}

func TestHashIgnoresFormatting(t *testing.T) {
	t.Parallel()
	a, err := Parse([]byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse([]byte(strings.ReplaceAll(strings.Replace(valid, `"Berlin"`, `"  Berlin "`, 1), "\n", " ")))
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash() != b.Hash() {
		t.Fatal("equal requests hash differently")
	}
	c, _ := Parse([]byte(strings.Replace(valid, `"quantity":3`, `"quantity":4`, 1)))
	if a.Hash() == c.Hash() {
		t.Fatal("different requests hash equally")
	}
}

func TestTooManyLines(t *testing.T) {
	t.Parallel()
	r := Request{Delivery: contracts.Address{Line1: "a", City: "b", PostalCode: "123", Country: "DE"}, Contact: Contact{Name: "n", Email: "a@b.de"}}
	for range MaxLines + 1 {
		r.Lines = append(r.Lines, contracts.Config{Product: "p", Quantity: 1, Lead: "standard"})
	}
	var fe text.FieldErrors
	if err := r.Validate(); !errors.As(err, &fe) || !strings.Contains(fe["lines"], "at most 50") {
		t.Fatalf("51 lines: %v", err)
	}
	r.Lines = r.Lines[:MaxLines]
	if err := r.Validate(); err != nil {
		t.Fatalf("50 lines: %v", err)
	}
}

func TestStatusNeverMovesBack(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from, event, want string
	}{
		{"placed", contracts.OrderPriced, "priced"},
		{"placed", contracts.OrderNeedsReview, "needs_review"},
		{"needs_review", contracts.OrderPriced, "priced"},
		{"priced", contracts.OrderNeedsReview, "priced"},
		{"priced", contracts.OrderConfirmed, "confirmed"},
		{"confirmed", contracts.OrderOnHold, "on_hold"},
		{"on_hold", contracts.OrderResumed, "confirmed"},
		{"on_hold", contracts.OrderConfirmed, "on_hold"},
		{"confirmed", contracts.OrderResumed, "confirmed"},
		{"in_production", contracts.OrderConfirmed, "in_production"},
		{"in_production", contracts.OrderPriced, "in_production"},
		{"in_production", contracts.OrderOnHold, "in_production"},
		{"produced", contracts.OrderShipped, "shipped"},
		{"shipped", contracts.OrderProduced, "shipped"},
		{"placed", contracts.OrderCancelled, "cancelled"},
		{"cancelled", contracts.OrderConfirmed, "cancelled"},
		{"cancelled", contracts.OrderResumed, "cancelled"},
		{"priced", contracts.CompensationGranted, "priced"},
	}
	for _, tc := range tests {
		got, changed := Next(tc.from, tc.event)
		if got != tc.want || changed != (tc.want != tc.from) {
			t.Errorf("%s + %s = %s (%v), want %s", tc.from, tc.event, got, changed, tc.want)
		}
	}
}

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	c := Cursor{PlacedAt: 1795574121795729, ID: "01a2108e-c543-7b2b-a254-2032ebb7f461"}
	got, ok, err := DecodeCursor(c.Encode())
	if err != nil || !ok || got != c {
		t.Fatalf("round trip: %+v %v %v", got, ok, err)
	}
	if _, ok, err := DecodeCursor(""); ok || err != nil {
		t.Fatal("empty cursor is the first page")
	}
	for _, bad := range []string{"!!", "MTox", "MToxOngK", Cursor{PlacedAt: -1, ID: c.ID}.Encode(), Cursor{PlacedAt: 5, ID: "x"}.Encode(),
		Cursor{PlacedAt: 5, ID: strings.ToUpper(c.ID)}.Encode(), strings.Repeat("A", 97)} {
		if _, _, err := DecodeCursor(bad); !errors.Is(err, ErrBadCursor) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"lines":[{"product":"x","options":{"":""},"quantity":-1}]}`))
	f.Add([]byte(`{"lines":null,"delivery":{"country":"ÄÖ"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			var fe text.FieldErrors
			if !errors.Is(err, ErrMalformed) && !errors.As(err, &fe) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		// An accepted request satisfies the contract's line rules.
		if len(r.Lines) < 1 || len(r.Lines) > MaxLines {
			t.Fatalf("accepted %d lines", len(r.Lines))
		}
		for _, l := range r.Lines {
			if l.Quantity < 1 || l.Product == "" {
				t.Fatalf("accepted line %+v", l)
			}
		}
		// The same body parsed again hashes the same (options are a map).
		again, err := Parse(data)
		if err != nil || again.Hash() != r.Hash() {
			t.Fatalf("hash not deterministic (%v)", err)
		}
	})
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(Cursor{PlacedAt: 1795574121795729, ID: "01a2108e-c543-7b2b-a254-2032ebb7f461"}.Encode())
	f.Add("")
	f.Add("MTox")
	f.Fuzz(func(t *testing.T, s string) {
		c, ok, err := DecodeCursor(s)
		if err != nil || !ok {
			return
		}
		// A cursor that decodes encodes back to itself.
		if c.Encode() != s {
			t.Fatalf("%q decodes to %+v which encodes to %q", s, c, c.Encode())
		}
	})
}

// TestTextFieldsRefusePoison: every text a customer types is refused when
// it holds what would poison a consumer (a NUL fails every PostgreSQL
// consumer for ever; bidi overrides disguise text), and lengths count
// characters, not bytes (issue 15, point 6).
func TestTextFieldsRefusePoison(t *testing.T) {
	addr := contracts.Address{Line1: "Hauptstr. 1", City: "Berlin", PostalCode: "10115", Country: "DE"}
	contact := Contact{Name: "Ada", Email: "ada@example.com"}
	cases := []struct {
		name, field string
		set         func(a *contracts.Address, c *Contact, l *contracts.Config)
	}{
		{"NUL in the street", "delivery.line1", func(a *contracts.Address, _ *Contact, _ *contracts.Config) { a.Line1 = "Haupt\x00str. 1" }},
		{"bidi override in the city", "delivery.city", func(a *contracts.Address, _ *Contact, _ *contracts.Config) { a.City = "Ber\u202elin" }},
		{"C1 control in line 2", "delivery.line2", func(a *contracts.Address, _ *Contact, _ *contracts.Config) { a.Line2 = "c/o \u0085" }},
		{"invalid UTF-8 in the name", "contact.name", func(_ *contracts.Address, c *Contact, _ *contracts.Config) { c.Name = "Ada \xff" }},
		{"NUL in the company", "contact.company", func(_ *contracts.Address, c *Contact, _ *contracts.Config) { c.Company = "ACME\x00" }},
		{"NUL in an option", "lines[0].options.finish", func(_ *contracts.Address, _ *Contact, l *contracts.Config) { l.Options["finish"] = "powder\x00" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, c := addr, contact
			l := contracts.Config{Product: "laser_cut_sheet", Quantity: 1, Lead: contracts.LeadStandard, Options: map[string]string{"finish": "powder_coat"}}
			tc.set(&a, &c, &l)
			fe := text.FieldErrors{}
			ValidateDelivery(fe, a)
			ValidateContact(fe, c)
			ValidateLine(fe, "lines[0].", l)
			if fe[tc.field] == "" {
				t.Fatalf("%s accepted: %v", tc.field, fe)
			}
		})
	}
	// 100 characters of Cyrillic are 200 bytes, and fit a 100-character name.
	fe := text.FieldErrors{}
	ValidateContact(fe, Contact{Name: strings.Repeat("Ж", 100), Email: "ada@example.com"})
	if len(fe) != 0 {
		t.Fatalf("100 characters refused: %v", fe)
	}
}
