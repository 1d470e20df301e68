// Package order is the shop's order domain: the request a customer submits
// (parsed and validated field by field), the status rules that keep an order
// from moving backwards, and the opaque cursor of "my orders".
package order

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"regexp"
	"strconv"
	"strings"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/text"
)

// MaxLines is the most lines an order may have.
const MaxLines = 50

// Contact is who to talk to about an order.
type Contact struct {
	Name    string `json:"name"`
	Email   string `json:"email"`
	Phone   string `json:"phone,omitempty"`
	Company string `json:"company,omitempty"`
}

// Request is an order as submitted, before pricing; each line is a part as
// the customer configures it.
type Request struct {
	Lines    []contracts.Config `json:"lines"`
	Delivery contracts.Address  `json:"delivery"`
	Contact  Contact            `json:"contact"`
}

// ErrMalformed marks a body that is not a JSON order request at all.
var ErrMalformed = errors.New("malformed order request")

// Parse decodes a JSON order request strictly (unknown fields and trailing
// data refused) and validates it. A decoding failure wraps ErrMalformed; a
// request that decodes but breaks a rule is a text.FieldErrors.
func Parse(data []byte) (Request, error) {
	var r Request
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Request{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return Request{}, fmt.Errorf("%w: trailing data after the JSON value", ErrMalformed)
	}
	r.Normalize()
	if err := r.Validate(); err != nil {
		return Request{}, err
	}
	return r, nil
}

// Normalize trims spaces, lower-cases the e-mail, upper-cases the country and
// defaults the lead, so that equal requests hash equally.
func (r *Request) Normalize() {
	for i := range r.Lines {
		l := &r.Lines[i]
		l.Product = strings.TrimSpace(l.Product)
		l.Lead = strings.TrimSpace(l.Lead)
		if l.Lead == "" {
			l.Lead = contracts.LeadStandard
		}
		opts := make(map[string]string, len(l.Options))
		for k, v := range l.Options {
			v = strings.TrimSpace(v)
			if v == "" {
				continue
			}
			opts[strings.TrimSpace(k)] = v
		}
		l.Options = opts
	}
	d := &r.Delivery
	d.Line1, d.Line2, d.City = strings.TrimSpace(d.Line1), strings.TrimSpace(d.Line2), strings.TrimSpace(d.City)
	d.PostalCode = strings.ToUpper(strings.TrimSpace(d.PostalCode))
	d.Country = strings.ToUpper(strings.TrimSpace(d.Country))
	c := &r.Contact
	c.Name, c.Phone, c.Company = strings.TrimSpace(c.Name), strings.TrimSpace(c.Phone), strings.TrimSpace(c.Company)
	c.Email = strings.ToLower(strings.TrimSpace(c.Email))
}

// KnownOptions are the option codes a line may carry.
var knownOptions = map[string]bool{
	contracts.OptMaterial: true, contracts.OptFinish: true, contracts.OptWidth: true,
	contracts.OptHeight: true, contracts.OptThickness: true,
}

var (
	postalRe = regexp.MustCompile(`^[A-Z0-9][A-Z0-9 -]{1,8}[A-Z0-9]$`)
	phoneRe  = regexp.MustCompile(`^\+?[0-9 ()\-]{6,20}$`)
)

// Validate checks what can be checked without a price list: 1 to 50 lines,
// known option codes, sane sizes, a deliverable address and a reachable
// contact. Products, option values and ranges are checked by the quote.
func (r Request) Validate() error {
	fe := text.FieldErrors{}
	switch {
	case len(r.Lines) == 0:
		fe["lines"] = "an order needs at least one line"
	case len(r.Lines) > MaxLines:
		fe["lines"] = fmt.Sprintf("an order has at most %d lines, got %d", MaxLines, len(r.Lines))
	}
	if len(r.Lines) <= MaxLines {
		for i, l := range r.Lines {
			ValidateLine(fe, fmt.Sprintf("lines[%d].", i), l)
		}
	}
	ValidateDelivery(fe, r.Delivery)
	ValidateContact(fe, r.Contact)
	if len(fe) > 0 {
		return fe
	}
	return nil
}

