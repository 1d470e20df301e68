package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestStaffFormsThroughGateway posts a CRM form the way a browser does,
// through the gateway: the page the CRM renders carries the session's CSRF
// token in every POST form, the gateway accepts the form with it and refuses
// it without.
func TestStaffFormsThroughGateway(t *testing.T) {
	t.Parallel()
	p := startMain(t, func(ctx context.Context, m *Main) {
		seedStaff(ctx, t, m, staffAccount{"mia.manager", "manager", nil})
	})
	const wait = 90 * time.Second
	_, placed := placeShopOrder(t, p.public, "Bea")
	orderID := placed.ID

	browser := newClient(t, p.public)
	browser.staffSignIn("mia.manager", staffPassword)
	browser.header.Del("X-Csrf-Token") // a browser posting a form sends no such header
	html := map[string]string{"Accept": "text/html", "Origin": p.public}
	var page string
	// The page is read once the order is priced: until then the pricing
	// result may still arrive and raise the version the form carries (the
	// post would then rightly be refused as a conflict).
	eventually(t, wait, "the order's page in the CRM, priced", func() (bool, string) {
		res := browser.do("GET", "/crm/orders/"+orderID, nil, html)
		page = string(res.body)
		return res.code == 200 && strings.Contains(page, `<span class="status">priced</span>`), res.String()
	})
	form := regexp.MustCompile(`<form method="post" action="/crm/orders/[^"]+/notes"><input type="hidden" name="csrf_token" value="([^"]+)"><input type="hidden" name="version" value="(\d+)">`).FindStringSubmatch(page)
	if form == nil {
		t.Fatalf("the notes form carries no CSRF token:\n%s", page)
	}
	token, version := form[1], form[2]

	without := browser.do("POST", "/crm/orders/"+orderID+"/notes", url.Values{"version": {version}, "note": {"no token"}}, html)
	if without.code != http.StatusForbidden {
		t.Fatalf("form post without the CSRF token: %s, want 403", without)
	}
	with := browser.do("POST", "/crm/orders/"+orderID+"/notes", url.Values{"version": {version}, "note": {"called the customer"}, "csrf_token": {token}}, html)
	if with.code != http.StatusSeeOther && with.code != http.StatusOK {
		t.Fatalf("form post with the CSRF token: %s, want the CRM's answer", with)
	}
	res := browser.do("GET", "/crm/orders/"+orderID, nil, html)
	if !regexp.MustCompile(`called the customer`).Match(res.body) {
		t.Fatalf("the note is not on the order's page: %s", res)
	}
}
