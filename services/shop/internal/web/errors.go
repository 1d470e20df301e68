package web

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/fabrika/fabrika/platform/httpx"
	"github.com/fabrika/fabrika/platform/text"
	"github.com/fabrika/fabrika/services/shop/internal/app"
	"github.com/fabrika/fabrika/services/shop/internal/order"
)

// status is the one place where the shop's errors become HTTP statuses.
func status(err error) int {
	var pe *httpx.Problem
	if errors.As(err, &pe) {
		return pe.Status
	}
	var fe text.FieldErrors
	if errors.As(err, &fe) {
		return http.StatusUnprocessableEntity
	}
	if errors.Is(err, order.ErrMalformed) || errors.Is(err, order.ErrBadCursor) {
		return http.StatusBadRequest
	}
	e, ok := app.AsError(err)
	if !ok {
		return http.StatusInternalServerError
	}
	switch e.Kind {
	case app.KindInvalid, app.KindKeyReused:
		return http.StatusUnprocessableEntity
	case app.KindBadRequest:
		return http.StatusBadRequest
	case app.KindUnauthorized:
		return http.StatusUnauthorized
	case app.KindNotFound:
		return http.StatusNotFound
	case app.KindConflict:
		return http.StatusConflict
	case app.KindRateLimited:
		return http.StatusTooManyRequests
	case app.KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// problem turns an error into problem+json for the API; nil for an
// unexpected error, which is logged and answered with a bare 500.
func problem(err error) *httpx.Problem {
	var pe *httpx.Problem
	if errors.As(err, &pe) {
		return pe
	}
	code := status(err)
	if code == http.StatusInternalServerError {
		return nil
	}
	p := httpx.NewProblem(code, err.Error())
	var fe text.FieldErrors
	switch e, ok := app.AsError(err); {
	case errors.As(err, &fe):
		p.Detail, p.Errors = "the order request is invalid", fe
	case errors.Is(err, order.ErrMalformed):
		p.Detail = err.Error()
	case ok:
		p.Detail, p.Errors = e.Message, e.Fields
		if (e.Kind == app.KindRateLimited || e.Kind == app.KindUnavailable) && e.RetryAfter > 0 {
			p.Headers = map[string]string{"Retry-After": strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds())))}
		}
		if e.Kind == app.KindKeyReused {
			p.Type = "https://fabrika.dev/problems/idempotency-key-reused"
		}
	}
	return p
}

// formErrors returns the message of an error for the top of a form and the
// messages to show next to fields.
func formErrors(err error) (string, map[string]string) {
	var fe text.FieldErrors
	if errors.As(err, &fe) {
		return "Please correct the fields marked below.", fe
	}
	if e, ok := app.AsError(err); ok {
		msg := e.Message
		if len(e.Fields) > 0 && e.Kind == app.KindInvalid {
			msg = "Please correct the fields marked below."
		}
		return msg, e.Fields
	}
	return fmt.Sprintf("Something went wrong (%d); please try again.", status(err)), nil
}
