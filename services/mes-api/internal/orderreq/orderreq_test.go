package orderreq

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/text"
)

const good = `{"reference":"PO-1","lines":[{"product":"laser_cut_sheet","options":{"material":"steel_s235","width_mm":200,"height_mm":"100","thickness_mm":2},"quantity":10}],
"delivery":{"line1":"Hauptstr. 1","city":"Berlin","postal_code":"10115","country":"de"}}`

func TestParseAndPrice(t *testing.T) {
	t.Parallel()
	req, err := Parse([]byte(good), true)
	if err != nil {
		t.Fatal(err)
	}
	if req.Lines[0].Options["width_mm"] != "200" || req.Delivery.Country != "DE" || req.Reference != "PO-1" {
		t.Fatalf("parsed %+v", req)
	}
	p, err := Price(contracts.DemoPriceList(time.Now()), req)
	if err != nil {
		t.Fatal(err)
	}
	if p.Total <= 0 || p.Lines[0].LineNo != 1 || p.Lines[0].Lead != "standard" || p.Total != p.Lines[0].Total || p.Currency != "EUR" {
		t.Fatalf("priced %+v", p)
	}
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	syntax := []string{``, `{`, `[]`, `{"lines":[]}{}`, `{"lines":"x"}`, `{"unknown":1}`, `null x`}
	for _, b := range syntax {
		var se *SyntaxError
		if _, err := Parse([]byte(b), true); !errors.As(err, &se) {
			t.Errorf("%q: %v, want a syntax error", b, err)
		}
	}
	fields := map[string]string{
		`{"lines":[]}`: "lines",
		`{"lines":[{"product":"x","options":{},"quantity":-1}],"delivery":{"line1":"a","city":"b","postal_code":"c","country":"DE"}}`:                         "lines[0].quantity",
		`{"lines":[{"product":"x","options":{},"quantity":1e12}],"delivery":{"line1":"a","city":"b","postal_code":"c","country":"DE"}}`:                       "lines[0].quantity",
		`{"lines":[{"product":"x","options":{},"quantity":1.5}],"delivery":{"line1":"a","city":"b","postal_code":"c","country":"DE"}}`:                        "lines[0].quantity",
		`{"lines":[{"product":"","options":{},"quantity":1}],"delivery":{"line1":"a","city":"b","postal_code":"c","country":"DE"}}`:                           "lines[0].product",
		`{"lines":[{"product":"x","options":{"material":[1]},"quantity":1}],"delivery":{"line1":"a","city":"b","postal_code":"c","country":"DE"}}`:            "lines[0].material",
		`{"lines":[{"product":"x","options":{},"quantity":1}]}`:                                                                                               "delivery",
		`{"lines":[{"product":"x","options":{},"quantity":1}],"delivery":{"line1":"a","city":"b","postal_code":"c","country":"Germany"}}`:                     "delivery.country",
		`{"lines":[{"product":"x","options":{},"quantity":1}],"delivery":{"line1":"a","city":"b","postal_code":"c","country":"XX"}}`:                          "delivery.country",
		`{"lines":[{"product":"x","options":{},"quantity":"10"}],"delivery":{"line1":"a","city":"b","postal_code":"c","country":"DE"}}`:                       "lines[0].quantity",
		`{"lines":[{"product":"x","options":{},"quantity":"ten"}],"delivery":{"line1":"a","city":"b","postal_code":"c","country":"DE"}}`:                      "lines[0].quantity",
		`{"lines":[{"product":"x","options":{"colour":"red"},"quantity":1}],"delivery":{"line1":"a","city":"b","postal_code":"c","country":"DE"}}`:            "lines[0].options.colour",
		`{"lines":[{"product":"x","options":{"a\u0000":"red"},"quantity":1}],"delivery":{"line1":"a","city":"b","postal_code":"c","country":"DE"}}`:           "lines[0].options",
		`{"lines":[{"product":"x","options":{"material":"st\u0000eel"},"quantity":1}],"delivery":{"line1":"a","city":"b","postal_code":"c","country":"DE"}}`:  "lines[0].material",
		`{"reference":"PO\u0000-1","lines":[{"product":"x","options":{},"quantity":1}],"delivery":{"line1":"a","city":"b","postal_code":"c","country":"DE"}}`: "reference",
		`{"lines":[{"product":"x\u001b[31m","options":{},"quantity":1}],"delivery":{"line1":"a","city":"b","postal_code":"c","country":"DE"}}`:                "lines[0].product",
		`{"lines":[{"product":"x","options":{},"quantity":1}],"delivery":{"line1":"Main St \u202e1","city":"b","postal_code":"c","country":"DE"}}`:            "delivery.line1",
		`{"lines":[{"product":"x","options":{},"quantity":1}],"delivery":{"line1":"a","city":"Ber\nlin","postal_code":"c","country":"DE"}}`:                   "delivery.city",
		`{"lines":[{"product":"x","options":{},"quantity":1}],"delivery":{"line1":"a","city":"b","postal_code":"\u0085","country":"DE"}}`:                     "delivery.postal_code",
	}
	for b, field := range fields {
		_, err := Parse([]byte(b), true)
		var fe text.FieldErrors
		if !errors.As(err, &fe) || fe[field] == "" {
			t.Errorf("%s: %v, want an error on %s", b, err, field)
		}
	}
	if _, err := Parse([]byte(`{"lines":[{"product":"x","options":{},"quantity":1}]}`), false); err != nil {
		t.Errorf("quote without delivery: %v", err)
	}
}