// ValidateLine adds the problems of a line to fe, each field prefixed.
func ValidateLine(fe text.FieldErrors, prefix string, l contracts.Config) {
	if l.Product == "" {
		fe[prefix+"product"] = "choose a product"
	} else if len(l.Product) > 64 {
		fe[prefix+"product"] = "is too long"
	}
	if l.Quantity < 1 {
		fe[prefix+"quantity"] = "must be at least 1"
	}
	if l.Lead != contracts.LeadStandard && l.Lead != contracts.LeadRush {
		fe[prefix+"lead"] = `must be "standard" or "rush"`
	}
	for k, v := range l.Options {
		switch {
		case !knownOptions[k]:
			fe[prefix+"options."+truncate(k, 32)] = "unknown option"
		default:
			CheckText(fe, prefix+"options."+k, v, text.Field{Max: 64}, "")
		}
	}
}

// ValidateDelivery adds the problems of an address to fe.
func ValidateDelivery(fe text.FieldErrors, d contracts.Address) {
	required(fe, "delivery.line1", d.Line1, 200, "enter the street and number")
	CheckText(fe, "delivery.line2", d.Line2, text.Field{Max: 200}, "")
	required(fe, "delivery.city", d.City, 100, "enter the city")
	switch {
	case d.PostalCode == "":
		fe["delivery.postal_code"] = "enter the postal code"
	case !postalRe.MatchString(d.PostalCode):
		fe["delivery.postal_code"] = "is not a postal code (3 to 10 letters, digits, spaces or dashes)"
	}
	switch {
	case d.Country == "":
		fe["delivery.country"] = "choose the country"
	case !text.IsCountry(d.Country):
		fe["delivery.country"] = "must be a country code of ISO 3166-1 such as DE or FR"
	}
}

// ValidateContact adds the problems of a contact to fe.
func ValidateContact(fe text.FieldErrors, c Contact) {
	required(fe, "contact.name", c.Name, 100, "enter the name of a contact person")
	switch {
	case c.Email == "":
		fe["contact.email"] = "enter an e-mail address"
	case !ValidEmail(c.Email):
		fe["contact.email"] = "is not an e-mail address"
	}
	if c.Phone != "" && !phoneRe.MatchString(c.Phone) {
		fe["contact.phone"] = "is not a phone number (digits, spaces, + - ( ), 6 to 20 characters)"
	}
	CheckText(fe, "contact.company", c.Company, text.Field{Max: 100}, "")
}

// ValidEmail tells whether s is a bare e-mail address.
func ValidEmail(s string) bool {
	if len(s) > 254 || strings.ContainsAny(s, " <>\"") {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && strings.Contains(s[strings.LastIndexByte(s, '@'):], ".")
}

func required(fe text.FieldErrors, field, v string, max int, msg string) {
	CheckText(fe, field, v, text.Field{Max: max, Required: true}, msg)
}

// CheckText adds the problem of a text field to fe, judged by the
// platform's one check (platform/text: valid UTF-8, no NUL or other control
// characters, no bidi overrides, length in characters); missing is the
// message for an empty required field.
func CheckText(fe text.FieldErrors, field, v string, f text.Field, missing string) {
	switch err := f.Check(v); {
	case err == nil:
	case errors.Is(err, text.ErrRequired):
		fe[field] = missing
	case errors.Is(err, text.ErrTooLong):
		fe[field] = "is too long (" + strconv.Itoa(f.Max) + " characters at most)"
	default:
		fe[field] = err.Error()
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Hash is the fingerprint of a normalized request: the same body under the
// same idempotency key returns the same order, another body is refused.
func (r Request) Hash() string {
	b, _ := json.Marshal(r) // map keys are sorted: the encoding is canonical
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
