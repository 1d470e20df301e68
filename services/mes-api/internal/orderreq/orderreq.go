// Package orderreq parses and checks the body of an order or quote request
// of the B2B API and prices its lines with a price list. It never touches a
// database: what it refuses is refused before anything is written.
package orderreq

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/text"
)

// MaxLines is the most lines an order may have (the contract's limit).
const MaxLines = 50

// Request is an order (Delivery set) or a quote request.
type Request struct {
	Reference string             `json:"reference,omitempty"`
	Lines     []contracts.Config `json:"lines"`
	Delivery  contracts.Address  `json:"delivery"`
}

// SyntaxError is a body that is not the JSON the API expects (400).
type SyntaxError struct{ Msg string }

func (e *SyntaxError) Error() string { return e.Msg }

// wire is the JSON shape: options may be strings or numbers, quantity a
// JSON number, never a string (checked here rather than refused by the
// decoder with a message naming Go types).
type wire struct {
	Reference string `json:"reference"`
	Lines     []struct {
		Product  string                     `json:"product"`
		Options  map[string]json.RawMessage `json:"options"`
		Quantity json.RawMessage            `json:"quantity"`
		Lead     string                     `json:"lead"`
	} `json:"lines"`
	Delivery *contracts.Address `json:"delivery"`
}

// Parse reads a request body. withDelivery tells whether it is an order (the
// delivery address is required) or a quote. Malformed JSON is a
// *SyntaxError; well-formed JSON with wrong values is text.FieldErrors.
func Parse(body []byte, withDelivery bool) (Request, error) {
	var w wire
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&w); err != nil {
		return Request{}, syntaxError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Request{}, &SyntaxError{"the body must hold a single JSON object"}
	}
	fe := text.FieldErrors{}
	req := Request{Reference: strings.TrimSpace(w.Reference)}
	checkText(fe, "reference", req.Reference, text.Field{Max: 100})
	switch {
	case len(w.Lines) == 0:
		fe["lines"] = "at least one line is required"
	case len(w.Lines) > MaxLines:
		fe["lines"] = fmt.Sprintf("at most %d lines", MaxLines)
	}
	for i, wl := range w.Lines {
		if i >= MaxLines {
			break
		}
		p := fmt.Sprintf("lines[%d].", i)
		l := contracts.Config{Product: strings.TrimSpace(wl.Product), Lead: strings.TrimSpace(wl.Lead), Options: map[string]string{}}
		checkText(fe, p+"product", l.Product, text.Field{Max: 64, Required: true})
		checkText(fe, p+"lead", l.Lead, text.Field{Max: 16})
		if len(wl.Options) > 20 {
			fe[p+"options"] = "at most 20 options"
		}
		for k, raw := range wl.Options {
			if !slices.Contains(contracts.OptionCodes(), k) {
				name := "options"
				if text.Clean(k) == nil && utf8.RuneCountInString(k) <= 32 {
					name += "." + k
				}
				fe[p+name] = "unknown option; known: " + strings.Join(contracts.OptionCodes(), ", ")
				continue
			}
			v, ok := optionValue(raw)
			if !ok {
				fe[p+k] = "must be a string or a number"
				continue
			}
			if checkText(fe, p+k, v, text.Field{Max: 200}) {
				l.Options[k] = v
			}
		}
		q, err := quantity(wl.Quantity)
		if err != nil {
			fe[p+"quantity"] = err.Error()
		}
		l.Quantity = q
		req.Lines = append(req.Lines, l)
	}
	if withDelivery {
		checkAddress(w.Delivery, fe)
		if w.Delivery != nil {
			req.Delivery = trimAddress(*w.Delivery)
		}
	}
	if len(fe) > 0 {
		return Request{}, fe
	}
	return req, nil
}

