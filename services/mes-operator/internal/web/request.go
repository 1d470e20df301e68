package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/services/mes-operator/internal/production"
)

// maxBody bounds an action's request body: a few short fields.
const maxBody = 16 << 10

// actionBody is the JSON body of an operation action.
type actionBody struct {
	EventID     string `json:"event_id"`
	Reason      string `json:"reason"`
	GoodQty     int    `json:"good_qty"`
	ScrapQty    int    `json:"scrap_qty"`
	ScrapReason string `json:"scrap_reason"`
}

// shipBody is the JSON body of a shipment.
type shipBody struct {
	EventID        string `json:"event_id"`
	Carrier        string `json:"carrier"`
	TrackingNumber string `json:"tracking_number"`
}

// ParseAction parses the JSON body of an action on an operation: a
// malformed body is a 400 *httpx.Problem, a well-formed but wrong one a
// production error of kind invalid (422).
func ParseAction(kind string, body []byte) (production.Action, error) {
	k, err := production.ParseActionKind(kind)
	if err != nil {
		return production.Action{}, err
	}
	var b actionBody
	if err := decodeStrict(body, &b); err != nil {
		return production.Action{}, err
	}
	return production.NewAction(k, production.ActionInput(b))
}

// ParseShipment parses the JSON body of a shipment, as ParseAction does.
func ParseShipment(body []byte) (production.Shipment, error) {
	var b shipBody
	if err := decodeStrict(body, &b); err != nil {
		return production.Shipment{}, err
	}
	return production.NewShipment(b.EventID, b.Carrier, b.TrackingNumber)
}

// ParseActionForm parses an action posted by a page's form.
func ParseActionForm(kind string, form url.Values) (production.Action, error) {
	k, err := production.ParseActionKind(kind)
	if err != nil {
		return production.Action{}, err
	}
	good, err := formInt(form, "good_qty")
	if err != nil {
		return production.Action{}, err
	}
	scrap, err := formInt(form, "scrap_qty")
	if err != nil {
		return production.Action{}, err
	}
	return production.NewAction(k, production.ActionInput{EventID: form.Get("event_id"), Reason: form.Get("reason"),
		GoodQty: good, ScrapQty: scrap, ScrapReason: form.Get("scrap_reason")})
}

func formInt(form url.Values, field string) (int, error) {
	s := strings.TrimSpace(form.Get(field))
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, production.Invalid(field, "enter a whole number")
	}
	return n, nil
}

// readBody reads a request body of at most maxBody bytes and checks that it
// is JSON.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	if ct = strings.TrimSpace(strings.ToLower(ct)); ct != "application/json" {
		return nil, httpx.NewProblem(http.StatusUnsupportedMediaType, "the body must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return nil, httpx.NewProblem(http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", maxBody))
		}
		return nil, httpx.NewProblem(http.StatusBadRequest, "the body could not be read")
	}
	return body, nil
}

// decodeStrict decodes exactly one JSON object with only known fields.
func decodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return httpx.NewProblem(http.StatusBadRequest, "the body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return httpx.NewProblem(http.StatusBadRequest, fmt.Sprintf("malformed JSON at byte %d", syn.Offset))
		case errors.As(err, &typ):
			p := httpx.NewProblem(http.StatusBadRequest, fmt.Sprintf("field %q must be %s", typ.Field, typ.Type))
			if typ.Field != "" {
				p.Errors = map[string]string{typ.Field: "must be " + typ.Type.String()}
			}
			return p
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			p := httpx.NewProblem(http.StatusBadRequest, "unknown field "+f)
			p.Errors = map[string]string{f: "unknown field"}
			return p
		default:
			return httpx.NewProblem(http.StatusBadRequest, "malformed JSON")
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return httpx.NewProblem(http.StatusBadRequest, "the body must hold a single JSON object")
	}
	return nil
}
