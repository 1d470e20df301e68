package identity

import (
	"html"
	"regexp"
)

// The gateway checks a session-bound CSRF token on every form a staff member
// posts. It sends the token to the CRM and mes-operator in HeaderCSRF; they
// put it in every POST form they render as the hidden field FieldCSRF, and
// the gateway checks it when the form comes back.
const (
	HeaderCSRF = "X-Csrf-Token"
	FieldCSRF  = "csrf_token"
)

var postForm = regexp.MustCompile(`(?i)<form\b[^>]*\bmethod=["']?post["']?[^>]*>`)

// AddCSRFFields returns an HTML page with a hidden FieldCSRF input holding
// token right after the opening tag of every POST form. With no token (a
// request that did not come through the gateway) the page is unchanged.
func AddCSRFFields(page []byte, token string) []byte {
	if token == "" {
		return page
	}
	field := []byte(`<input type="hidden" name="` + FieldCSRF + `" value="` + html.EscapeString(token) + `">`)
	return postForm.ReplaceAllFunc(page, func(tag []byte) []byte {
		out := make([]byte, 0, len(tag)+len(field))
		return append(append(out, tag...), field...)
	})
}