func TestPriceRefuses(t *testing.T) {
	t.Parallel()
	pl := contracts.DemoPriceList(time.Now())
	line := func(mut func(*contracts.Config)) Request {
		l := contracts.Config{Product: "laser_cut_sheet", Options: map[string]string{"material": "steel_s235", "width_mm": "200", "height_mm": "100", "thickness_mm": "2"}, Quantity: 10}
		mut(&l)
		return Request{Lines: []contracts.Config{{Product: "no_such_product"}, l}}
	}
	for name, tc := range map[string]struct {
		req   Request
		field string
	}{
		"unknown material": {line(func(l *contracts.Config) { l.Options["material"] = "unobtainium" }), "lines[1].material"},
		"too wide":         {line(func(l *contracts.Config) { l.Options["width_mm"] = "100000" }), "lines[1].width_mm"},
		"too many":         {line(func(l *contracts.Config) { l.Quantity = 10_000_000 }), "lines[1].quantity"},
		"bad lead":         {line(func(l *contracts.Config) { l.Lead = "yesterday" }), "lines[1].lead"},
		"unknown product":  {line(func(l *contracts.Config) {}), "lines[0].product"},
	} {
		_, err := Price(pl, tc.req)
		var fe text.FieldErrors
		if !errors.As(err, &fe) || fe[tc.field] == "" {
			t.Errorf("%s: %v, want an error on %s", name, err, tc.field)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good), true)
	f.Add([]byte(`{"reference":"PO\u0000","lines":[{"product":"x\u202e","options":{"colour":"r"},"quantity":"1"}],"delivery":{"line1":"\u0085","city":"b","postal_code":"c","country":"XX"}}`), true)
	f.Add([]byte(`{"lines":[{"product":"x","options":{"a":1e400},"quantity":9223372036854775808}]}`), false)
	f.Add([]byte(`{"lines":[{"product":"x","options":null,"quantity":-0}],"delivery":null}`), true)
	f.Add([]byte(`{"lines":[`+strings.Repeat(`{"product":"p","quantity":1},`, 60)+`{}]}`), false)
	pl := contracts.DemoPriceList(time.Unix(0, 0))
	f.Fuzz(func(t *testing.T, body []byte, withDelivery bool) {
		req, err := Parse(body, withDelivery)
		if err != nil {
			var se *SyntaxError
			var fe text.FieldErrors
			if !errors.As(err, &se) && !errors.As(err, &fe) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		if len(req.Lines) == 0 || len(req.Lines) > MaxLines {
			t.Fatalf("accepted %d lines", len(req.Lines))
		}
		texts := []string{req.Reference, req.Delivery.Line1, req.Delivery.Line2, req.Delivery.City, req.Delivery.PostalCode}
		for _, l := range req.Lines {
			if l.Quantity < 1 || l.Product == "" {
				t.Fatalf("accepted line %+v", l)
			}
			texts = append(texts, l.Product, l.Lead)
			for k, v := range l.Options {
				if !slices.Contains(contracts.OptionCodes(), k) {
					t.Fatalf("accepted option %q", k)
				}
				texts = append(texts, v)
			}
		}
		for _, s := range texts {
			if err := text.Clean(s); err != nil || strings.ContainsAny(s, "\t\n\r") {
				t.Fatalf("accepted text %q: %v", s, err)
			}
		}
		if withDelivery && !text.IsCountry(req.Delivery.Country) {
			t.Fatalf("accepted country %q", req.Delivery.Country)
		}
		if withDelivery && (req.Delivery.Line1 == "" || len(req.Delivery.Country) != 2) {
			t.Fatalf("accepted delivery %+v", req.Delivery)
		}
		p, err := Price(pl, req)
		if err == nil && (p.Total <= 0 || len(p.Lines) != len(req.Lines)) {
			t.Fatalf("priced %+v", p)
		}
	})
}