func syntaxError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return &SyntaxError{fmt.Sprintf("malformed JSON at byte %d", syn.Offset)}
	case errors.As(err, &typ):
		f := typ.Field
		if f == "" {
			return &SyntaxError{"the body must be a JSON object"}
		}
		return &SyntaxError{fmt.Sprintf("field %q has the wrong type", f)}
	case errors.Is(err, io.EOF):
		return &SyntaxError{"the body is empty"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &SyntaxError{"malformed JSON: unexpected end"}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return &SyntaxError{"unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")}
	default:
		return &SyntaxError{"malformed JSON"}
	}
}

func optionValue(raw json.RawMessage) (string, bool) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return strings.TrimSpace(s), true
	}
	var n json.Number
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&n); err == nil {
		return n.String(), true
	}
	return "", false
}

func quantity(raw json.RawMessage) (int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, errors.New("is required")
	}
	if raw[0] == '"' {
		return 0, errors.New("must be a number, not a string")
	}
	var n json.Number
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&n); err != nil {
		return 0, errors.New("must be a whole number")
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, errors.New("must be a whole number")
	}
	if f != math.Trunc(f) {
		return 0, errors.New("must be a whole number")
	}
	if f < 1 {
		return 0, errors.New("must be at least 1")
	}
	if f > 1_000_000_000 {
		return 0, errors.New("is absurdly large")
	}
	return int(f), nil
}

func checkAddress(a *contracts.Address, fe text.FieldErrors) {
	if a == nil {
		fe["delivery"] = "is required"
		return
	}
	t := trimAddress(*a)
	checkText(fe, "delivery.line1", t.Line1, text.Field{Max: 200, Required: true})
	checkText(fe, "delivery.line2", t.Line2, text.Field{Max: 200})
	checkText(fe, "delivery.city", t.City, text.Field{Max: 100, Required: true})
	checkText(fe, "delivery.postal_code", t.PostalCode, text.Field{Max: 20, Required: true})
	if !text.IsCountry(t.Country) {
		fe["delivery.country"] = "must be an ISO 3166-1 alpha-2 code such as DE"
	}
}

// checkText records what is wrong with a text field in fe; it tells whether
// the value is acceptable.
func checkText(fe text.FieldErrors, name, v string, f text.Field) bool {
	if err := f.Check(v); err != nil {
		fe[name] = err.Error()
		return false
	}
	return true
}

func trimAddress(a contracts.Address) contracts.Address {
	return contracts.Address{Line1: strings.TrimSpace(a.Line1), Line2: strings.TrimSpace(a.Line2), City: strings.TrimSpace(a.City),
		PostalCode: strings.TrimSpace(a.PostalCode), Country: strings.ToUpper(strings.TrimSpace(a.Country))}
}

// Priced is a request's lines quoted under one price list.
type Priced struct {
	Quotes           []contracts.Quote
	Lines            []contracts.LineItem
	Total            int64
	Currency         string
	PriceListVersion int64
}

// Price quotes every line; a line the price list refuses gives text.FieldErrors
// naming "lines[i].<option>".
func Price(pl contracts.PriceListV1, req Request) (Priced, error) {
	out := Priced{Currency: pl.Currency, PriceListVersion: pl.Version}
	fe := text.FieldErrors{}
	for i, l := range req.Lines {
		lead := l.Lead
		if lead == "" {
			lead = contracts.LeadStandard
		}
		q, err := pl.Quote(contracts.Config{Product: l.Product, Options: l.Options, Quantity: l.Quantity, Lead: lead})
		var qe *contracts.QuoteError
		switch {
		case errors.As(err, &qe):
			fe[fmt.Sprintf("lines[%d].%s", i, qe.Field)] = qe.Message
			continue
		case err != nil:
			return Priced{}, fmt.Errorf("quote line %d: %w", i+1, err)
		}
		out.Quotes = append(out.Quotes, q)
		out.Lines = append(out.Lines, contracts.LineItem{LineNo: i + 1, Product: l.Product, Options: l.Options,
			Quantity: l.Quantity, Lead: lead, UnitPrice: q.UnitPrice, Total: q.Total})
		if out.Total > math.MaxInt64-q.Total {
			fe["lines"] = "the total is too large"
		}
		out.Total += q.Total
	}
	if len(fe) > 0 {
		return Priced{}, fe
	}
	return out, nil
}
