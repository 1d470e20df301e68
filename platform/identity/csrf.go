package identity

import "net/http"

// The gateway checks a session-bound CSRF token on every form a staff member
// posts (besides refusing cross-origin requests with
// http.CrossOriginProtection, which lets through a browser that sends
// neither Sec-Fetch-Site nor Origin). It sends the token to the CRM and
// mes-operator in HeaderCSRF; their templates put it in every POST form as
// the hidden field FieldCSRF, and the gateway checks it when the form comes
// back.
const (
	HeaderCSRF = "X-Csrf-Token"
	FieldCSRF  = "csrf_token"
)

// CSRFToken returns the session's CSRF token the gateway sent with r, for a
// page's forms; "" when r did not come through the gateway.
func CSRFToken(r *http.Request) string { return r.Header.Get(HeaderCSRF) }
